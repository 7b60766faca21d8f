"""Reading the stored events as the tree seals and verifies them: each with its state's SHA-256.

On PostgreSQL the digest is computed by the server (``sha256(state)``), so a roll chunk's
hundred-odd kilobytes never travel to be hashed; on SQLite the state is read from the local file
and hashed here. The rows come straight from the event store's table, as stored.

``read`` has the projection runner's reader signature, and the same "covered up to the head"
rule as ``ops.logreader`` (notification ids commit in id order: the event store locks its table
for each insert).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

# (position, originator id, version, topic, SHA-256 of the state as stored)
StoredDigest = tuple[int, UUID, int, str, bytes]


class Digested(NamedTuple):
    """A notification read without its state but with the state's SHA-256 (a tuple: a batch
    makes thousands, and a frozen dataclass costs several times as much to build). ``state``
    is empty, so the runner counts no bytes of it."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state_sha256: bytes
    state: bytes = b""


class TreeReader:
    def __init__(self, recorder: Any, *, postgres: bool) -> None:
        self.recorder = recorder
        self.postgres = postgres

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def read(
        self, start: int, limit: int, _topics: tuple[str, ...] = (), _unread: tuple[str, ...] = ()
    ) -> tuple[Sequence[Digested], int]:
        """(every notification from ``start``, at most ``limit``, with its state's digest; the
        position the log is covered through). Topics are not filtered: the tree seals all."""
        head = self.head()
        if head < start:
            return [], head
        rows = self.digests(start, head, limit)
        found = [Digested(*row) for row in rows]
        covered = found[-1].id if len(found) == limit else head
        return found, covered

    def digests(
        self, start: int, stop: int, limit: int, *, local: bool = False
    ) -> list[StoredDigest]:
        """The stored events from ``start`` to ``stop``, at most ``limit``, in log order.
        ``local``: on PostgreSQL too, read the states and hash them here, trusting nothing of
        the server but the bytes it returns (the verification does; sealing need not)."""
        if self.postgres:
            statement = SQL(
                "SELECT notification_id, originator_id, originator_version, topic,"
                " {state} FROM {schema}.{table} WHERE notification_id >= %s"
                " AND notification_id <= %s ORDER BY notification_id LIMIT %s"
            ).format(
                state=SQL("state" if local else "sha256(state)"),
                schema=Identifier(self.recorder.datastore.schema),
                table=Identifier(self.recorder.events_table_name),
            )
            with (
                self.recorder.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor(row_factory=tuple_row, binary=True) as curs,
            ):
                rows = curs.execute(statement, (start, stop, limit)).fetchall()
            if local:
                sha256 = hashlib.sha256
                return [(r[0], r[1], r[2], r[3], sha256(r[4]).digest()) for r in rows]
            return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]
        # SQLite keeps whatever type is written: the casts read a value changed to another type
        # as bytes or a number all the same, so that it is reported as altered, not a crash.
        with self.recorder.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT rowid, CAST(originator_id AS TEXT), CAST(originator_version AS INTEGER),"
                " CAST(topic AS TEXT), CAST(state AS BLOB) FROM"
                f" {self.recorder.events_table_name} WHERE rowid >= ? AND rowid <= ?"
                " ORDER BY rowid LIMIT ?",
                (start, stop, limit),
            )
            rows = curs.fetchall()
        return [
            (int(r[0]), _uuid(r[1]), int(r[2]), r[3] or "", hashlib.sha256(r[4] or b"").digest())
            for r in rows
        ]

    def position_of(self, originator_id: UUID, version: int) -> int | None:
        """The log position of an aggregate's event of this version, if it is stored."""
        if self.postgres:
            statement = SQL(
                "SELECT notification_id FROM {schema}.{table}"
                " WHERE originator_id = %s AND originator_version = %s"
            ).format(
                schema=Identifier(self.recorder.datastore.schema),
                table=Identifier(self.recorder.events_table_name),
            )
            with (
                self.recorder.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor(row_factory=tuple_row) as curs,
            ):
                row = curs.execute(statement, (originator_id, version)).fetchone()
        else:
            with self.recorder.datastore.transaction(commit=False) as curs:
                curs.execute(
                    f"SELECT rowid FROM {self.recorder.events_table_name}"
                    " WHERE originator_id = ? AND originator_version = ?",
                    (originator_id.hex, version),
                )
                row = curs.fetchone()
        return None if row is None else int(row[0])

    def events_of(
        self, originator_id: UUID, through: int
    ) -> list[tuple[int, UUID, int, str, bytes]]:
        """(position, originator id, version, topic, state as stored) of an aggregate's events
        up to position ``through``, in log order."""
        if self.postgres:
            statement = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM {schema}.{table} WHERE originator_id = %s AND notification_id <= %s"
                " ORDER BY notification_id"
            ).format(
                schema=Identifier(self.recorder.datastore.schema),
                table=Identifier(self.recorder.events_table_name),
            )
            with (
                self.recorder.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor(row_factory=tuple_row, binary=True) as curs,
            ):
                rows = curs.execute(statement, (originator_id, through)).fetchall()
            return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]
        with self.recorder.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT rowid, originator_version, topic, CAST(state AS BLOB) FROM"
                f" {self.recorder.events_table_name} WHERE originator_id = ? AND rowid <= ?"
                " ORDER BY rowid",
                (originator_id.hex, through),
            )
            found = curs.fetchall()
        return [(int(r[0]), originator_id, int(r[1]), r[2], bytes(r[3])) for r in found]

    def every(self, page: int = 5000, *, local: bool = False) -> Iterator[StoredDigest]:
        """Every stored event, in log order, a page at a time (``local``: see ``digests``)."""
        start, head = 1, self.head()
        while start <= head:
            rows = self.digests(start, head, page, local=local)
            if not rows:
                return
            yield from rows
            start = rows[-1][0] + 1


def _uuid(text: str | None) -> UUID:
    """A stored originator id; one that is no UUID (written by hand) reads as the nil UUID,
    which no aggregate has, so its leaf differs from the one sealed."""
    try:
        return UUID(text or "")
    except ValueError:
        return UUID(int=0)
