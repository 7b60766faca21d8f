"""Roll lines as chunk events record them (domain/lines.py and domain/references.py, compiled
with mypyc): rows, a parts table with placeholders, numbers and references from the place."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson

from domain.lines import (
    BASIS,
    FIELDS,
    INCOME,
    PAYEE_FIELDS,
    REF_SEPARATOR,
    Parts,
    compact,
    expand,
    table_rows,
)
from domain.references import bank_reference
from domain.roll import LINES_PER_CHUNK, RollChunk

MONTH = "2024-03"


def test_bank_reference_is_county_month_group_letter_and_seven_digits() -> None:
    assert bank_reference("420582", MONTH, "all", 0) == "420582202403A0000000"
    assert bank_reference("420582", MONTH, "tekun", 1_234_567) == "420582202403T1234567"


def row(case: str, parts: list[int], total: int, months: Any = None) -> list[Any]:
    values = {
        "case_id": case, "kind": "household", "programme": "dibao_urban",
        "region_code": "420582001000",
        "payee": ["王芳", "4205**********0021", "王芳", "sealed-" + case, "****0021"],
        "covered_members": 2, "components": parts, "total_fen": total, "receivable_fen": 0,
        "months": months,
        "refs": REF_SEPARATOR.join([f"HouseholdCase.EconomicCheckRecorded#{case}",
                                    "HouseholdCase.Applied#1", f"HouseholdCase.Approved#{case}"]),
    }  # fmt: skip
    return [values[name] for name in FIELDS]


def test_rows_expand_to_lines_with_their_own_references_numbers_and_months() -> None:
    table = Parts()
    base = ["base", MONTH, 60_000, "top-up", ["RegionPolicy.StandardSet#6", INCOME, BASIS]]
    first = table.add(base)  # lines "a" and "b" share it
    backpay = table.add(
        ["backpay", "2024-01", 1_500, "back-pay", ["HouseholdCase.IncomeChanged#9"]]
    )
    months = [{"month": MONTH, "amount_fen": 60_000}, {"month": "2024-01", "amount_fen": 1_500}]
    rows = [row("a", [first], 60_000), row("b", [first, backpay], 61_500, months)]
    named = table.table
    parts = table.take()
    assert table.parts == [] and table.table != named  # the next chunk starts afresh
    assert table.add(base) == 0
    lines = expand(list(FIELDS), parts, rows, 2 * LINES_PER_CHUNK, "420582", MONTH, "dibao")
    assert [(line["line_no"], line["reference"]) for line in lines] == [
        (2000, "420582202403D0002000"),
        (2001, "420582202403D0002001"),
    ]
    assert lines[0]["components"] == [{
        "code": "base", "month": MONTH, "amount_fen": 60_000, "rule": "top-up",
        "sources": ["RegionPolicy.StandardSet#6", "HouseholdCase.EconomicCheckRecorded#a",
                    "HouseholdCase.Approved#a"],
    }]  # fmt: skip
    assert lines[1]["components"][0]["sources"][1:] == [
        "HouseholdCase.EconomicCheckRecorded#b",
        "HouseholdCase.Approved#b",
    ]
    assert lines[1]["components"][1]["code"] == "backpay"
    assert lines[0]["months"] == [{"month": MONTH, "amount_fen": 60_000}]
    assert lines[1]["months"] == months
    assert "income_source" not in lines[0] and "refs" not in lines[0]
    assert lines[0]["basis_sources"] == ["HouseholdCase.Applied#1", "HouseholdCase.Approved#a"]
    assert list(lines[0])[: len(FIELDS) + 4] == [
        *FIELDS[:4],
        *PAYEE_FIELDS,
        *FIELDS[5:-1],
        "basis_sources",
    ]  # each field in its place
    assert (lines[0]["payee_name"], lines[0]["account_sealed"]) == ("王芳", "sealed-a")
    # Given as objects again, the lines compact to rows that expand to the same lines.
    fields, again, compacted = compact(lines, MONTH)
    assert "line_no" not in fields and "reference" not in fields
    assert compacted[0][fields.index("months")] is None
    assert len(again) == 3  # the two lines' base parts differ once their sources are filled
    assert expand(fields, again, compacted, 2000, "420582", MONTH, "dibao") == lines


def test_view_rows_carry_months_only_where_a_line_pays_more_than_its_roll_month() -> None:
    months = [{"month": MONTH, "amount_fen": 100}, {"month": "2024-01", "amount_fen": -40}]
    rows = [row("a", [], 500), row("b", [], 60, months)]
    assert table_rows(-5, 1000, list(FIELDS), rows) == [
        (-5, 1000, "a", "dibao_urban", "420582001000", 2, 500, 0, None),
        (-5, 1001, "b", "dibao_urban", "420582001000", 2, 60, 0, orjson.dumps(months).decode()),
    ]


def test_a_chunk_recorded_from_objects_gives_them_back_numbered() -> None:
    line = {"case_id": "x", "total_fen": 5, "months": [{"month": MONTH, "amount_fen": 5}],
            "components": [{"code": "base", "month": MONTH, "amount_fen": 5, "rule": "r", "sources": ["s"]}]}  # fmt: skip
    chunk = RollChunk.record_lines(roll_id=uuid4(), token=uuid4(), number=1, county_code="420582",
                                   month=MONTH, group="all", lines=[line])  # fmt: skip
    (event,) = chunk.collect_events()
    assert event.fields == ["case_id", "total_fen", "months", "components"]
    assert event.lines == [["x", 5, None, [0]]]
    assert event.expanded() == [line | {"line_no": 1000, "reference": "420582202403A0001000"}]


def test_a_payee_not_yet_stored_reads_as_the_json_it_will_be() -> None:
    """The roll hands the case-state view's payee JSON to its chunk as an ``orjson.Fragment``:
    written into the event as it is, and read back, before or after storing, as five fields."""
    payee = ["李四", "4205**********0033", "李四", "sealed-x", "****0033"]
    stored = row("x", [], 100)
    pending = [*stored]
    pending[FIELDS.index("payee")] = orjson.Fragment(orjson.dumps(payee))
    assert orjson.loads(orjson.dumps(pending)) == [*stored[:4], payee, *stored[5:]]
    (line,) = expand(list(FIELDS), [], [pending], 0, "420582", MONTH, "all")
    assert [line[name] for name in PAYEE_FIELDS] == payee
