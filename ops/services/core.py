"""The application layer's composition root: ``Services`` builds the event store, the read-model
database, the views and the projection runner from one ``Settings``, answers the reads that need
more than a view, and runs every command through ``execute``.

A command (``Command``) is a frozen dataclass of typed fields, one module per area: cases,
access (registry, credentials), policy, grants, ledger, bank, roll_commands. ``execute`` makes
it idempotent per (credential, Idempotency-Key) by saving an ``IdempotencyRecord`` in the same
``save()`` as the decision's events, and decides again a decision that lost a version race when
the command allows retries. The API and the command line both go through it.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from prometheus_client import Counter

from domain.access import IdempotencyRecord, Principal, idempotency_id
from domain.decisions import decision_documents, recording_lag
from domain.errors import (
    Conflict,
    IntegrityFailure,
    NotFound,
    ProjectionFailure,
    ViewsBehind,
)
from domain.policy import RegionPolicy, policy_id
from domain.regions import load_region_table
from domain.roll import chunk_id
from ledger.journal import AccountGuard, LedgerBooks, LedgerPeriod
from ledger.proof.reader import TreeReader
from ledger.proof.signing import load_signing_key
from ledger.store.application import (
    DoudiApplication,
    application_env,
    ensure_schema,
    startup_lock,
)
from ledger.store.db import Database
from ledger.store.keys import Keys
from ledger.store.logreader import LogReader
from ledger.store.notify import notify_trigger_sql
from ledger.store.settings import DatabaseTarget, Environment, Settings
from ledger.store.transcoding import EventFields
from ops import native
from ops.services.grouped import GroupCommit, Waiting
from projections.access.view import AccessView
from projections.audit_trail.view import AuditTrailView
from projections.case_state.view import CaseStateView
from projections.findings.view import FindingsView
from projections.follow import Following
from projections.grants.view import GrantsView
from projections.ledger.view import LedgerView
from projections.policy_book.view import PolicyBookView
from projections.reconciliation.view import ReconciliationView
from projections.registry.view import RegistryView
from projections.rolls.view import RollsView
from projections.runner import ProjectionRunner, utc_text
from projections.statistics.view import StatisticsView
from projections.tlog.checkpoints import IssuedCheckpoints
from projections.tlog.view import Head, Lag, Sealer, SealView

INTEGRITY_FAILURE = f"{IntegrityFailure.__module__}.{IntegrityFailure.__qualname__}"


@dataclass
class Outcome:
    """What a decision produced: aggregates to save, and the response to give (and replay)."""

    aggregates: Sequence[Aggregate]
    response: dict[str, Any]
    status_code: int = 200
    # Response fields kept sealed (AES-SIV under DOUDI_SECRET) in the idempotency record, for a
    # secret shown once — a new credential's token — that a retry must get back the same.
    sealed: tuple[str, ...] = ()


class Command:
    """A request to change the records: a frozen dataclass of typed fields, decided by its
    ``decide`` against the current state. ``Services.execute`` runs it once per idempotency key
    and saves what it decided, for the API and the command line alike."""

    # How often a decision that lost a version race is decided again (``Services.execute``):
    # postings that move shared balances retry, where a second request is still valid if the
    # money is there.
    retries: ClassVar[int] = 0
    # Decided and saved together with others of its kind that arrive at once (``grouped.py``):
    # postings through one pool, which would otherwise race on its guard.
    grouped: ClassVar[bool] = False

    def decide(self, services: Services, principal: Principal) -> Outcome:
        """Load what the command acts on, check the caller may, and decide: nothing saved here."""
        raise NotImplementedError

    def decide_with(
        self, services: Services, principal: Principal, shared: dict[Any, Aggregate]
    ) -> Outcome:
        """``decide`` in a group: the aggregates it changes are taken from and left in
        ``shared`` (by id), so the next command of the group decides on its result."""
        return self.decide(services, principal)


@dataclass
class Served:
    response: dict[str, Any]
    status_code: int
    replayed: bool = False
    positions: list[int] = field(default_factory=list)


def now_utc() -> datetime:
    return datetime.now(UTC)


# A decision that lost a version race is decided again after a random pause ("full jitter":
# uniform up to an exponentially growing cap), so requests that collided spread out instead of
# colliding again; the retries of one request stop after RETRY_BUDGET_S in all.
RETRY_FIRST_PAUSE_S = 0.01
RETRY_MAX_PAUSE_S = 0.25
RETRY_BUDGET_S = 3.0
# Retries for postings that move shared balances (pools, reserves): the budget bounds them first.
CONTENDED_RETRIES = 60


def retry_pause(attempt: int) -> float:
    """The pause before the retry after ``attempt`` (0 = the first try) lost a race."""
    return random.uniform(0, min(RETRY_MAX_PAUSE_S, RETRY_FIRST_PAUSE_S * 2**attempt))


# The advisory-lock class (first key) under which processes take turns on PostgreSQL.
TURNS_LOCK_CLASS = 4_206_582

# Version races per command class (``/metrics``): decided again after losing one, and refused
# 409 when the retries ran out.
RACES_LOST = Counter(
    "doudi_command_races_lost", "Decisions that lost a version race and were decided again.",
    ["command"],
)  # fmt: skip
CONFLICTS = Counter(
    "doudi_command_conflicts", "Commands refused 409 after losing every version race.",
    ["command"],
)  # fmt: skip


class Turns:
    """The retries of decisions that lost a race on the same aggregates take turns: a burst of
    postings to one pool then costs about one decision per success instead of one per
    contender in every round. In one process a thread lock per aggregate stripe; on PostgreSQL
    also an advisory lock of the stripe, so the processes serving one database take turns too.
    Aggregates share a fixed set of stripes by id, taken in order, so turns never deadlock."""

    def __init__(self, target: DatabaseTarget, stripes: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]
        self._pool: Any = None
        if target.kind == "postgres":
            from psycopg_pool import ConnectionPool

            # A few connections, opened only when turns are first taken (none idle otherwise): a
            # turn that finds none free before its deadline is not had.
            self._pool = ConnectionPool(
                target.postgres_conninfo(), min_size=0, max_size=4, max_idle=60, open=True
            )

    def pool_stats(self) -> dict[str, int]:
        return dict(self._pool.get_stats()) if self._pool is not None else {}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    @contextmanager
    def take(self, aggregates: Sequence[Aggregate], deadline: float) -> Iterator[bool]:
        """Hold the turns of ``aggregates`` (nothing to hold for none); False if they could not
        be had before ``deadline``."""
        wanted = sorted({aggregate.id.int % len(self._locks) for aggregate in aggregates})
        taken: list[threading.Lock] = []
        try:
            for stripe in wanted:
                lock = self._locks[stripe]
                if not lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
                    break
                taken.append(lock)
            if len(taken) < len(wanted) or not wanted or self._pool is None:
                yield len(taken) == len(wanted)
                return
            with self._across_processes(wanted, deadline) as in_time:
                yield in_time
        finally:
            for lock in reversed(taken):
                lock.release()

    @contextmanager
    def _across_processes(self, stripes: list[int], deadline: float) -> Iterator[bool]:
        """Hold the stripes' advisory locks in a transaction of a connection of our own; the
        wait is bounded by ``deadline`` (``lock_timeout``)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        locked = False
        try:
            with (
                self._pool.connection(timeout=max(deadline - time.monotonic(), 0.001)) as conn,
                conn.transaction(),
            ):
                wait_ms = max(int((deadline - time.monotonic()) * 1000), 1)
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{wait_ms}ms",))
                conn.execute(  # in the order given (sorted): one round trip for all the stripes
                    "SELECT pg_advisory_xact_lock(%s, stripe) FROM unnest(%s::int[])"
                    " WITH ORDINALITY AS t(stripe, n) ORDER BY n",
                    (TURNS_LOCK_CLASS, stripes),
                )
                locked = True
                yield True
        except (psycopg.errors.LockNotAvailable, PoolTimeout):
            if locked:
                raise
            yield False


