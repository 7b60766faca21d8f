"""Catch-up of read models from the notification log, exactly once.

Each view's rows and its tracking position are written in one transaction. A runner reads a
batch of notifications after the lowest tracked position, then for each view opens a write
transaction, re-reads (and on PostgreSQL locks) the view's position, applies only the events
after it, and moves the position. Two processes catching up at once therefore never apply an
event twice, and a crash between batches loses nothing: the next catch-up starts where the
committed position says.

``projections/follow.py`` runs it off the request path: in ``doudi projections run`` or a
thread of the API process, woken when the log moves.

No single stored event stops a view. When a batch fails with an error of the data (a text the
database refuses, a payload the mapping does not expect, a state that cannot be decrypted),
the transaction is rolled back and the batch applied again in halves, down to the one event
that fails alone: that event is recorded in ``projection_failures`` and the view's position
moves past it, so the view keeps serving everything else. An error of the database itself (a
lost connection, a lock timeout: ``is_infrastructure``) still raises, or an outage would skip
every event. Since later events were applied past a failed one, retrying it means replaying
the view: a rebuild (or a version bump) closes the view's failures, and the replay records
again those that still fail.
"""

from __future__ import annotations

import copy
import re
import sqlite3
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import eventsourcing.persistence
import psycopg
import structlog
from eventsourcing.utils import get_topic

from domain.errors import IntegrityFailure
from ledger.store.db import Cursor, Database
from ledger.store.logreader import Unread

BATCH_SIZE = 5000
# The tracking position of a view being rebuilt by several processes: catch-ups leave it alone
# until the rebuild sets the position it reached.
REBUILDING = -1
BATCH_BYTES = 2_000_000
# (start, limit, topic prefixes, unread prefixes) → (notifications (id, topic, state, …) from
# start whose topic has one of the prefixes — all if none — at most limit, those of the unread
# prefixes without their state (``Unread``); the position the log is covered through)
Reader = Callable[[int, int, tuple[str, ...], tuple[str, ...]], tuple[Sequence[Any], int]]


def stored_size(notification: Any) -> int:
    """The bytes of a notification's stored state, read or not."""
    return notification.size if isinstance(notification, Unread) else len(notification.state)


Decoder = Callable[[Any], Any]  # notification → domain event
# (start, topic prefixes) → (whether the log has a notification of them after start, its head)
Probe = Callable[[int, tuple[str, ...]], tuple[bool, int]]


def _overlaps(topic: str, topics: tuple[str, ...]) -> bool:
    """Whether a view reading ``topics`` (every topic if none) reads some events of ``topic``."""
    return not topics or any(t.startswith(topic) or topic.startswith(t) for t in topics)


def _reads(view: View, notification: Any) -> bool:
    """Whether the view reads this notification's topic."""
    return not view.topics or bool(notification.topic.startswith(view.topics))


def utc_text(moment: datetime) -> str:
    """Timestamps are stored as fixed-width UTC text so they compare correctly on both backends.
    Every event's timestamp is already UTC: ``isoformat`` writes it in half the time of
    ``strftime`` (catch-up formats one per event)."""
    if moment.tzinfo is UTC:
        return moment.isoformat(timespec="microseconds")[:26] + "Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def aggregate_topic(cls: type[Any]) -> str:
    """The prefix shared by the stored topics of an aggregate's events: 'domain.x:Class.'."""
    return f"{get_topic(cls)}."


def event_name(event: Any) -> str:
    return type(event).__qualname__


def by_size(
    notifications: Sequence[Any], budget_bytes: int = BATCH_BYTES
) -> Iterator[Sequence[Any]]:
    """Split a batch so that one transaction decodes at most ~budget bytes of stored state: a
    roll chunk holds a thousand lines, and fifty of them decoded at once would cost ~100 MiB."""
    start, size = 0, 0
    for index, notification in enumerate(notifications):
        size += stored_size(notification)
        if size >= budget_bytes:
            yield notifications[start : index + 1]
            start, size = index + 1, 0
    if start < len(notifications):
        yield notifications[start:]


