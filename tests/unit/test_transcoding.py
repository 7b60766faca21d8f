"""The orjson decoding transcoder gives exactly what the library's decoder gives."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from ops.transcoding import OrjsonDecodingTranscoder

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
