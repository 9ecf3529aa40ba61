"""The review page of a dataset (doubtful frames devices kept, filed with the keyboard) and the
capture rule form of the device page."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from tinymlaas.auth.dependencies import SessionDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import repository as datasets_repository
from tinymlaas.datasets import review, review_repository
from tinymlaas.datasets import service as datasets
from tinymlaas.datasets.review_schemas import ReviewItemRead, ReviewRelabel, ReviewSelection
from tinymlaas.devices import capture_rules
from tinymlaas.devices import repository as devices_repository
from tinymlaas.devices import service as devices
from tinymlaas.devices.capture_schemas import CaptureRuleWrite
from tinymlaas.enums import JobStatus
from tinymlaas.errors import BadRequest
from tinymlaas.models import Device, User
from tinymlaas.training import repository as training_repository
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.datasets import PageDataset
from tinymlaas.web.forms import parse_form
from tinymlaas.web.rendering import PageRoute, redirect, render, wants_json

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ITEMS_SHOWN = 200
SHORTCUT_LABELS = 9
# Labels with a relabel button (one click each); a dataset with more types the others.
LABEL_BUTTONS = 40


def get_page_device(device_id: int, page: PageUser, session: SessionDep) -> Device:
    return devices.get_device(session, page.user, device_id)


PageDevice = Annotated[Device, Depends(get_page_device)]


def _continue_training(session: Session, user: User, dataset_id: int) -> dict[str, Any] | None:
    """The model deployed on a device feeding this queue, to continue training from."""
    for device, compiled in capture_rules.deployed_models(session, user.id, dataset_id):
        model = training_repository.get_owned(session, user.id, compiled.model_id)
        if model is not None and model.status == JobStatus.succeeded:
            return {"model": model, "device": device, "compiled": compiled}
    return None


@router.get("/datasets/{dataset_id}/review", response_class=HTMLResponse)
def review_page(
    request: Request, dataset: PageDataset, page: PageUser, session: SessionDep
) -> Response:
    """The queue as a grid, most doubtful first: accept, relabel or discard, with the keys."""
    rows, total = review_repository.list_items(session, dataset.id, 0, ITEMS_SHOWN)
    described = datasets.describe(session, [dataset])[0]
    labels = sorted({label.name for label in described.labels} | {row.label for row in rows})
    items = [ReviewItemRead.model_validate(row).model_dump(mode="json") for row in rows]
    return render(
        request,
        "review.html",
        {
            "user": page.user,
            "nav": "datasets",
            "dataset": described,
            "items": items,
            "total": total,
            "labels": labels,
            "shortcut_labels": SHORTCUT_LABELS,
            "label_buttons": LABEL_BUTTONS,
            "continue_from": _continue_training(session, page.user, dataset.id),
            "device_names": {
                device.id: device.name
                for device in devices_repository.list_devices(session, page.user.id)
            },
        },
    )


@router.get("/datasets/{dataset_id}/review/{item_id}/content")
def review_item_content(item_id: int, dataset: PageDataset, session: SessionDep) -> Response:
    """A queued frame's bytes, for the page's grid."""
    item = review.get_item(session, dataset, item_id)
    return Response(
        DatabaseBlobStore(session).get(item.sha256),
        media_type=review.content_type(item),
        headers={"Cache-Control": "private, max-age=86400"},
    )


@router.post("/datasets/{dataset_id}/review/{action}", dependencies=[CsrfChecked])
def review_action(
    request: Request,
    action: Literal["accept", "relabel", "discard"],
    dataset: PageDataset,
    session: SessionDep,
    item_id: Annotated[list[int] | None, Form()] = None,
    label: Annotated[str, Form()] = "",
    new_label: Annotated[str, Form()] = "",
) -> Response:
    """Accept, relabel or discard the chosen items, all or none (JSON for the page's script)."""
    ids = item_id or []
    if not ids:
        raise BadRequest("select at least one frame first")
    if action == "relabel":
        chosen = (label or new_label).strip()
        relabel = parse_form(ReviewRelabel, {"ids": ids, "label": chosen})
        done = review.relabel(session, dataset, relabel.ids, relabel.label)
    else:
        selection = parse_form(ReviewSelection, {"ids": ids})
        if action == "accept":
            done = review.accept(session, dataset, selection.ids)
        else:
            done = review.discard(session, DatabaseBlobStore(session), dataset, selection.ids)
    if wants_json(request):
        return JSONResponse(done.model_dump())
    noun = "frame" if done.count == 1 else "frames"
    return redirect(
        f"/datasets/{dataset.id}/review", f"{done.action.capitalize()} {done.count} {noun}."
    )


# The device page's capture rule


def capture_context(session: Session, user: User, device: Device, queue_max: int) -> dict[str, Any]:
    """What the device page's capture rule card shows."""
    rule = capture_rules.rule_of(session, device.id)
    return {
        "capture_rule": capture_rules.describe(session, rule, queue_max) if rule else None,
        "capture_datasets": datasets_repository.all_datasets(session, user.id),
    }


def _number(value: str) -> str | None:
    return value.strip() or None


@router.post("/devices/{device_id}/capture-rule", dependencies=[CsrfChecked])
def save_capture_rule(
    device: PageDevice,
    page: PageUser,
    session: SessionDep,
    dataset_id: Annotated[int, Form()],
    below_score: Annotated[str, Form()] = "",
    margin: Annotated[str, Form()] = "",
    sample_per_hour: Annotated[str, Form()] = "",
    max_per_hour: Annotated[str, Form()] = "60",
    enabled: Annotated[bool, Form()] = False,
) -> Response:
    """Create or replace the device's capture rule (the API's rules and messages)."""
    values = {
        "dataset_id": dataset_id,
        "below_score": _number(below_score),
        "margin": _number(margin),
        "sample_per_hour": _number(sample_per_hour),
        "max_per_hour": _number(max_per_hour) or 60,
        "enabled": enabled,
    }
    rule = capture_rules.put_rule(session, page.user, device, parse_form(CaptureRuleWrite, values))
    state = "on" if rule.enabled else "saved, switched off"
    return redirect(f"/devices/{device.id}", f"Capture rule {state}.")


@router.post("/devices/{device_id}/capture-rule/delete", dependencies=[CsrfChecked])
def delete_capture_rule(device: PageDevice, session: SessionDep) -> Response:
    """Stop sending this device's frames to review."""
    capture_rules.delete_rule(session, device)
    return redirect(f"/devices/{device.id}", "Capture rule removed.")
