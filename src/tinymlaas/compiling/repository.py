"""Every query of the compiling domain."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tinymlaas.db.pagination import paginate
from tinymlaas.enums import JobStatus
from tinymlaas.models import CompiledFile, CompiledModel


def get_owned(session: Session, owner_id: int, compiled_id: int) -> CompiledModel | None:
    return session.scalar(
        select(CompiledModel).where(
            CompiledModel.id == compiled_id, CompiledModel.owner_id == owner_id
        )
    )


def get_by_job(session: Session, job_id: int) -> CompiledModel | None:
    return session.scalar(select(CompiledModel).where(CompiledModel.job_id == job_id))


def list_owned(
    session: Session, owner_id: int, model_id: int | None, offset: int, limit: int
) -> tuple[list[CompiledModel], int]:
    conditions = [CompiledModel.owner_id == owner_id]
    if model_id is not None:
        conditions.append(CompiledModel.model_id == model_id)
    query = select(CompiledModel).where(*conditions).order_by(CompiledModel.id.desc())
    return paginate(session, query, offset, limit)


def owned_by_id(
    session: Session, owner_id: int, compiled_ids: Collection[int]
) -> dict[int, CompiledModel]:
    """The user's compiled models among `compiled_ids`, in one query."""
    query = select(CompiledModel).where(
        CompiledModel.owner_id == owner_id, CompiledModel.id.in_(set(compiled_ids))
    )
    return {row.id: row for row in session.scalars(query)}


def list_succeeded(session: Session, owner_id: int) -> list[CompiledModel]:
    """The user's compiled models that can be installed, newest first."""
    query = select(CompiledModel).where(
        CompiledModel.owner_id == owner_id, CompiledModel.status == JobStatus.succeeded
    )
    return list(session.scalars(query.order_by(CompiledModel.id.desc())))


def files(session: Session, compiled_id: int) -> list[CompiledFile]:
    return list(
        session.scalars(
            select(CompiledFile)
            .where(CompiledFile.compiled_id == compiled_id)
            .order_by(CompiledFile.name)
        )
    )


def file(session: Session, compiled_id: int, name: str) -> CompiledFile | None:
    return session.scalar(
        select(CompiledFile).where(
            CompiledFile.compiled_id == compiled_id, CompiledFile.name == name
        )
    )


def delete_compiled(session: Session, compiled_ids: list[int]) -> list[str]:
    """Delete compiled models and their file rows; returns the blobs they referred to."""
    if not compiled_ids:
        return []
    shas = list(
        session.scalars(
            select(CompiledFile.sha256).where(CompiledFile.compiled_id.in_(compiled_ids))
        )
    )
    session.execute(delete(CompiledFile).where(CompiledFile.compiled_id.in_(compiled_ids)))
    session.execute(delete(CompiledModel).where(CompiledModel.id.in_(compiled_ids)))
    return shas
