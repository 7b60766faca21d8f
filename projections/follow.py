"""Keeping the views current off the request path, and reads that wait for a position.

A ``Follower`` catches the views (and the log's seal) up with the log whenever the log moves: in
``doudi projections run`` (the production shape on PostgreSQL) or in a thread of the API process
(one process, and always on SQLite). On PostgreSQL a statement trigger on the stored events
announces every commit on ``LOG_CHANNEL``, and the follower announces each position its views
have reached on ``VIEWS_CHANNEL``; on SQLite the process's own saves wake it, and it polls for
the writes of other processes (the command line).

The notifications themselves, and the positions reads wait for (``Reached``), are in
``ledger.store.notify``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog

from ledger.store.db import Database
from ledger.store.notify import (
    LOG_CHANNEL,
    VIEWS_CHANNEL,
    Listener,
    Reached,
    await_notification,
    await_views,
    close_quietly,
    listen,
    wake_listeners,
)
from projections.runner import ProjectionRunner

log = structlog.get_logger("doudi")


class Follower:
    """Catches the views and the seal up whenever the log moves, and announces how far they
    came. ``run`` is the loop of ``doudi projections run`` and of the API's follower thread."""

    def __init__(
        self,
        db: Database,
        runner: ProjectionRunner,
        seal: Callable[[], int],
        seal_position: Callable[[], int],
        reached: Reached,
        poll_s: float = 1.0,
    ) -> None:
        self.db = db
        self.runner = runner
        self.seal = seal
        self.seal_position = seal_position
        self.reached = reached
        # Without a wake-up, how often to look at the log anyway: a lost notification, or on
        # SQLite the writes of another process.
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> int:
        """Catch up once (announcing each batch's position as it commits), seal, announce;
        return how many positions the views and the seal moved."""
        moved = self.runner.catch_up(progress=lambda _n: self.announce(sealed=False))
        moved += self.seal()
        self.announce()
        return moved

    def announce(self, sealed: bool = True) -> None:
        """Raise this process's ``Reached`` to the positions committed, and tell the other
        processes (PostgreSQL: ``VIEWS_CHANNEL``, payload "views seal")."""
        views = self.runner.reached()
        seal = self.seal_position() if sealed else None
        self.reached.raise_to(views, seal)
        if not self.db.is_sqlite:
            with self.db.transaction(write=True) as cur:
                cur.execute(
                    "SELECT pg_notify(%s, %s)", (VIEWS_CHANNEL, f"{views} {self.reached.seal}")
                )

    def poke(self) -> None:
        """Something was recorded, or a reader waits: catch up now rather than at the next poll."""
        self._wake.set()

    def run(
        self, stop: threading.Event | None = None, report: Callable[[int], None] | None = None
    ) -> None:
        """Follow the log until ``stop`` is set. An error (the database away) is logged and the
        loop goes on after a pause: no error stops the views for good."""
        stop = stop or self._stop
        listener: Any = None
        while not stop.is_set():
            try:
                if listener is None and not self.db.is_sqlite:
                    listener = listen(self.db, LOG_CHANNEL)
                moved = self.step()
                if moved and report is not None:
                    report(moved)
                if listener is not None:
                    await_notification(listener, self.poll_s, stop)
                else:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
            except Exception:
                log.exception("projection_follower_error")
                close_quietly(listener)
                listener = None
                stop.wait(1.0)
        close_quietly(listener)

    def start(self) -> None:
        """Follow the log in a daemon thread of this process (until ``stop``)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="doudi-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        wake_listeners(self.db, LOG_CHANNEL)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class Following:
    """One process's hold on the log: where its views stand (``reached``), its ``follower``,
    and once started what keeps ``reached`` current: the follower in a thread, or (``worker``
    mode, PostgreSQL) a ``Listener`` for what ``doudi projections run`` announces."""

    def __init__(
        self,
        db: Database,
        runner: ProjectionRunner,
        seal: Callable[[], int],
        seal_position: Callable[[], int],
        head: Callable[[], int],
    ) -> None:
        self.db, self.runner, self.seal_position, self.head = db, runner, seal_position, head
        self.reached = Reached()
        self.follower = Follower(db, runner, seal, seal_position, self.reached,
                                 poll_s=1.0 if db.is_sqlite else 5.0)  # fmt: skip
        self.active: Follower | Listener | None = None

    def positions(self) -> tuple[int, int]:
        """(views, seal) as the tracking table has them now."""
        return self.runner.reached(), self.seal_position()

    def start(self, worker: bool) -> None:
        if self.active is not None:
            return
        self.reached.raise_to(*self.positions())  # where the views stand, before any news
        self.active = Listener(self.db, self.positions, self.reached) if worker else self.follower
        self.active.start()

    def stop(self) -> None:
        if self.active is not None:
            self.active.stop()
            self.active = None

    def recorded(self) -> None:
        """After a save of this process: on SQLite wake the follower (PostgreSQL's trigger
        wakes the followers of every process)."""
        if self.active is self.follower and self.db.is_sqlite:
            self.follower.poke()

    def views_at(self, wanted: int | None, wait_s: float, sealed: bool = False) -> int:
        """The log position a read reflects: where the views are, or once they reach
        ``wanted``, waiting at most ``wait_s`` for the follower; never a catch-up here."""
        poke = self.follower.poke if self.active is self.follower else None
        return await_views(self.reached, wanted, self.head, wait_s, poke, sealed)
