"""The orjson transcoder decodes exactly what the library's decoder gives, and encodes the library's bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.roll import PlainLines
from ledger.store.transcoding import OrjsonDecodingTranscoder

MOMENT = datetime(2026, 11, 23, 3, 41, 1, 228052, tzinfo=UTC)
ID = UUID("269dade0-314e-475f-b5d6-7f09ba61c6e9")


def both() -> tuple[JSONTranscoder, JSONTranscoder]:
    pair = JSONTranscoder(), OrjsonDecodingTranscoder()
    for transcoder in pair:
        for transcoding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr()):
            transcoder.register(transcoding)
    return pair


@pytest.mark.parametrize(
    "state",
    [
        {"timestamp": MOMENT, "region_code": "420582", "members": [{"name": "王一"}]},  # top level
        {"timestamp": MOMENT, "roll_id": ID, "lines_json": '[{"case_id":"x"}]'},
        {"nested": {"deeper": [ID, MOMENT]}, "amount": Decimal("1.50")},  # markers deeper: fallback
        {"text": "_type_", "n": 2**70},  # a marker-like string and an int orjson refuses
        {"plain": [1, "二", None, True]},
        [ID, {"a": MOMENT}],
    ],
)
def test_decodes_exactly_as_the_library(state: Any) -> None:
    library, fast = both()
    data = library.encode(state)
    assert fast.encode(state) == data  # encoding is the library's own
    decoded = fast.decode(data)
    assert decoded == library.decode(data) == state


def assert_written_as_the_library(state: dict[str, Any]) -> None:
    """The fast encoder writes the library's bytes and reads them back, or fails as it does."""
    library, fast = both()
    try:
        expected = library.encode(state)
    except UnicodeEncodeError:  # a lone surrogate: the library cannot write it either
        with pytest.raises(UnicodeEncodeError):
            fast.encode(state)
        return
    assert fast.encode(state) == expected
    assert fast.decode(expected) == state


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=300),
    st.dictionaries(
        st.text(max_size=8),
        st.text(max_size=20) | st.integers(min_value=-(2**63), max_value=2**64 - 1),
        max_size=4,
    ),
)
def test_long_texts_encode_exactly_as_the_library(text: str, other: dict[str, Any]) -> None:
    """Long top-level texts take orjson's path; the bytes stay the library's, whatever the text
    holds (quotes, backslashes, control characters, any plane, lone surrogates)."""
    assert_written_as_the_library(
        {"timestamp": MOMENT, **other, "lines_json": "[" * 4097 + text, "id": ID}
    )


def test_a_long_text_holding_the_slot_is_written_by_the_library() -> None:
    library, fast = both()
    slot = "\x00doudi-long-text-0"
    state = {"a": slot, "lines_json": "x" * 5000 + '"\\\n'}
    assert fast.encode(state) == library.encode(state)


def test_a_long_text_with_a_lone_surrogate_fails_as_the_library_fails() -> None:
    library, fast = both()
    state = {"lines_json": "x" * 5000 + "\ud800"}
    for transcoder in (library, fast):
        with pytest.raises(UnicodeEncodeError):
            transcoder.encode(state)


_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=10), _PLAIN, max_size=6), max_size=8))
def test_plain_roll_lines_encode_exactly_as_the_library(lines: list[dict[str, Any]]) -> None:
    """Roll lines (``PlainLines``) take orjson's path whatever plain values they hold, and the
    bytes stay the library's; they decode to the same lines."""
    assert_written_as_the_library(
        {"timestamp": MOMENT, "roll_id": ID, "number": 3, "lines": PlainLines(lines)}
    )


def test_two_long_values_are_each_put_in_their_own_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's parts and lines both take orjson's path, each written where the library
    writes it, even when one holds the text that marks the other's place (orjson's texts are
    never searched for a place): no detour through the library's path."""

    def detour(_obj: object) -> None:
        raise AssertionError("encoded by the library's path")

    monkeypatch.setattr("ledger.store.transcoding._unfragmented", detour)
    library, fast = both()
    state = {
        "timestamp": MOMENT,
        "parts": PlainLines([["base", "\x00doudi-long-text-1", 500]]),
        "number": 3,
        "lines": PlainLines([["case", 0, "\x00doudi-long-text-0"]]),
        "id": ID,
    }
    assert fast.encode(state) == library.encode(state)


def test_roll_lines_orjson_cannot_write_go_the_library_s_way() -> None:
    """An integer beyond 64 bits in the lines: orjson refuses it, the library writes it."""
    library, fast = both()
    state = {"lines": PlainLines([{"amount_fen": 2**70, "name": "王一"}])}
    assert fast.encode(state) == library.encode(state)


def test_a_payee_fragment_is_written_as_the_json_it_holds_either_way() -> None:
    """A line's ``payee`` comes as an ``orjson.Fragment`` (JSON the case-state view wrote):
    orjson's path copies it in, and where orjson refuses the lines (a 70-bit integer here) the
    library's path writes the value the fragment holds — the same state decoded either way."""
    import orjson

    library, fast = both()
    payee = ["王一", "4205**********0021", "王一", "sealed", "****0021"]
    row = ["case", orjson.Fragment(orjson.dumps(payee)), 500]
    plain = {"timestamp": MOMENT, "lines": PlainLines([["case", payee, 500]])}
    assert fast.encode({"timestamp": MOMENT, "lines": PlainLines([row])}) == library.encode(plain)
    refused = {"timestamp": MOMENT, "lines": PlainLines([[*row, 2**70]])}
    assert fast.decode(fast.encode(refused))["lines"] == [["case", payee, 500, 2**70]]
