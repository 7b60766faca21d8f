"""The text rule (domain/text.py), the date range (domain/dates.py) and the request-size limit
(api/http/limits.py), on their own."""

from __future__ import annotations

import asyncio
import re
import sys
import unicodedata
from typing import Any

import pytest

from api.http.limits import BodyLimit
from domain.dates import validate_date, validate_month
from domain.errors import InvalidValue
from domain.text import (
    MARK_COVER,
    clean_line,
    clean_row,
    clean_text,
    clean_tree,
    text_problem,
    visible,
)

BLANK = {0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800}


def noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def test_the_refused_characters_are_exactly_the_rules_categories() -> None:
    """Goal: the literal character classes match the running Python's Unicode table, so a new
    Unicode version cannot let a format character through unnoticed. Method: every code point
    after a letter (as one character, a combining mark is refused for starting the text)."""
    refused = {c for c in range(sys.maxunicode + 1) if text_problem(f"a{chr(c)}") is not None}
    expected = {
        c
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp")
        or c in BLANK
        or noncharacter(c)
    }
    assert refused == expected


def test_a_text_or_cell_beginning_with_a_combining_mark_is_refused() -> None:
    """Goal: every combining mark is refused at the start of a text and of a CSV cell, and only
    there. Method: the cover class holds every mark; each mark alone, after a letter, and at the
    start of a second cell split on commas and given as cells."""
    cover = re.compile(f"[{MARK_COVER}]")
    marks = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] == "M"]
    assert all(cover.match(mark) for mark in marks)
    for mark in marks:
        assert text_problem(mark) is not None and text_problem(mark) == text_problem(f"{mark}x")
        assert text_problem(f"x{mark}") is None
        with pytest.raises(InvalidValue) as refused:
            clean_line(f"R1,{mark}x", 2)
        assert refused.value.rule == "text_combining_start"
        with pytest.raises(InvalidValue):
            clean_row(["R1,", f"{mark}x"], 2)
    assert clean_row(["R1,\u0301", "x"], 2) == ["R1,\u0301", "x"]  # a mark after a comma in a cell
    assert clean_line("R1,低保,《通知》,Ωx,\u3000x", 2) == "R1,低保,《通知》,Ωx,\u3000x"


@pytest.mark.parametrize(
    ("character", "rule"),
    [("\x00", "text_control_character"), ("\t", "text_control_character"),
     ("\n", "text_control_character"), ("\x9b", "text_control_character"),
     ("\u202e", "text_bidi_override"), ("\u2066", "text_bidi_override"),
     ("\u200f", "text_bidi_override"), ("\u200b", "text_zero_width"),
     ("\ufeff", "text_zero_width"), ("\u2060", "text_zero_width"), ("\u00ad", "text_zero_width"),
     ("\udc80", "text_surrogate"), ("\u2028", "text_line_break"), ("\u2029", "text_line_break"),
     ("\u3164", "text_blank_character"), ("\u2800", "text_blank_character"),
     ("\ufdd0", "text_noncharacter"), ("\U0010ffff", "text_noncharacter")],
)  # fmt: skip
def test_each_class_is_refused_naming_field_and_rule(character: str, rule: str) -> None:
    """Goal: each class has its rule and the error names the field. Method: one per class."""
    with pytest.raises(InvalidValue) as refused:
        clean_text(f"王{character}一", "name")
    assert (refused.value.field, refused.value.rule) == ("name", rule)


def test_text_is_normalised_to_nfc_and_ordinary_text_passes() -> None:
    """Goal: one spelling, one encoding; CJK, private-use (生僻字), emoji pass unchanged."""
    assert clean_text("Zoe\u0301", "name") == "Zo\u00e9"
    for text in ("王一", "阿依古丽·买买提", "\ue000明", "😀", "a b"):
        assert clean_text(text, "name") == text


def test_trees_rows_and_echoes() -> None:
    """Goal: dict keys and nested values are checked with their path; CSV rows name the line;
    an error echoes the bad character escaped. Method: one example of each."""
    with pytest.raises(InvalidValue) as refused:
        clean_tree({"lines": [{"source": "ok"}, {"source": "a\u200bb"}]}, "file")
    assert refused.value.field == "file.lines[1].source"
    with pytest.raises(InvalidValue) as refused:
        clean_tree({"k\x00": 1}, "tiers")
    assert refused.value.field == "tiers[key]"
    with pytest.raises(InvalidValue) as refused:
        clean_row(["R1", "a\x00"], 7)
    assert "line 7" in refused.value.detail and refused.value.rule == "text_control_character"
    assert clean_row(["Cafe\u0301", "x"], 2) == ["Café", "x"]
    assert visible("a\x00\u202e") == "a\\u0000\\u202e"


def test_dates_and_months_lie_in_1990_to_2100() -> None:
    """Goal: year 1 and year 9999 are refused, the bounds accepted, non-ASCII digits refused."""
    assert validate_date("1990-01-01") == "1990-01-01"
    assert validate_date("2100-12-31") == "2100-12-31"
    assert validate_month("2100-12") == "2100-12"
    for bad, rule in (("0001-01-01", "date_range"), ("9999-12-31", "date_range"),
                      ("1989-12-31", "date_range"), ("２０２４-01-01", "date_format"),
                      ("2024-01-01\n", "date_format")):  # fmt: skip
        with pytest.raises(InvalidValue) as refused:
            validate_date(bad)
        assert refused.value.rule == rule
    for bad, rule in (("9999-01", "month_range"), ("1989-12", "month_range"),
                      ("2024-13", "month_format"), ("2024-05\n", "month_format")):  # fmt: skip
        with pytest.raises(InvalidValue) as refused:
            validate_month(bad)
        assert refused.value.rule == rule


def test_the_body_limit_stops_reading_at_the_limit() -> None:
    """Goal: a body without Content-Length is never read past the limit. Method: an endless
    chunked body of 1,000-byte messages against a 10,000-byte limit and an app that reads all;
    the middleware answers 413 after at most 11 messages."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def endless() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def reads_everything(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    app = BodyLimit(reads_everything, limit_for=lambda path: 10_000)
    scope = {"type": "http", "path": "/api/v1/households", "headers": [], "method": "POST"}
    asyncio.run(app(scope, endless, record))
    assert reads == 11
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert b"max_body_bytes" in sent[1]["body"]


def test_domain_names_and_reasons_pass_the_text_rule_whatever_the_entry() -> None:
    """Goal: the domain refuses a hidden character in a name or a reason however it arrives
    (API, roster, command line, a future entry), as it does in members' names and document
    references. Method: request a temporary grant with a NUL in the name, then a bidi override
    in the reason."""
    from domain.temporary import TemporaryGrant

    grant = {"region_code": "420582", "occurred_in": "420582", "id_number": "11010519491231002X",
             "name": "过路人", "grant_type": "urgent", "amount_fen": 100, "reason": "急救",
             "effective_date": "2024-03-01", "actor": "t", "document_ref": "当民〔2024〕1号"}  # fmt: skip
    for field, value, rule in (("name", "过\x00路人", "text_control_character"),
                               ("reason", "急\u202e救", "text_bidi_override")):  # fmt: skip
        with pytest.raises(InvalidValue) as refused:
            TemporaryGrant.request(**(grant | {field: value}))
        assert (refused.value.field, refused.value.rule) == (field, rule)
