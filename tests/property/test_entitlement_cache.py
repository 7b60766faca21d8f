"""Property: the roll's entitlement cache gives every basis what the engine gives it.

``MonthPolicy`` keeps computed components per value key (``MonthPolicy._value_key``), and a
roll of a million households asks it a million times. Hypothesis draws bases — households by
top-up or by tier with any incomes, deductions and covered counts, 特困 persons of any care level
and mode in urban and rural townships — and asks one long-lived policy (directly, and as a
roll asks it from a settled basis's stored values: ``Valued``), whose cache fills with
every earlier example, and a new policy, which must compute this basis afresh. Any value the
engine reads but the key leaves out shows up as a difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.access import Principal
from domain.basis import MonthBasis
from domain.entitlement import Income
from domain.errors import InvalidValue
from domain.lines import Parts, expand
from ops.demo import policy_facts
from ops.services.core import Services
from ops.services.roll_lines import Valued
from ops.services.rolls import MonthPolicy
from projections.case_state.settled import settled_data
from tests.conftest import COUNTY, make_settings

AS_OF = "2030-01-01T00:00:00.000000Z"
MONTHS = ("2022-03", "2022-10", "2022-12", "2023-01")  # standards raised in April; subsidies
SUBSIDIES = [
    ("price_index", {"month": "2022-10", "cpi_yoy_permille": 31, "food_cpi_yoy_permille": 88}),
    ("price_linkage", {"cpi_threshold_permille": 30, "food_threshold_permille": 60, "minimum_fen": 1000,
                       "programmes": ["dibao_urban", "tekun_dispersed"], "effective_date": "2022-09-01"}),
    ("electricity", {"amount_fen_per_quarter": 3000, "pay_month_of_quarter": 3,
                     "programmes": ["dibao_urban", "dibao_rural"], "effective_date": "2022-01-01"}),
    ("one_time", {"name": "春节慰问", "amount_fen": 20000, "per": "person", "pay_month": "2023-01",
                  "programmes": ["dibao_urban", "tekun_centralized"], "effective_date": "2022-12-01"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def policies() -> Iterator[tuple[Services, dict[str, MonthPolicy]]]:
    with TemporaryDirectory() as folder:
        services = Services(make_settings(f"sqlite:///{Path(folder)}/e.sqlite3"))
        operator = Principal("test", "admin", "000000")
        for kind, fields in [*policy_facts(), *SUBSIDIES]:
            fields = {"document_ref": "当民发〔2022〕12号", **fields}
            services.app.save(*services.set_policy(operator, COUNTY, kind, fields).aggregates)
        services.fresh()
        yield services, {month: MonthPolicy(services, COUNTY, month, AS_OF) for month in MONTHS}
        services.close()


fen = st.integers(min_value=0, max_value=300_000)
households = st.builds(
    lambda programme, tier, covered, income, excluded, rigid, employment: MonthBasis(
        "household",
        programme,
        "active",
        "tier" if tier else "top_up",
        tier,
        {f"p{n}": flag for n, flag in enumerate(covered)},
        Income(income, excluded, rigid, employment, "HouseholdCase.EconomicCheckRecorded#7"),
        "2022-01",
        sources=["HouseholdCase.Approved#9"],
    ),
    st.sampled_from(["dibao_urban", "dibao_rural", "marginal"]),
    st.sampled_from([None, "A", "B", "C"]),
    st.lists(st.booleans(), min_size=1, max_size=5),
    fen,
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=0, max_value=120_000),
).filter(lambda b: b.method == "top_up" or b.programme == "dibao_rural")
tekun = st.builds(
    lambda care, mode: MonthBasis(
        "tekun",
        f"tekun_{mode}",
        "active",
        care_level=care,
        mode=mode,
        members={"p": True},
        start_month="2022-01",
        sources=["TekunCase.Approved#5"],
    ),
    st.sampled_from(["full_self_care", "partial", "none"]),
    st.sampled_from(["dispersed", "centralized"]),
)
regions = st.sampled_from([f"{COUNTY}001000", f"{COUNTY}002000", f"{COUNTY}100000"])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(households, tekun), regions, st.sampled_from(MONTHS))
def test_cached_components_are_the_engines(
    policies: tuple[Services, dict[str, MonthPolicy]], basis: MonthBasis, region: str, month: str
) -> None:
    services, shared = policies
    fresh = MonthPolicy(services, COUNTY, month, AS_OF)
    try:
        expected: Any = fresh.due(basis, region)
    except InvalidValue as refused:  # e.g. no 特困 rule before April 2022: refused alike
        with pytest.raises(InvalidValue) as cached:
            shared[month].due(basis, region)
        assert cached.value.rule == refused.rule
        return
    assert shared[month].due(basis, region) == expected
    # As a roll reads a case whose settled basis holds: from the view's stored values, with
    # no basis built when the month has met the value key (``Valued``).
    stored = settled_data(basis)
    assert stored is not None
    values, _span, _refs = stored.split(b"\n", 2)
    valued = Valued(values)
    assert (valued.programme, valued.covered) == (basis.programme, basis.covered_members)
    owed = fresh.owed_by(basis, region, basis.covered_members)
    assert valued.due(shared[month], region).templates == owed.templates  # the key known
    unknown = MonthPolicy(services, COUNTY, month, AS_OF)  # ... and worked out from the values
    assert Valued(values).due(unknown, region).templates == owed.templates
    table = Parts()
    indices, total = shared[month].due_parts(basis, region, basis.covered_members, table)
    assert total == sum(c.amount_fen for c in expected)
    # As a roll line records them: parts with placeholders, filled from the line's own fields.
    row = {"components": indices, "months": None, "total_fen": total,
           "basis_sources": basis.sources, "income_source": basis.income.source}  # fmt: skip
    (line,) = expand(list(row), table.take(), [list(row.values())], 0, COUNTY, month, "all")
    assert [(p["code"], p["month"], p["amount_fen"], p["rule"], p["sources"]) for p in line["components"]] == [
        (c.code, month, c.amount_fen, c.rule, list(c.sources)) for c in expected if c.amount_fen
    ]  # fmt: skip


def test_a_month_policy_reads_the_subsidies_policy_once(
    policies: tuple[Services, dict[str, MonthPolicy]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many value keys reach the subsidies, a month's policy reads the subsidies' facts
    from the database once (a roll asked it again for every new key when the cache on the
    compiled class kept nothing), and gives the same policy each time."""
    services, _ = policies
    policy = MonthPolicy(services, COUNTY, "2023-01", AS_OF)
    asked: list[tuple[Any, ...]] = []
    facts, applicable = services.policy.facts, services.policy.applicable
    monkeypatch.setattr(services.policy, "facts", lambda *a: asked.append(a) or facts(*a))
    monkeypatch.setattr(services.policy, "applicable", lambda *a: asked.append(a) or applicable(*a))
    first = (policy.rules.price, policy.rules.electricity, policy.rules.one_time)
    for _ in range(3):
        assert (policy.rules.price, policy.rules.electricity, policy.rules.one_time) == first
    assert first[0][0] is None and first[0][1] is not None  # no index for 2023-01; a linkage
    assert first[1] is not None and [s.name for s in first[2]] == ["春节慰问"]
    assert sorted(a[1] for a in asked) == [
        "electricity",
        "one_time",
        "price_index",
        "price_linkage",
    ]
