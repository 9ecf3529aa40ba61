"""Every query of the jobs domain."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.db.pagination import paginate, paginate_rows
from tinymlaas.enums import JobKind, JobStatus
from tinymlaas.models import CompiledModel, Device, Installation, Job, JobEvent, TrainedModel, User

# The statements of hot reads are built once; only their values change (see db/pagination).
_OWNED = select(Job).where(Job.id == bindparam("job_id"), Job.owner_id == bindparam("owner_id"))
_ALL_OWNED = select(Job).where(Job.owner_id == bindparam("owner_id")).order_by(Job.id.desc())
_OWNED_WITH_STATUS = _ALL_OWNED.where(Job.status == bindparam("status"))
_ALL_OWNED_ROWS = (
    select(Job.__table__).where(Job.owner_id == bindparam("owner_id")).order_by(Job.id.desc())
)
_OWNED_ROWS_WITH_STATUS = _ALL_OWNED_ROWS.where(Job.status == bindparam("status"))
_OWNED_ROW = select(Job.__table__).where(
    Job.id == bindparam("job_id"), Job.owner_id == bindparam("owner_id")
)


def get_owned(session: Session, owner_id: int, job_id: int) -> Job | None:
    return session.scalar(_OWNED, {"job_id": job_id, "owner_id": owner_id})


def get_owned_row(connection: Connection, owner_id: int, job_id: int) -> Row[Any] | None:
    """The job's columns as a plain row: no ORM session, identity map or object to build."""
    return connection.execute(_OWNED_ROW, {"job_id": job_id, "owner_id": owner_id}).first()


def list_owned_rows(
    connection: Connection, owner_id: int, status: JobStatus | None, offset: int, limit: int
) -> tuple[list[Row[Any]], int]:
    """`list_owned` as Core rows on a plain connection (the hot read of GET /jobs)."""
    if status:
        params = {"owner_id": owner_id, "status": status}
        return paginate_rows(connection, _OWNED_ROWS_WITH_STATUS, offset, limit, params)
    return paginate_rows(connection, _ALL_OWNED_ROWS, offset, limit, {"owner_id": owner_id})


def list_owned(
    session: Session, owner_id: int, status: JobStatus | None, offset: int, limit: int
) -> tuple[list[Job], int]:
    if status:
        params = {"owner_id": owner_id, "status": status}
        return paginate(session, _OWNED_WITH_STATUS, offset, limit, params)
    return paginate(session, _ALL_OWNED, offset, limit, {"owner_id": owner_id})


def owner_names(session: Session | Connection, owner_ids: set[int]) -> dict[int, str]:
    rows = session.execute(select(User.id, User.username).where(User.id.in_(owner_ids)))
    return {user_id: name for user_id, name in rows}


def add_event(session: Session, job_id: int, type_: str, data: dict[str, Any]) -> None:
    session.add(JobEvent(job_id=job_id, type=type_, data=data))


def events_after(session: Session, job_id: int, after_id: int, limit: int = 500) -> list[JobEvent]:
    return list(
        session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
            .order_by(JobEvent.id)
            .limit(limit)
        )
    )


def claim(
    session: Session, job_id: int, worker: str, kinds: Collection[JobKind] | None = None
) -> bool:
    """Atomically move a queued job (of one of `kinds`) to running; False if it is not there
    to take: another worker got it first, it is not queued, or it is of another kind."""
    now = utcnow()
    conditions = [Job.id == job_id, Job.status == JobStatus.queued]
    if kinds is not None:
        conditions.append(Job.kind.in_(kinds))
    result = session.execute(
        update(Job)
        .where(*conditions)
        .values(
            status=JobStatus.running,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            attempts=Job.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def next_queued(session: Session, kinds: Collection[JobKind], limit: int | None = 20) -> list[int]:
    """Ids of queued jobs of these kinds, oldest first."""
    query = (
        select(Job.id).where(Job.status == JobStatus.queued, Job.kind.in_(kinds)).order_by(Job.id)
    )
    return list(session.scalars(query.limit(limit) if limit else query))


def stale_running(session: Session, moment: datetime) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.status == JobStatus.running, Job.heartbeat_at < moment)
            .order_by(Job.id)
        )
    )


