"""A small database handle for the read models, the same code on SQLite and PostgreSQL.

SQL is written once with ``%s`` placeholders; on SQLite they become ``?``. Write transactions
on SQLite use ``BEGIN IMMEDIATE`` so writers serialise; on PostgreSQL the projection runner
locks the tracking row. Rows come back as mappings on both backends.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ledger.store.settings import DatabaseTarget

T = TypeVar("T")


class Cursor:
    """The common face of a sqlite3 or psycopg cursor."""

    def __init__(
        self, raw: Any, *, sqlite: bool, column_types: dict[str, Any] | None = None
    ) -> None:
        self.raw = raw
        self.sqlite = sqlite
        # (PostgreSQL) table → {column: type oid}, shared by the database's cursors
        self.column_types = column_types if column_types is not None else {}

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.sqlite else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        if params:
            self.raw.execute(self._sql(sql), tuple(params))
        else:
            self.raw.execute(sql)  # no placeholders to convert: '%' stays literal (plpgsql RAISE)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self._sql(sql), rows)

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Bulk insert: binary COPY on PostgreSQL, executemany on SQLite (where it is already an
        in-process loop). Binary, not text: as text every byte string would be written and
        parsed as hex and every number as digits."""
        if not rows:
            return
        if self.sqlite:
            self.raw.executemany(self._sql(insert_sql(table, columns)), rows)
            return
        types = self._types(table)
        with self.raw.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types([types[column] for column in columns])
            for row in rows:
                copy.write_row(row)

    def _types(self, table: str) -> dict[str, int]:
        """The type of each column of a table (looked up once per process)."""
        found: dict[str, int] | None = self.column_types.get(table)
        if found is None:
            found = {
                row["attname"]: int(row["atttypid"])
                for row in self.raw.execute(
                    "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass"
                    " AND attnum > 0 AND NOT attisdropped",
                    (table,),
                ).fetchall()
            }
            self.column_types[table] = found
        return found

    def copy_text(self, table: str, columns: Sequence[str], texts: Iterable[str]) -> None:
        """PostgreSQL only: COPY rows already written in COPY's text format (tab-separated,
        fields escaped with ``copy_escape``), one block of rows per string — this skips psycopg's
        per-row adaptation; a generator's next block is built while the server works on the
        last."""
        with self.raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for text in texts:
                copy.write(text)

    def fetchone(self) -> dict[str, Any] | None:
        row = self.raw.fetchone()
        return None if row is None else dict(row)

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.raw.fetchall()]

    @property
    def rowcount(self) -> int:
        return int(self.raw.rowcount)


