"""Reading the notification log for the projection runner.

A catch-up asks for the notifications after its position whose topics its views read, and
learns up to which position the log is covered by the answer — so that a view's position moves
past the notifications it does not read without their ever leaving the database. Half of a
household's notifications are its members' enrolment guards, which the case-state view never
reads.

Why "covered up to the head" is safe: the event store takes an exclusive table lock for each
insert until it commits (the library's ``_lock_table``; SQLite has one writer), so notification
ids are committed in id order. The head is read before the notifications, and the select is
bounded by it: every notification up to the head is either committed and visible to the select,
or was rolled back and will never exist.

A rebuild split across processes reads one shard of the log each: the notifications whose
originator id falls in the shard (last byte of the UUID modulo the shard count), so that all the
events of one aggregate go to one process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from ledger.store.db import INDEX_ORDER

Shard = tuple[int, int]  # (this shard, number of shards)
READ_BYTES = 32_000_000  # stored state read at once: a rebuild of the rolls view stays small
# The plan every read must have (``INDEX_ORDER``): walk the notification id index from ``start``
# and stop after ``limit`` matches. Without fresh statistics (the library never analyses its
# table, and a server may run without autovacuum) PostgreSQL may choose a bitmap scan of every
# notification up to the head, sorted on disk, for each batch.


@dataclass(frozen=True)
class Unread(Notification):
    """A notification read without its stored state (``state`` is empty), which is ``size``
    bytes: a view that takes it reads the state only if it needs it (``View.unread_topics``)."""

    size: int = 0


class StoreReader:
    """A reader of the event store's table, as stored: its recorder, whether it is PostgreSQL,
    and the log's head (the last notification id). ``LogReader`` reads it for the views,
    ``ledger.proof.reader.TreeReader`` for the sealed tree."""

    def __init__(self, recorder: Any, *, postgres: bool) -> None:
        self.recorder = recorder
        self.postgres = postgres

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def table(self) -> Composed:
        """The event table, schema-qualified, for a PostgreSQL statement."""
        return SQL("{schema}.{table}").format(
            schema=Identifier(self.recorder.datastore.schema),
            table=Identifier(self.recorder.events_table_name),
        )

    def any_after(self, start: int, prefixes: tuple[str, ...]) -> tuple[bool, int]:
        """(whether a notification after ``start`` has a topic beginning with one of
        ``prefixes`` — any topic if none —, the head it looked up to), in one statement: what a
        view needs to know before a read consults it."""
        match = " OR ".join(["substr(topic, 1, %s) = %s"] * len(prefixes)) or "TRUE"
        params = [x for prefix in prefixes for x in (len(prefix), prefix)]
        if self.postgres:
            statement = SQL(
                "SELECT (SELECT max(notification_id) FROM {table}), (SELECT notification_id"
                " FROM {table} WHERE notification_id > %s AND ({match})"
                " ORDER BY notification_id LIMIT 1) IS NOT NULL"
            ).format(table=self.table(), match=SQL(match))
            with (
                self.recorder.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row) as curs,
            ):
                # The first match in log order, not EXISTS: ordered and limited, the plan walks
                # the position index from ``start`` whatever the planner guesses of the table (a
                # log never analysed made EXISTS scan all of it for the topic: seconds at 5M).
                row = curs.execute(statement, [start, *params], prepare=True).fetchone()
        else:
            table = self.recorder.events_table_name
            with self.recorder.datastore.transaction(commit=False) as curs:
                curs.execute(
                    f"SELECT (SELECT max(rowid) FROM {table}), EXISTS (SELECT 1 FROM {table}"
                    f" WHERE rowid > ? AND ({match.replace('%s', '?')}))",
                    (start, *params),
                )
                row = tuple(curs.fetchone())
        return bool(row[1]), int(row[0] or 0)

    def existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Those of these aggregates that have events (one statement): a decision that only
        needs to know a record is new asks this rather than failing to load it, which costs a
        snapshot lookup and an event read each."""
        return set(self.versions(originator_ids))

    def versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The last version of each of these aggregates that has events (one statement, on the
        primary key): which are new, and whether one kept as last saved is still current."""
        if not originator_ids:
            return {}
        if self.postgres:
            # Each id's last version by the primary key, one index probe an id, whatever the
            # planner guesses of the table (``= ANY`` with GROUP BY scanned it when unanalysed).
            statement = SQL(
                "SELECT u.id, (SELECT e.originator_version FROM {table} e"
                " WHERE e.originator_id = u.id ORDER BY e.originator_version DESC LIMIT 1)"
                " FROM unnest(%s::uuid[]) AS u(id)"
            ).format(table=self.table())
            with (
                self.recorder.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row) as curs,
            ):
                rows = curs.execute(statement, [list(originator_ids)], prepare=True).fetchall()
            return {UUID(str(row[0])): int(row[1]) for row in rows if row[1] is not None}
        # The same on SQLite: one seek an id (a GROUP BY read every version of each, and the
        # guards and books a posting moves gain a version with every posting).
        values = ", ".join(["(?)"] * len(originator_ids))
        with self.recorder.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"WITH ids(id) AS (VALUES {values}) SELECT id, (SELECT e.originator_version"
                f" FROM {self.recorder.events_table_name} e WHERE e.originator_id = ids.id"
                " ORDER BY e.originator_version DESC LIMIT 1) FROM ids",
                [i.hex for i in originator_ids],  # the library stores the id as hex digits
            )
            return {UUID(row[0]): int(row[1]) for row in curs.fetchall() if row[1] is not None}


class LogReader(StoreReader):
    def read(
        self,
        start: int,
        limit: int,
        prefixes: tuple[str, ...] = (),
        unread: tuple[str, ...] = (),
        *,
        stop: int | None = None,
        shard: Shard | None = None,
    ) -> tuple[Sequence[Notification], int]:
        """(notifications from ``start`` whose topic starts with one of ``prefixes`` — all if
        none — in log order, at most ``limit``; the position through which the log has been
        looked at). ``stop`` bounds the read (a rebuild's end); ``shard`` picks one shard.

        On PostgreSQL, those whose topic starts with one of ``unread`` come without their
        state, as ``Unread`` (its size given): the view reads the states it needs with
        ``states``. SQLite reads every state (from a local file, little to save)."""
        head = self.head() if stop is None else stop
        if head < start:
            return [], head
        unread = unread if self.postgres else ()
        # At most ~READ_BYTES of stored state at once: a thousand roll chunks are ~150 MB.
        last, limit = self._within_budget(start, head, limit, prefixes, unread, shard)
        if self.postgres:
            found = self._select_postgres(start, last, limit, prefixes, unread, shard)
        else:
            found = self.recorder.select_notifications(start=start, limit=limit, stop=last)
        covered = found[-1].id if len(found) == limit or last < head else head
        if not self.postgres and (prefixes or shard):
            found = [
                n
                for n in found
                if (not prefixes or n.topic.startswith(prefixes))
                and (shard is None or in_shard(n.originator_id, shard))
            ]
        return found, covered

    def _within_budget(
        self,
        start: int,
        head: int,
        limit: int,
        prefixes: tuple[str, ...],
        unread: tuple[str, ...],
        shard: Shard | None,
    ) -> tuple[int, int]:
        """(last position, how many) to read so that the notifications' stored state stays
        within ``READ_BYTES`` (at least one notification, however large): their sizes are
        asked first, which reads no state. A state left unread counts nothing."""
        if self.postgres:
            sizes = self._query_postgres(
                f"notification_id, {_unless_unread('octet_length(state)', unread)}",
                start, head, limit, prefixes, shard, _patterns(unread),
            )  # fmt: skip
        else:  # every topic: the library's reader filters none in SQL
            with self.recorder.datastore.transaction(commit=False) as curs:
                curs.execute(
                    f"SELECT rowid, length(state) FROM {self.recorder.events_table_name}"
                    " WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                    (start, head, limit),
                )
                sizes = [tuple(row) for row in curs.fetchall()]
        total = 0
        for count, (position, size) in enumerate(sizes, 1):
            total += size or 0
            if total >= READ_BYTES and count < len(sizes):
                return position, count
        return head, limit

    def _select_postgres(
        self,
        start: int,
        stop: int,
        limit: int,
        prefixes: tuple[str, ...],
        unread: tuple[str, ...],
        shard: Shard | None,
    ) -> list[Notification]:
        rows = self._query_postgres(
            "notification_id, originator_id, originator_version, topic,"
            f" {_unless_unread('state', unread)}, octet_length(state)",
            start, stop, limit, prefixes, shard, _patterns(unread),
        )  # fmt: skip
        return [
            Notification(
                id=row[0],
                originator_id=row[1],
                originator_version=row[2],
                topic=row[3],
                state=bytes(row[4]),
            )
            if row[4] is not None
            else Unread(
                id=row[0],
                originator_id=row[1],
                originator_version=row[2],
                topic=row[3],
                state=b"",
                size=row[5],
            )
            for row in rows
        ]

    def aggregate(self, originator_id: UUID, stop: int | None = None) -> list[Notification]:
        """The notifications of one aggregate's events in version order, those at log positions
        up to ``stop`` if given (what a known-at read of one record folds)."""
        bound = [] if stop is None else [stop]
        if not self.postgres:
            with self.recorder.datastore.transaction(commit=False) as curs:
                curs.execute(
                    "SELECT rowid, originator_id, originator_version, topic, state"
                    f" FROM {self.recorder.events_table_name} WHERE originator_id = ?"
                    + ("" if stop is None else " AND rowid <= ?")
                    + " ORDER BY originator_version",
                    (originator_id.hex, *bound),  # the library stores the id as hex digits
                )
                rows = [tuple(row) for row in curs.fetchall()]
        else:
            statement = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM {schema}.{table} WHERE originator_id = %s{bound} ORDER BY originator_version"
            ).format(
                schema=Identifier(self.recorder.datastore.schema),
                table=Identifier(self.recorder.events_table_name),
                bound=SQL("" if stop is None else " AND notification_id <= %s"),
            )
            with (
                self.recorder.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row, binary=True) as curs,
            ):
                rows = curs.execute(statement, (originator_id, *bound)).fetchall()
        return [
            Notification(id=row[0], originator_id=UUID(str(row[1])), originator_version=row[2],
                         topic=row[3], state=bytes(row[4]))
            for row in rows
        ]  # fmt: skip

    def states(self, notifications: Sequence[Notification]) -> list[Notification]:
        """These notifications with their stored state (those read ``Unread``), in order."""
        wanted = [n.id for n in notifications if isinstance(n, Unread)]
        if not wanted:
            return list(notifications)
        if not self.postgres:
            raise LookupError("SQLite reads every state: nothing is left unread")
        statement = SQL(
            "SELECT notification_id, state FROM {table} WHERE notification_id = ANY(%s)"
        ).format(
            table=self.table(),
        )
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            found = {row[0]: bytes(row[1]) for row in curs.execute(statement, (wanted,))}
        return [
            Notification(
                id=n.id,
                originator_id=n.originator_id,
                originator_version=n.originator_version,
                topic=n.topic,
                state=found[n.id],
            )
            if isinstance(n, Unread)
            else n
            for n in notifications
        ]

    def _query_postgres(
        self,
        columns: str,
        start: int,
        stop: int,
        limit: int,
        prefixes: tuple[str, ...],
        shard: Shard | None,
        column_params: Sequence[Any] = (),
    ) -> list[tuple[Any, ...]]:
        """``columns`` (with ``column_params``) of the notifications from ``start`` to
        ``stop`` of these topics and shard, in log order, at most ``limit``: along the id index
        (``INDEX_ORDER``)."""
        where: list[Composed | SQL] = [SQL("notification_id >= %s AND notification_id <= %s")]
        params: list[Any] = [*column_params, start, stop]
        if prefixes:
            # LIKE: '_' in a topic matches any one character, so the runner checks the prefix
            # again; '%' and '\' never occur in topics (module paths and class names).
            where.append(SQL("topic LIKE ANY(%s)"))
            params.append([prefix + "%" for prefix in prefixes])
        if shard is not None:
            where.append(SQL("get_byte(uuid_send(originator_id), 15) %% %s = %s"))
            params.extend([shard[1], shard[0]])
        params.append(limit)
        statement = SQL(
            "SELECT {columns} FROM {table} WHERE {where} ORDER BY notification_id LIMIT %s"
        ).format(
            columns=SQL(columns),
            table=self.table(),
            where=SQL(" AND ").join(where),
        )
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.transaction(),
            # Binary results: a roll chunk's state arrives as bytes, not as twice as many hex
            # digits for libpq to unescape.
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            conn.execute(INDEX_ORDER)  # several statements: the simple protocol, in text
            found: list[tuple[Any, ...]] = curs.execute(statement, params, prepare=True).fetchall()
            return found


def _unless_unread(column: str, unread: tuple[str, ...]) -> str:
    """A column, NULL for a notification of the ``unread`` topics (its pattern a parameter)."""
    return f"CASE WHEN topic LIKE ANY(%s) THEN NULL ELSE {column} END" if unread else column


def _patterns(unread: tuple[str, ...]) -> list[Any]:
    """LIKE patterns of exactly these prefixes ('_' escaped: the state of a notification of
    another topic is always read)."""
    return [[prefix.replace("_", "\\_") + "%" for prefix in unread]] if unread else []


def in_shard(originator_id: Any, shard: Shard) -> bool:
    """The same rule as the SQL: the UUID's last byte modulo the number of shards."""
    return bool(originator_id.bytes[15] % shard[1] == shard[0])
