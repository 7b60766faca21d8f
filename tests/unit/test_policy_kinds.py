"""Each policy kind is declared once (domain/policy.py ``KINDS``): its event carries its value's
fields, its request body asks for them, and a recorded fact reads back as the same typed value.
Method: record one example of every kind on an aggregate and compare."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from api.http.schemas import POLICY_BODIES
from domain.errors import InvalidValue
from domain.policy import KINDS, RegionPolicy, fact_event, stored_value

ENVELOPE = {"effective_date", "document_ref", "decided_on", "document_date"}
EXAMPLES: dict[str, dict[str, Any]] = {
    "standard": {"programme": "dibao_urban", "amount_fen": 67_000, "period": "month"},
    "tiers": {"programme": "dibao_rural", "tiers": {"B": 30_000, "A": 45_000}},
    "tekun_rule": {"multiplier_percent": 130, "explicit_amount_fen": None},
    "care_standard": {"level": "partial", "amount_fen": None, "percent_of_minimum_wage": 15},
    "minimum_wage": {"amount_fen": 180_000},
    "rounding": {"unit": "yuan", "mode": "half_up"},
    "price_index": {"month": "2024-02", "cpi_yoy_permille": 40, "food_cpi_yoy_permille": 61},
    "price_linkage": {
        "cpi_threshold_permille": 35,
        "food_threshold_permille": 60,
        "minimum_fen": 1_000,
        "programmes": ["tekun_dispersed", "dibao_urban", "dibao_urban"],
    },
    "electricity": {
        "amount_fen_per_quarter": 3_000,
        "pay_month_of_quarter": 2,
        "programmes": ["dibao_rural"],
    },
    "one_time": {
        "name": " 春节慰问 ",
        "amount_fen": 20_000,
        "per": "household",
        "pay_month": "2024-02",
        "programmes": ["dibao_urban"],
    },
    "approval_limits": {"township_limit_fen": 50_000, "committee_limit_fen": 300_000},
    "ledger_confirmation": {"threshold_fen": 100_000_000},
    "roll_deputy": {"staff_id": "F-1024"},
    "misuse_thresholds": {
        "grant_window_days": 90,
        "repeat_grant_count": 3,
        "backdate_days": 90,
        "payment_deadline_day": 10,
    },
    "gradual_exit_rule": {"pay_percent": 50},
}


def test_every_kind_has_an_example_and_a_request_body_asking_for_its_fields() -> None:
    assert set(EXAMPLES) == set(KINDS) and set(KINDS.values()) == set(POLICY_BODIES)
    for kind, value_type in KINDS.items():
        _path, body = POLICY_BODIES[value_type]
        asked = set(body.model_fields) - ENVELOPE
        assert asked == {field.name for field in dataclasses.fields(value_type)}, kind  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_recorded_fact_reads_back_as_its_checked_value(kind: str) -> None:
    policy = RegionPolicy.open("420582")
    value = policy.record(
        kind,
        {**EXAMPLES[kind], "effective_date": "2024-01-15", "document_ref": "当民发〔2024〕3号"},
        actor="admin",
    )
    (event,) = policy.collect_events()[1:]
    assert isinstance(event, fact_event(KINDS[kind]))
    assert type(event).__qualname__ == f"RegionPolicy.{KINDS[kind].event_name}"
    assert event.value() == value == stored_value(KINDS[kind], value.payload())
    assert policy.fact_count == 1
    expected_date = "2024-02-01" if kind == "price_index" else "2024-01-15"  # its own month
    assert event.effective_date == expected_date


def test_checked_values_are_normalised() -> None:
    """Tiers in code order, programmes sorted and once each, names stripped."""
    policy = RegionPolicy.open("420582")
    meta = {"effective_date": "2024-01-15", "document_ref": "x"}
    tiers = policy.record("tiers", {**EXAMPLES["tiers"], **meta}, actor="a")
    linkage = policy.record("price_linkage", {**EXAMPLES["price_linkage"], **meta}, actor="a")
    one = policy.record("one_time", {**EXAMPLES["one_time"], **meta}, actor="a")
    assert list(tiers.payload()["tiers"]) == ["A", "B"]
    assert linkage.payload()["programmes"] == ["dibao_urban", "tekun_dispersed"]
    assert one.item() == "春节慰问"


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidValue) as refused:
        RegionPolicy.open("420582").record("bonus", {}, actor="a")
    assert refused.value.rule == "policy_kind" and "standard" in str(refused.value)
