"""Rules about users: creation, authentication and the first admin."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinymlaas.auth.security import hash_password, verify_password
from tinymlaas.errors import BadRequest, Conflict
from tinymlaas.models.user import User

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


def bootstrap_admin(session: Session, username: str, password: str | None) -> str | None:
    """Create an admin when there is none; returns a generated password to show once."""
    if session.scalar(select(func.count()).select_from(User).where(User.is_admin)):
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    create_user(session, username, password, is_admin=True)
    return generated
