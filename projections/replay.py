"""Replay proof: the read models are what the log says.

Every view the runner serves is replayed from position 0 into a scratch database (a SQLite
file, or a PostgreSQL schema) by the same projection code, up to the position the live view
stands at, and each of its tables is compared with the live one: first an order-independent
digest per table (the count of rows and the sum, modulo 2**128, of a 128-bit hash of each row:
a multiset hash, so neither storage order nor the order rows were written in matters; computed
in the server on PostgreSQL), then,
for a table whose digest differs, the rows themselves, reported by primary key.

The live views are first brought up to the log (by the caller); then, in one snapshot of the
live database, each view's position is read, the scratch views are replayed to exactly those
positions (views standing at different positions — another process mid-catch-up — each to its
own), and the tables are compared. Writes that arrive meanwhile are outside the snapshot and
the replay alike. The scratch database is a temporary SQLite file beside the live one, or a
temporary schema of the live PostgreSQL database, dropped afterwards.

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

import dataclasses
import hashlib
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any
from uuid import uuid4

from domain.errors import Conflict
from ledger.store.db import Cursor, Database
from ledger.store.logreader import Shard
from ledger.store.runtime import tune_gc, worker_pool
from projections.runner import REBUILDING, ProjectionRunner, View

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


# PostgreSQL hashes and sums in the server: MD5 of each row's text (``q::text``, the row as
# PostgreSQL writes it), its two 64-bit halves summed as exact numerics, so only one row
# crosses to Python per table. Both sides are read by this same statement.
PG_DIGEST = (
    "SELECT COUNT(*) AS n, COALESCE(SUM(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0) AS hi,"
    " COALESCE(SUM(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) AS lo"
    " FROM (SELECT md5(q::text) AS h FROM ({sql}) AS q) AS d"
)


def digest(cur: Cursor, sql: str) -> Digest:
    """The table's digest: on PostgreSQL computed in the server (``PG_DIGEST``), on SQLite
    (no hash function in SQL) by ``row_hash`` here."""
    if not cur.sqlite:
        row = cur.execute(PG_DIGEST.replace("{sql}", sql)).fetchone() or {"n": 0, "hi": 0, "lo": 0}
        return Digest(int(row["n"]), (int(row["hi"]) * 2**64 + int(row["lo"])) % MODULUS)
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


def compare(
    live: Cursor, replayed: Cursor, views: Sequence[View], *, diff: bool, limit: int = 10,
    scratch: Database | None = None,
) -> list[TableReport]:  # fmt: skip
    """Compare every compared table of ``views``, and their open failures, between the live
    database (read in a snapshot) and the replayed one. Given the ``scratch`` database (on
    PostgreSQL), its digests are taken by a thread of their own while the live ones are."""
    tables = [(v.name, t, f"SELECT * FROM {t}") for v in views for t in compared_tables(v)]
    names = ", ".join(f"'{view.name}'" for view in views)
    tables.append(("", FAILURES, f"{FAILURES_SQL} AND view_name IN ({names})"))
    with ThreadPoolExecutor(1) as pool:
        ahead = None
        if scratch is not None and not live.sqlite:
            ahead = pool.submit(_digests, scratch, [sql for _v, _t, sql in tables])
        mine = [digest(live, sql) for _v, _t, sql in tables]
        theirs = ahead.result() if ahead else [digest(replayed, sql) for _v, _t, sql in tables]
    reports = []
    for (view_name, table, sql), one, other in zip(tables, mine, theirs, strict=True):
        report = TableReport(view_name, table, one, other)
        if diff and not report.equal:
            report.differences = differences(live, replayed, table, sql, limit)
        reports.append(report)
    return reports


def _digests(db: Database, sqls: list[str]) -> list[Digest]:
    with db.transaction() as cur:
        return [digest(cur, sql) for sql in sqls]


def compared_tables(view: View) -> list[str]:
    return [table for table in view.tables if table not in view.working_tables]


# (start, limit, topics, unread, stop=…) → (notifications, covered): ``LogReader.read``
LogRead = Callable[..., tuple[Sequence[Any], int]]


@contextmanager
def scratch_database(live: Database) -> Iterator[Database]:
    """An empty database of the live one's kind, removed on leaving."""
    target = live.target
    if target.kind == "sqlite":
        parent = Path(target.path).resolve().parent
        with tempfile.TemporaryDirectory(prefix="doudi-replay-", dir=parent) as folder:
            db = Database(dataclasses.replace(target, path=f"{folder}/replay.sqlite3"))
            try:
                yield db
            finally:
                db.close()
        return
    schema = f"doudi_replay_{uuid4().hex[:12]}"
    with live.transaction(write=True) as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    db = Database(dataclasses.replace(target, schema=schema), pool_size=2)
    try:
        yield db
    finally:
        db.close()
        with live.transaction(write=True) as cur:
            cur.execute(f"DROP SCHEMA {schema} CASCADE")