def heartbeat(session: Session, job_id: int, worker: str) -> bool:
    """Extend the job's lease; False when it no longer belongs to this worker."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# A queued job's `updated_at` is when it entered the queue (created, or given back by a worker
# shutting down): nothing else writes a queued row, and the unclaimed alert keeps it as it was.


def unclaimed(
    session: Session, kinds: Collection[JobKind], queued_before: datetime, alerted_prefix: str
) -> list[tuple[int, datetime]]:
    """(id, queued since) of jobs queued since before `queued_before` and not alerted yet."""
    rows = session.execute(
        select(Job.id, Job.updated_at)
        .where(
            Job.status == JobStatus.queued,
            Job.kind.in_(kinds),
            Job.updated_at < queued_before,
            Job.message.not_like(f"{alerted_prefix}%"),
        )
        .order_by(Job.id)
        .limit(100)
    )
    return [(job_id, queued_since) for job_id, queued_since in rows]


def workers_active_since(session: Session, kinds: Collection[JobKind], moment: datetime) -> bool:
    """Whether a worker runs a job of these kinds now, or finished one after `moment`."""
    running = select(Job.id).where(Job.status == JobStatus.running, Job.kind.in_(kinds)).limit(1)
    if session.scalar(running) is not None:
        return True
    finished = select(Job.id).where(
        Job.kind.in_(kinds), Job.started_at.is_not(None), Job.finished_at > moment
    )
    return session.scalar(finished.limit(1)) is not None


def mark_unclaimed(session: Session, job_id: int, message: str, alerted_prefix: str) -> bool:
    """Give a still queued, not yet alerted job the alert `message` (which starts with
    `alerted_prefix`); False when a worker took it meanwhile or another process alerted first.

    The conditions are checked by the UPDATE itself, so of several API processes racing for
    the same job exactly one succeeds (the others wait for its row lock, then match nothing).
    """
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == JobStatus.queued,
            Job.message.not_like(f"{alerted_prefix}%"),
        )
        .values(message=message[:500], updated_at=Job.updated_at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def queue_summary(
    session: Session, kinds: Collection[JobKind], queued_before: datetime
) -> tuple[int, int, datetime | None]:
    """Queued jobs of these kinds: how many, how many queued before `queued_before`, and when
    the oldest was queued (one aggregate over the status index)."""
    row = session.execute(
        select(
            func.count(),
            func.count(case((Job.updated_at < queued_before, 1))),
            func.min(Job.updated_at),
        ).where(Job.status == JobStatus.queued, Job.kind.in_(kinds))
    ).one()
    count, waiting, oldest = row
    return int(count), int(waiting), oldest


def resources_of(
    session: Session, job_ids: Collection[int]
) -> Sequence[
    Row[int, int | None, str | None, int | None, str | None, int | None, str | None, int | None]
]:
    """For each job: the trained model, compiled model or install (device) it works for.

    One row per job (id, model id, model name, compiled id, board, device id, device name, the
    installed compiled model's id), one query however many jobs: a job belongs to at most one.
    """
    query = (
        select(
            Job.id,
            TrainedModel.id,
            TrainedModel.name,
            CompiledModel.id,
            CompiledModel.board,
            Device.id,
            Device.name,
            Installation.compiled_id,
        )
        .outerjoin(TrainedModel, TrainedModel.job_id == Job.id)
        .outerjoin(CompiledModel, CompiledModel.job_id == Job.id)
        .outerjoin(Installation, Installation.job_id == Job.id)
        .outerjoin(Device, Device.id == Installation.device_id)
        .where(Job.id.in_(set(job_ids)))
    )
    return session.execute(query).all()
