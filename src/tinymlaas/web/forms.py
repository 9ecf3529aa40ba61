"""Forms bind to the API's payload schemas, so a page enforces the same rules as the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tinymlaas.errors import BadRequest

Schema = TypeVar("Schema", bound=BaseModel)


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors as one sentence naming each field."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'form'}: {error['msg']}"
        for error in exc.errors()
    )


def parse_form(schema: type[Schema], values: Mapping[str, Any]) -> Schema:
    """A form's fields as the API's schema; a broken rule is a 400 the page shows on top."""
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc)) from exc