def replay_into(
    scratch: Database, views: Sequence[View], read: LogRead, decoder: Callable[[Any], Any],
    positions: dict[str, int], *, shard: Shard | None = None, setup: bool = True,
) -> None:  # fmt: skip
    """Replay each view, as the same code over ``scratch``, up to its position. With ``shard``,
    only the events of that shard of the aggregates (a ``shardable`` view, untracked: the caller
    replays every shard); ``setup=False`` when the caller has created the tables already."""

    def stop_of(view: View) -> int:
        return positions[view.name]

    for stop, group in groupby(sorted(views, key=stop_of), key=stop_of):

        def bounded(start: int, count: int, topics: Any, unread: Any = (), stop: int = stop) -> Any:
            return read(start, count, topics, unread, stop=stop, shard=shard)

        runner = ProjectionRunner(scratch, bounded, decoder, [view.on(scratch) for view in group])
        if setup:
            runner.setup()
        if shard is None:
            runner.catch_up()
        for name in runner.views if shard is not None else ():
            runner.apply_shard(name, bounded, stop)


def replay_jobs(views: Sequence[View], workers: int) -> list[tuple[list[str], Shard | None]]:
    """The replay as jobs for ``workers`` processes: (views, shard). The views that are not
    shardable go together, in the runner's order (the findings view reads the rolls view's rows
    as it applies the log), and first; each shardable view is split in ``workers`` shards."""
    whole = [view.name for view in views if not view.shardable]
    jobs: list[tuple[list[str], Shard | None]] = [(whole, None)] if whole else []
    jobs += [
        ([view.name], (k, workers)) for view in views if view.shardable for k in range(workers)
    ]
    return jobs


# (scratch, views, positions) → None: replays the views into the scratch database, its tables
# set up, up to their positions (``replay_into`` in this process, or ``replay_shared``).
Replayer = Callable[[Database, Sequence[View], dict[str, int]], None]
_worker: dict[str, Any] = {}  # a replaying process's deployment and scratch database


def replay_shared(make: Callable[[Any], Any], settings: Any, workers: int) -> Replayer:
    """A replayer sharing the work among ``workers`` processes (PostgreSQL) that take the jobs
    of ``replay_jobs`` in turn, each with the deployment ``make(settings)`` builds
    (``ops.services.core.Services``: the same views, log reader and decoder)."""

    def shared(scratch: Database, views: Sequence[View], positions: dict[str, int]) -> None:
        jobs = [(names, shard, positions) for names, shard in replay_jobs(views, workers)]
        with worker_pool(workers, _start, (make, settings, scratch.target.schema)) as pool:
            list(pool.map(_replay_job, jobs))

    return shared


def _start(make: Callable[[Any], Any], settings: Any, schema: str) -> None:
    tune_gc()
    deployment = make(settings)
    scratch = Database(dataclasses.replace(deployment.db.target, schema=schema), pool_size=2)
    _worker.update(deployment=deployment, scratch=scratch)
    Finalize(deployment, deployment.close, exitpriority=10)
    Finalize(scratch, scratch.close, exitpriority=10)


def _replay_job(job: tuple[list[str], Shard | None, dict[str, int]]) -> None:
    names, shard, positions = job
    deployment = _worker["deployment"]
    views = [deployment.projections.views[name] for name in names]
    replay_into(_worker["scratch"], views, deployment.log.read,
                deployment.app.mapper.to_domain_event, positions, shard=shard, setup=False)  # fmt: skip


def replay_views(
    live_db: Database, views: Sequence[View], read: LogRead, decoder: Callable[[Any], Any],
    *, diff: bool, limit: int, replayer: Replayer | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Replay ``views`` into a scratch database up to their live positions and compare: a
    report with ``equal``, each view's position, each table's digests (with ``diff``, the
    first ``limit`` differing keys of each table that differs) and what was left out and why."""
    with scratch_database(live_db) as scratch, live_db.transaction(snapshot=True) as live:
        rows = live.execute("SELECT name, position FROM projection_tracking").fetchall()
        positions = {row["name"]: int(row["position"]) for row in rows}
        rebuilding = [view.name for view in views if positions[view.name] == REBUILDING]
        if rebuilding:
            raise Conflict(
                f"views being rebuilt cannot be compared yet: {', '.join(rebuilding)}",
                field="view",
                rule="view_rebuilding",
            )
        ProjectionRunner(scratch, read, decoder, [view.on(scratch) for view in views]).setup()
        if replayer is None:
            replay_into(scratch, views, read, decoder, positions, setup=False)
        else:
            replayer(scratch, views, positions)
        with scratch.transaction() as replayed:
            reports = compare(live, replayed, views, diff=diff, limit=limit, scratch=scratch)
    return {
        "equal": all(report.equal for report in reports),
        "positions": {view.name: positions[view.name] for view in views},
        "tables": [report.as_dict() for report in reports],
        "not_compared": {
            "working_tables": {
                view.name: [t for t in view.tables if t not in compared_tables(view)]
                for view in views
                if view.working_tables
            },
            "projection_failures": ["first_seen", "last_seen", "attempts", "resolved_at"],
            "why": "working tables record how a view was built (e.g. roll chunks written ahead"
            " by the generating process), not what it shows; a failure's times and attempts are"
            " the wall clock and tries of the process that met it, not facts of the log",
        },
    }
