"""The compiled fast path (``ops/native.py``) gives what its pure-Python twin gives: each
compiled module is run beside its own source loaded as Python (``native.twin``), on generated
settled bases, case rows and roll lines, and on a demo county's rolls; when built, the compiled
modules are the ones the roll imports."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.basis import CaseFact, MonthBasis
from domain.entitlement import Income
from domain.lines import FIELDS, Parts
from ops import native
from ops.services import roll_lines as compiled_lines
from ops.services.core import Services
from projections.case_state import settled as compiled_settled

SETTLED = "projections/case_state/settled.py"
ROLL_LINES = "ops/services/roll_lines.py"
pure_settled = native.twin(SETTLED)
pure_lines = native.twin(ROLL_LINES)

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
             "excluded", "rigid", "employment", "care_level", "mode")  # fmt: skip
    assert [getattr(found, n) for n in names] == [getattr(twin, n) for n in names]


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


def test_a_county_s_roll_lines_are_their_twin_s(services: Services) -> None:
    """A demo county (June 2022 approved, July drafted), its lines for months before, at and
    after the paid one, from the compiled loop and from its twin: the same rows, the same
    parts."""
    from domain.roll import ProgrammeGroup
    from ops.demo import load_demo
    from ops.services.rolls import PolicyBook
    from tests.conftest import COUNTY

    load_demo(services, households=30, tekun=4)
    services.fresh()
    as_of = "2030-01-01T00:00:00.000000Z"

    def lines(module: Any) -> bytes:
        found: list[Any] = []
        for month in ("2022-05", "2022-06", "2022-07", "2023-06"):
            book, parts = PolicyBook(services, COUNTY, as_of), Parts()
            found += list(
                module.roll_lines(services, COUNTY, month, ProgrammeGroup.ALL, book, parts)
            )
            found.append(parts.take())
        return orjson.dumps(found)

    expected = lines(pure_lines)
    assert b'"household"' in expected and b'"tekun"' in expected
    assert lines(compiled_lines) == expected
