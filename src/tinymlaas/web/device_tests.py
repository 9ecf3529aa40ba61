"""The device test on the compiled page: start one on a board holding the model, see its report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Response
from sqlalchemy.orm import Session

from tinymlaas.auth.dependencies import SessionDep
from tinymlaas.devices import repository as devices_repository
from tinymlaas.devices import service as devices
from tinymlaas.devices.testing import repository, service
from tinymlaas.devices.testing.schemas import DeviceTestRequest
from tinymlaas.enums import ACTIVE_STATUSES
from tinymlaas.jobs import service as jobs
from tinymlaas.models import CompiledModel, User
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.forms import parse_form
from tinymlaas.web.rendering import PageRoute, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def device_test_context(session: Session, user: User, compiled: CompiledModel) -> dict[str, Any]:
    """The compiled model's latest device test (followed live while it runs), its latest report
    and the boards that hold the model (where a new test can run)."""
    rows = repository.list_owned(session, user.id, compiled.id, None)
    latest = service.describe(*rows[0]) if rows else None
    reported = next((service.describe(*row) for row in rows if row[0].report), None)
    holders = [
        device
        for device in devices_repository.list_devices(session, user.id)
        if device.installed_compiled_id == compiled.id
    ]
    active = latest is not None and latest.status in ACTIVE_STATUSES
    return {
        "device_test": latest,
        "device_test_active": active,
        "device_test_job": jobs.describe(session, [rows[0][1]])[0] if active else None,
        "device_report": reported,
        "test_devices": devices.describe_devices(session, holders),
    }


@router.post("/devices/{device_id}/test", dependencies=[CsrfChecked])
def start_device_test(
    device_id: int,
    page: PageUser,
    session: SessionDep,
    split: Annotated[str, Form()] = "validation",
    limit: Annotated[str, Form()] = "",
) -> Response:
    """Test the installed model on the board; back to the compiled page, which follows it."""
    device = devices.get_device(session, page.user, device_id)
    values: dict[str, Any] = {"split": split}
    if limit.strip():
        values["limit"] = limit.strip()
    test = service.request_test(session, page.user, device, parse_form(DeviceTestRequest, values))
    return redirect(
        f"/compiled/{test.compiled_id}#device-test",
        f"Testing on {device.name}: {len(test.image_ids)} images.",
    )
