"""Typed dependencies: the database session of a request and the authenticated user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from tinymlaas.auth.security import read_access_token
from tinymlaas.config import Settings
from tinymlaas.db.session import transaction
from tinymlaas.errors import Forbidden, Unauthorized
from tinymlaas.models.user import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed once when the endpoint returns without error."""
    with transaction(request.app.state.session_factory) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a 201 means the data is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    if not token:
        raise Unauthorized("not authenticated: send 'Authorization: Bearer <token>'")
    user_id = read_access_token(token, request.app.state.secret_key)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise Unauthorized("invalid or expired token; log in again")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("only administrators can do this")
    return user


CurrentAdmin = Annotated[User, Depends(get_current_admin)]
