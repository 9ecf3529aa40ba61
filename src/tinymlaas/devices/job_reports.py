"""Which job a bridge may report on: one sent to a device of its own, still going on there.

Job ids are sequential, so a bridge's `install_log`, `install_result`, `device_test_progress`,
`device_test_result`, `capture_frame` and `capture_result` are never trusted by their `job_id`
alone: the hub asks `refusal` before any of them reaches a relay, and answers a refused one with
an `error` (the connection stays up; nothing is stored).
"""

from __future__ import annotations

from typing import get_args

from sqlalchemy.orm import Session

from tinymlaas.devices import messages, repository
from tinymlaas.enums import JobStatus

JobReport = (
    messages.InstallLog
    | messages.InstallResult
    | messages.DeviceTestProgress
    | messages.DeviceTestResult
    | messages.CaptureFrame
    | messages.CaptureResult
)
JOB_REPORTS: tuple[type[JobReport], ...] = get_args(JobReport)


def refusal(session: Session, bridge_id: int, message: JobReport) -> str | None:
    """Why the bridge may not report this on its job (the error's detail), or None if it may.

    A job of another bridge reads like one that does not exist: a bridge learns nothing of
    other users' jobs. A device test waits for its answers while it is "sent" (also once its
    job was cancelled: the bridge then says how far the board got); installs and captures while
    their job runs.
    """
    job_id = message.job_id
    found = repository.bridge_job(session, bridge_id, job_id)
    if found is None:
        return f"{message.type} for job {job_id}: no such job was sent to this bridge; ignored"
    job, test_stage = found
    running = test_stage == "sent" if test_stage is not None else job.status == JobStatus.running
    if not running:
        return f"{message.type} for job {job_id}: the job is no longer running; ignored"
    return None
