"""Which queued installs a bridge is sent now: one at a time per board, never over port work.

An install waits while another install, a device test or a capture has the board's port; the
waiting job says so in its message (and the device's status is "busy").
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.devices import messages, repository
from tinymlaas.enums import JobStatus
from tinymlaas.jobs import repository as jobs_repository
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Device, Installation, Job

MAX_LOG_CHARS = 200_000


def claim_installs(
    session: Session, bridge_id: int, worker: str
) -> list[tuple[Installation, Device]]:
    """Claim the bridge's queued installs whose board is free, oldest first."""
    installing = repository.devices_installing(session, bridge_id)
    port_work = repository.devices_with_port_work(session, bridge_id)
    claimed: list[tuple[Installation, Device]] = []
    for installation, device in repository.queued_installs(session, bridge_id):
        if device.id in installing:
            continue
        if device.id in port_work:
            _say_waiting(session, installation.job_id, device, port_work[device.id])
            continue
        if not jobs_repository.claim(session, installation.job_id, worker):
            continue
        installing.add(device.id)
        device.busy = True
        claimed.append((installation, device))
        jobs_repository.add_event(
            session, installation.job_id, "state", {"status": JobStatus.running}
        )
    return claimed


def _say_waiting(session: Session, job_id: int, device: Device, holder: str) -> None:
    job = session.get(Job, job_id)
    message = f"waiting: {device.name} is busy with {holder}"[:500]
    if job is None or job.status != JobStatus.queued or job.message == message:
        return
    job.message = message
    jobs_repository.add_event(
        session, job_id, "state", {"status": JobStatus.queued, "message": message}
    )


def record_log(session: Session, message: messages.InstallLog) -> None:
    """One line of the installer's output: kept in the installation and the job's events."""
    installation = repository.installation_by_job(session, message.job_id)
    job = session.get(Job, message.job_id)
    if installation is None or job is None or job.status != JobStatus.running:
        return
    line = message.line
    installation.output = (installation.output + line + "\n")[-MAX_LOG_CHARS:]
    if not job.cancel_requested:  # keep saying what became of the cancel
        job.message = line[:500]
    jobs_repository.add_event(session, job.id, "log", {"line": line})


def record_result(
    session: Session, message: messages.InstallResult, cancel_sent: bool | None, cannot: str
) -> None:
    """How the install ended. `cancel_sent`: whether the bridge was asked to stop it (None if no
    cancel was noticed); `cannot`: why this bridge cannot be asked."""
    installation = repository.installation_by_job(session, message.job_id)
    job = session.get(Job, message.job_id)
    if installation is None or job is None or job.status != JobStatus.running:
        return
    ok, output = message.ok, message.output
    installation.output = output[-MAX_LOG_CHARS:]
    device = session.get(Device, installation.device_id)
    if device is not None:
        device.busy = False
        if ok:
            device.installed_compiled_id = installation.compiled_id
            device.installed_at = utcnow()
    if message.cancelled and not ok:
        state = message.device_state or "the board's state is unknown"
        jobs.finish(session, job, JobStatus.cancelled, message=f"cancelled: {state}"[:500])
        return
    if cancel_sent is False:
        late = f"; the cancel could not be delivered: {cannot}"
    elif job.cancel_requested:
        late = "; the cancel came too late: the install had already finished on the bridge"
    else:
        late = ""
    if ok:
        jobs.finish(session, job, JobStatus.succeeded, message=f"installed{late}"[:500])
    else:
        tail = output.strip()[-4000:] or "the installer gave no output"
        jobs.finish(
            session, job, JobStatus.failed, message=f"install failed{late}"[:500], error=tail
        )
