"""Parameter types every router shares: ids and paging stay within what databases store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

MAX_ID = 2**31 - 1  # INTEGER primary keys on every supported database

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="items to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="items to return")]
OptionalIdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdField = Annotated[int, Field(ge=1, le=MAX_ID)]
