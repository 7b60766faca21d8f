"""The event store of a deployment: the eventsourcing application doudi records into, the
environment that selects its database, and the start-up plumbing (schema, start-up lock)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, LRUCache
from eventsourcing.persistence import Mapper, Transcoder

from ledger.store.settings import Settings
from ledger.store.transcoding import CheckedMapper, OrjsonDecodingTranscoder


class DoudiApplication(Application):  # type: ignore[type-arg]
    """The event store of one deployment shard (one province in production)."""

    name = "doudi"
    # Aggregates of these types are kept as this process last saved them (``kept``): those a
    # hot command reads and saves each time, such as the guard of a pool every posting moves.
    # Their state is flat (values, and lists, sets or dicts of values): copied one level deep.
    kept_types: ClassVar[tuple[type, ...]] = ()
    _kept: LRUCache[UUID, Any] | None = None

    def _record(self, processing_event: Any) -> Any:
        recordings = super()._record(processing_event)
        if self._kept is None:
            self._kept = LRUCache(maxsize=4096)
        for aggregate_id, aggregate in processing_event.aggregates.items():
            if isinstance(aggregate, self.kept_types):
                self._kept.put(aggregate_id, _flat_copy(aggregate))
        return recordings

    def _take_snapshots(self, processing_event: Any) -> None:
        """Snapshot an aggregate due one from its state as just saved when that is the version
        due (its last event), as the library would after reloading it from its last snapshot
        and the events since."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or event.originator_version % interval:
                continue
            if aggregate.version != event.originator_version:
                self.take_snapshot(event.originator_id, version=event.originator_version)
                continue
            snapshot_class: Any = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            self.snapshots.put([snapshot_class.take(aggregate)])

    def kept(self, aggregate_id: UUID, version: int) -> Any | None:
        """A copy of the aggregate as this process last saved it, if that is ``version`` (the
        store's last, as the caller found it): no event read, nothing decoded."""
        try:
            found = self._kept.get(aggregate_id) if self._kept is not None else None
        except KeyError:
            return None
        return _flat_copy(found) if found is not None and found.version == version else None

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON encoding, decoded with orjson (``ledger/store/transcoding.py``)."""
        transcoder = OrjsonDecodingTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper:  # type: ignore[type-arg]
        """The library's mapper, raising ``IntegrityFailure`` for a state it cannot decode."""
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=CheckedMapper
        )


def _flat_copy(aggregate: Any) -> Any:
    """A copy of an aggregate of flat state (``kept_types``), its containers copied: ~20 times
    cheaper than ``deepcopy``."""
    copied = object.__new__(type(aggregate))
    copied.__dict__.update(
        {k: v.copy() if isinstance(v, dict | list | set) else v for k, v in vars(aggregate).items()}
    )
    return copied


def application_env(settings: Settings) -> dict[str, str]:
    target = settings.database
    env = {
        "CIPHER_TOPIC": "ledger.store.cipher:CachedAESCipher",
        "CIPHER_KEY": settings.effective_cipher_key,
        "COMPRESSOR_TOPIC": "ledger.store.compression:Lz4Compressor",
        # Aggregates a process got are kept (least recently used first out) and brought up to
        # date on the next get by reading only their newer events (the library's fast-forward),
        # each get handing out a deep copy: one query instead of snapshot-then-events.
        "AGGREGATE_CACHE_MAXSIZE": "4096",
    }
    if target.kind == "sqlite":
        env.update(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": target.path,
                "SQLITE_LOCK_TIMEOUT": "60",
            }
        )
    else:
        env.update(
            {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": target.dbname,
                "POSTGRES_HOST": target.host,
                "POSTGRES_PORT": str(target.port),
                "POSTGRES_USER": target.user,
                "POSTGRES_PASSWORD": target.password,
                "POSTGRES_SCHEMA": target.schema,
                "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
                "POSTGRES_LOCK_TIMEOUT": "10",
                "APPLICATION_RECORDER_TOPIC": "ledger.store.recorders:BinaryPostgresApplicationRecorder",
            }
        )
    return env


def ensure_schema(settings: Settings) -> None:
    """Create the PostgreSQL schema of a shard if it is named and missing."""
    target = settings.database
    if target.kind == "postgres" and target.schema:
        import psycopg

        with psycopg.connect(target.postgres_conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"')


# Any fixed number: the key of the advisory lock that serialises start-ups on one database.
STARTUP_LOCK = 4_206_582_0001


@contextmanager
def startup_lock(settings: Settings) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock (on SQLite, a lock file beside the database) while a
    process creates or checks the tables: processes starting at once (an API process and a
    projection worker, or two roll generators) would otherwise run the library's and the views'
    ``CREATE … IF NOT EXISTS`` side by side, and PostgreSQL may refuse one with "tuple
    concurrently updated"."""
    target = settings.database
    if target.kind != "postgres":
        import fcntl

        with open(f"{target.path}.startup-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    import psycopg

    with psycopg.connect(target.postgres_conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (STARTUP_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (STARTUP_LOCK,))
