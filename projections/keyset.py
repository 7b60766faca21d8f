"""Keyset reads: a list continues strictly after the sort key of the last row shown.

Every list query orders by a unique key that an index serves, after the same equality filters,
and a page is ``LIMIT n + 1`` rows from the key onwards: the database reads only the rows it
shows (and one more, to know whether another page exists), at any depth; rows inserted between
pages neither repeat nor shift the others.

The key travels as an opaque cursor (``ledger.store.cursors.Pager``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def after(columns: Sequence[str], key: Sequence[Any] | None) -> tuple[str, list[Any]]:
    """`` AND (a, b, …) > (%s, %s, …)`` for a key (nothing for the first page): a row-value
    comparison both PostgreSQL and SQLite turn into an index range."""
    if key is None:
        return "", []
    marks = ", ".join(["%s"] * len(columns))
    return f" AND ({', '.join(columns)}) > ({marks})", list(key)


def prefix_range(column: str, prefix: str) -> tuple[str, list[Any]]:
    """The rows whose ``column`` (a region code: digits only, as every code is validated)
    starts with ``prefix`` (digits), as a range an index serves whatever the collation
    (``LIKE 'p%'`` is not one outside the C collation, and its estimate misleads the planner):
    at or after the prefix, before the next prefix of the same length ('4205' → '4206',
    '4209' → '421'); nothing after an all-nines prefix. Empty for the empty prefix."""
    if not prefix:
        return "", []
    stem = prefix.rstrip("9")
    if not stem:
        return f" AND {column} >= %s", [prefix]
    upper = stem[:-1] + chr(ord(stem[-1]) + 1)
    return f" AND {column} >= %s AND {column} < %s", [prefix, upper]


def split(rows: list[dict[str, Any]], limit: int, columns: Sequence[str]) -> tuple[list[Any], Any]:
    """``rows`` fetched with ``LIMIT limit + 1``: the page, and the key of its last row when a
    further row exists (None: this is the last page)."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, [page[-1][column] for column in columns]
