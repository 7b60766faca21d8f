"""Rebuilding a view with several processes at once (PostgreSQL).

A rebuild is CPU-bound in Python (decoding and folding each event), so one process uses one of
the machine's cores. A view whose rows depend only on the events of their own aggregate
(``View.shardable``: case state, audit trail) can instead be replayed by N processes, each
reading only the aggregates of its shard of the log (``ledger/store/logreader.py``) into the same tables:

1. the view is emptied and marked as being rebuilt, and the log's head is noted (the stop);
2. N fresh processes each replay their shard up to the stop, one transaction per batch;
3. when all have finished, the view's position is set to the stop in one statement, and an
   ordinary catch-up applies whatever was recorded meanwhile.

While the mark is set, catch-ups pass the view over, so nothing is applied twice. If a process
fails, the view is emptied and handed back to the ordinary catch-up (position 0), and the error
is raised; if the whole command is killed, the view stays marked until the next rebuild.
SQLite has one writer at a time, so there the rebuild is the ordinary one-process replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ledger.store.runtime import tune_gc, worker_pool
from ledger.store.settings import Settings

if TYPE_CHECKING:
    from ops.services.core import Services


def rebuild(
    services: Services,
    name: str,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Rebuild the view ``name`` from position 0; return the log positions replayed."""
    view = services.projections.views[name]
    if workers <= 1 or services.db.is_sqlite or not view.shardable:
        return services.projections.rebuild(name, progress)
    stop = services.log.head()
    services.projections.begin_sharded_rebuild(name)
    try:
        with worker_pool(workers) as pool:
            shards = [(services.settings, name, (k, workers), stop) for k in range(workers)]
            list(pool.map(_replay_shard, shards))
    except BaseException:
        services.projections.rebuild_later(name)
        raise
    services.projections.finish_sharded_rebuild(name, stop)
    if progress is not None:
        progress(stop)
    return stop + services.projections.catch_up([name], progress)


def _replay_shard(job: tuple[Settings, str, tuple[int, int], int]) -> int:
    from ops.services.core import Services

    settings, name, shard, stop = job
    tune_gc()
    services = Services(settings)
    try:
        return services.projections.apply_shard(
            name,
            lambda start, limit, topics: services.log.read(
                start, limit, topics, stop=stop, shard=shard
            ),
            stop,
        )
    finally:
        services.close()
