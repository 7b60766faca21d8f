"""``doudi audit replay``: the replay proof over the deployment's own views and log
(``projections/replay.py`` does the work)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from projections.replay import replay_shared, replay_views

if TYPE_CHECKING:
    from ops.services.core import Services


def replay(
    services: Services, *, diff: bool = False, limit: int = 10, workers: int = 1
) -> dict[str, Any]:
    """Bring the live views up to the log, then replay every registered view into a scratch
    database and compare (``projections.replay.replay_views``), in ``workers`` processes on
    PostgreSQL."""
    shared = workers > 1 and not services.db.is_sqlite
    services.fresh()
    report = replay_views(
        services.db,
        list(services.projections.views.values()),
        services.log.read,
        services.app.mapper.to_domain_event,
        diff=diff,
        limit=limit,
        replayer=replay_shared(type(services), services.settings, workers) if shared else None,
    )
    return report | {"log_position": services.log_position()}
