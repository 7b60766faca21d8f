"""The aggregates a process keeps as it last saved them (``DoudiApplication.kept_types``) are
handed out as copies one level deep (``_flat_copy``). Their state must stay flat: a container
inside a container would be shared between the kept copy and the caller's, so a command that
changed it and then failed would change what the next command reads."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.access import Principal
from ops.services.core import Services
from ops.services.ledger import post_transaction
from tests.api.test_ledger_api import CASE_FILE
from tests.conftest import make_settings

SCALARS = (str, int, float, bool, bytes, Decimal, UUID, date, datetime, type(None))


def flat(value: Any) -> bool:
    """A value, or a list, set, tuple or dict of values: what one level of copying makes safe."""
    if isinstance(value, dict):
        return all(isinstance(k, SCALARS) and isinstance(v, SCALARS) for k, v in value.items())
    if isinstance(value, list | set | tuple | frozenset):
        return all(isinstance(item, SCALARS) for item in value)
    return isinstance(value, SCALARS)


def test_every_kept_aggregate_type_holds_flat_state(tmp_path: Path) -> None:
    services = Services(make_settings(f"sqlite:///{tmp_path}/doudi.sqlite3"))
    try:
        credential_id, _ = services.issue_credential(
            "test", role="finance_officer", region_scope="420582", staff_id="test-officer"
        )
        finance = Principal(credential_id, "finance_officer", "420582")
        for key, body in CASE_FILE[:2]:  # a raise and an allocation to a pool
            services.app.save(*post_transaction(services, finance, key, body).aggregates)
        kept = services.app._kept
        assert kept is not None
        aggregates = [link[3] for link in kept.cache.values()]
        assert {type(aggregate) for aggregate in aggregates} == set(services.app.kept_types)
        nested = [
            f"{type(aggregate).__name__}.{name}"
            for aggregate in aggregates
            for name, value in vars(aggregate).items()
            if not flat(value)
        ]
        assert nested == []
    finally:
        services.close()


def test_a_nested_container_is_not_flat() -> None:
    assert flat({"a": 1}) and flat([1, "x"]) and flat(None)
    assert not flat({"a": [1]}) and not flat([{"a": 1}]) and not flat(object())
