"""The compiled fast path (``ops/native.py``) gives what its pure-Python twin gives: each
compiled module is run beside its own source loaded as Python (``native.twin``), on generated
settled bases, case rows and roll lines, and on a demo county's rolls; when built, the compiled
modules are the ones the roll imports."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import entitlement as compiled_entitlement
from domain.basis import CaseFact, MonthBasis
from domain.entitlement import Income
from domain.lines import FIELDS
from domain.money import RoundingMode, RoundingUnit
from ops import native
from ops.services import roll_lines as compiled_lines
from ops.services.core import Services
from projections.case_state import settled as compiled_settled

ENTITLEMENT = "domain/entitlement.py"
SETTLED = "projections/case_state/settled.py"
ROLL_LINES = "ops/services/roll_lines.py"
pure_settled = native.twin(SETTLED)
pure_lines = native.twin(ROLL_LINES)
pure_entitlement = native.twin(ENTITLEMENT)

months = st.sampled_from(["2021-12", "2022-01", "2022-03", "2022-06", "2023-01"])
refs = st.from_regex(r"[A-Za-z]{1,12}\.[A-Za-z]{1,12}#[0-9]{1,4}", fullmatch=True)
fen = st.integers(min_value=0, max_value=10**12)


@st.composite
def bases(draw: st.DrawFn) -> MonthBasis:
    household = draw(st.integers(min_value=0, max_value=6))
    covered = draw(st.integers(min_value=0, max_value=household))
    return MonthBasis(
        kind=draw(st.sampled_from(["household", "tekun"])),
        programme=draw(st.sampled_from(["dibao_urban", "dibao_rural", "tekun_dispersed"])),
        status=draw(st.sampled_from(["applied", "active", "suspended", "gradual_exit"])),
        method=draw(st.sampled_from(["top_up", "tier"])),
        tier_code=draw(st.sampled_from([None, "A", "B"])),
        members={f"p{n}": n < covered for n in range(household)},
        income=Income(draw(fen), draw(fen), draw(fen), draw(fen), draw(refs)),
        start_month=draw(st.none() | months),
        exit_month=draw(st.none() | months),
        exit_months=draw(st.integers(min_value=0, max_value=12)),
        care_level=draw(st.sampled_from(["full_self_care", "partial", "none"])),
        mode=draw(st.sampled_from(["dispersed", "centralized"])),
        sources=draw(st.lists(refs, max_size=4)),
    )


def test_the_compiled_modules_are_the_ones_imported_when_built() -> None:
    """Where the build is current, the roll runs the compiled modules and the rest stays Python
    (the pure-Python pass of ``make test`` imports every one from source instead)."""
    if os.environ.get("DOUDI_PURE_PYTHON") == "1":
        pytest.skip("the pure-Python pass imports the compiled modules from their source")
    states = native.status()
    if any(state != "current" for state in states.values()):
        pytest.skip(f"not built (python -m ops.native build): {states}")
    assert all(native.compiled(source) for source in native.MODULES)
    assert not native.compiled(SETTLED.replace("settled", "view"))  # the rest stays Python
    assert pure_settled.__file__.endswith(".py") and pure_lines.__file__.endswith(".py")


@settings(max_examples=200, deadline=None)
@given(bases(), months)
def test_a_settled_basis_packs_and_unpacks_as_its_twin_does(basis: MonthBasis, month: str) -> None:
    data = compiled_settled.settled_data(basis)
    assert data == pure_settled.settled_data(basis) and data is not None
    values, span, refs_part = data.split(b"\n", 2)
    assert compiled_settled.basis_from_settled(
        values, span, refs_part.decode()
    ) == pure_settled.basis_from_settled(values, span, refs_part.decode())
    assert compiled_settled.span_pays(span, month) == pure_settled.span_pays(span, month)
    found, twin = compiled_settled.SettledValues(values), pure_settled.SettledValues(values)
    names = ("kind", "programme", "method", "tier_code", "household", "covered", "income",
             "excluded", "rigid", "employment", "care_level", "mode", "exiting")  # fmt: skip
    assert [getattr(found, n) for n in names] == [getattr(twin, n) for n in names]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(0, 8),
    st.tuples(fen, fen, fen, fen),
    st.integers(0, 10**7),
    st.sampled_from(["top_up", "tier"]),
    st.sampled_from(list(RoundingUnit)),
    st.sampled_from(list(RoundingMode)),
    st.integers(0, 10**6),
)
def test_the_engine_reckons_as_its_twin_does(
    household: int, covered: int, figures: tuple[int, int, int, int], standard: int,
    method: str, unit: RoundingUnit, mode: RoundingMode, tier: int,
) -> None:  # fmt: skip
    found = []
    for module in (compiled_entitlement, pure_entitlement):
        basis = module.HouseholdBasis(
            method, household, min(covered, household), module.Income(*figures, "check#2"), "A",
            True, "basis#3",
        )  # fmt: skip
        found.append(module.household_entitlement(
            basis, module.Sourced(standard, "standard#1"), module.Rounding(unit, mode),
            {"A": module.Sourced(tier, "tiers#1")},
        ))  # fmt: skip
        tekun = module.TekunBasis("partial", False, "basis#3")
        found.append(module.tekun_entitlement(
            tekun, module.Sourced(standard, "standard#1"), module.Sourced(130 + tier % 50, "rule#1"),
            module.Sourced(tier, "rule#1"), module.CareStandard(None, 30, "care#1"),
            module.Sourced(figures[0] % 10**6, "wage#1"), module.Rounding(unit, mode),
        ))  # fmt: skip
    assert found[0] == found[2] and found[1] == found[3]
    assert found[0].amount_fen == found[2].amount_fen


paid = st.dictionaries(months, st.tuples(fen, st.just("2022-01-31T00:00:00.000000Z")), max_size=3)


@settings(max_examples=100, deadline=None)
@given(paid, st.booleans(), st.lists(st.tuples(st.integers(1, 9), refs), max_size=3))
def test_a_case_row_reads_as_its_twin_reads_it(
    history: dict[str, tuple[int, str]], holds: bool, facts: list[tuple[int, str]]
) -> None:
    text = orjson.dumps([[m, a, t] for m, (a, t) in history.items()]).decode()
    blob = orjson.dumps(
        [[version, "HouseholdCase.Applied", "2022-01-01", "2022-01-01T00:00:00Z", version, {}]
         for version, _ref in facts]
    )  # fmt: skip
    row = ("case-1", "household", "420582100000", b'["a","b","c","d","e"]', "extra")
    cases = [module.RollCase(row, b"x", text or None, blob, holds)
             for module in (compiled_settled, pure_settled)]  # fmt: skip
    for read in (
        lambda case: case.unpaid, lambda case: case.history, lambda case: case.as_dict(),
        lambda case: case.facts, lambda case: case.holds,
    ):  # fmt: skip
        assert read(cases[0]) == read(cases[1])
    assert all(isinstance(fact, CaseFact) for fact in cases[0].facts)


@st.composite
def roll_rows(draw: st.DrawFn) -> tuple[list[list[Any]], list[list[Any]]]:
    """Roll lines (rows of ``domain.lines.FIELDS``) and the parts table they index."""
    parts = draw(st.lists(
        st.tuples(st.sampled_from(["base", "backpay", "recovery", "care"]), months,
                  st.integers(-10**6, 10**6)),
        min_size=1, max_size=6,
    ))  # fmt: skip
    table = [[code, month, amount, "rule", []] for code, month, amount in parts]
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        adjusted = draw(st.booleans())
        rows.append([
            "case", "household", draw(st.sampled_from(["dibao_urban", "dibao_rural", "tekun_x"])),
            draw(st.sampled_from(["420582100201", "420582001002", "420582100305"])), None,
            draw(st.integers(0, 6)), draw(st.lists(st.integers(0, len(table) - 1), max_size=3)),
            draw(st.integers(-(10**6), 10**6)), draw(st.integers(0, 10**5)),
            [{"month": m, "amount_fen": a} for m, a in draw(st.lists(st.tuples(months, st.integers(-(10**5), 10**5)), max_size=3))]
            if adjusted else None,
            "refs",
        ])  # fmt: skip
    return rows, table


@settings(max_examples=100, deadline=None)
@given(roll_rows())
def test_a_roll_s_totals_add_up_as_their_twin_s(drawn: tuple[list[list[Any]], list[list[Any]]]) -> None:  # fmt: skip
    rows, table = drawn
    assert all(len(row) == len(FIELDS) for row in rows)
    found, twin = compiled_lines.Totals(), pure_lines.Totals()
    for row in rows:
        found.add(row, table)
        twin.add(row, table)
    assert found.as_dict() == twin.as_dict()
    assert (found.lines, found.amount_fen) == (twin.lines, twin.amount_fen)


# A county's lines for months before, at and after the demo's paid one (June 2022), printed as
# JSON by a process that imports the code as built (``native``) or from source (``source``).
LINES = """
import sys
from ops import native
if sys.argv[2] == "source":
    native.source_only()
