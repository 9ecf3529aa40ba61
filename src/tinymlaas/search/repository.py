"""Every query of the search domain."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.db.pagination import paginate
from tinymlaas.models import Job, Search, SearchCandidate


def get_owned(session: Session, owner_id: int, search_id: int) -> Search | None:
    return session.scalar(select(Search).where(Search.id == search_id, Search.owner_id == owner_id))


def list_owned(
    session: Session, owner_id: int, offset: int, limit: int
) -> tuple[list[Search], int]:
    query = select(Search).where(Search.owner_id == owner_id).order_by(Search.id.desc())
    return paginate(session, query, offset, limit)


def candidates(session: Session, search_id: int) -> list[SearchCandidate]:
    query = select(SearchCandidate).where(SearchCandidate.search_id == search_id)
    return list(session.scalars(query.order_by(SearchCandidate.id)))


def jobs_by_id(session: Session, job_ids: list[int]) -> dict[int, Job]:
    if not job_ids:
        return {}
    return {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(job_ids)))}


def unfinished(session: Session) -> list[tuple[int, int]]:
    """(id, revision) of every search still training or compiling."""
    rows = session.execute(
        select(Search.id, Search.revision).where(Search.phase != "done").order_by(Search.id)
    )
    return [(search_id, revision) for search_id, revision in rows]


def claim_step(session: Session, search_id: int, revision: int) -> bool:
    """Take the next step of a search: True for the one process whose conditional UPDATE
    moved `revision` on; another process that read the same revision gets False (the row
    lock makes it wait for the first one's commit, then its WHERE no longer matches)."""
    result = session.execute(
        update(Search)
        .where(Search.id == search_id, Search.revision == revision)
        .values(revision=revision + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def awaiting_install(session: Session) -> list[int]:
    """Ids of candidates whose deploy waits for their compile to install them."""
    query = select(SearchCandidate.id).where(SearchCandidate.deploy_device_id.is_not(None))
    return list(session.scalars(query.order_by(SearchCandidate.id)))
