from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from tinymlaas.auth import service
from tinymlaas.auth.dependencies import CurrentAdmin, CurrentUser, SessionDep, SettingsDep
from tinymlaas.auth.schemas import Token, UserCreate, UserRead
from tinymlaas.auth.security import create_access_token
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
    user = service.login(
        session,
        form.username,
        form.password,
        request.client.host if request.client else "unknown",
        max_failures=settings.login_max_failures,
        window_seconds=settings.login_window_seconds,
    )
    if user is None:
        session.commit()  # the failure counts although this request answers 401
        raise Unauthorized("wrong username or password")
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
