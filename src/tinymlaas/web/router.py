"""The web UI's pages: login/logout, the domain pages, static files and the HTML 404 page."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tinymlaas.auth import service as auth
from tinymlaas.auth.dependencies import SessionDep, SettingsDep
from tinymlaas.errors import TinyMLaaSError
from tinymlaas.web import (
    captures,
    compiled,
    dataset_versions,
    datasets,
    device_tests,
    devices,
    jobs,
    models,
    review,
    search,
)
from tinymlaas.web.auth import (
    CsrfChecked,
    clear_session,
    get_browser_session,
    new_session,
    session_seconds,
    write_session,
)
from tinymlaas.web.rendering import (
    STATIC_DIR,
    PageErrorResponse,
    PageRoute,
    error_page,
    redirect,
    render,
    send_page_error,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not send the user to another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/datasets"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """Datasets for a logged-in user, the login form otherwise."""
    browser = get_browser_session(request)
    return redirect("/datasets" if browser and browser.user_id else "/login")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    """The login form; it starts an anonymous session so the form carries a CSRF token."""
    browser = get_browser_session(request)
    if browser is None:
        browser = new_session(None)
    context = {"next": _safe_next(next), "csrf_token": browser.csrf_token}
    response = render(request, "login.html", context)
    write_session(request, response, browser, session_seconds(request))
    return response


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/datasets",
) -> Response:
    """Check the password (rate-limited like the API's); success starts a new session."""

    def refuse(message: str, status_code: int) -> Response:
        context = {"next": _safe_next(next), "username": username, "error": message}
        return render(request, "login.html", context, status_code=status_code)

    try:
        user = auth.login(
            session,
            username,
            password,
            request.client.host if request.client else "unknown",
            max_failures=settings.login_max_failures,
            window_seconds=settings.login_window_seconds,
        )
    except TinyMLaaSError as exc:
        return refuse(exc.detail[:1].upper() + exc.detail[1:] + ".", exc.status_code)
    if user is None:
        return refuse("Wrong username or password.", 401)  # the failure commits with the page
    response = redirect(_safe_next(next))
    write_session(request, response, new_session(user.id), session_seconds(request))
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout() -> Response:
    """Forget the session cookie."""
    response = redirect("/login", "You are logged out.")
    clear_session(response)
    return response


@cache
def _plotly_js() -> Path:
    """plotly.js as bundled in the installed plotly package (no CDN, nothing copied)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@router.get("/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    """The charting library, served from the installed package."""
    return FileResponse(
        _plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon, for clients that ask for it without reading the page's link."""
    return FileResponse(
        STATIC_DIR / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


for _pages in (
    datasets.router,
    dataset_versions.router,
    models.router,
    search.router,
    compiled.router,
    jobs.router,
    devices.router,
    device_tests.router,
    captures.router,
):
    router.include_router(_pages)
router.include_router(review.router)


def mount_web(app: FastAPI) -> None:
    """Serve the pages and their static files; unknown non-API pages get the HTML 404 page."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.add_exception_handler(PageErrorResponse, send_page_error)

    @app.exception_handler(StarletteHTTPException)
    async def page_not_found(request: Request, exc: StarletteHTTPException) -> Response:
        is_page = not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
            "accept", ""
        )
        if exc.status_code == 404 and is_page:
            return await run_in_threadpool(
                error_page, request, 404, "There is no page at this address."
            )
        return await http_exception_handler(request, exc)
