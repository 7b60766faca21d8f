"""Replay proof: the read models are what the log says.

Every view the runner serves is replayed from position 0 into a scratch database (a SQLite
file, or a PostgreSQL schema) by the same projection code, up to the position the live view
stands at, and each of its tables is compared with the live one: first an order-independent
digest per table (the count of rows and the sum, modulo 2**128, of a BLAKE2b hash of each row:
a multiset hash, so neither storage order nor the order rows were written in matters), then,
for a table whose digest differs, the rows themselves, reported by primary key.

What is not compared, and why:

- a view's ``working_tables`` (``View.working_tables``): how the view was built (e.g. which roll
  chunks a generating process wrote ahead), not what it shows; a replay need not reproduce them;
- of ``projection_failures`` (the events a view could not apply), ``message`` is compared but
  ``first_seen``, ``last_seen``, ``attempts`` and ``resolved_at``: the wall-clock times and the
  number of tries of the process that met the event, not facts of the log. The open failures'
  view, position, topic, aggregate and error type are compared.

No view column holds a wall-clock time of projection: every time in a view is an event's own
recorded time or a date from its payload, so nothing else is left out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.store.db import Cursor, Database
from projections.runner import ProjectionRunner, Reader, View

MODULUS = 2**128
FETCH = 5000
# The open failures as a replay must record them again; the columns left out are named above.
FAILURES_SQL = (
    "SELECT view_name, position, topic, originator_id, error_type, message"
    " FROM projection_failures WHERE resolved_at IS NULL"
)
FAILURES = "projection_failures"


@dataclass(frozen=True)
class Digest:
    """An order-independent digest of a table's rows: how many, and their hashes' sum."""

    rows: int
    sum: int

    def text(self) -> str:
        return f"{self.rows}:{self.sum:032x}"


def row_hash(values: Sequence[Any]) -> int:
    """The hash of one row: BLAKE2b-128 of the ``repr`` of its values in column order (both
    sides come from the same DDL on the same backend, so equal rows have equal values)."""
    return int.from_bytes(hashlib.blake2b(repr(tuple(values)).encode(), digest_size=16).digest())


def _rows(cur: Cursor, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of a query, a page at a time, as tuples in column order."""
    cur.raw.execute(sql)
    while page := cur.raw.fetchmany(FETCH):
        for row in page:
            yield tuple(row.values()) if isinstance(row, dict) else tuple(row)


def _columns(cur: Cursor, sql: str) -> list[str]:
    cur.raw.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
    names = [column[0] for column in cur.raw.description]
    cur.raw.fetchall()
    return names


def digest(cur: Cursor, sql: str) -> Digest:
    count, total = 0, 0
    for row in _rows(cur, sql):
        count += 1
        total = (total + row_hash(row)) % MODULUS
    return Digest(count, total)


def primary_key(cur: Cursor, table: str) -> list[str]:
    """The columns of a table's primary key, in order (none: the whole row is its key)."""
    if cur.sqlite:
        info = cur.execute(f"PRAGMA table_info({table})").fetchall()
        return [row["name"] for row in sorted(info, key=lambda r: r["pk"]) if row["pk"]]
    found = cur.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (table,),
    ).fetchall()
    return [row["attname"] for row in found]


def plain(value: Any) -> Any:
    """A value as JSON can show it: bytes as hex, anything not a JSON scalar as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


@dataclass
class TableReport:
    view: str
    table: str
    live: Digest
    replayed: Digest
    # Up to ``limit`` differing keys: {"key": {...}, "live": row or None, "replayed": row or None}
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.live == self.replayed

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "view": self.view, "table": self.table, "equal": self.equal,
            "live": self.live.text(), "replayed": self.replayed.text(),
        }  # fmt: skip
        if not self.equal and self.differences:
            found["differences"] = self.differences
        return found


def differences(
    live: Cursor, replayed: Cursor, table: str, sql: str, limit: int
) -> list[dict[str, Any]]:
    """The first ``limit`` keys (in key order) whose rows differ between the two sides, with
    each side's row (None where the key is missing). Holds one table's rows in memory: run
    only for a table whose digest differs."""
    columns = _columns(live, sql)
    key = primary_key(live, table)
    at = [columns.index(name) for name in key] if key else list(range(len(columns)))
    sides = [Counter(_rows(live, sql)), Counter(_rows(replayed, sql))]
    only = [sides[0] - sides[1], sides[1] - sides[0]]
    by_key: dict[tuple[Any, ...], list[Any]] = {}
    for side, rows in enumerate(only):
        for row in rows:
            by_key.setdefault(tuple(row[i] for i in at), [None, None])[side] = row
    found = []
    for values in sorted(by_key, key=repr)[:limit]:
        pair = by_key[values]
        found.append({
            "key": {columns[i]: plain(v) for i, v in zip(at, values, strict=True)},
            **{name: None if row is None else {c: plain(v) for c, v in zip(columns, row, strict=True)}
               for name, row in zip(("live", "replayed"), pair, strict=True)},
        })  # fmt: skip
    return found


def scratch_runner(
    db: Database, reader: Reader, decoder: Callable[[Any], Any], views: Sequence[View]
) -> ProjectionRunner:
    """A runner of the same views over a scratch database, set up empty."""
    runner = ProjectionRunner(db, reader, decoder, [view.on(db) for view in views])
    runner.setup()
    return runner


def compare(
    live: Cursor, replayed: Cursor, views: Sequence[View], *, diff: bool, limit: int = 10
) -> list[TableReport]:
    """Compare every compared table of ``views``, and their open failures, between the live
    database (read in a snapshot) and the replayed one."""
    tables = [(v.name, t, f"SELECT * FROM {t}") for v in views for t in compared_tables(v)]
    names = ", ".join(f"'{view.name}'" for view in views)
    tables.append(("", FAILURES, f"{FAILURES_SQL} AND view_name IN ({names})"))
    reports = []
    for view_name, table, sql in tables:
        report = TableReport(view_name, table, digest(live, sql), digest(replayed, sql))
        if diff and not report.equal:
            report.differences = differences(live, replayed, table, sql, limit)
        reports.append(report)
    return reports


def compared_tables(view: View) -> list[str]:
    return [table for table in view.tables if table not in view.working_tables]
