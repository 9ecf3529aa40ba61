"""What a process does before serving: secret key, migrations, first admin."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.auth.service import bootstrap_admin
from tinymlaas.config import Settings
from tinymlaas.db import migrate
from tinymlaas.db.session import transaction
from tinymlaas.errors import ConfigurationError


def resolve_secret_key(settings: Settings) -> str:
    """The configured key; the embedded default keeps a generated one in its data folder."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key) < 32:
            raise ConfigurationError("TINYMLAAS_SECRET_KEY must be at least 32 characters long")
        return key
    if not settings.is_embedded:
        raise ConfigurationError(
            "TINYMLAAS_SECRET_KEY must be set when TINYMLAAS_DATABASE_URL points to a shared"
            " database; make one with:"
            " python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return _embedded_secret_key(settings.data_dir / "secret_key")


def _embedded_secret_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key)
    return key


def prepare_database(
    engine: Engine, factory: sessionmaker[Session], settings: Settings
) -> str | None:
    """Migrate to the latest schema and create the first admin; returns a generated password."""
    migrate.upgrade(engine)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    with transaction(factory) as session:
        return bootstrap_admin(session, settings.admin_username, password)
