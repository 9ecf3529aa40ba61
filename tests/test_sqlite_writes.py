"""A SQLite transaction that reads before it writes (as a SAVEPOINT's does) fails its first
write at once when another connection committed in between; `lock_for_writing` makes such a
transaction a writer from its start, so the other connection waits instead."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
from sqlalchemy.exc import OperationalError

from tinymlaas.db.session import lock_for_writing, make_engine, make_session_factory

rows = Table("rows", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer))


def factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'writes.db'}")
    rows.metadata.create_all(engine)
    return make_session_factory(engine)


def write_elsewhere(make_session, n: int) -> None:  # type: ignore[no-untyped-def]
    with make_session() as other:
        other.execute(insert(rows).values(n=n))
        other.commit()


def test_a_read_then_write_savepoint_fails_when_another_connection_commits_between(
    tmp_path: Path,
) -> None:
    make_session = factory(tmp_path)
    with make_session() as session, session.begin_nested():
        session.execute(select(func.count()).select_from(rows)).scalar()
        write_elsewhere(make_session, 1)
        with pytest.raises(OperationalError, match="database is locked"):
            session.execute(insert(rows).values(n=2))


def test_locked_for_writing_the_other_connection_waits_and_both_writes_are_kept(
    tmp_path: Path,
) -> None:
    make_session = factory(tmp_path)
    with make_session() as session:
        lock_for_writing(session)
        with session.begin_nested():
            before = session.execute(select(func.count()).select_from(rows)).scalar()
            other = threading.Thread(target=write_elsewhere, args=(make_session, 1))
            other.start()
            time.sleep(0.3)  # the other connection is waiting for the lock now
            session.execute(insert(rows).values(n=2))
        session.commit()
    other.join(timeout=30)
    assert not other.is_alive()
    with make_session() as session:
        kept = sorted(session.execute(select(rows.c.n)).scalars())
    assert (before, kept) == (0, [1, 2])
