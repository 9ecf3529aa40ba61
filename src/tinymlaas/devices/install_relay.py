"""Which queued installs a bridge is sent now: one at a time per board, never over port work.

An install waits while another install, a device test or a capture has the board's port; the
waiting job says so in its message (and the device's status is "busy").
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinymlaas.devices import repository
from tinymlaas.enums import JobStatus
from tinymlaas.jobs import repository as jobs_repository
from tinymlaas.models import Device, Installation, Job


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