def save_or_keep(app: Application, *aggregates: Aggregate) -> Any:  # type: ignore[type-arg]
    """``app.save``, except that when the save fails (a version conflict) the aggregates keep
    their pending events: the library takes them out before it records, so without this a
    caller that falls back to saving part of a batch would silently save nothing of it."""
    pending = [(aggregate, list(aggregate._pending_events)) for aggregate in aggregates]
    try:
        return app.save(*aggregates)
    except BaseException:
        for aggregate, events in pending:
            aggregate._pending_events[:] = events
        raise


class DeploymentApplication(DoudiApplication):
    """The event store as a deployment runs it. A ledger period is checked by every posting dated
    in it, and a pool's guard moves with every posting through the pool: a process keeps them
    as it saved them (``kept``; the books of the county too), and snapshots bound what loading
    one afresh reads, however busy it is."""

    name = "doudi"  # the store's tables and environment prefix, as DoudiApplication names them
    snapshotting_intervals = {LedgerPeriod: 100, AccountGuard: 100}  # noqa: RUF012 - read by the library
    kept_types = (LedgerPeriod, AccountGuard, LedgerBooks)
    # Called after every save of this process (``Following.recorded``).
    recorded: Callable[[], None] | None = None

    def _notify(self, recordings: Any) -> None:
        if self.recorded is not None:
            self.recorded()


