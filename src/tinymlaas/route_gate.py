"""Included routers that reject, by one string comparison, a path none of their routes can match.

FastAPI (0.16x) matches a request against every route of every included router in turn, each
check costing several microseconds of bookkeeping; the router that matches is then matched a
second time to pick its route. A request for `/api/v1/jobs/1` walked the health, auth, datasets
and dataset-versions routes first, and an unknown path walked all of them (a third of a simple
GET's time in the event loop). A route's regular expression is anchored at the start of the
path, so a path that begins with none of a router's literal route prefixes (the path up to its
first `{parameter}`) cannot match any of its routes: the gate answers "no match" at once and
matching goes on exactly as before. The prefixes are worked out again whenever the router's
routes change. It leans on FastAPI's private `_IncludedRouter`; with a FastAPI whose routers
look different, `gate_included_routers` leaves them as they are.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

try:
    from fastapi.routing import _IncludedRouter
except ImportError:  # pragma: no cover - a FastAPI without lazily included routers
    _IncludedRouter = None  # type: ignore[assignment,misc]


def gate_included_routers(app: FastAPI) -> int:
    """Gate every router included into `app` whose routes all have a literal prefix.

    Returns how many were gated. Call it after the last `include_router`.
    """
    if _IncludedRouter is None:
        return 0
    gated = 0
    for route in app.router.routes:
        if type(route) is _IncludedRouter and literal_prefixes(route.effective_candidates()):
            route.__class__ = _GatedRouter
            gated += 1
    return gated


def literal_prefixes(candidates: list[Any]) -> tuple[str, ...] | None:
    """What every path these routes match begins with; None when one of them has no literal
    path or is itself an included router (then the router is not gated)."""
    prefixes: set[str] = set()
    for candidate in candidates:
        if isinstance(candidate, _IncludedRouter):
            return None
        path = candidate.path or getattr(candidate.starlette_route, "path", "")
        if not isinstance(path, str) or not path.startswith("/"):
            return None
        prefixes.add(path.split("{", 1)[0])
    # A prefix that extends another adds nothing to the check.
    return tuple(
        sorted(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))
    )


if _IncludedRouter is not None:

    class _GatedRouter(_IncludedRouter):
        # What the prefixes were worked out from: FastAPI builds a new list when routes change.
        _gate_source: list[Any] | None = None
        _gate_prefixes: tuple[str, ...] = ("",)

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            candidates = self.effective_candidates()
            if candidates is not self._gate_source:
                self._gate_prefixes = literal_prefixes(candidates) or ("",)
                self._gate_source = candidates
            if not get_route_path(scope).startswith(self._gate_prefixes):
                return Match.NONE, {}
            return super().matches(scope)
