"""The log's notifications on PostgreSQL, and the positions reads wait for.

A statement trigger on the stored events announces every commit on ``LOG_CHANNEL``; a
projection follower (``projections/follow.py``) announces each position its views have reached
on ``VIEWS_CHANNEL``. ``Reached`` is what one process knows of how far the views have come: a
lower bound, raised as followers announce (``Listener``), that a read answers at once
(``Doudi-View-Position``) or waits on, bounded, when it names a position it must see
(``Doudi-Log-Position``, read-your-writes: ``await_views``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from domain.errors import InvalidValue, ViewsBehind
from ledger.store.db import Cursor, Database

LOG_CHANNEL = "doudi_log"
VIEWS_CHANNEL = "doudi_views"
log = structlog.get_logger("doudi")


def notify_trigger_sql(cur: Cursor, events_table: str) -> list[str]:
    """The trigger by which every transaction that records events announces its commit on
    ``LOG_CHANNEL`` (PostgreSQL; one empty notification per transaction, sent on commit), if
    it is missing: creating it locks the table against inserts, so not at every start."""
    if cur.execute(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'doudi_log_notify' AND tgrelid = %s::regclass",
        (events_table,),
    ).fetchone():
        return []
    return [
        "CREATE OR REPLACE FUNCTION doudi_log_notify() RETURNS trigger LANGUAGE plpgsql AS"
        f" $$ BEGIN PERFORM pg_notify('{LOG_CHANNEL}', ''); RETURN NULL; END $$",
        f"CREATE OR REPLACE TRIGGER doudi_log_notify AFTER INSERT ON {events_table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION doudi_log_notify()",
    ]


class Reached:
    """The log positions this process knows the views and the seal have reached (lower bounds:
    they only rise), and the readers waiting for them to reach one."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.views = 0
        self.seal = 0

    def at(self, sealed: bool = False) -> int:
        """The position the views have reached (and the seal too, if ``sealed``)."""
        return min(self.views, self.seal) if sealed else self.views

    def raise_to(self, views: int | None = None, seal: int | None = None) -> None:
        with self._changed:
            self.views = max(self.views, views if views is not None else 0)
            self.seal = max(self.seal, seal if seal is not None else 0)
            self._changed.notify_all()

    def wait(self, wanted: int, timeout: float, sealed: bool = False) -> int:
        """Wait until ``at(sealed)`` reaches ``wanted`` or ``timeout`` seconds pass; return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.at(sealed) < wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self.at(sealed)


class Listener:
    """For an API process whose views a projection worker keeps (PostgreSQL): raises this
    process's ``Reached`` from the worker's announcements, and from the tracking table itself
    at start, after a reconnection, and every ``poll_s`` without news."""

    def __init__(
        self,
        db: Database,
        read: Callable[[], tuple[int, int]],
        reached: Reached,
        poll_s: float = 5.0,
    ) -> None:
        self.db = db
        self.read = read
        self.reached = reached
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        listener: Any = None
        look = True  # at the tracking table: at start, after a reconnection or a quiet spell
        while not self._stop.is_set():
            try:
                if listener is None:
                    listener, look = listen(self.db, VIEWS_CHANNEL), True
                if look:
                    self.reached.raise_to(*self.read())
                payloads = await_notification(listener, self.poll_s, self._stop)
                for payload in payloads:
                    self.reached.raise_to(*announced(payload))
                look = not payloads
            except Exception:
                log.exception("projection_listener_error")
                close_quietly(listener)
                listener = None
                self._stop.wait(1.0)
        close_quietly(listener)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="doudi-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        wake_listeners(self.db, VIEWS_CHANNEL)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def announced(payload: str) -> tuple[int | None, int | None]:
    """(views, seal) of an announcement "views seal"; nothing from one that is not."""
    parts = payload.split()
    if len(parts) != 2 or not all(part.isascii() and part.isdigit() for part in parts):
        return None, None
    return int(parts[0]), int(parts[1])


def wake_listeners(db: Database, channel: str) -> None:
    """An empty notification on ``channel`` (PostgreSQL), so a listener stopping sees it at
    once rather than at the end of its wait; the others take it for a look at the log."""
    if db.is_sqlite:
        return
    with contextlib.suppress(Exception), db.transaction(write=True) as cur:
        cur.execute("SELECT pg_notify(%s, '')", (channel,))


def listen(db: Database, channel: str) -> Any:
    """A connection of its own (autocommit) listening on ``channel``."""
    import psycopg

    conn = psycopg.connect(db.target.postgres_conninfo(), autocommit=True)
    conn.execute(f"LISTEN {channel}")
    return conn


def await_notification(conn: Any, timeout: float, stop: threading.Event) -> list[str]:
    """The payloads of the notifications that arrive within ``timeout`` (returning at the first
    and those pending with it; at most half a second at a time, so ``stop`` is seen)."""
    deadline = time.monotonic() + timeout
    while not stop.is_set():
        wait = min(0.5, deadline - time.monotonic())
        if wait <= 0:
            return []
        found = [n.payload for n in conn.notifies(timeout=wait, stop_after=1)]
        if found:
            found += [n.payload for n in conn.notifies(timeout=0.001)]
            return found
    return []


def close_quietly(conn: Any) -> None:
    """Close a listening connection, one already lost included."""
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


def await_views(
    reached: Reached,
    wanted: int | None,
    head: Callable[[], int],
    timeout: float,
    poke: Callable[[], None] | None = None,
    sealed: bool = False,
) -> int:
    """The position a read reflects: at once where the views are if ``wanted`` is None; else
    once they reach ``wanted`` (bounded by ``timeout``: then ``ViewsBehind``). A position
    beyond the log's head is refused (it names no write), never waited for."""
    at = reached.at(sealed)
    if wanted is None or wanted <= at:
        return at
    newest = head()
    if wanted > newest:
        raise InvalidValue(
            f"Doudi-Log-Position {wanted} is beyond the log's head ({newest}): send the"
            " position a command answered",
            field="Doudi-Log-Position",
            rule="beyond_log_head",
        )
    if poke is not None:
        poke()
    at = reached.wait(wanted, timeout, sealed)
    if at < wanted:
        raise ViewsBehind(wanted, at)
    return at
