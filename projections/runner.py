"""Catch-up of read models from the notification log, exactly once.

Each view's rows and its tracking position are written in one transaction. A runner reads a
batch of notifications after the lowest tracked position, then for each view opens a write
transaction, re-reads (and on PostgreSQL locks) the view's position, applies only the events
after it, and moves the position. Two processes catching up at once therefore never apply an
event twice, and a crash between batches loses nothing: the next catch-up starts where the
committed position says.

SQLite has no subscriptions, so this polling catch-up is how projections follow the log there;
on PostgreSQL the same code runs in the API (read-your-writes) and in ``doudi projections run``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from projections.db import Cursor, Database

BATCH_SIZE = 5000
# The tracking position of a view being rebuilt by several processes: catch-ups leave it alone
# until the rebuild sets the position it reached.
REBUILDING = -1
BATCH_BYTES = 2_000_000
# (start, limit, topic prefixes, unread prefixes) → (notifications (id, topic, state, …) from
# start whose topic has one of the prefixes — all if none — at most limit, those of the unread
# prefixes without their state (``Unread``); the position the log is covered through)
Reader = Callable[[int, int, tuple[str, ...], tuple[str, ...]], tuple[Sequence[Any], int]]


@dataclass(frozen=True)
class Unread(Notification):
    """A notification read without its stored state (``state`` is empty), which is ``size``
    bytes: a view that takes it reads the state only if it needs it (``View.unread_topics``)."""

    size: int = 0


def stored_size(notification: Any) -> int:
    """The bytes of a notification's stored state, read or not."""
    return notification.size if isinstance(notification, Unread) else len(notification.state)


Decoder = Callable[[Any], Any]  # notification → domain event


def _overlaps(topic: str, topics: tuple[str, ...]) -> bool:
    """Whether a view reading ``topics`` (every topic if none) reads some events of ``topic``."""
    return not topics or any(t.startswith(topic) or topic.startswith(t) for t in topics)


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
    # one shard of the log (``ops/rebuild.py``).
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

    def drop(self, cur: Cursor) -> None:
        for table in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


class ProjectionRunner:
    def __init__(
        self, db: Database, reader: Reader, decoder: Decoder, views: Sequence[View]
    ) -> None:
        self.db = db
        self.reader = reader
        self.decoder = decoder
        self.views = {view.name: view for view in views}

    def setup(self) -> None:
        """Create what is missing. A view whose ``version`` changed since its tables were built
        is dropped and will be rebuilt from position 0 by the next catch-up."""
        with self.db.transaction(write=True) as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY,"
                " position BIGINT NOT NULL, view_version INTEGER NOT NULL DEFAULT 1)"
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
                for name in wanted:
                    self._apply(self.views[name], group, through, decoded)
            total += covered - start
            if progress is not None:
                progress(covered - start)

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
        position to ``through`` (the log is covered up to there), in one transaction."""
        lock = "" if self.db.is_sqlite else " FOR UPDATE"
        with self.db.transaction(write=True) as cur:
            row = cur.execute(
                f"SELECT position FROM projection_tracking WHERE name = %s{lock}", (view.name,)
            ).fetchone()
            current = int(row["position"]) if row else 0
            if through <= current:
                return
            todo = self._events_for(view, notifications, current, decoded)
            if todo:
                view.process_batch(cur, todo)
            cur.execute(
                "UPDATE projection_tracking SET position = %s WHERE name = %s", (through, view.name)
            )

    def rebuild(self, name: str, progress: Callable[[int], None] | None = None) -> int:
        """Drop a view's tables, recreate them and replay the whole log into them."""
        self.rebuild_later(name)
        return self.catch_up([name], progress)

    def rebuild_later(self, name: str) -> None:
        """Empty a view and set it back to position 0: the next catch-up replays the log."""
        self._reset(name, 0)

    def _reset(self, name: str, position: int) -> None:
        """Drop and recreate a view's tables, and set its position, in one transaction."""
        view = self.views[name]
        with self.db.transaction(write=True) as cur:
            view.drop(cur)
            view.create(cur)
            cur.execute(
                "UPDATE projection_tracking SET position = %s WHERE name = %s", (position, name)
            )

    # --- a rebuild shared by several processes (driven by ops/rebuild.py) -------------------

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
        only the shard's notifications. Returns the positions covered."""
        view = self.views[name]
        position = 0
        while position < stop:
            notifications, covered = reader(position + 1, BATCH_SIZE, view.topics)
            for group in by_size(notifications):
                with self.db.transaction(write=True) as cur:
                    todo = self._events_for(view, group, 0, {})
                    if todo:
                        view.process_batch(cur, todo)
            if progress is not None:
                progress(covered - position)
            position = covered
        return position

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
