from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from tinymlaas.auth import service
from tinymlaas.auth.dependencies import CurrentAdmin, CurrentUser, SessionDep, SettingsDep
from tinymlaas.auth.schemas import Token, UserCreate, UserRead
from tinymlaas.auth.security import create_access_token
from tinymlaas.db.session import transaction
from tinymlaas.errors import Unauthorized

router = APIRouter(tags=["auth"])


@router.post("/auth/token", operation_id="login", response_model=Token)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """Exchange a username and password for a bearer token (failures are rate-limited)."""
    client = request.client.host if request.client else "unknown"
    window = settings.login_window_seconds
    service.check_login_allowed(session, form.username, client, settings.login_max_failures, window)
    user = service.authenticate(session, form.username, form.password)
    if user is None:
        # Its own transaction: this request's session rolls back with the 401.
        with transaction(request.app.state.session_factory) as failures:
            service.record_login_failure(failures, form.username, client, window)
        raise Unauthorized("wrong username or password")
    service.clear_login_failures(session, user.username)
    token = create_access_token(
        user.id, request.app.state.secret_key, settings.access_token_minutes
    )
    return Token(access_token=token)


@router.get("/users/me", operation_id="get_me", response_model=UserRead)
def get_me(user: CurrentUser) -> UserRead:
    """The authenticated user."""
    return UserRead.model_validate(user)


@router.post(
    "/users",
    operation_id="create_user",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
)
def create_user(payload: UserCreate, session: SessionDep, admin: CurrentAdmin) -> UserRead:
    """Create a user (administrators only)."""
    user = service.create_user(
        session, payload.username, payload.password, is_admin=payload.is_admin
    )
    return UserRead.model_validate(user)
