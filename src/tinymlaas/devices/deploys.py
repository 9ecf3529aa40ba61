"""Deploying a search's candidate: compile it for the search's board and install it on a device.

One request does both: the candidate's compiled model is reused when it is (or will be) good,
otherwise compiled now (compiling/service.py); the install goes through the devices' own rule
(service.request_install) at once when the compiled model is ready, else the device is noted
on the candidate and `install_pending` queues the install when the compile has succeeded (the
serving process runs it after every search step, search/background.py). Flushes; the caller
commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.compiling import service as compiling
from tinymlaas.compiling.schemas import CompileRequest
from tinymlaas.db.session import transaction
from tinymlaas.devices import service as devices
from tinymlaas.enums import FINISHED_STATUSES, JobStatus
from tinymlaas.errors import BadRequest, Conflict, NotFound, TinyMLaaSError
from tinymlaas.models import CompiledModel, Device, Search, SearchCandidate, TrainedModel, User
from tinymlaas.search import repository
from tinymlaas.search.schemas import DeployAccepted


def get_candidate(session: Session, search: Search, candidate_id: int) -> SearchCandidate:
    found = session.get(SearchCandidate, candidate_id)
    if found is None or found.search_id != search.id:
        raise NotFound(f"search {search.id} has no candidate {candidate_id}")
    return found


def deploy_candidate(
    session: Session,
    owner: User,
    search: Search,
    candidate: SearchCandidate,
    device_id: int | None,
) -> DeployAccepted:
    """Compile the candidate for the search's board (unless a compile of it is ready or under
    way) and install it on `device_id`: now if compiled, else when its compile succeeds."""
    if search.phase != "done":
        raise Conflict(f"search {search.id} is still running: deploy a candidate once it ended")
    if candidate.model_id is None:
        raise BadRequest(
            f"candidate {candidate.id} has no trained model to deploy ({candidate.status})"
        )
    device = devices.get_device(session, owner, device_id) if device_id is not None else None
    if device is not None and not device.virtual and device.board != search.board:
        raise Conflict(
            f"device {device.id}'s board is {device.board or 'unknown'}, but search {search.id}"
            f" compiles for {search.board}: pick a {search.board} device"
        )
    compiled, started = _compiled(session, owner, search, candidate)
    accepted = DeployAccepted(
        compiled_id=compiled.id, compile_job_id=compiled.job_id if started else None
    )
    if device is None:
        return accepted
    if compiled.status == JobStatus.succeeded:
        installation = devices.request_install(session, owner, device, compiled)
        accepted.installation_id, accepted.install_job_id = installation.id, installation.job_id
        return accepted
    candidate.deploy_device_id = device.id
    accepted.install_pending = True
    return accepted


def _compiled(
    session: Session, owner: User, search: Search, candidate: SearchCandidate
) -> tuple[CompiledModel, bool]:
    """The candidate's compiled model when it is ready or on its way, else a new compile."""
    if candidate.compiled_id is not None:
        compiled = session.get(CompiledModel, candidate.compiled_id)
        if compiled is not None and compiled.status not in (JobStatus.failed, JobStatus.cancelled):
            return compiled, False
    model = session.get_one(TrainedModel, candidate.model_id)
    engine = "c" if search.engine == "c" else "tflm"
    request = CompileRequest(board=search.board, engine=engine)
    compiled = compiling.create_compiled(session, owner, model, request)
    candidate.compiled_id = compiled.id
    return compiled, True


def install_pending(factory: sessionmaker[Session]) -> int:
    """Queue the installs deploys left waiting for a compile that has now ended; returns how
    many were settled (installed, or given up with the reason on the candidate)."""
    with factory() as session:
        waiting = repository.awaiting_install(session)
    settled = 0
    for candidate_id in waiting:
        with transaction(factory) as session:
            candidate = session.get(SearchCandidate, candidate_id)
            if candidate is not None and _settle(session, candidate):
                settled += 1
    return settled


def _settle(session: Session, candidate: SearchCandidate) -> bool:
    compiled = session.get(CompiledModel, candidate.compiled_id or 0)
    if compiled is not None and compiled.status not in FINISHED_STATUSES:
        return False
    device = session.get(Device, candidate.deploy_device_id or 0)
    candidate.deploy_device_id = None
    if compiled is None or device is None:
        _note(candidate, "its compiled model or the device was deleted")
    elif compiled.status != JobStatus.succeeded:
        _note(candidate, f"compiling failed ({compiled.error or compiled.status})")
    else:
        owner = session.get_one(User, compiled.owner_id)
        try:
            devices.request_install(session, owner, device, compiled)
        except TinyMLaaSError as exc:
            _note(candidate, f"not installed: {exc}")
    return True


def _note(candidate: SearchCandidate, problem: str) -> None:
    """Say on the candidate why its deploy stopped (after what the search said of it)."""
    note = f"deploy: {problem}"
    candidate.reason = f"{candidate.reason}; {note}" if candidate.reason else note
