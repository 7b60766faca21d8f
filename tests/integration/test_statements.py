"""Bank statements are recorded in chunks: a large file stays in bounded memory, a bad line
anywhere records nothing, and an import cut off half-way counts nowhere until it is run again."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable

import pytest

import ledger.statements
from domain.access import Principal
from domain.errors import InvalidValue
from ledger.statements import BankStatement, StatementChunk
from ops.services.core import Services
from ops.services.ledger import import_statement, save_in_order

COUNTY = "420582"


def statement_file(lines: int, bad_at: int | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "amount_fen", "booked_on", "description"])
    for n in range(lines):
        amount = "1.5" if n == bad_at else str(-(1_000 + n))
        # Backslash, comma and quote must survive CSV and COPY (tabs and line breaks are refused).
        description = '低保\\补,"发"' if n == 0 else "低保"
        writer.writerow([f"REF{n:06d}", amount, "2024-03-20", description])
    return out.getvalue().encode("gbk")


def statement_rows(services: Services) -> list[tuple[int, str, int]]:
    services.fresh()
    with services.db.transaction() as cur:
        rows = cur.execute(
            "SELECT s.line_no, s.reference, s.amount_fen, s.description FROM bank_statement_lines s"
            " JOIN bank_statements b ON b.statement_id = s.statement_id ORDER BY s.line_no"
        ).fetchall()
    assert not rows or rows[0]["description"] == '低保\\补,"发"'
    return [(int(r["line_no"]), r["reference"], int(r["amount_fen"])) for r in rows]


@pytest.fixture
def finance() -> Principal:
    return Principal("finance-1", "finance_officer", COUNTY)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger.statements, "LINES_PER_CHUNK", 4)


@pytest.mark.usefixtures("small_chunks")
def test_a_statement_is_recorded_in_chunks_then_its_header(
    services: Services, finance: Principal
) -> None:
    outcome = import_statement(services, finance, COUNTY, statement_file(10))
    *chunks, header = outcome.aggregates
    assert [type(c) for c in chunks] == [StatementChunk] * 3 and isinstance(header, BankStatement)
    assert (header.line_count, header.chunk_count) == (10, 3)
    save_in_order(services, outcome.aggregates, batch=2)
    assert statement_rows(services) == [(n, f"REF{n:06d}", -(1_000 + n)) for n in range(10)]
    again = import_statement(services, finance, COUNTY, statement_file(10))
    assert again.aggregates == [] and again.response["imported"] is False


@pytest.mark.usefixtures("small_chunks")
def test_a_bad_line_in_the_last_chunk_records_nothing(
    services: Services, finance: Principal
) -> None:
    position = services.log_position()
    with pytest.raises(InvalidValue) as refused:
        import_statement(services, finance, COUNTY, statement_file(10, bad_at=9))
    assert refused.value.rule == "integer_fen" and "file line 11" in refused.value.detail
    assert services.log_position() == position


@pytest.mark.usefixtures("small_chunks")
def test_an_import_cut_off_half_way_counts_nowhere_until_run_again(
    services: Services, finance: Principal
) -> None:
    outcome = import_statement(services, finance, COUNTY, statement_file(10))
    services.app.save(outcome.aggregates[0])  # the process dies after the first chunk
    assert statement_rows(services) == []
    retried = import_statement(services, finance, COUNTY, statement_file(10))
    assert retried.response["imported"] is True
    save_in_order(services, retried.aggregates)
    assert [row[0] for row in statement_rows(services)] == list(range(10))


@pytest.mark.parametrize(
    "resent",
    [
        lambda data: data.replace(b"\r\n", b"\n"),
        lambda data: codecs.BOM_UTF8 + data,
        lambda data: data.replace(b"\r\n", b"\n").rstrip(b"\n"),
        lambda data: data + b"\r\n",
    ],
    ids=["lf-line-ends", "byte-order-mark", "no-final-line-end", "extra-final-line-end"],
)
def test_a_statement_re_sent_with_other_line_ends_or_a_bom_is_the_same_statement(
    services: Services, finance: Principal, resent: Callable[[bytes], bytes]
) -> None:
    """Goal: a statement's identity is its content, not its line ends or a byte-order mark, so
    reconciliation never counts a re-export twice. Method: import a CRLF file, then the same
    statement re-sent otherwise; the second import records nothing and names the same id."""
    data = statement_file(3).decode("gbk").encode("utf-8")
    first = import_statement(services, finance, COUNTY, data)
    save_in_order(services, first.aggregates)
    position = services.log_position()
    again = import_statement(services, finance, COUNTY, resent(data))
    assert again.response == first.response | {"imported": False}
    assert services.log_position() == position
