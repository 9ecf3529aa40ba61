"""Pages of a query: their rows and the total, counted only when the page does not tell it."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tinymlaas.db.pagination import paginate, paginate_rows
from tinymlaas.models import User

USERS = select(User).order_by(User.id)
PREBUILT = select(User).where(User.username != bindparam("skip")).order_by(User.id)


@pytest.fixture
def five_users(session: Session) -> list[str]:
    names = [f"user{index}" for index in range(5)]
    session.add_all(User(username=name, password_hash="x", is_admin=False) for name in names)
    session.flush()
    return names


@pytest.mark.parametrize(
    ("offset", "limit", "expected"),
    [
        (0, 10, (0, 5)),  # one page, not full
        (0, 5, (0, 5)),  # full: counted
        (0, 2, (0, 2)),
        (2, 2, (2, 4)),
        (4, 2, (4, 5)),  # the last page, not full
        (5, 2, (5, 5)),  # past the end
        (9, 2, (9, 9)),
    ],
)
def test_every_page_has_its_rows_and_the_true_total(
    session: Session, five_users: list[str], offset: int, limit: int, expected: tuple[int, int]
) -> None:
    rows, total = paginate(session, USERS, offset, limit)
    assert [user.username for user in rows] == five_users[expected[0] : expected[1]]
    assert total == 5


def test_a_prebuilt_statement_takes_its_values(session: Session, five_users: list[str]) -> None:
    rows, total = paginate(session, PREBUILT, 0, 3, {"skip": "user1"})
    assert [user.username for user in rows] == ["user0", "user2", "user3"]
    assert total == 4
    rows, total = paginate(session, PREBUILT, 3, 3, {"skip": "user4"})
    assert [user.username for user in rows] == ["user3"]
    assert total == 4


def test_an_empty_query_has_no_rows_and_total_zero(session: Session) -> None:
    assert paginate(session, USERS, 0, 10) == ([], 0)


def test_a_page_of_no_rows_still_counts(session: Session, five_users: list[str]) -> None:
    assert paginate(session, USERS, 0, 0) == ([], 5)


@pytest.mark.parametrize(("offset", "limit"), [(0, 10), (0, 5), (1, 2), (4, 2), (7, 2), (0, 0)])
def test_core_rows_page_like_objects(
    session: Session, five_users: list[str], offset: int, limit: int
) -> None:
    objects, total = paginate(session, USERS, offset, limit)
    core_users = select(User.__table__).order_by(User.id)
    rows, row_total = paginate_rows(session.connection(), core_users, offset, limit)
    assert [row.username for row in rows] == [user.username for user in objects]
    assert row_total == total
    prebuilt = select(User.__table__).where(User.username != bindparam("skip")).order_by(User.id)
    rows, row_total = paginate_rows(session.connection(), prebuilt, 0, 3, {"skip": "user1"})
    assert ([row.username for row in rows], row_total) == (["user0", "user2", "user3"], 4)
