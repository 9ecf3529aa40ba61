"""The error family: each error carries its HTTP status (pure: error_handlers.py maps them to
responses, so services raise them without importing the web framework)."""

from __future__ import annotations

from typing import Any


class TinyMLaaSError(Exception):
    """Base error; `detail` is shown to the user, `extra` adds fields to the JSON body."""

    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(TinyMLaaSError):
    status_code = 400


class Unauthorized(TinyMLaaSError):
    status_code = 401


class Forbidden(TinyMLaaSError):
    status_code = 403


class NotFound(TinyMLaaSError):
    status_code = 404


class Conflict(TinyMLaaSError):
    status_code = 409


class TooLarge(TinyMLaaSError):
    status_code = 413


class TooManyRequests(TinyMLaaSError):
    status_code = 429


class ServiceUnavailable(TinyMLaaSError):
    status_code = 503


class ConfigurationError(RuntimeError):
    """The settings cannot run a safe service; the message says which one to fix."""
