"""Schemathesis fuzzes every operation as a logged-in user: no 5xx, answers match the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from support.factories import pattern_dataset_zip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize(
        "migrated_database", ["postgresql", "mariadb", "sqlite"], indirect=True
    ),
]
# Streams stay open for as long as the client listens; they are tested on their own.
STREAMS = ["job_events", "observe_device", "export_dataset"]


def test_no_server_errors_and_schema_conformance(client: TestClient) -> None:
    client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=2), "application/zip")},
        data={"name": "fuzz"},
    )
    client.post("/api/v1/bridges", json={"name": "fuzz"})
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    auth = {"Authorization": client.headers["Authorization"]}
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    fuzzed = 0
    for result in schema.exclude(operation_id=STREAMS).get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=auth, checks=checks)

        fuzz()
        fuzzed += 1
    assert fuzzed >= 40
