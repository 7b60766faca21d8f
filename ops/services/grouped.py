"""Group commit of postings: concurrent commands that move the same balances (postings through
one pool) are decided one after another against the state the earlier ones left, in one
thread, and saved together in one ``save()`` — as TigerBeetle batches transfers — instead of
each racing the others on the pool's guard and losing on its version.

Each command keeps its own answer: one refused (no money, a closed period) is refused alone and
leaves nothing in the batch; the rest are saved at once, each with its idempotency record. If the
batch's save loses a version race to another process, every command of it goes the ordinary
way (``Services.execute``: retries, turns, a time budget)."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.access import Principal

if TYPE_CHECKING:
    from ops.services.core import Command, Served, Services

# At most this many commands are decided and saved together; the rest wait for the next batch.
MOST_PER_BATCH = 64


@dataclass
class Waiting:
    """A command waiting for its batch, and then its answer (a ``Served`` or an exception)."""

    principal: Principal
    key: str | None
    record_id: UUID | None
    request_sha256: str
    command: Command
    done: bool = False
    served: Served | None = None
    error: BaseException | None = None
    alone: bool = False  # to go the ordinary way (its batch lost a race, or it could not join)
    ids: set[UUID] = field(default_factory=set)

    def answer(self) -> Served:
        if self.error is not None:
            raise self.error
        assert self.served is not None
        return self.served


class GroupCommit:
    """One per ``Services``: the first waiting thread leads, deciding and saving what has queued
    while the batch before was saving, then hands the lead to a thread still waiting."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.changed = threading.Condition()
        self.queue: list[Waiting] = []
        self.leading = False

    def submit(self, waiting: Waiting) -> Served:
        with self.changed:
            self.queue.append(waiting)
            while not waiting.done and self.leading:
                self.changed.wait()
            if waiting.done:
                return self._finish(waiting)
            self.leading = True
        try:
            while not waiting.done:
                with self.changed:
                    batch, self.queue = self.queue[:MOST_PER_BATCH], self.queue[MOST_PER_BATCH:]
                if batch:
                    try:
                        self._decide_and_save(batch)
                    except BaseException as error:  # the database failed: every waiter hears it
                        for member in batch:
                            if not member.done:
                                self._settle(member, error=error)
                with self.changed:
                    self.changed.notify_all()
        finally:
            with self.changed:
                self.leading = False
                self.changed.notify_all()
        return self._finish(waiting)

    def _finish(self, waiting: Waiting) -> Served:
        if waiting.alone:
            return self.services.execute(
                waiting.principal, waiting.key, waiting.request_sha256, waiting.command,
                grouped=False,
            )  # fmt: skip
        return waiting.answer()

    def _decide_and_save(self, batch: list[Waiting]) -> None:
        """Decide each command against what the earlier ones decided (``shared``); a refused
        one is put back as it was before it. Then one save for all that were decided."""
        services = self.services
        shared: dict[Any, Aggregate] = {}
        decided: list[tuple[Waiting, list[Aggregate]]] = []
        later: list[Waiting] = []  # the same key twice in one batch: after the first is saved
        new_ids: set[UUID] = set()
        for waiting in batch:
            if waiting.record_id in new_ids:  # its key is being saved: answered from that
                later.append(waiting)
                continue
            try:
                earlier = services.served_earlier(waiting.record_id, waiting.request_sha256)
            except Exception as error:  # the key reused with another body: 409
                self._settle(waiting, error=error)
                continue
            if earlier is not None:
                self._settle(waiting, served=earlier)
                continue
            before = copy.deepcopy(shared)
            try:
                outcome = waiting.command.decide_with(services, waiting.principal, shared)
            except Exception as error:
                _restore(shared, before)
                self._settle(waiting, error=error)
                continue
            created = {a.id for a in outcome.aggregates if a.id not in shared}
            if waiting.record_id is not None:
                created.add(waiting.record_id)
            if created & new_ids:
                _restore(shared, before)
                later.append(waiting)
                continue
            new_ids |= created
            to_save = list(outcome.aggregates)
            if waiting.key:
                to_save.append(services.idempotency_record(waiting.principal, waiting.key,
                                                           waiting.request_sha256, outcome))  # fmt: skip
            waiting.served = services.served_from(outcome)
            decided.append((waiting, to_save))
        try:
            self._save(decided)
        finally:
            for waiting in later:
                waiting.alone = True
                self._settle(waiting)

    def _save(self, decided: list[tuple[Waiting, list[Aggregate]]]) -> None:
        if not decided:
            return
        services = self.services
        unique: dict[int, Aggregate] = {}
        for _waiting, aggregates in decided:
            for aggregate in aggregates:
                unique.setdefault(id(aggregate), aggregate)
        try:
            recordings = services.app.save(*unique.values())
        except IntegrityError:
            for waiting, _aggregates in decided:
                waiting.served = None
                waiting.alone = True
                self._settle(waiting)
            return
        position = max((r.notification.id for r in recordings), default=0)
        for waiting, _aggregates in decided:
            assert waiting.served is not None
            waiting.served.positions = [position]
            self._settle(waiting, served=waiting.served)

    def _settle(
        self, waiting: Waiting, served: Served | None = None, error: BaseException | None = None
    ) -> None:
        with self.changed:
            waiting.served = served if served is not None else waiting.served
            waiting.error = error
            waiting.done = True
            self.changed.notify_all()


def _restore(shared: dict[Any, Aggregate], before: dict[Any, Aggregate]) -> None:
    """Put the shared aggregates back as they were before a refused decision, in place: the
    earlier decisions of the batch hold these very objects to save."""
    for key in [key for key in shared if key not in before]:
        del shared[key]
    for key, kept in before.items():
        state = vars(shared[key])
        state.clear()
        state.update(vars(kept))
