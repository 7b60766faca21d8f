"""The query parameters of known-at reads (``ops/services/known_at.py``)."""

from typing import Annotated

from fastapi import Query

from api.http import schemas

AsKnownAt = Annotated[
    str | None,
    Query(
        pattern=schemas.TIMESTAMP_PATTERN,
        description="answer as known at this UTC time (RFC 3339, e.g. 2024-05-01T00:00:00Z),"
        " in 1990 … 2100; not with as_of_position",
    ),
]
AsOfPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**62,
        description="answer as known at this log position; not with as_known_at",
    ),
]
