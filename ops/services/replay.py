"""``doudi audit replay``: replay the whole log into a scratch database with the same
projection code and compare every view table with the live one (``projections/replay.py``).

The live views are first brought up to the log; then, in one snapshot of the live database,
each view's position is read, the scratch views are replayed to exactly those positions (views
standing at different positions — another process mid-catch-up — are replayed to each one's
own), and the tables are compared. Writes that arrive meanwhile are outside the snapshot and
outside the replay alike. The scratch database is a temporary SQLite file beside the live one,
or a temporary schema of the live PostgreSQL database, dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from domain.errors import Conflict
from ledger.store.db import Database
from projections.replay import compare, compared_tables, scratch_runner
from projections.runner import REBUILDING, View

if TYPE_CHECKING:
    from ops.services.core import Services


@contextmanager
def scratch_database(services: Services) -> Iterator[Database]:
    """An empty database of the live one's kind, removed on leaving."""
    target = services.db.target
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
    with services.db.transaction(write=True) as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    db = Database(dataclasses.replace(target, schema=schema), pool_size=2)
    try:
        yield db
    finally:
        db.close()
        with services.db.transaction(write=True) as cur:
            cur.execute(f"DROP SCHEMA {schema} CASCADE")


def replay(services: Services, *, diff: bool = False, limit: int = 10) -> dict[str, Any]:
    """Replay every view into a scratch database and compare it with the live one: a report
    with ``equal``, each view's position, each table's digests (with ``diff``, the first
    ``limit`` differing keys of each table that differs) and what was left out and why."""
    services.fresh()
    views = list(services.projections.views.values())
    with scratch_database(services) as scratch, services.db.transaction(snapshot=True) as live:
        rows = live.execute("SELECT name, position FROM projection_tracking").fetchall()
        positions = {row["name"]: int(row["position"]) for row in rows}
        rebuilding = [view.name for view in views if positions[view.name] == REBUILDING]
        if rebuilding:
            raise Conflict(
                f"views being rebuilt cannot be compared yet: {', '.join(rebuilding)}",
                field="view",
                rule="view_rebuilding",
            )

        def stop_of(view: View) -> int:
            return positions[view.name]

        for stop, group in groupby(sorted(views, key=stop_of), key=stop_of):

            def bounded(start: int, count: int, topics: Any, unread: Any, stop: int = stop) -> Any:
                return services.log.read(start, count, topics, unread, stop=stop)

            runner = scratch_runner(
                scratch, bounded, services.app.mapper.to_domain_event, list(group)
            )
            runner.catch_up()
        with scratch.transaction() as replayed:
            reports = compare(live, replayed, views, diff=diff, limit=limit)
    return {
        "equal": all(report.equal for report in reports),
        "log_position": services.log_position(),
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
