"""The device test job (worker side): prepare the tensors, wait for the board, report.

The images are decoded and quantized exactly as training and compiling do it
(`training.data.load_images`, `compiling.quantize.quantize_input`), and the host's int8 outputs
come from LiteRT's reference kernels (the compiled page's "int8" column). The API process that
holds the device's bridge sends the tensors and stores the answers (`relay.py`); this task then
compares them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import litert
from tinymlaas.compiling import repository as compiled_repository
from tinymlaas.compiling.quantize import quantize_input, tensor_info
from tinymlaas.devices.testing import repository
from tinymlaas.devices.testing.report import build_report
from tinymlaas.jobs.context import JobCancelled, JobContext
from tinymlaas.models import CompiledModel, DeviceTest, TrainedModel
from tinymlaas.training.data import load_images

POLL_SECONDS = 0.2
# How long a prepared test may wait for the device's bridge to take it.
PICKUP_SECONDS = 60.0
# Per image on top of the bridge's own timeout, and for the whole exchange.
PER_IMAGE_SECONDS = 5.0
SLACK_SECONDS = 120.0


@dataclass(frozen=True)
class _Prepared:
    test_id: int
    count: int
    classes: list[str]


def run(ctx: JobContext) -> None:
    """Prepare the test, wait until the bridge has the board's answers, store the report."""
    prepared = _prepare(ctx)
    _wait_for_answers(ctx, prepared)

    def store(session: Session) -> None:
        test = session.get_one(DeviceTest, prepared.test_id)
        report = build_report(
            prepared.classes,
            test.labels,
            test.image_ids,
            test.host or [],
            test.answers or [],
            test.seconds or 0.0,
            test.bytes_sent or 0,
        )
        test.report = report.model_dump(mode="json")
        test.stage = "done"

    ctx.store(store)


def _prepare(ctx: JobContext) -> _Prepared:
    with ctx.factory() as session:
        test = repository.get_by_job(session, ctx.job_id)
        if test is None:
            raise LookupError(f"no device test belongs to job {ctx.job_id}")
        compiled = session.get_one(CompiledModel, test.compiled_id)
        model = session.get_one(TrainedModel, compiled.model_id)
        classes, config = list(model.classes), model.config
        ctx.progress(0.05, f"preprocessing {len(test.image_ids)} images as training did")
        images = load_images(
            session,
            test.image_ids,
            classes,
            config.input_width,
            config.input_height,
            config.color_mode,
        )
        row = compiled_repository.file(session, compiled.id, "model.tflite")
        if row is None or compiled.input is None:
            raise LookupError(f"compiled model {compiled.id} has no model.tflite")
        tflite = DatabaseBlobStore(session).get(row.sha256)
        spec = compiled.input
        info = tensor_info(spec["shape"], spec["dtype"], spec["scale"], spec["zero_point"])
        test_id = test.id
    # Images deleted since the request are gone from the test, with their labels.
    kept = images.ids
    labels = [int(label) for label in images.y]
    ctx.raise_if_cancelled()
    quantized = quantize_input(images.x, info)
    ctx.progress(0.15, f"computing the host's int8 outputs of {len(kept)} images")
    host = litert.predict_raw(tflite, quantized).reshape(len(kept), -1)

    def store(session: Session) -> None:
        test = session.get_one(DeviceTest, test_id)
        blob = DatabaseBlobStore(session).put(np.ascontiguousarray(quantized).tobytes())
        test.inputs_sha256 = blob.sha256
        test.input_bytes = int(np.prod(quantized.shape[1:]))
        test.image_ids, test.labels = list(kept), labels
        test.host = host.astype(int).tolist()
        test.stage = "ready"

    ctx.store(store)
    ctx.progress(0.25, "waiting for the device's bridge")
    return _Prepared(test_id, len(kept), classes)


def _wait_for_answers(ctx: JobContext, prepared: _Prepared) -> None:
    """Poll the row until the bridge's answers are in; fail on its error or a timeout."""
    started = time.monotonic()
    deadline = started + SLACK_SECONDS + PER_IMAGE_SECONDS * prepared.count
    reported = -1
    while True:
        ctx.raise_if_cancelled()
        with ctx.factory() as session:
            test = session.get_one(DeviceTest, prepared.test_id)
            stage, done, error = test.stage, test.done, test.error
        if stage == "answered":
            return
        if stage == "cancelled":  # the bridge stopped it; the job says how far it got
            raise JobCancelled
        if stage == "failed":
            raise RuntimeError(error or "the device test failed")
        waited = time.monotonic() - started
        if stage == "ready" and waited > PICKUP_SECONDS:
            raise TimeoutError(
                f"the device's bridge did not take the test within {PICKUP_SECONDS:g} s:"
                " is it online, and new enough to test on a device?"
            )
        if time.monotonic() > deadline:
            raise TimeoutError("the board's answers did not come back in time")
        if done != reported:
            reported = done
            fraction = 0.25 + 0.7 * done / max(1, prepared.count)
            ctx.progress(fraction, f"{done} of {prepared.count} images answered by the board")
        time.sleep(POLL_SECONDS)
