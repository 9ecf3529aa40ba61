"""Declarative base with a naming convention, the id/timestamp mixins and portable column types."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import JSON, DateTime, Enum, Integer, LargeBinary, MetaData, String, func
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (MariaDB and SQLite keep no zone) and always returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # MariaDB keeps whole seconds unless asked for microseconds.
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ExactString(length: int) -> String:
    """A string compared byte for byte on every engine (MariaDB's default ignores case)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def EnumString(enum: type[StrEnum], length: int) -> Enum:
    """A StrEnum stored as its values in a plain VARCHAR(length), read back as members: no
    native enum type and no CHECK constraint, so the column is what a String(length) was."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def Bytes() -> LargeBinary:
    """Binary data; MariaDB's plain BLOB holds only 64 KiB."""
    return LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


T = TypeVar("T")


class PydanticJSON(TypeDecorator[T], Generic[T]):
    """JSON validated by a pydantic type both ways: rows hold model objects, never dicts.

    Stored as the engine's plain JSON (JSON on PostgreSQL, LONGTEXT-backed JSON on MariaDB, text
    on SQLite), so rows written before a column used this type load unchanged.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, schema: type[T]) -> None:
        super().__init__()
        self.schema = schema
        self._adapter: TypeAdapter[T] = TypeAdapter(schema)

    def process_bind_param(self, value: T | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return self._adapter.dump_python(self._adapter.validate_python(value), mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> T | None:
        if value is None:
            return None
        return self._adapter.validate_python(value)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        return self.impl_instance


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


__all__ = [
    "Base",
    "EnumString",
    "ExactString",
    "Bytes",
    "IdMixin",
    "PydanticJSON",
    "TimestampMixin",
    "UTCDateTime",
    "utcnow",
    "func",
]
