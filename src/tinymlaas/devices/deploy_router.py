"""Deploying a search's candidate (devices/deploys.py): compile it and install it in one request."""

from __future__ import annotations

from fastapi import APIRouter, status

from tinymlaas.auth.dependencies import CurrentUser, SessionDep
from tinymlaas.devices import deploys
from tinymlaas.params import Id
from tinymlaas.search import service as searches
from tinymlaas.search.schemas import DeployAccepted, DeployRequest

router = APIRouter(tags=["search"])


@router.post(
    "/searches/{search_id}/candidates/{candidate_id}/deploy",
    operation_id="deploy_search_candidate",
    response_model=DeployAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def deploy_candidate(
    search_id: Id, candidate_id: Id, payload: DeployRequest, session: SessionDep, user: CurrentUser
) -> DeployAccepted:
    """Compile a candidate for the search's board and install it on a device once compiled."""
    search = searches.get_search(session, user, search_id)
    candidate = deploys.get_candidate(session, search, candidate_id)
    return deploys.deploy_candidate(session, user, search, candidate, payload.device_id)