import orjson
from domain.lines import Parts
from domain.roll import ProgrammeGroup
from ledger.store.settings import Settings
from ops.services.core import Services
from ops.services.roll_lines import roll_lines
from ops.services.rolls import PolicyBook
services = Services(Settings(environment="test", database_url=sys.argv[1], secret="test-secret"))
found = [[native.compiled(source) for source in native.MODULES]]
for month in ("2022-05", "2022-06", "2022-07", "2023-06"):
    book, parts = PolicyBook(services, "420582", "2030-01-01T00:00:00.000000Z"), Parts()
    found += list(roll_lines(services, "420582", month, ProgrammeGroup.ALL, book, parts))
    found.append(parts.take())
sys.stdout.buffer.write(orjson.dumps(found))
"""


def test_a_county_s_roll_is_the_same_compiled_and_from_source(services: Services) -> None:
    """The whole roll path (case rows, settled bases, value keys, engine, lines), compiled as
    built and run from source in processes of its own, gives the same lines and parts."""
    from api.cli.demo import load_demo

    load_demo(services, households=30, tekun=4)  # June 2022 approved, July drafted
    services.fresh()

    def lines(mode: str) -> list[Any]:
        done = subprocess.run(
            [sys.executable, "-c", LINES, services.settings.database_url, mode],
            cwd=native.ROOT, capture_output=True, check=True,
        )  # fmt: skip
        found: list[Any] = orjson.loads(done.stdout)
        return found

    source, built = lines("source"), lines("native")
    assert source[0] == [False] * len(native.MODULES)
    states = native.status()  # the mypyc modules this roll runs (the C accelerator aside)
    assert built[0] == [states.get(source) == "current" for source in native.MODULES]
    assert b'"tekun"' in orjson.dumps(source) and len(source) > 30
    assert built[1:] == source[1:]
