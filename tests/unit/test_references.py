"""Roll line numbers and bank references (domain/references.py, compiled with mypyc)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from domain.references import bank_reference, number_lines
from domain.roll import LINES_PER_CHUNK, RollChunk


def test_bank_reference_is_county_month_group_letter_and_seven_digits() -> None:
    assert bank_reference("420582", "2024-03", "all", 0) == "420582202403A0000000"
    assert bank_reference("420582", "2024-03", "tekun", 1_234_567) == "420582202403T1234567"


def test_a_chunk_numbers_its_lines_from_its_first_and_gives_each_its_reference() -> None:
    lines: list[dict[str, Any]] = [{"case_id": f"c{i}"} for i in range(3)]
    number_lines(lines, 2 * LINES_PER_CHUNK, "420582", "2024-03", "dibao")
    assert [(line["line_no"], line["reference"]) for line in lines] == [
        (2000, "420582202403D0002000"),
        (2001, "420582202403D0002001"),
        (2002, "420582202403D0002002"),
    ]
    assert all(
        line["reference"] == bank_reference("420582", "2024-03", "dibao", line["line_no"])
        for line in lines
    )
    chunk = RollChunk.record(roll_id=uuid4(), token=uuid4(), number=1, county_code="420582",
                             month="2024-03", group="all", lines=[{"case_id": "x"}])  # fmt: skip
    (event,) = chunk.collect_events()
    assert event.lines == [{"case_id": "x", "line_no": 1000, "reference": "420582202403A0001000"}]
