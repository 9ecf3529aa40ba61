"""Rules of device tests: which images, which model, on which board. Flushes; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tinymlaas.compiling import service as compiling
from tinymlaas.contracts import TestSplit
from tinymlaas.datasets import service as datasets
from tinymlaas.devices import repository as devices_repository
from tinymlaas.devices import service as devices
from tinymlaas.devices.testing import repository
from tinymlaas.devices.testing.report import DeviceTestReport
from tinymlaas.devices.testing.schemas import DeviceTestRead, DeviceTestRequest
from tinymlaas.enums import JobKind, JobStatus
from tinymlaas.errors import BadRequest, Conflict, NotFound
from tinymlaas.jobs import service as jobs
from tinymlaas.models import CompiledModel, Device, DeviceTest, Job, TrainedModel, User
from tinymlaas.training import repository as training_repository


def get_test(session: Session, owner: User, test_id: int) -> DeviceTest:
    test = repository.get_owned(session, owner.id, test_id)
    if test is None:
        raise NotFound(f"device test {test_id} not found")
    return test


def spread(ids: Sequence[int], limit: int | None) -> list[int]:
    """At most `limit` of the ids, evenly spaced so that every class is reached."""
    if limit is None or len(ids) <= limit:
        return list(ids)
    step = len(ids) / limit
    return [ids[int(position * step)] for position in range(limit)]


def _images(
    session: Session, model: TrainedModel, dataset_id: int, split: TestSplit
) -> list[tuple[int, int]]:
    """(image id, class index) of the chosen split, in id order."""
    index = {label: i for i, label in enumerate(model.classes)}
    rows = training_repository.labelled_images(session, dataset_id)
    labelled = {image_id: index[label] for image_id, _, label, _ in rows if label in index}
    info = model.training_info
    if dataset_id == model.dataset_id and split != "all" and info is not None:
        # The model's own held-out images: the seeded validation split has no folder.
        chosen = info.validation_image_ids if split == "validation" else info.test_image_ids
        return sorted((i, labelled[i]) for i in chosen if i in labelled)
    return sorted(
        (image_id, index[label])
        for image_id, _, label, image_split in rows
        if label in index and (split == "all" or image_split == split)
    )


def _compiled_for(
    session: Session, owner: User, device: Device, compiled_id: int | None
) -> CompiledModel:
    """The compiled model to test: it must be int8 and the one installed on the device."""
    installed = device.installed_compiled_id
    if compiled_id is None:
        if installed is None:
            raise Conflict(
                f"no model is installed on device {device.id}: install one, or give compiled_id"
            )
        compiled_id = installed
    compiled = compiling.get_compiled(session, owner, compiled_id)
    if compiled.quantization != "int8":
        raise BadRequest(
            f"compiled model {compiled.id} is {compiled.quantization}: a device test sends int8"
            " input tensors, compile the model with int8 quantization"
        )
    if installed != compiled.id:
        raise Conflict(
            f"compiled model {compiled.id} is not installed on device {device.id}"
            f" (installed: {installed or 'none'}): install it first"
        )
    return compiled


def request_test(
    session: Session, owner: User, device: Device, request: DeviceTestRequest
) -> DeviceTest:
    """Check everything, then queue the test: a worker prepares it, the bridge runs it."""
    compiled = _compiled_for(session, owner, device, request.compiled_id)
    model = session.get_one(TrainedModel, compiled.model_id)
    dataset_id = request.dataset_id or model.dataset_id
    if dataset_id is None:
        raise BadRequest(f"model {model.id} has no dataset: give dataset_id")
    dataset = datasets.get_dataset(session, owner, dataset_id)
    chosen = _images(session, model, dataset.id, request.split)
    if not chosen:
        labels = ", ".join(model.classes)
        raise BadRequest(
            f"dataset {dataset.id} has no images in its {request.split} split labelled with"
            f" the model's labels ({labels})"
        )
    chosen = [chosen[i] for i in spread(range(len(chosen)), request.limit)]
    bridge = devices_repository.bridges_by_id(session, {device.bridge_id}).get(device.bridge_id)
    if devices.device_status(device, bridge) == "offline":
        raise Conflict(f"device {device.id} is offline: start its bridge or plug it in")
    if repository.active_on_device(session, device.id) is not None:
        raise Conflict(f"device {device.id} is already being tested: wait for that test")
    job = jobs.create_job(session, owner, JobKind.device_test)
    test = DeviceTest(
        owner_id=owner.id,
        device_id=device.id,
        compiled_id=compiled.id,
        dataset_id=dataset.id,
        job_id=job.id,
        split=request.split,
        image_limit=request.limit,
        stage="preparing",
        image_ids=[image_id for image_id, _ in chosen],
        labels=[label for _, label in chosen],
        done=0,
    )
    session.add(test)
    session.flush()
    return test


def describe(test: DeviceTest, job: Job) -> DeviceTestRead:
    split: TestSplit = test.split  # type: ignore[assignment]
    return DeviceTestRead(
        id=test.id,
        device_id=test.device_id,
        compiled_id=test.compiled_id,
        dataset_id=test.dataset_id,
        job_id=test.job_id,
        split=split,
        limit=test.image_limit,
        images=len(test.image_ids),
        stage=test.stage,
        done=test.done,
        status=JobStatus(job.status),
        error=test.error or job.error,
        report=DeviceTestReport.model_validate(test.report) if test.report else None,
        created_at=test.created_at,
    )


def describe_many(session: Session, tests: Sequence[DeviceTest]) -> list[DeviceTestRead]:
    found = repository.jobs_of(session, tests)
    return [describe(test, found[test.job_id]) for test in tests]
