"""Included routers gated by their routes' literal prefixes still route every request."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tinymlaas.route_gate import gate_included_routers, literal_prefixes


def _app() -> tuple[FastAPI, APIRouter, APIRouter]:
    jobs = APIRouter(prefix="/jobs")
    jobs.add_api_route("", lambda: "list", methods=["GET"])
    jobs.add_api_route("/{job_id}", lambda job_id: f"job {job_id}", methods=["GET"])
    other = APIRouter()
    other.add_api_route("/models/{model_id}/compiled", lambda model_id: "compiled")
    app = FastAPI()
    app.include_router(jobs, prefix="/api")
    app.include_router(other, prefix="/api")
    return app, jobs, other


def test_gated_routers_answer_what_they_answered_before() -> None:
    app, _, _ = _app()
    assert gate_included_routers(app) == 2
    client = TestClient(app)
    assert client.get("/api/jobs").json() == "list"
    assert client.get("/api/jobs/7").json() == "job 7"
    assert client.get("/api/models/3/compiled").json() == "compiled"
    assert client.get("/api/jobsx").status_code == 404
    assert client.get("/api/models").status_code == 404
    # Trailing-slash redirects still find the route.
    redirected = client.get("/api/jobs/7/", follow_redirects=False)
    assert redirected.status_code == 307
    assert redirected.headers["location"].endswith("/api/jobs/7")


def test_a_route_added_after_gating_is_found() -> None:
    app, jobs, other = _app()
    gate_included_routers(app)
    client = TestClient(app)
    assert client.get("/api/queue/depth").status_code == 404
    other.add_api_route("/queue/depth", lambda: 0)  # a literal prefix the gate had not seen
    assert client.get("/api/queue/depth").json() == 0
    alongside = APIRouter()
    alongside.add_api_route("/queue/length", lambda: 3)
    jobs.include_router(alongside)  # a nested router: the gate lets everything through
    assert client.get("/api/jobs/queue/length").json() == 3


def test_the_prefixes_are_the_literal_parts_before_the_first_parameter() -> None:
    app, _, _ = _app()
    routers = [route for route in app.router.routes if hasattr(route, "effective_candidates")]
    assert [literal_prefixes(r.effective_candidates()) for r in routers] == [
        ("/api/jobs",),
        ("/api/models/",),
    ]
