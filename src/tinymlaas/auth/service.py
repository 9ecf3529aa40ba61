"""Rules about users: creation, authentication and the first admin."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tinymlaas.auth.security import hash_password, verify_password
from tinymlaas.db.base import utcnow
from tinymlaas.errors import BadRequest, Conflict, TooManyRequests
from tinymlaas.models import LoginFailure, User

MIN_PASSWORD_LENGTH = 8


def create_user(session: Session, username: str, password: str, *, is_admin: bool = False) -> User:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user '{username}' already exists")
    user = User(username=username, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if not verify_password(password, user.password_hash if user else None):
        return None
    return user


def check_login_allowed(
    session: Session, username: str, client: str, max_failures: int, window_seconds: int
) -> None:
    """Refuse further attempts after too many recent failures for a username or a client."""
    since = utcnow() - timedelta(seconds=window_seconds)
    by_user = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.username == username[:64], LoginFailure.created_at >= since)
    )
    by_client = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.client == client[:64], LoginFailure.created_at >= since)
    )
    if (by_user or 0) >= max_failures or (by_client or 0) >= 3 * max_failures:
        raise TooManyRequests(
            f"too many failed logins; try again in {window_seconds // 60} minutes",
            retry_after=window_seconds,
        )


def record_login_failure(session: Session, username: str, client: str, window_seconds: int) -> None:
    """Remember a failed login (and forget those older than the window)."""
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.created_at < utcnow() - timedelta(seconds=window_seconds)
        )
    )
    session.add(LoginFailure(username=username[:64], client=client[:64]))
    session.flush()


def clear_login_failures(session: Session, username: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.username == username[:64]))


def login(
    session: Session,
    username: str,
    password: str,
    client: str,
    *,
    max_failures: int,
    window_seconds: int,
) -> User | None:
    """The user for these credentials, or None (recorded as a failure); rate-limited."""
    check_login_allowed(session, username, client, max_failures, window_seconds)
    user = authenticate(session, username, password)
    if user is None:
        record_login_failure(session, username, client, window_seconds)
        return None
    clear_login_failures(session, user.username)
    return user


def bootstrap_admin(session: Session, username: str, password: str | None) -> str | None:
    """Create an admin when there is none; returns a generated password to show once."""
    if session.scalar(select(func.count()).select_from(User).where(User.is_admin)):
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    create_user(session, username, password, is_admin=True)
    return generated
