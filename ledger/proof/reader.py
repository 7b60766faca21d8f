"""Reading the stored events as the tree seals and verifies them: each with its leaf hash, or
with its state's SHA-256.

On PostgreSQL the sealing reads each event's leaf, hashed by the server where the state lies
(``LEAF``: the entry of ``ledger/proof/verify.py`` written in SQL), so a roll chunk's hundred-odd
kilobytes never travel to be hashed; the verification reads the states and hashes them here. On
SQLite the state is read from the local file and hashed here. The rows come straight from the
event store's table, as stored.

``leaves`` follows the same "covered up to the head" rule as ``ledger.store.logreader``, whose
``StoreReader`` it shares (notification ids commit in id order: the event store locks its table
for each insert).
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed
from psycopg.types.string import ByteaBinaryLoader

from ledger.proof import fast
from ledger.store.db import INDEX_ORDER, read_ahead
from ledger.store.logreader import StoreReader

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


# The framing of an entry up to its state's digest, from the stored columns, in SQL: the same
# bytes as ``verify.entry_bytes`` (each field length-prefixed), after the leaf's 0x00.
ENTRY_HEAD = (
    "'\\x0000000008'::bytea || int8send(notification_id) || '\\x00000010'::bytea"
    " || uuid_send(originator_id) || '\\x00000008'::bytea || int8send(originator_version)"
    " || int4send(octet_length(convert_to(coalesce(topic, ''), 'UTF8')))"
    " || convert_to(coalesce(topic, ''), 'UTF8') || '\\x00000020'::bytea"
)
# A topic or state that is NULL (written by hand) counts as empty, as ``fast.leaves`` has it.
LEAF = f"sha256({ENTRY_HEAD} || sha256(coalesce(state, ''::bytea)))"
# The stored columns an entry is made of, as the verification reads them.
LOG_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


class TreeReader(StoreReader):
    def leaves(self, start: int, limit: int) -> tuple[list[int], bytes, int]:
        """The positions of the stored events from ``start`` (at most ``limit``), their leaf
        hashes concatenated, and the position the log is covered through."""
        head = self.head()
        if head < start:
            return [], b"", head
        if self.postgres:
            rows = self._select(f"notification_id, {LEAF}", start, head, limit)
            positions = [row[0] for row in rows]
            leaves = b"".join([row[1] for row in rows])
        else:
            found = self.digests(start, head, limit)
            positions = [row[0] for row in found]
            leaves = fast.leaves(found, hashed=True)[1]
        covered = positions[-1] if len(positions) == limit else head
        return positions, leaves, covered

    def _select(self, columns: str, start: int, stop: int, limit: int) -> list[tuple[Any, ...]]:
        """PostgreSQL: ``columns`` of the stored events from ``start`` to ``stop``, at most
        ``limit``, in log order, in binary, along the id index (``INDEX_ORDER``)."""
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            conn.execute(INDEX_ORDER)
            rows: list[tuple[Any, ...]] = curs.execute(
                self._statement(columns), (start, stop, limit)
            ).fetchall()
            return rows

    def _statement(self, columns: str, *, limited: bool = True) -> Composed:
        return SQL(
            "SELECT {columns} FROM {table} WHERE notification_id >= %s"
            " AND notification_id <= %s ORDER BY notification_id{limit}"
        ).format(
            columns=SQL(columns),
            table=self.table(),
            limit=SQL(" LIMIT %s" if limited else ""),
        )

    def stream(
        self, columns: str, start: int, stop: int, page: int = 5000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """PostgreSQL: ``columns`` of every stored event from ``start`` to ``stop``, in log
        order, as pages of rows streamed by one query (binary, never all in memory), read a
        page ahead in a thread of its own (``read_ahead``): the server makes the next page
        while the caller hashes this one. An originator id comes as its 16 bytes, which is what
        an entry holds (a ``UUID`` object per row would cost more than hashing it)."""
        return read_ahead(lambda: self._pages(columns, start, stop, page))

    def _pages(
        self, columns: str, start: int, stop: int, page: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.adapters.register_loader("uuid", ByteaBinaryLoader)
            conn.execute(INDEX_ORDER)
            streamed = curs.stream(self._statement(columns, limited=False), (start, stop),
                                   size=page)  # fmt: skip
            try:
                while rows := list(itertools.islice(streamed, page)):
                    yield rows
            finally:
                streamed.close()  # if stopped early: psycopg cancels the query

    def digests(
        self, start: int, stop: int, limit: int, *, local: bool = False
    ) -> list[StoredDigest]:
        """The stored events from ``start`` to ``stop``, at most ``limit``, in log order.
        ``local``: on PostgreSQL too, read the states and hash them here, trusting nothing of
        the server but the bytes it returns (the verification does; sealing need not)."""
        if self.postgres:
            statement = SQL(
                "SELECT notification_id, originator_id, originator_version, topic,"
                " {state} FROM {table} WHERE notification_id >= %s"
                " AND notification_id <= %s ORDER BY notification_id LIMIT %s"
            ).format(
                state=SQL("state" if local else "sha256(coalesce(state, ''::bytea))"),
                table=self.table(),
            )
            with (
                self.recorder.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor(row_factory=tuple_row, binary=True) as curs,
            ):
                rows = curs.execute(statement, (start, stop, limit)).fetchall()
            if local:
                sha256 = hashlib.sha256
                return [(r[0], r[1], r[2], r[3] or "", sha256(r[4] or b"").digest()) for r in rows]
            return [(r[0], r[1], r[2], r[3] or "", bytes(r[4])) for r in rows]
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

    def leaf_pages(self, *, local: bool = True, page: int = 5000) -> Iterator[tuple[bytes, bytes]]:
        """Every stored event up to the head, in log order, a page at a time, as (positions, 8
        bytes big-endian each; leaf hashes, concatenated). ``local``: the stored columns are
        read as they are and hashed here (``fast.leaves``), trusting nothing of the server but
        the bytes it returns; otherwise PostgreSQL hashes them (``LEAF``)."""
        head = self.head()
        if not self.postgres:
            for events in _pages(self.every(page), page):
                yield fast.leaves(events, hashed=True)
            return
        if local:
            for rows in self.stream(LOG_COLUMNS, 1, head, page):
                yield fast.leaves(rows)
            return
        for rows in self.stream(f"notification_id, {LEAF}", 1, head, page):
            yield (struct.pack(f">{len(rows)}Q", *[row[0] for row in rows]),
                   b"".join([row[1] for row in rows]))  # fmt: skip

    def position_of(self, originator_id: UUID, version: int) -> int | None:
        """The log position of an aggregate's event of this version, if it is stored."""
        if self.postgres:
            statement = SQL(
                "SELECT notification_id FROM {table}"
                " WHERE originator_id = %s AND originator_version = %s"
            ).format(
                table=self.table(),
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

    def events_of_many(
        self, originator_ids: Sequence[UUID], through: int
    ) -> list[tuple[int, UUID, int, str, bytes]]:
        """``events_of`` these aggregates, a thousand at a time, all in log order."""
        found: list[tuple[int, UUID, int, str, bytes]] = []
        for start in range(0, len(originator_ids), 1000):
            chunk = list(originator_ids[start : start + 1000])
            if self.postgres:
                statement = SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state"
                    " FROM {table} WHERE originator_id = ANY(%s)"
                    " AND notification_id <= %s"
                ).format(
                    table=self.table(),
                )
                with (
                    self.recorder.datastore.get_connection() as conn,
                    conn.transaction(),
                    conn.cursor(row_factory=tuple_row, binary=True) as curs,
                ):
                    rows = curs.execute(statement, (chunk, through)).fetchall()
                found += [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]
            else:
                for originator_id in chunk:
                    found += self.events_of(originator_id, through)
        return sorted(found, key=lambda event: event[0])

    def events_of(
        self, originator_id: UUID, through: int
    ) -> list[tuple[int, UUID, int, str, bytes]]:
        """(position, originator id, version, topic, state as stored) of an aggregate's events
        up to position ``through``, in log order."""
        if self.postgres:
            return self.events_of_many([originator_id], through)
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


def _pages(rows: Iterator[StoredDigest], page: int) -> Iterator[list[StoredDigest]]:
    while chunk := list(itertools.islice(rows, page)):
        yield chunk
