"""The browser session: a signed cookie holding the user id and a per-session CSRF token.

The cookie is HttpOnly and SameSite=Lax, signed (itsdangerous) with the app's secret key and
timed, so it cannot be forged or read by page scripts. Every POST must echo the session's CSRF
token, in the `csrf_token` form field or, for fetch/XMLHttpRequest calls, the `X-CSRF-Token`
header. A visitor who is not logged in gets an anonymous session (no user, a token) so the
login form is protected too. The Bearer-token JSON API is untouched: it never reads the cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from tinymlaas.auth.dependencies import SessionDep
from tinymlaas.errors import Forbidden
from tinymlaas.models.user import User

SESSION_COOKIE = "tinymlaas_session"
FLASH_COOKIE = "tinymlaas_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SALT = "tinymlaas.web.session"


class LoginRequired(Exception):
    """The page needs a logged-in user; pages redirect to the login form, scripts get 401."""


@dataclass(frozen=True)
class BrowserSession:
    """What the cookie says: who is logged in (if anyone) and the session's CSRF token."""

    user_id: int | None
    csrf_token: str


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret_key, salt=_SALT)


def read_session(request: Request, max_age_seconds: int) -> BrowserSession | None:
    """The session in the request's cookie, or None when absent, forged or expired."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data: dict[str, Any] = _serializer(request).loads(raw, max_age=max_age_seconds)
        user_id = data.get("uid")
        token = str(data["csrf"])
    except (BadSignature, KeyError, TypeError, AttributeError):
        return None
    return BrowserSession(int(user_id) if user_id is not None else None, token)


def new_session(user_id: int | None) -> BrowserSession:
    """A fresh session with its own CSRF token (logging in always starts a new one)."""
    return BrowserSession(user_id, secrets.token_urlsafe(32))


def write_session(
    request: Request, response: Response, session: BrowserSession, max_age_seconds: int
) -> None:
    value = _serializer(request).dumps({"uid": session.user_id, "csrf": session.csrf_token})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def session_seconds(request: Request) -> int:
    minutes: int = request.app.state.settings.access_token_minutes
    return minutes * 60


def get_browser_session(request: Request) -> BrowserSession | None:
    return read_session(request, session_seconds(request))


async def check_csrf(request: Request) -> None:
    """Refuse (403) a state-changing request that does not carry the session's CSRF token."""
    session = get_browser_session(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached by Starlette: the endpoint reads the same form
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if session is None or not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise Forbidden(
            "the form has expired or did not come from this site (missing or wrong CSRF token);"
            " reload the page and try again"
        )


CsrfChecked = Depends(check_csrf)


@dataclass(frozen=True)
class PageContext:
    """The logged-in user of a page request and the CSRF token its forms must carry."""

    user: User
    csrf_token: str


def get_page_user(request: Request, session: SessionDep) -> PageContext:
    browser = get_browser_session(request)
    if browser is None or browser.user_id is None:
        raise LoginRequired
    user = session.get(User, browser.user_id)
    if user is None:
        raise LoginRequired
    return PageContext(user, browser.csrf_token)


PageUser = Annotated[PageContext, Depends(get_page_user)]