class Database:
    def __init__(self, target: DatabaseTarget, pool_size: int = 5) -> None:
        self.target = target
        self.is_sqlite = target.kind == "sqlite"
        self._local = threading.local()
        self._pool: Any = None
        self._column_types: dict[str, Any] = {}
        if not self.is_sqlite:
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool

            options = f"-c search_path={target.schema},public" if target.schema else ""
            self._pool = ConnectionPool(
                target.postgres_conninfo(),
                min_size=1,
                max_size=pool_size,
                open=True,
                kwargs={"row_factory": dict_row, "options": options, "autocommit": False},
            )

    def _sqlite_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.target.path, isolation_level=None, check_same_thread=False, timeout=60
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self, *, write: bool = False, snapshot: bool = False) -> Iterator[Cursor]:
        """A transaction; committed on success, rolled back on any exception. ``snapshot``: every
        read sees the database as of the transaction's first read (PostgreSQL's REPEATABLE READ,
        read only; a SQLite read transaction always does)."""
        if self.is_sqlite:
            conn = self._sqlite_connection()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Cursor(conn.cursor(), sqlite=True)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if snapshot:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield Cursor(cur, sqlite=False, column_types=self._column_types)

    def stream(
        self, sql: str, params: Sequence[Any] = (), page: int = 2000, index_order: bool = False
    ) -> Iterator[list[tuple[Any, ...]]]:
        """A large result as pages of tuples, never all in memory: on PostgreSQL streamed in binary
        (never the whole result in the client), a page ahead in a reader thread; on SQLite by
        stepping the statement.

        ``index_order``: on PostgreSQL, have the plan walk an index that gives the ORDER BY
        rather than sort. Without statistics (a bulk-loaded table nobody has analysed) the planner
        would pick a lossy bitmap scan and an on-disk sort, about twice the server's time."""
        if self.is_sqlite:
            # A connection of its own: the read snapshot it holds while the caller works must
            # not be the one the caller writes through (a connection reading an old snapshot
            # cannot start writing once another connection has committed: "database is
            # locked"). Readers never block the writer in WAL mode.
            conn = sqlite3.connect(self.target.path, isolation_level=None, timeout=60)
            try:
                raw = conn.execute(sql.replace("%s", "?"), tuple(params))
                while rows := raw.fetchmany(page):
                    yield rows
            finally:
                conn.close()
            return
        # A reader thread fetches the next page while the caller works on this one.
        yield from read_ahead(lambda: self._pages(sql, params, page, index_order))

    def _pages(
        self, sql: str, params: Sequence[Any], page: int, index_order: bool
    ) -> Iterator[list[tuple[Any, ...]]]:
        from psycopg import pq
        from psycopg.rows import tuple_row

        with (
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(binary=True, row_factory=tuple_row) as cur,
        ):
            if index_order:
                conn.execute(INDEX_ORDER)
            # The rows stream as the query makes them, ``page`` at a time (libpq's chunked
            # mode), through one query: a named cursor's FETCH is a statement of its own,
            # whose rows the server first copies into a store before it sends them.
            # Chunks need libpq 17 (psycopg[binary] bundles a newer one); an older libpq
            # streams a row at a time, the same rows.
            chunk = page if pq.version() >= 170000 else 1
            stream = cur.stream(sql, tuple(params), binary=True, size=chunk)
            try:
                # A page at a time, taken by ``islice`` in C: no Python loop a row here.
                while rows := list(itertools.islice(stream, page)):
                    yield rows
            finally:
                stream.close()  # if stopped early: psycopg cancels the query, drains what came

    def pool_stats(self) -> dict[str, int]:
        """The PostgreSQL pool's counters (psycopg_pool's ``get_stats``); none on SQLite."""
        return dict(self._pool.get_stats()) if self._pool is not None else {}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# Session settings that make a read walk the index giving its order instead of sorting (see
# ``Database.stream`` and ``ledger.store.logreader``): plans without statistics, made safe. No JIT:
# compiling a plan that only walks an index costs more than it saves.
def read_ahead(produce: Callable[[], Iterator[T]], depth: int = 2) -> Iterator[T]:
    """The items of ``produce()``, made in a thread of its own up to ``depth`` ahead of the
    caller: psycopg waits for the server without the GIL, so the database's time overlaps the
    caller's work on the item before. An error in the thread is raised in the caller's; a
    caller that stops early stops the thread (the producer is closed)."""
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop, done = threading.Event(), object()

    def run() -> None:
        try:
            produced = iter(produce())
            try:
                for item in produced:
                    items.put(item)
                    if stop.is_set():
                        return
            finally:
                close = getattr(produced, "close", None)
                if close is not None:
                    close()
            items.put(done)
        except BaseException as error:  # handed to the caller's thread
            items.put(error)

    def consume() -> Iterator[T]:
        reader = threading.Thread(target=run, daemon=True)
        reader.start()
        try:
            while (item := items.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while reader.is_alive():
                with contextlib.suppress(queue.Empty):
                    items.get_nowait()
                reader.join(0.01)

    return consume()


INDEX_ORDER = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off; SET LOCAL jit = off"

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_escape(text: str) -> str:
    """A text field for COPY's text format: backslash, tab, newline and carriage return escaped."""
    return text.translate(_COPY_ESCAPES)


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