class Services:
    """The composition root: the event store, the views and the projection runner of one
    deployment, the reads that need more than a view, ``load`` and ``execute``. The commands
    that decide live in their areas' modules."""

    def __init__(self, settings: Settings) -> None:
        native.check()  # never run a compiled module whose source has changed since
        settings.ensure_paths()
        with startup_lock(settings):
            self._start(settings)

    def _start(self, settings: Settings) -> None:
        load_region_table()  # at start-up, not in the first request or roll that checks a code
        ensure_schema(settings)
        self.settings = settings
        # The checkpoints' signing key, read before anything else: a bad key file stops start-up.
        self.log_key, derived = load_signing_key(
            settings.log_signing_key, settings.secret, settings.log_origin
        )
        if derived and settings.environment is not Environment.TEST:
            import logging

            # To stderr (the standard library's last-resort handler): a command's stdout stays
            # its output alone.
            logging.getLogger("doudi").warning(
                "log signing key derived from DOUDI_SECRET (development only; its verifier key is"
                " %s): set DOUDI_LOG_SIGNING_KEY to a key file from `doudi audit keygen`",
                self.log_key.vkey,
            )
        self.keys = Keys(settings.secret)
        # Views call it per member and event: the cached function itself, no method in between.
        self.person_key: Callable[[str], str] = self.keys.person_key
        self.app = DeploymentApplication(env=application_env(settings))
        self.db = Database(settings.database, settings.postgres_pool_size)
        self.turns = Turns(settings.database)
        self.thresholds: LRUCache[Any, Any] = LRUCache(
            maxsize=1024
        )  # ``ledger.confirmation_threshold``
        self.group_commit = GroupCommit(self)
        self.case_state = CaseStateView(
            self.db, self.person_key, self.keys.seal, EventFields(self.app.mapper, utc_text)
        )
        self.audit = AuditTrailView(self.db, self.person_key)
        self.policy = PolicyBookView(self.db)
        self.registry = RegistryView(self.db, self.person_key)
        self.access = AccessView(self.db)
        self.log = LogReader(self.app.recorder, postgres=not self.db.is_sqlite)
        self.rolls = RollsView(
            self.db, self.app.mapper.to_domain_event, self.roll_chunk_lines, self.log.states
        )
        self.statistics = StatisticsView(self.db)
        self.ledger = LedgerView(self.db)
        self.reconciliation = ReconciliationView(self.db)
        self.grants = GrantsView(self.db, self.person_key)
        # After the rolls view: it copies what an approved roll paid from there.
        self.findings = FindingsView(self.db, self.person_key, self.keys.seal, self._events_of)
        self.projections = ProjectionRunner(
            self.db,
            self.log.read,
            self.app.mapper.to_domain_event,
            [
                self.case_state,
                self.audit,
                self.policy,
                self.registry,
                self.access,
                self.rolls,
                self.ledger,
                self.grants,
                self.findings,
            ],
            probe=self.log.any_after,
        )
        self.projections.setup()
        # The sealed tree follows the log with a sealer of its own (``projections/tlog``): it
        # reads every event with its state's digest, and no rebuild of the read models reseals it.
        self.tree_reader = TreeReader(self.app.recorder, postgres=not self.db.is_sqlite)
        self.tlog = SealView(self.db)
        self.sealing = Sealer(self.db, self.tree_reader, self.tlog)
        self.sealing.setup()
        self.issued = IssuedCheckpoints(self.db)  # the signed checkpoints served, kept
        self.issued.setup()
        # How far the views are, as this process knows it, and who keeps them current once
        # ``follow`` starts (``projections/follow.py``).
        self.following = Following(self.db, self.projections, self.keep_sealed,
                                   self.seal_position, self.log_position)  # fmt: skip
        self.reached, self.follower = self.following.reached, self.following.follower
        self.app.recorded = self.following.recorded
        if not self.db.is_sqlite:
            with self.db.transaction(write=True) as cur:
                for sql in notify_trigger_sql(cur, self.app.recorder.events_table_name):
                    cur.execute(sql)

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """Each PostgreSQL connection pool of this process (event store, views, turns) with
        psycopg_pool's counters; empty on SQLite."""
        pools = {"views": self.db.pool_stats(), "turns": self.turns.pool_stats()}
        store = getattr(getattr(self.app.recorder, "datastore", None), "pool", None)
        if hasattr(store, "get_stats"):  # psycopg_pool's, not the library's SQLite pool
            pools["store"] = dict(store.get_stats())
        return {name: stats for name, stats in pools.items() if stats}

    def close(self) -> None:
        self.stop_following()
        self.turns.close()
        self.db.close()
        self.app.close()

    # --- plumbing -------------------------------------------------------------------------

    def read_notifications(self, start: int, limit: int) -> Sequence[Any]:
        return self.app.recorder.select_notifications(start=start, limit=limit)

    def log_position(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def _events_of(self, originator_id: str, stop: int) -> list[tuple[int, Any]]:
        """One record's events up to a log position, decoded, with their positions."""
        notifications = self.log.aggregate(UUID(originator_id), stop)
        return [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]

    def fresh(self) -> Services:
        """Bring the views up to the log here and now (the command line, and commands that
        decide on a view); the API's reads wait for a position instead (``views_at``)."""
        self.projections.catch_up()
        self.keep_sealed()
        self.reached.raise_to(*self.following.positions())
        return self

    def follow(self) -> None:
        """Keep the views current from now on (the API process): a follower thread, or with
        ``DOUDI_PROJECTIONS=worker`` a listener for what ``doudi projections run`` reached."""
        self.following.start(worker=self.settings.projections == "worker")

    def stop_following(self) -> None:
        self.following.stop()

    def views_at(self, wanted: int | None, sealed: bool = False) -> int:
        """The position a read reflects, once the views reach ``wanted`` if given (bounded by
        ``DOUDI_READ_WAIT_S``): ``Following.views_at``."""
        return self.following.views_at(wanted, self.settings.read_wait_s, sealed)

    def _views_catch_up(self) -> None:
        """Wait (bounded) for the views to reach the log's head as it is now (no follower:
        catch them up here)."""
        if self.following.active is None:  # the command line
            self.fresh()
            return
        with contextlib.suppress(ViewsBehind):
            self.views_at(self.log_position())

    def seal_position(self) -> int:
        with self.db.transaction() as cur:
            return int(self.sealing.position(cur))

    def case_as_of_period(
        self, case: dict[str, Any], period: tuple[str, str] | None, known_at: Any = None
    ) -> dict[str, Any]:
        """A case row as a special auditor sees it: as it stood on its period's last day (the
        events effective after it left out), so nothing decided after the period shows; as
        known at ``known_at`` (``ops.services.known_at.KnownAt``) if given."""
        if period is None:
            return case
        if known_at is not None:
            events = self.log.aggregate(UUID(case["case_id"]), stop=known_at.position)
            found = self.case_state.folded(case["case_id"], [(n.id, n) for n in events], period[1])
            return case if found is None else {key: found[key] for key in case}
        stored = self.app.recorder.select_events(UUID(case["case_id"]))
        shown = self.case_state.as_effective_by(case["case_id"], stored, period[1])
        if shown is None:
            return case
        return {key: shown[key] for key in case}

    def require_applied(self, view: str, *aggregate_ids: str) -> None:
        """Before a read answers for one record from ``view``: if that view could not apply an
        event of it (``doudi projections status``), its answer would be missing or stale — a
        500 naming the aggregate, never a 404 or an outdated record. A stored state that cannot
        be decoded fails every read of its aggregate, whichever view recorded it."""
        for failure in self.projections.failures_of(aggregate_ids):
            if failure["error_type"] == INTEGRITY_FAILURE:
                raise IntegrityFailure(failure["originator_id"])
            if failure["view_name"] == view:
                raise ProjectionFailure(failure["originator_id"], view)

    def seal(self) -> int:
        """Seal every stored event not yet in the tree; return how many positions it moved."""
        return self.sealing.catch_up()

    def issue_checkpoint(self, head: Head | None = None) -> str:
        """The signed checkpoint of the sealed tree's head (or of ``head``), kept in the history
        of issued checkpoints."""
        return self.issued.issue(self.tlog, self.settings.log_origin, self.log_key, head)

    def seal_lag(self) -> Lag:
        """How far the seal is behind the log (positions, and the oldest unsealed event's wait)."""
        with self.db.transaction() as cur:
            return self.lag_behind(self.sealing.position(cur))

    def lag_behind(
        self, position: int, recorded_at: Callable[[Any], datetime] | None = None
    ) -> Lag:
        """How far a follower of the log that has applied it through ``position`` (a view, the
        seal) is behind its head, and how long the oldest event it has yet to apply has waited
        (``recorded_at`` of a stored event: by default its own timestamp); an event whose
        recorded time cannot be read leaves the wait unknown, never an error."""
        behind = max(0, self.log_position() - position)
        oldest = self.read_notifications(position + 1, 1) if behind else []
        if not oldest:
            return Lag(position, behind, 0.0)
        try:
            recorded = (
                recorded_at(oldest[0])
                if recorded_at is not None
                else self.app.mapper.to_domain_event(oldest[0]).timestamp
            )
        except Exception:
            return Lag(position, behind, None)
        return Lag(position, behind, round(max(0.0, (now_utc() - recorded).total_seconds()), 3))

    def keep_sealed(self) -> int:
        """``seal``, for the paths that serve the views (reads, the projection worker): a seal
        that cannot move is logged and stays where it is (``doudi audit status`` shows the lag,
        ``doudi audit checkpoint`` raises it), and the views serve on."""
        try:
            return self.seal()
        except Exception:
            import logging

            # To stderr, as the development-key warning: a command's stdout stays its output.
            logging.getLogger("doudi").exception("sealing stopped")
            return 0

    def roll_chunk_lines(
        self, roll: UUID | str, token: UUID | str, number: int
    ) -> list[dict[str, Any]]:
        """The lines of one chunk of a roll's generation, as its event recorded them (one stored
        event, read straight from the store: the chunk aggregate has nothing else to say)."""
        (record,) = self.app.recorder.select_events(
            chunk_id(UUID(str(roll)), UUID(str(token)), number), limit=1
        )
        lines: list[dict[str, Any]] = self.app.mapper.to_domain_event(record).expanded()
        return lines

    def load(self, cls: type[Any], aggregate_id: UUID | str, field: str = "id") -> Any:
        """The aggregate, or NotFound for an id that is malformed or names nothing of ``cls``.
        A stored event that cannot be decoded raises ``IntegrityFailure`` (500), never
        NotFound: the record exists, and the store must not hide that it is damaged."""
        try:
            wanted = UUID(str(aggregate_id))
        except ValueError:
            raise NotFound(f"no such {cls.__name__}", field=field, rule="exists") from None
        try:
            aggregate = self.app.repository.get(wanted)
        except AggregateNotFoundError:
            raise NotFound(f"no such {cls.__name__}", field=field, rule="exists") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no such {cls.__name__}", field=field, rule="exists")
        return aggregate

    def execute(
        self,
        principal: Principal,
        idempotency_key: str | None,
        request_sha256: str,
        decision: Command | Callable[[], Outcome],
        retries: int | None = None,
        grouped: bool = True,
    ) -> Served:
        """Run one decision exactly once per idempotency key; refuse a reused key with another body.

        ``decision``: a command (decided by its ``decide``), or a function deciding one.
        ``retries`` (by default the command's own): when another request saved first on the same aggregates (a version
        conflict), decide again against the new state up to this many times, after a jittered
        pause and taking turns with the other retries on those aggregates (``Turns``), within
        ``RETRY_BUDGET_S`` — for postings that move shared balances, where the second request is
        still valid if the money is there.
        """
        name = type(decision).__name__ if isinstance(decision, Command) else "function"
        record_id = (
            idempotency_id(principal.credential_id, idempotency_key) if idempotency_key else None
        )
        if grouped and isinstance(decision, Command) and decision.grouped and retries is None:
            waiting = Waiting(principal, idempotency_key, record_id, request_sha256, decision)
            return self.group_commit.submit(waiting)
        if isinstance(decision, Command):
            command = decision
            retries = command.retries if retries is None else retries

            def decide() -> Outcome:
                return command.decide(self, principal)
        else:
            decide = decision
        retries = retries or 0
        deadline = time.monotonic() + RETRY_BUDGET_S
        contended: Sequence[Aggregate] = ()
        for attempt in range(retries + 1):
            with self.turns.take(contended, deadline) as in_time:
                if not in_time:
                    break
                attempted = self._attempt(
                    principal, idempotency_key, record_id, request_sha256, decide
                )
            if isinstance(attempted, Served):
                return attempted
            contended = attempted
            RACES_LOST.labels(name).inc()
            pause = retry_pause(attempt)
            if attempt == retries or time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        # Another request saved first: the same key (serve its answer) or the same record.
        earlier = self.served_earlier(record_id, request_sha256)
        if earlier is not None:
            return earlier
        CONFLICTS.labels(name).inc()
        raise Conflict(
            "another decision on the same record was saved first; reload and retry",
            field="version",
            rule="concurrent_decision",
        )

    def _attempt(
        self,
        principal: Principal,
        idempotency_key: str | None,
        record_id: UUID | None,
        request_sha256: str,
        decide: Callable[[], Outcome],
    ) -> Served | Sequence[Aggregate]:
        """Decide and save once: what was served, or the aggregates of a decision that lost a
        version race (nothing of it saved)."""
        earlier = self.served_earlier(record_id, request_sha256)
        if earlier is not None:
            return earlier
        outcome = decide()
        to_save: list[Aggregate] = list(outcome.aggregates)
        if idempotency_key:
            to_save.append(
                self.idempotency_record(principal, idempotency_key, request_sha256, outcome)
            )
        try:
            recordings = self.app.save(*to_save)
        except IntegrityError:
            return outcome.aggregates
        served = self.served_from(outcome)
        served.positions = [r.notification.id for r in recordings]
        return served

    def idempotency_record(
        self, principal: Principal, key: str, request_sha256: str, outcome: Outcome
    ) -> IdempotencyRecord:
        """What a retry with the same key is answered from (a new token's secret kept sealed)."""
        kept = outcome.response | {
            name: self.keys.seal(outcome.response[name]) for name in outcome.sealed
        }
        if outcome.sealed:
            kept["_sealed"] = list(outcome.sealed)
        return IdempotencyRecord(credential_id=principal.credential_id, key=key,
                                 request_sha256=request_sha256, status_code=outcome.status_code,
                                 response=kept)  # fmt: skip

    @staticmethod
    def served_from(outcome: Outcome) -> Served:
        return Served(outcome.response, outcome.status_code)

    def served_earlier(self, record_id: UUID | None, request_sha256: str) -> Served | None:
        """The answer already given under this idempotency record, or None; 409 if the key was
        used with another request."""
        if record_id is None or not self.log.existing([record_id]):
            return None
        try:
            record = self.app.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        if record.request_sha256 != request_sha256:
            raise Conflict(
                "this Idempotency-Key was used with a different request body",
                field="Idempotency-Key",
                rule="idempotency_key_reuse",
            )
        response = dict(record.response)
        for name in response.pop("_sealed", []):
            response[name] = self.keys.unseal(response[name])
        return Served(response, record.status_code, replayed=True)

    # --- policy ---------------------------------------------------------------------------

    def set_policy(
        self, principal: Principal, region_code: str, kind: str, fields: dict[str, Any]
    ) -> Outcome:
        principal.require("policy.write")
        principal.require_region(region_code)
        try:
            policy = self.app.repository.get(policy_id(region_code))
        except AggregateNotFoundError:
            policy = RegionPolicy.open(region_code)
        dates = decision_documents(fields.get("decided_on"), fields.get("document_date"))
        recording_lag(dates, now_utc().date().isoformat())
        policy.record(kind, fields, actor=principal.credential_id)  # kinds: ``domain.policy.KINDS``
        return Outcome(
            [policy],
            {"region_code": region_code, "kind": kind, "policy_version": policy.version},
            201,
        )

    # --- credentials ----------------------------------------------------------------------

    def issue_credential(self, issued_by: str, **fields: Any) -> tuple[str, str]:
        """Issue a bearer token as the local operator ``issued_by`` (a national admin), through
        ``execute``; only its SHA-256 is stored. Returns (credential id, token)."""
        from ops.services.access import IssueCredential

        operator = Principal(issued_by, "admin", "000000")
        served = self.execute(operator, None, "", IssueCredential(**fields))
        return served.response["credential_id"], served.response["token"]

    def authenticate(self, token: str) -> Principal | None:
        found = self.credential(token)
        return None if found is None else found[0]

    def credential(self, token: str) -> tuple[Principal, datetime | None] | None:
        """The principal of a live bearer token and when the token expires (None: never); None
        for a token unknown, revoked or expired."""
        row = self.access.by_token_hash(hashlib.sha256(token.encode()).hexdigest())
        if row is None:  # a credential just issued, perhaps: look again once the views are there
            self._views_catch_up()
            row = self.access.by_token_hash(hashlib.sha256(token.encode()).hexdigest())
        if row is None or row["revoked"]:
            return None
        expires = row["expires_at"] and datetime.fromisoformat(row["expires_at"]).astimezone(UTC)
        if expires and expires <= now_utc():
            return None
        return Principal(row["credential_id"], row["role"], row["region_scope"],
                         period_to=row["period_to"], period_from=row["period_from"],
                         staff_id=row["staff_id"]), expires or None  # fmt: skip