class View(ABC):
    """A read model: owns its tables, maps events to rows, answers queries."""

    name: str
    tables: tuple[str, ...]
    # Topic prefixes of the events the view reads ("module:Class."); empty means every event.
    # Notifications of other topics are never decoded for this view (decoding is the costliest
    # part of catch-up), but the view's position still moves past them.
    topics: tuple[str, ...] = ()
    # Bump when the tables or the mapping change: the view is then rebuilt on start-up.
    version: int = 1
    # True if the rows an event touches depend only on the events of its own aggregate: the
    # view can then be rebuilt by several processes at once, each replaying the aggregates of
    # one shard of the log (``ops/services/rebuild.py``).
    shardable: bool = False
    # True if ``process_batch`` takes the notifications themselves and decodes them its own way
    # (the case-state view folds decoded fields, with no event objects).
    raw: bool = False
    # Of a raw view's topics, those whose notifications it may take as ``Unread``, reading the
    # state of the few it needs itself: the rolls view, whose chunks were nearly all written
    # ahead by the process that generated them (~165 KB of state each, otherwise read back).
    unread_topics: tuple[str, ...] = ()
    # Tables among ``tables`` that record how the view was built rather than what it shows
    # (e.g. which roll chunks were written ahead): a rebuild need not reproduce them, so the
    # 'rebuild equals live' comparison (``dump``) leaves them out.
    working_tables: tuple[str, ...] = ()
    db: Database

    def on(self, db: Database) -> View:
        """The same view over another database (the replay proof's scratch one): a view keeps
        no state but its database, so a shallow copy with the database replaced is the view."""
        clone = copy.copy(self)
        clone.db = db
        return clone

    @abstractmethod
    def create(self, cur: Cursor) -> None:
        """Create the tables if they do not exist (idempotent)."""

    @abstractmethod
    def process(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply one event, in the transaction that also moves the tracking position."""

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        """Apply a batch of events in log order; views override this to write in bulk."""
        for position, event in batch:
            self.process(cur, position, event)

    def seed(self, cur: Cursor, positions: dict[str, int]) -> int:
        """From empty (position 0), fill the tables in bulk, from what the other views at
        ``positions`` hold, as applying the log up to some position would; return that
        position (0: nothing done, the log is applied event by event)."""
        return 0

    def drop(self, cur: Cursor) -> None:
        for table in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


FAILURES_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_failures (view_name TEXT NOT NULL,"
    " position BIGINT NOT NULL, topic TEXT NOT NULL, originator_id TEXT NOT NULL,"
    " error_type TEXT NOT NULL, message TEXT NOT NULL, first_seen TEXT NOT NULL,"
    " last_seen TEXT NOT NULL, attempts INTEGER NOT NULL, resolved_at TEXT,"
    " PRIMARY KEY (view_name, position))"
)
# Errors of the database or of the connection to it, not of an event: lost connections, a
# server shut down, lock and statement timeouts, serialisation failures (all
# ``OperationalError`` in psycopg), "database is locked" on SQLite, files that cannot be read.
_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    OSError,
    MemoryError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
)
_ROOT = Path(__file__).resolve().parents[1]
log = structlog.get_logger("doudi")
_QUOTED = re.compile(r'"[^"]*"')


def is_infrastructure(error: BaseException) -> bool:
    """Whether an error (or one it was raised from or while handling) is the database's rather
    than the event's: such an error must stop the catch-up, never be recorded against an event.
    SQLite's plain ``DatabaseError`` is a damaged file ("database disk image is malformed")."""
    seen: set[int] = set()
    found: BaseException | None = error
    while found is not None and id(found) not in seen:
        if (
            isinstance(found, _INFRASTRUCTURE)
            or type(found) is sqlite3.DatabaseError
            or not isinstance(found, Exception)
        ):
            return True
        seen.add(id(found))
        found = found.__cause__ or found.__context__
    return False


def describe(error: BaseException) -> tuple[str, str]:
    """(error type, message) of a failed event, with no personal data: an exception's own text
    may quote the value that failed (a name, an identity number), so the message is the
    database's error code and primary message with quoted values left out, an integrity
    failure's own text, or else where in doudi's code the error was raised."""
    kind = type(error)
    error_type = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    if isinstance(error, IntegrityFailure):
        return error_type, error.detail[:300]
    if isinstance(error, psycopg.Error) and error.sqlstate:
        primary = _QUOTED.sub('"…"', error.diag.message_primary or "")
        return error_type, f"SQLSTATE {error.sqlstate}: {primary}"[:300]
    where = "outside doudi's code"
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(_ROOT):
            where = f"{path.relative_to(_ROOT)}:{frame.lineno} in {frame.name}"
            break
    return error_type, f"raised at {where}"[:300]


class ProjectionRunner:
    def __init__(
        self,
        db: Database,
        reader: Reader,
        decoder: Decoder,
        views: Sequence[View],
        probe: Probe | None = None,
    ) -> None:
        self.db = db
        self.reader = reader
        self.decoder = decoder
        self.views = {view.name: view for view in views}
        self.probe = probe
        # view → (its position then, the log position up to which this process found nothing
        # the view reads): a later position lower than the first means the view was reset.
        self._clear: dict[str, tuple[int, int]] = {}

    def setup(self) -> None:
        """Create what is missing. A view whose ``version`` changed since its tables were built
        is dropped and will be rebuilt from position 0 by the next catch-up (its failures are
        closed: the replay records again those that still fail)."""
        with self.db.transaction(write=True) as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY,"
                " position BIGINT NOT NULL, view_version INTEGER NOT NULL DEFAULT 1)"
            )
            cur.execute(FAILURES_DDL)
            cur.execute(
                "CREATE INDEX IF NOT EXISTS projection_failures_originator"
                " ON projection_failures (originator_id)"
            )
            built = {
                row["name"]: int(row["view_version"])
                for row in cur.execute(
                    "SELECT name, view_version FROM projection_tracking"
                ).fetchall()
            }
            for view in self.views.values():
                if view.name in built and built[view.name] != view.version:
                    view.drop(cur)
                    cur.execute("DELETE FROM projection_tracking WHERE name = %s", (view.name,))
                    self._close_failures(cur, view.name)
                view.create(cur)
                cur.execute(
                    "INSERT INTO projection_tracking (name, position, view_version) VALUES (%s, 0, %s)"
                    " ON CONFLICT (name) DO NOTHING",
                    (view.name, view.version),
                )

    def positions(self) -> dict[str, int]:
        with self.db.transaction() as cur:
            rows = cur.execute("SELECT name, position FROM projection_tracking").fetchall()
        return {row["name"]: int(row["position"]) for row in rows if row["name"] in self.views}

    def reached(self) -> int:
        """The log position every view has applied through (those being rebuilt left out)."""
        return min((p for p in self.positions().values() if p != REBUILDING), default=0)

    def catch_up(
        self, names: Iterable[str] | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Apply every recorded event not yet applied; return how many log positions the
        slowest of the views moved (notifications of topics no view reads are passed over in
        the database, never read)."""
        asked = list(names) if names is not None else list(self.views)
        total = 0
        while True:
            positions = self.positions()
            if any(positions[name] == 0 and self._seed(name, positions) for name in asked):
                continue
            wanted = [name for name in asked if positions[name] != REBUILDING]
            if not wanted:
                return total
            topics = self.topics(wanted)
            start = min(positions[name] for name in wanted)
            notifications, covered = self.reader(start + 1, BATCH_SIZE, topics, self.unread(wanted))
            if covered <= start:
                return total
            groups = list(by_size(notifications)) or [notifications]
            for index, group in enumerate(groups):
                decoded: dict[int, Any] = {}
                through = covered if index == len(groups) - 1 else group[-1].id
                idle = [name for name in wanted if not self._has_events(name, group, positions)]
                for name in wanted:
                    if name not in idle:
                        self._apply(self.views[name], group, through, decoded)
                self._move(idle, through)
            total += covered - start
            if progress is not None:
                progress(covered - start)

    def _seed(self, name: str, positions: dict[str, int]) -> bool:
        """Let a view at position 0 start from what the other views hold (``View.seed``), in
        one transaction with its position; whether it did."""
        view = self.views[name]
        if self.db.is_sqlite or type(view).seed is View.seed or not any(positions.values()):
            return False  # a bulk start is PostgreSQL's, and draws on views that hold something
        with self.db.transaction(write=True) as cur:
            if self._position(cur, view) != 0:
                return False
            through = view.seed(cur, positions)
            if through > 0:
                cur.execute(
                    "UPDATE projection_tracking SET position = %s WHERE name = %s", (through, name)
                )
        return through > 0

    def _has_events(self, name: str, group: Sequence[Any], positions: dict[str, int]) -> bool:
        """Whether the view reads some notification of ``group`` after its position."""
        view, after = self.views[name], positions[name]
        return any(n.id > after and _reads(view, n) for n in group)

    def _move(self, names: Sequence[str], through: int) -> None:
        """Move views that have no event in the batch to ``through``, all in one statement
        (each otherwise costs a transaction of its own for nothing but its position). Never
        backwards, and never a view being rebuilt (``REBUILDING``)."""
        if not names:
            return
        marks = ", ".join(["%s"] * len(names))
        with self.db.transaction(write=True) as cur:
            cur.execute(
                f"UPDATE projection_tracking SET position = %s WHERE name IN ({marks})"
                " AND position >= 0 AND position < %s",
                [through, *names, through],
            )

    def catch_up_if_behind(self, name: str) -> None:
        """Catch one view up only if an event it reads was recorded after its position: a
        read when nothing is new, so deciders racing on other records (postings) do not all
        write the view's position to consult it. With a ``probe``: one statement, from where
        this process last found the log clear for the view (ids commit in id order, see
        ``ledger.store.logreader``), unless the view was reset since."""
        start = self.positions()[name]
        if start == REBUILDING:
            return
        topics = self.topics([name])
        if self.probe is not None:
            seen, clear = self._clear.get(name, (start, start))
            found, head = self.probe(max(start, clear) if start >= seen else start, topics)
        else:
            notifications, covered = self.reader(start + 1, BATCH_SIZE, topics, self.unread([name]))
            # SQLite filters topics after reading a window of the log: anything beyond it, catch up.
            found = bool(notifications or self.reader(covered + 1, 1, (), ())[0])
            head = covered
        if found:
            self.catch_up([name])
            self._clear.pop(name, None)
        else:
            self._clear[name] = (start, head)

    def topics(self, names: Iterable[str]) -> tuple[str, ...]:
        """The topic prefixes the views read; none (read everything) if one reads every topic."""
        prefixes: list[str] = []
        for name in names:
            if not self.views[name].topics:
                return ()
            prefixes.extend(t for t in self.views[name].topics if t not in prefixes)
        return tuple(prefixes)

    def unread(self, names: Sequence[str]) -> tuple[str, ...]:
        """The topics to read without their state: those some of these views take unread and
        no other of them reads, in whole or in part (a prefix of the topic, or a longer one)."""
        return tuple(
            topic
            for name in names
            for topic in self.views[name].unread_topics
            if all(
                other == name or not _overlaps(topic, self.views[other].topics) for other in names
            )
        )

    def _events_for(
        self, view: View, notifications: Sequence[Any], after: int, decoded: dict[int, Any]
    ) -> list[tuple[int, Any]]:
        """The view's events after its position, each notification decoded at most once."""
        events = []
        for notification in notifications:
            if notification.id > after and (
                not view.topics or notification.topic.startswith(view.topics)
            ):
                if view.raw:
                    events.append((notification.id, notification))
                    continue
                if notification.id not in decoded:
                    decoded[notification.id] = self.decoder(notification)
                events.append((notification.id, decoded[notification.id]))
        return events

    def _apply(
        self, view: View, notifications: Sequence[Any], through: int, decoded: dict[int, Any]
    ) -> None:
        """Apply the view's events among ``notifications`` after its position and move the
        position to ``through`` (the log is covered up to there), in one transaction. If that
        fails on an event's data, apply the view's events in halves, each half in a transaction
        of its own, down to the event that fails alone: it is recorded as a failure and passed."""
        try:
            self._apply_once(view, notifications, through, decoded)
        except Exception as error:
            self._bisect(view, notifications, error, through,
                         lambda part, until: self._apply(view, part, until, decoded))  # fmt: skip

    def _bisect(
        self,
        view: View,
        notifications: Sequence[Any],
        error: Exception,
        through: int | None,
        apply: Callable[[Sequence[Any], int | None], None],
    ) -> None:
        """After the view's events among ``notifications`` failed together with ``error``:
        raise it if it is the database's (or no event of the view's is there to blame); record
        the one event that fails alone (moving a tracked view to ``through``); else ``apply``
        each half of them, the first covering the log up to its last event."""
        if is_infrastructure(error):
            raise error
        mine = [n for n in notifications if _reads(view, n)]
        if not mine:
            raise error
        if len(mine) == 1:
            self._quarantine(view, mine[0], through, error)
            return
        half = len(mine) // 2
        apply(mine[:half], mine[half - 1].id)
        apply(mine[half:], through)

    def _position(self, cur: Cursor, view: View) -> int:
        """The view's position, its tracking row locked (PostgreSQL) until the transaction ends."""
        lock = "" if self.db.is_sqlite else " FOR UPDATE"
        row = cur.execute(
            f"SELECT position FROM projection_tracking WHERE name = %s{lock}", (view.name,)
        ).fetchone()
        return int(row["position"]) if row else 0

    def _apply_once(
        self, view: View, notifications: Sequence[Any], through: int, decoded: dict[int, Any]
    ) -> None:
        with self.db.transaction(write=True) as cur:
            current = self._position(cur, view)
            if through <= current:
                return
            todo = self._events_for(view, notifications, current, decoded)
            if todo:
                view.process_batch(cur, todo)
            cur.execute(
                "UPDATE projection_tracking SET position = %s WHERE name = %s", (through, view.name)
            )

    def _quarantine(
        self, view: View, notification: Any, through: int | None, error: Exception
    ) -> None:
        """Record that ``view`` cannot apply ``notification`` and, for a view that is tracked
        (``through`` given), move its position to ``through`` in the same transaction."""
        error_type, message = describe(error)
        with self.db.transaction(write=True) as cur:
            if through is not None:
                current = self._position(cur, view)
                if through <= current or notification.id <= current:
                    return  # another process got there first
            now = utc_text(datetime.now(UTC))
            cur.execute(
                "INSERT INTO projection_failures (view_name, position, topic, originator_id,"
                " error_type, message, first_seen, last_seen, attempts)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1)"
                " ON CONFLICT (view_name, position) DO UPDATE SET error_type = excluded.error_type,"
                " message = excluded.message, last_seen = excluded.last_seen,"
                " attempts = projection_failures.attempts + 1, resolved_at = NULL",
                (view.name, notification.id, notification.topic, str(notification.originator_id),
                 error_type, message, now, now),
            )  # fmt: skip
            if through is not None:
                cur.execute(
                    "UPDATE projection_tracking SET position = %s WHERE name = %s",
                    (through, view.name),
                )
        log.error(
            "projection_failure",
            view=view.name,
            position=notification.id,
            originator_id=str(notification.originator_id),
            error_type=error_type,
            message=message,
        )

    @staticmethod
    def _close_failures(cur: Cursor, name: str) -> None:
        """Close a view's open failures, as it is about to be replayed from the start."""
        cur.execute(
            "UPDATE projection_failures SET resolved_at = %s"
            " WHERE view_name = %s AND resolved_at IS NULL",
            (utc_text(datetime.now(UTC)), name),
        )

    def failures_of(self, originator_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The open failures of these aggregates' events: originator id, view name, error type."""
        if not originator_ids:
            return []
        marks = ", ".join(["%s"] * len(originator_ids))
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT originator_id, view_name, error_type FROM projection_failures"
                f" WHERE originator_id IN ({marks}) AND resolved_at IS NULL ORDER BY position",
                list(originator_ids),
            ).fetchall()

    def failures(self, name: str | None = None) -> list[dict[str, Any]]:
        """The open failures (of one view, or of all), in view and log order."""
        where, params = ("AND view_name = %s", (name,)) if name is not None else ("", ())
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT view_name, position, topic, originator_id, error_type, message,"
                " first_seen, last_seen, attempts FROM projection_failures"
                f" WHERE resolved_at IS NULL {where} ORDER BY view_name, position",
                params,
            ).fetchall()
        return [
            {"view": row.pop("view_name"), **row, "position": int(row["position"])} for row in rows
        ]

    def rebuild(self, name: str, progress: Callable[[int], None] | None = None) -> int:
        """Drop a view's tables, recreate them and replay the whole log into them."""
        self.rebuild_later(name)
        return self.catch_up([name], progress)

    def rebuild_later(self, name: str) -> None:
        """Empty a view and set it back to position 0: the next catch-up replays the log."""
        self._reset(name, 0)

    def _reset(self, name: str, position: int) -> None:
        """Drop and recreate a view's tables, and set its position, in one transaction. The
        view's failures are closed: the replay records again those that still fail."""
        view = self.views[name]
        with self.db.transaction(write=True) as cur:
            view.drop(cur)
            view.create(cur)
            self._close_failures(cur, name)
            cur.execute(
                "UPDATE projection_tracking SET position = %s WHERE name = %s", (position, name)
            )

    # --- a rebuild shared by several processes (driven by ops/services/rebuild.py) -------------------

    def begin_sharded_rebuild(self, name: str) -> None:
        """Empty the view and mark it as being rebuilt: catch-ups pass it over from now on."""
        self._reset(name, REBUILDING)

    def apply_shard(
        self,
        name: str,
        reader: Callable[[int, int, tuple[str, ...]], tuple[Sequence[Any], int]],
        stop: int,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replay one shard of the log up to ``stop`` into a view being rebuilt (one
        transaction per batch; no tracking: the rebuild as a whole is what counts, and a rebuild
        that does not finish leaves the view marked, to be rebuilt again). ``reader`` reads
        only the shard's notifications. An event that fails alone is recorded as a failure and
        passed, as in a catch-up. Returns the positions covered."""
        view = self.views[name]
        position = 0
        while position < stop:
            notifications, covered = reader(position + 1, BATCH_SIZE, view.topics)
            for group in by_size(notifications):
                self._apply_untracked(view, group)
            if progress is not None:
                progress(covered - position)
            position = covered
        return position

    def _apply_untracked(self, view: View, notifications: Sequence[Any]) -> None:
        """Apply a view's events in one transaction with no tracking, in halves down to the
        event that fails alone (recorded as a failure) if an event's data breaks it."""
        try:
            with self.db.transaction(write=True) as cur:
                todo = self._events_for(view, notifications, 0, {})
                if todo:
                    view.process_batch(cur, todo)
        except Exception as error:
            self._bisect(view, notifications, error, None,
                         lambda part, _until: self._apply_untracked(view, part))  # fmt: skip

    def finish_sharded_rebuild(self, name: str, stop: int) -> None:
        """Every shard is in: the view stands at ``stop`` and follows the log again."""
        with self.db.transaction(write=True) as cur:
            cur.execute(
                "UPDATE projection_tracking SET position = %s WHERE name = %s AND position = %s",
                (stop, name, REBUILDING),
            )

    def dump(self, name: str) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of a view's tables, sorted: what 'rebuild equals live' compares."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.db.transaction() as cur:
            for table in self.views[name].tables:
                if table in self.views[name].working_tables:
                    continue
                rows = cur.execute(f"SELECT * FROM {table}").fetchall()
                out[table] = sorted(tuple(str(v) for v in row.values()) for row in rows)
        return out
