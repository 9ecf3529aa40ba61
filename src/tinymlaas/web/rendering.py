"""Templates, flash messages and the page route class that turns errors into pages.

Errors of the service layer (TinyMLaaSError) never reach the browser as JSON or a stack trace:
a page request gets the error page with the error's status, a form post goes back to the page
it came from with the message shown on top, and a script (Accept: application/json) gets the
same JSON body the API would send.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from tinymlaas.enums import ACTIVE_STATUSES, FINISHED_STATUSES, JobStatus
from tinymlaas.errors import TinyMLaaSError
from tinymlaas.models import User
from tinymlaas.web.auth import FLASH_COOKIE, LoginRequired, get_browser_session

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


def filesize(size: int | None) -> str:
    """Bytes in binary units, as the CLI writes them: 812 B, 91.6 KiB, 5.5 MiB, 1.2 GiB."""
    if size is None:
        return "—"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 label`, `3 labels`: the count and the word that agrees with it."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def when(moment: datetime | None) -> Markup | str:
    """A moment for app.js to show in the reader's local time (UTC until the script runs)."""
    if moment is None:
        return "—"
    utc = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    utc = utc.astimezone(UTC)
    return Markup('<time datetime="{}" data-local>{}</time>').format(
        utc.isoformat(timespec="seconds"), utc.strftime("%Y-%m-%d %H:%M UTC")
    )


templates.env.filters["filesize"] = filesize
templates.env.filters["percent"] = percent
templates.env.filters["plural"] = plural
templates.env.filters["when"] = when
# Templates compare statuses with JobStatus; base.html hands the pages' scripts the statuses
# as JSON, so no script spells one out.
templates.env.globals["JobStatus"] = JobStatus
templates.env.globals["job_statuses"] = {
    "statuses": {status.name: status.value for status in JobStatus},
    "finished": [status.value for status in FINISHED_STATUSES],
    "active": [status.value for status in ACTIVE_STATUSES],
}


def wants_json(request: Request) -> bool:
    """Scripts of the pages ask for JSON; browsers navigating ask for HTML."""
    return "application/json" in request.headers.get("accept", "")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page, with the flash message left by the previous redirect (then forgotten)."""
    flash = _read_flash(request)
    browser = get_browser_session(request)
    values: dict[str, Any] = {
        "flash": flash,
        "csrf_token": browser.csrf_token if browser else "",
        "user": None,
        "nav": "",
    }
    values.update(context or {})
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, message: str | None = None, kind: str = "success") -> RedirectResponse:
    """303 to `url`, carrying a message to show on the page it lands on."""
    response = RedirectResponse(url, status_code=303)
    if message:
        value = quote(json.dumps({"kind": kind, "message": message[:1000]}))
        response.set_cookie(FLASH_COOKIE, value, max_age=60, httponly=True, samesite="lax")
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
        return {"kind": str(data["kind"]), "message": str(data["message"])}
    except (ValueError, KeyError, TypeError):
        return None


def back_url(request: Request, default: str = "/") -> str:
    """The same-site page a form was posted from, to return to with a message."""
    referer = request.headers.get("referer")
    if not referer:
        return default
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.url.netloc:
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _signed_in_user(request: Request) -> User | None:
    """The logged-in user, for the navigation of an error page (no page dependency ran)."""
    browser = get_browser_session(request)
    if browser is None or browser.user_id is None:
        return None
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        user = session.get(User, browser.user_id)
        if user is not None:
            session.expunge(user)
        return user


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """The error page, with the navigation when the visitor is logged in. Blocking (it may
    read the user): async callers run it in a thread."""
    titles = {
        400: "That did not work",
        403: "Not allowed",
        404: "Page not found",
        409: "Conflict",
        413: "Too large",
    }
    return render(
        request,
        "error.html",
        {
            "status_code": status_code,
            "title": titles.get(status_code, "Something went wrong"),
            "message": message,
            "user": (user := _signed_in_user(request)),
            "logged_in": user is not None,
        },
        status_code=status_code,
    )


def error_response(
    request: Request, status_code: int, detail: str, extra: Mapping[str, Any] | None = None
) -> Response:
    """The right kind of answer for an error: JSON for scripts, a page or a redirect back."""
    if wants_json(request):
        return JSONResponse({"detail": detail, **(extra or {})}, status_code=status_code)
    if request.method == "POST" and status_code not in (403, 404):
        return redirect(back_url(request), detail, kind="error")
    return error_page(request, status_code, detail)


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "the request was not understood"


class PageErrorResponse(Exception):
    """Carries the page answering an error out through the request's dependencies.

    Raised (not returned) so that the database session dependency still sees an exception
    and rolls back; `send_page_error` (installed with the pages) then sends the response.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def send_page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageErrorResponse)
    return exc.response


def _answer(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LoginRequired):
        if wants_json(request) or request.method != "GET":
            return JSONResponse({"detail": "log in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, TinyMLaaSError):
        return error_response(request, exc.status_code, exc.detail, exc.extra)
    if isinstance(exc, IntegrityError):
        return error_response(
            request, 409, "a concurrent change took the same name or path; reload and try again"
        )
    assert isinstance(exc, RequestValidationError)
    if request.method == "GET" and any(
        error.get("loc", ("",))[0] == "path" for error in exc.errors()
    ):
        return error_response(request, 404, "there is no such page")
    return error_response(request, 400, _validation_message(exc))


class PageRoute(APIRoute):
    """A route of the web UI: login redirects and service errors become pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (LoginRequired, TinyMLaaSError, IntegrityError, RequestValidationError) as exc:
                answer = await run_in_threadpool(_answer, request, exc)
                raise PageErrorResponse(answer) from exc

        return handle
