"""Stored events are a storage format: every event at a ``class_version`` above 1 must come with
frozen payloads of its older versions, which still decode into today's class.

Method: walk every aggregate defined in ``domain/`` and ``ledger/`` and the event classes nested
in it. Before the first release every event is at version 1 and changes shape in place. From
the first release on, a change bumps ``class_version`` to N, adds ``upcast_vN-1_vN`` and keeps a
copy of a stored payload of each older version k as
``frozen/<module>.<Qualname>.v<k>.json`` (``{"originator_id", "originator_version", "topic",
"state"}``, the state as the store held it before compression and encryption); the test below
then decodes it through the upcasters with the application's transcoder.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, Mapper, StoredEvent, UUIDAsHex
from eventsourcing.utils import resolve_topic

import domain
import ledger
from ledger.store.transcoding import OrjsonDecodingTranscoder

FROZEN = Path(__file__).parent / "frozen"
PACKAGES = (domain, ledger)


def _modules() -> Iterator[Any]:
    for package in PACKAGES:
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            yield importlib.import_module(info.name)


def _nested(cls: type) -> Iterator[type]:
    for value in vars(cls).values():
        if isinstance(value, type) and value.__module__ == cls.__module__:
            yield value
            yield from _nested(value)


def stored_classes() -> list[type]:
    """Every aggregate defined in domain/ and ledger/ (its snapshots' state is stored too) and
    every event class nested in it."""
    found: dict[str, type] = {}
    for module in _modules():
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Aggregate)
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
                for inner in _nested(value):
                    if issubclass(inner, CanMutateAggregate):
                        found[f"{inner.__module__}.{inner.__qualname__}"] = inner
    return list(found.values())


def frozen_name(cls: type, version: int) -> str:
    return f"{cls.__module__}.{cls.__qualname__}.v{version}.json"


def test_the_walk_finds_the_aggregates_and_their_events() -> None:
    names = {f"{c.__module__}.{c.__qualname__}" for c in stored_classes()}
    assert {
        "domain.roll.RollChunk.Recorded",
        "domain.household.HouseholdCase",
        "ledger.journal.AccountGuard.Moved",
        "ledger.statements.BankStatement.Imported",
    } <= names


def test_every_versioned_class_has_frozen_payloads_of_its_older_versions() -> None:
    missing = [
        frozen_name(cls, version)
        for cls in stored_classes()
        for version in range(1, getattr(cls, "class_version", 1))
        if not (FROZEN / frozen_name(cls, version)).is_file()
    ]
    unversioned = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in stored_classes()
        if getattr(cls, "class_version", 1) < 1
    ]
    assert not missing, f"class_version above 1 without frozen payloads: {missing}"
    assert not unversioned


def _frozen_files() -> list[Path]:
    return sorted(FROZEN.glob("*.json")) if FROZEN.is_dir() else []


@pytest.mark.parametrize("path", _frozen_files(), ids=lambda path: path.name)
def test_frozen_payload_decodes_into_todays_class(path: Path) -> None:
    record = json.loads(path.read_text(encoding="utf-8"))
    stored = StoredEvent(
        originator_id=UUID(record["originator_id"]),
        originator_version=record["originator_version"],
        topic=record["topic"],
        state=json.dumps(record["state"]).encode(),
    )
    transcoder = OrjsonDecodingTranscoder()  # as the application registers it
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr()):
        transcoder.register(transcoding)
    event = Mapper(transcoder=transcoder).to_domain_event(stored)
    assert type(event) is resolve_topic(record["topic"])
    assert path.name.startswith(f"{type(event).__module__}.{type(event).__qualname__}.v")
