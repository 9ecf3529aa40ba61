"""The device page's Capture panel: frames from the board into a dataset folder, previewed live."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from tinymlaas.auth.dependencies import SessionDep
from tinymlaas.datasets import repository as datasets_repository
from tinymlaas.devices import service as devices
from tinymlaas.devices.capturing import service
from tinymlaas.devices.capturing.schemas import CaptureRequest
from tinymlaas.enums import ACTIVE_STATUSES
from tinymlaas.models import Device, User
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.forms import parse_form
from tinymlaas.web.rendering import PageRoute, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Datasets offered in the panel (newest first).
DATASETS_SHOWN = 100


def capture_context(session: Session, user: User, device: Device) -> dict[str, Any]:
    """The latest capture (followed live while it runs) and the datasets with their folders,
    the labels the panel's picker offers."""
    latest = service.latest_capture(session, device.id)
    described = service.describe(session, latest) if latest is not None else None
    datasets, _ = datasets_repository.list_datasets(session, user.id, 0, DATASETS_SHOWN)
    return {
        "capture": described.model_dump(mode="json") if described else None,
        "capture_active": described is not None and described.status in ACTIVE_STATUSES,
        "capture_datasets": [
            {
                "id": dataset.id,
                "name": dataset.name,
                "folders": datasets_repository.folder_paths(session, dataset.id),
            }
            for dataset in datasets
        ],
    }


@router.post("/devices/{device_id}/capture", dependencies=[CsrfChecked])
def start_capture(
    device_id: int,
    page: PageUser,
    session: SessionDep,
    dataset_id: Annotated[str, Form()] = "",
    folder: Annotated[str, Form()] = "",
    count: Annotated[str, Form()] = "10",
    interval_ms: Annotated[str, Form()] = "1000",
) -> Response:
    """Start a capture; back to the device page, which previews the frames as they come."""
    device = devices.get_device(session, page.user, device_id)
    values = {"dataset_id": dataset_id, "folder": folder.strip(), "count": count}
    request = parse_form(CaptureRequest, values | {"interval_ms": interval_ms})
    capture = service.request_capture(session, page.user, device, request)
    return redirect(
        f"/devices/{device.id}#capture",
        f"Capturing {capture.count} frames into {capture.folder}.",
    )


@router.get("/device-captures/{capture_id}")
def read_capture(capture_id: int, page: PageUser, session: SessionDep) -> Response:
    """The capture as JSON, for the live preview."""
    capture = service.get_capture(session, page.user, capture_id)
    return JSONResponse(service.describe(session, capture).model_dump(mode="json"))
