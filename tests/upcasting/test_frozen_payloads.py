"""Stored events are a storage format: payloads frozen when each event was first released must
still decode into today's classes and replay to a valid case.

Method: ``frozen/household_case_v1.json`` holds the JSON state of a household history exactly as
the store held it (before encryption) at class_version 1. It is decoded with the same
transcoder the application uses. When an event gains a ``class_version`` 2, add its
``upcast_v1_v2`` and keep this file unchanged: the test then proves the upcaster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from domain.household import CaseStatus, HouseholdCase
from ledger.journal import AccountGuard

FROZEN = Path(__file__).parent / "frozen" / "household_case_v1.json"


def mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def frozen_event(name: str) -> tuple[dict[str, Any], Any]:
    """A frozen v1 record from ``frozen/`` and the event today's classes decode it into."""
    record = json.loads((FROZEN.parent / name).read_text(encoding="utf-8"))
    stored = StoredEvent(
        originator_id=UUID(record["originator_id"]),
        originator_version=record["originator_version"],
        topic=record["topic"],
        state=json.dumps(record["state"]).encode(),
    )
    return record, mapper().to_domain_event(stored)


def test_frozen_v1_household_history_replays() -> None:
    records = json.loads(FROZEN.read_text(encoding="utf-8"))
    decode = mapper()
    case: Any = None
    for record in records:
        stored = StoredEvent(
            originator_id=UUID(record["originator_id"]),
            originator_version=record["originator_version"],
            topic=record["topic"],
            state=json.dumps(record["state"]).encode(),
        )
        case = decode.to_domain_event(stored).mutate(case)
    assert isinstance(case, HouseholdCase)
    assert case.status is CaseStatus.TERMINATED or case.status == "terminated"
    assert case.terminated_reason == "death"
    assert case.method == "top_up" and case.start_month == "2024-02"
    assert [r["topic"].rsplit(".", 1)[1] for r in records] == [
        "Applied",
        "EconomicCheckRecorded",
        "Approved",
        "Suspended",
        "Terminated",
    ]


def test_frozen_v1_roll_chunk_upcasts_to_numbered_lines() -> None:
    """Version 1 of ``RollChunk.Recorded`` held the lines without their numbers and bank
    references; version 2 held them as one JSON text; version 3 as an array again. A version 1
    chunk still decodes, through both upcasters, with the same lines numbered."""
    record, event = frozen_event("roll_chunk_v1.json")
    (line,) = event.expanded()
    assert line == record["state"]["lines"][0] | {
        "line_no": 0,
        "reference": "420582202206A0000000",
    }
    chunk = event.mutate(None)
    assert chunk.number == 0 and str(chunk.token) == "6a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9"


def test_frozen_v2_roll_chunk_upcasts_its_lines_text_to_an_array() -> None:
    """Version 2 held a chunk's lines as one JSON text (``lines_json``); version 3 holds the
    array itself. A version 2 chunk decodes to the same lines."""
    record, event = frozen_event("roll_chunk_v2.json")
    assert event.expanded() == json.loads(record["state"]["lines_json"])
    assert [(line["line_no"], line["reference"]) for line in event.expanded()] == [
        (0, "420582202206A0000000")
    ]
    assert not hasattr(event, "lines_json")
    chunk = event.mutate(None)
    assert chunk.number == 0 and str(chunk.roll_id) == "5f0e8a3c-2b1d-4e6f-8a9b-0c1d2e3f4a5b"


def test_frozen_v1_bank_statement_keeps_its_lines() -> None:
    """Version 1 of ``BankStatement.Imported`` carried every line; version 2 records lines in
    chunks and counts them. An old statement still decodes with its lines and their count."""
    record, event = frozen_event("bank_statement_v1.json")
    assert event.lines == record["state"]["lines"]
    statement = event.mutate(None)
    assert (statement.line_count, statement.chunk_count) == (2, 0)


def test_frozen_v1_guard_move_counts_as_money_of_no_recorded_source() -> None:
    """Version 1 of ``AccountGuard.Moved`` (and of the guard's snapshots) knew no funding
    sources: what it moved counts as money of no recorded source ("")."""
    state = {"timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-23T03:41:01.228052+00:00"},
             "originator_topic": "ledger.journal:AccountGuard", "transaction_key": "fund-1", "delta_fen": 5_000}  # fmt: skip
    stored = StoredEvent(
        originator_id=UUID("3c1d2e4f-5a6b-5c7d-8e9f-0a1b2c3d4e5f"),
        originator_version=2,
        topic="ledger.journal:AccountGuard.Moved",
        state=json.dumps(state).encode(),
    )
    event: Any = mapper().to_domain_event(stored)
    assert (event.delta_fen, event.sources) == (5_000, {"": 5_000})
    snapshot = {"account": "pool:420582:dibao", "balance_fen": 5_000}
    AccountGuard.upcast_v1_v2(snapshot)
    assert snapshot["sources"] == {"": 5_000}


def test_frozen_v3_roll_chunk_keeps_its_account_in_the_clear_for_the_bank_file() -> None:
    """Version 4 lines carry the account sealed (``account_sealed``); a version 3 line keeps
    the ``account_number`` it was recorded with, and the bank file reads that as it is."""
    from ops.services.bank import account_of

    record, event = frozen_event("roll_chunk_v3.json")
    assert event.expanded() == record["state"]["lines"]
    (line,) = event.expanded()
    assert "account_sealed" not in line
    assert account_of(None, line) == "6217003300000001"  # type: ignore[arg-type]  # no key needed


def test_frozen_v4_roll_chunk_reads_as_the_lines_it_recorded() -> None:
    """Version 5 records rows, a parts table and the fields' order; a version 4 chunk (lines
    as objects) upcasts to rows of the fields it had and reads back as the same lines, its
    months and references included."""
    record, event = frozen_event("roll_chunk_v4.json")
    assert event.expanded() == record["state"]["lines"]
    assert "line_no" not in event.fields and "reference" not in event.fields
    months = event.fields.index("months")
    assert [row[months] for row in event.lines] == [None, record["state"]["lines"][1]["months"]]
    assert len(event.parts) == 3


def test_frozen_v5_roll_chunk_reads_its_separate_references_as_before() -> None:
    """Version 6 rows carry a line's references as one ``refs`` string; a version 5 chunk —
    the v4 payload's lines in the form version 5 recorded them: ``basis_sources`` and
    ``income_source`` per row, placeholders in the parts — reads back as the same lines."""
    record, event = frozen_event("roll_chunk_v5.json")
    assert "refs" not in event.fields and "income_source" in event.fields
    assert event.expanded() == record["expected_lines"]


def test_frozen_v6_roll_chunk_reads_its_payee_fields_one_by_one_as_before() -> None:
    """Version 7 rows carry whom a line pays as one ``payee`` array; a version 6 chunk — the
    v5 payload's rows with their references as one ``refs`` string, the payee's five fields
    one by one — reads back as the same lines."""
    record, event = frozen_event("roll_chunk_v6.json")
    assert "refs" in event.fields and "payee" not in event.fields
    assert "head_name" in event.fields
    assert event.expanded() == record["expected_lines"]
