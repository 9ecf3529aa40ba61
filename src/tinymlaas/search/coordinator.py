"""Advancing a search when its jobs end: collect finished trainings, halve, compile, recommend.

The coordinator holds no worker: it runs in the serving process, every
`search_check_seconds` (search/background.py), and each step is one short transaction. A step
starts with a conditional UPDATE of the search's `revision` (repository.claim_step), so with
several API processes exactly one takes each step. Trainings and compiles are ordinary jobs;
with the embedded default's one local worker they simply run in turn.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.compiling import service as compiling
from tinymlaas.compiling.schemas import CompileRequest
from tinymlaas.config import Settings
from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.enums import FINISHED_STATUSES, CandidateStatus, JobStatus
from tinymlaas.errors import TinyMLaaSError
from tinymlaas.hardware.boards import board_or_error
from tinymlaas.jobs import repository as job_rows
from tinymlaas.jobs import service as jobs
from tinymlaas.models import CompiledModel, Job, Search, SearchCandidate, TrainedModel, User
from tinymlaas.search import halving, repository, service, space
from tinymlaas.search.schemas import SearchCreate

# Candidates still in the running for the recommendation (stopped ones keep their last rung).
IN_THE_RUNNING = (CandidateStatus.trained, CandidateStatus.stopped)


def advance_all(factory: sessionmaker[Session], settings: Settings) -> int:
    """Take one step of every unfinished search; returns how many this process advanced."""
    with factory() as session:
        pending = repository.unfinished(session)
    advanced = 0
    for search_id, revision in pending:
        with transaction(factory) as session:
            if not repository.claim_step(session, search_id, revision):
                continue
            advance(session, session.get_one(Search, search_id), settings)
            advanced += 1
    return advanced


def advance(session: Session, search: Search, settings: Settings) -> None:
    job = session.get(Job, search.job_id) if search.job_id is not None else None
    if job is None or job.status in FINISHED_STATUSES:
        search.phase = "done"
        return
    owner = session.get_one(User, search.owner_id)
    rows = repository.candidates(session, search.id)
    if job.cancel_requested:
        _stop_trainings(session, rows, "cancelled with the search")
        _stop_compiles(session, rows)
        _finish(session, search, job, JobStatus.cancelled, "cancelled by the user")
        return
    if search.phase == "training":
        _advance_training(session, owner, search, job, rows, settings)
    elif search.phase == "compiling":
        _advance_compiling(session, owner, search, job, rows)


def _seconds_since(moment: datetime | None) -> float:
    return 0.0 if moment is None else (utcnow() - moment).total_seconds()


def _collect(session: Session, rows: list[SearchCandidate]) -> None:
    """Record the trainings that ended since the last step."""
    for row in rows:
        if row.status != CandidateStatus.training or row.training_model_id is None:
            continue
        model = session.get(TrainedModel, row.training_model_id)
        if model is None:
            row.status, row.reason = CandidateStatus.failed, "its model was deleted"
            continue
        if model.status not in FINISHED_STATUSES:
            continue
        row.training_model_id = None
        if model.status == JobStatus.succeeded:
            row.status = CandidateStatus.trained
            row.model_id = model.id
            row.epochs_trained += model.config.epochs
            accuracy = (model.metrics or {}).get("val_accuracy")
            row.val_accuracy = float(accuracy) if accuracy is not None else 0.0
        elif model.status == JobStatus.failed:
            row.status, row.reason = CandidateStatus.failed, model.error or "training failed"
        else:
            row.status, row.reason = CandidateStatus.stopped, "its training was cancelled"


def _stop_trainings(session: Session, rows: list[SearchCandidate], reason: str) -> None:
    for row in rows:
        if row.status != CandidateStatus.training:
            continue
        model = session.get(TrainedModel, row.training_model_id or 0)
        job = session.get(Job, model.job_id) if model and model.job_id else None
        if job is not None and job.status not in FINISHED_STATUSES:
            jobs.cancel(session, job)
        row.status, row.training_model_id = CandidateStatus.stopped, None
        row.reason = f"{reason} after {row.epochs_trained} epoch(s)"


def _stop_compiles(session: Session, rows: list[SearchCandidate]) -> None:
    for row in rows:
        compiled = session.get(CompiledModel, row.compiled_id) if row.compiled_id else None
        if compiled is None or compiled.job_id is None or compiled.status in FINISHED_STATUSES:
            continue
        job = session.get(Job, compiled.job_id)
        if job is not None and job.status not in FINISHED_STATUSES:
            jobs.cancel(session, job)


def _advance_training(
    session: Session,
    owner: User,
    search: Search,
    job: Job,
    rows: list[SearchCandidate],
    settings: Settings,
) -> None:
    request = SearchCreate.model_validate(search.request)
    _collect(session, rows)
    budget = request.time_budget_minutes * 60
    elapsed = _seconds_since(job.started_at)
    active = [row for row in rows if row.status == CandidateStatus.training]
    if active and elapsed < budget:
        job.progress = min(0.9, elapsed / budget)
        _say(session, search, job, f"rung {search.rung}: {len(active)} candidate(s) training")
        return
    if active:
        _stop_trainings(session, rows, "stopped at the time budget")
    members = [row for row in rows if row.status == CandidateStatus.trained]
    if members and not active:
        this_rung = _rung_epochs_added(request.first_epochs, search.rung)
        results = [service.result_of(row) for row in members]
        keep = halving.survivors(results, request.objective)
        added = _rung_epochs_added(request.first_epochs, search.rung + 1)
        if halving.should_continue(
            len(members), request.first_epochs, search.rung, request.max_epochs
        ) and halving.next_rung_fits(
            rung_seconds=_seconds_since(search.rung_started_at),
            rung_epochs_trained=this_rung * len(members),
            next_epochs_to_train=added * len(keep),
            elapsed_seconds=elapsed,
            budget_seconds=budget,
        ):
            _next_rung(session, search, members, {r.id for r in keep}, added, settings)
            _say(session, search, job, f"rung {search.rung}: {len(keep)} candidate(s) training")
            return
        best = next(row for row in members if row.id == keep[0].id)
        if _extend_best(session, search, request, members, best, elapsed, settings):
            label = service.candidate_read(best).label
            _say(session, search, job, f"rung {search.rung}: the best, {label}, trains on")
            return
    _start_compiling(session, owner, search, job, rows)


def _extend_best(
    session: Session,
    search: Search,
    request: SearchCreate,
    members: list[SearchCandidate],
    best: SearchCandidate,
    elapsed: float,
    settings: Settings,
) -> bool:
    """When halving has ended, spend what the budget has left on the best candidate alone
    (towards the next rung's epochs, at its own pace); False when not even one epoch fits."""
    epochs = halving.extension_epochs(
        epochs_trained=best.epochs_trained,
        target_epochs=halving.rung_epochs(request.first_epochs, search.rung + 1),
        max_epochs=request.max_epochs,
        seconds_per_epoch=_seconds_per_epoch(session, best),
        elapsed_seconds=elapsed,
        budget_seconds=request.time_budget_minutes * 60,
    )
    if epochs <= 0:
        return False
    why = "only the best trains on: another rung of the best third would not end in time"
    _next_rung(session, search, members, {best.id}, epochs, settings, why)
    return True


def _seconds_per_epoch(session: Session, row: SearchCandidate) -> float:
    """Wall time per epoch of the candidate's last training job (0 when unknown)."""
    model = session.get(TrainedModel, row.model_id) if row.model_id is not None else None
    if model is None or model.job_id is None:
        return 0.0
    job = session.get(Job, model.job_id)
    if job is None or job.started_at is None or job.finished_at is None:
        return 0.0
    return (job.finished_at - job.started_at).total_seconds() / max(1, model.config.epochs)


def _rung_epochs_added(first_epochs: int, rung: int) -> int:
    previous = halving.rung_epochs(first_epochs, rung - 1) if rung > 0 else 0
    return halving.rung_epochs(first_epochs, rung) - previous


def _next_rung(
    session: Session,
    search: Search,
    members: list[SearchCandidate],
    keep: set[int],
    epochs: int,
    settings: Settings,
    why: str = "not in the best third",
) -> None:
    owner = session.get_one(User, search.owner_id)
    search.rung += 1
    search.rung_started_at = utcnow()
    for row in members:
        if row.id in keep:
            service.start_training(session, owner, search, row, epochs, settings)
        else:
            row.status = CandidateStatus.eliminated
            row.reason = (
                f"rung {search.rung - 1}: {why} (validation accuracy {row.val_accuracy or 0:.3f})"
            )


def _start_compiling(
    session: Session, owner: User, search: Search, job: Job, rows: list[SearchCandidate]
) -> None:
    """Compile the best candidate not yet compiled; fail the search when none is left."""
    request = SearchCreate.model_validate(search.request)
    running = [row for row in rows if row.status in IN_THE_RUNNING and row.model_id is not None]
    order = halving.ranked([service.result_of(row) for row in running], request.objective)
    by_id = {row.id: row for row in running}
    for result in order:
        row = by_id[result.id]
        if row.compiled_id is not None:
            continue
        model = session.get_one(TrainedModel, row.model_id)
        compile_request = CompileRequest(board=search.board, engine=request.engine)
        try:
            compiled = compiling.create_compiled(session, owner, model, compile_request)
        except TinyMLaaSError as exc:
            row.status, row.reason = CandidateStatus.rejected, f"cannot compile: {exc}"
            continue
        row.compiled_id = compiled.id
        search.phase = "compiling"
        job.progress = 0.95
        _say(session, search, job, f"compiling {service.candidate_read(row).label} to measure it")
        return
    failed = next((row.reason for row in rows if row.status == CandidateStatus.failed), None)
    why = "no candidate finished training" if not running else "no candidate fits when measured"
    if not running and any(row.status == CandidateStatus.stopped for row in rows):
        why += " within the time budget"
    if failed and not running:
        why += f" (one failed: {failed})"
    _finish(session, search, job, JobStatus.failed, why, error=why)


def _advance_compiling(
    session: Session, owner: User, search: Search, job: Job, rows: list[SearchCandidate]
) -> None:
    checking = next(
        (
            row
            for row in rows
            if row.compiled_id is not None
            and row.status in IN_THE_RUNNING
            and row.measured_ram_bytes is None
        ),
        None,
    )
    if checking is None:
        _start_compiling(session, owner, search, job, rows)
        return
    compiled = session.get(CompiledModel, checking.compiled_id)
    if compiled is not None and compiled.status not in FINISHED_STATUSES:
        return
    if compiled is None or compiled.status != JobStatus.succeeded:
        error = compiled.error if compiled is not None else "the compiled model was deleted"
        checking.status, checking.reason = CandidateStatus.rejected, f"compile failed: {error}"
        _start_compiling(session, owner, search, job, rows)
        return
    reason = _measure(search, checking, compiled)
    if reason is not None:
        checking.status, checking.reason = CandidateStatus.rejected, reason
        _start_compiling(session, owner, search, job, rows)
        return
    checking.status, checking.reason = CandidateStatus.recommended, None
    search.recommended_id = checking.id
    label = service.candidate_read(checking).label
    message = f"recommended: {label}, validation accuracy {checking.val_accuracy or 0:.3f}"
    _finish(session, search, job, JobStatus.succeeded, message)


def _measure(search: Search, row: SearchCandidate, compiled: CompiledModel) -> str | None:
    """Record the compiled footprint; why it cannot be recommended, or None when it can."""
    request = SearchCreate.model_validate(search.request)
    row.measured_ram_bytes = compiled.ram_estimate_bytes or 0
    row.measured_flash_bytes = compiled.flash_estimate_bytes or 0
    if compiled.measured is not None:
        row.measured_latency_ms = compiled.measured.latency_ms_estimate
    board = board_or_error(search.board)
    margin = request.ram_margin
    reason = space.drop_reason(board, row.measured_ram_bytes, row.measured_flash_bytes, margin)
    if reason is not None:
        return f"measured after compiling: {reason}"
    for what, estimate, measured in (
        ("RAM", row.ram_bytes, row.measured_ram_bytes),
        ("flash", row.flash_bytes, row.measured_flash_bytes),
    ):
        if measured > estimate * (1 + margin):
            return (
                f"measured {what} {measured:,} B is more than {margin:.0%} over the estimate"
                f" {estimate:,} B"
            )
    return None


def _say(session: Session, search: Search, job: Job, message: str) -> None:
    if job.message != message:
        job.message = message[:500]
        search.message = job.message
        event = {"status": job.status, "progress": job.progress, "message": job.message}
        job_rows.add_event(session, job.id, "state", event)


def _finish(
    session: Session,
    search: Search,
    job: Job,
    status: JobStatus,
    message: str,
    error: str | None = None,
) -> None:
    search.phase = "done"
    search.message = message[:500]
    jobs.finish(session, job, status, message=message[:500], error=error)
