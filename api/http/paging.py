"""The ``cursor`` query parameter of every list (keyset pagination, ``projections.keyset``).

A page answers ``next``; the next request sends it back as ``cursor``. Its shape is checked here
(422 naming ``cursor``, rule ``string_pattern_mismatch``); its signature by ``Pager``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ledger.store.cursors import CURSOR_PATTERN, Pager

__all__ = ["CursorQuery", "Pager"]

CursorQuery = Annotated[
    str | None,
    Query(
        max_length=623,
        pattern=CURSOR_PATTERN,
        description="the `next` of the previous page (opaque); absent for the first page",
    ),
]
