"""Request dependencies of the training domain, shared by its router and the routes above it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tinymlaas.auth.dependencies import CurrentUser, SessionDep
from tinymlaas.models import TrainedModel
from tinymlaas.params import Id
from tinymlaas.training import service


def get_model(model_id: Id, session: SessionDep, user: CurrentUser) -> TrainedModel:
    """The user's model, or 404."""
    return service.get_model(session, user, model_id)


ModelDep = Annotated[TrainedModel, Depends(get_model)]
