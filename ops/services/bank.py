"""Bank round-trip for an approved roll: the payment file out, the result file back (SPEC §6–7).

The payment file lists every line with something to pay (receivable-only lines stay home), with
the full account number — the only output that carries it, for finance officers only. Chinese
bank systems often want GBK, so the file is UTF-8 or GBK. The result file names each line by the
reference the payment file gave it and says ``paid`` or ``failed`` (with a reason); a file with an
unknown reference, a changed amount or a bad status is refused whole, and the same file twice
changes nothing. A failed line no longer counts as paid, so the next roll re-issues it as
back-pay unless the case has stopped being due.

Every cell goes through ``domain.cells``: a payee name that a spreadsheet would run as a formula
gets a leading ``'`` (no real account holder's name begins so; the bank refuses that line on its
name check and it comes back failed, to be corrected).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from domain.access import Principal
from domain.cells import csv_row
from domain.csv_input import csv_records
from domain.errors import Forbidden, InvalidValue, NotFound
from domain.money import format_yuan
from domain.references import bank_reference
from domain.roll import LINES_PER_CHUNK, PaymentRoll
from ops.services.cases import require_unrelated_to_roll
from ops.services.core import Command, Outcome, Services, now_utc
from ops.services.ledger import distinct, flow_postings, pool_group
from ops.services.rolls import roll_summary

BANK_COLUMNS = ("reference", "payee_name", "account_number", "amount_yuan", "amount_fen", "case_id")
RESULT_STATUSES = ("paid", "failed")


def reference(roll: PaymentRoll, line_no: int) -> str:
    return bank_reference(roll.county_code, roll.month, roll.group, line_no)


def _finance_roll(services: Services, principal: Principal, roll_id: str) -> PaymentRoll:
    principal.require("roll.approve")  # finance officers of the county handle the bank file
    roll: PaymentRoll = services.load(PaymentRoll, roll_id, "roll_id")
    if not principal.sees(roll.county_code):
        raise NotFound("no such roll", field="roll_id", rule="exists")
    if principal.region_scope != roll.county_code:
        raise Forbidden(
            "only a finance officer of the roll's own county handles its bank files",
            field="region_scope",
            rule="county_finance_officer",
        )
    return roll


def payable_lines(services: Services, roll: PaymentRoll) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, line) of the current generation with an amount to pay, in line order.
    Each chunk is one stored event, read straight from the store (the aggregate keeps a count)."""
    for number in range(roll.chunk_count):
        for index, line in enumerate(services.roll_chunk_lines(roll.id, str(roll.token), number)):
            if line["total_fen"] > 0:
                yield number * LINES_PER_CHUNK + index, line


def account_of(services: Services, line: dict[str, Any]) -> str:
    """A line's account number in full, unsealed with the deployment's key."""
    return services.keys.unseal(line["account_sealed"])


@dataclass(frozen=True, kw_only=True)
class SendBankFile(Command):
    """Make the payment file of an approved roll; the first download marks the roll sent (later
    ones record nothing). The file's bytes are in the response under ``file``."""

    roll_id: str
    encoding: str

    def decide(self, services: Services, principal: Principal) -> Outcome:
        outcome, data = bank_file(services, principal, self.roll_id, self.encoding)
        return Outcome(outcome.aggregates, outcome.response | {"file": data})


@dataclass(frozen=True, kw_only=True)
class ImportBankResults(Command):
    """Import the bank's result file of a roll; the same file twice changes nothing."""

    roll_id: str
    data: bytes

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return import_results(services, principal, self.roll_id, self.data)


def bank_file(
    services: Services, principal: Principal, roll_id: str, encoding: str
) -> tuple[Outcome, bytes]:
    if encoding not in ("utf-8", "gbk"):
        raise InvalidValue(
            "encoding must be utf-8 or gbk", field="encoding", rule="bank_file_encoding"
        )
    roll = _finance_roll(services, principal, roll_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(BANK_COLUMNS)
    count = total = 0
    for line_no, line in payable_lines(services, roll):
        writer.writerow(
            csv_row(
                (
                    reference(roll, line_no),
                    line["payee_name"],
                    account_of(services, line),
                    format_yuan(line["total_fen"]),
                    line["total_fen"],
                    line["case_id"],
                )
            )
        )
        count, total = count + 1, total + line["total_fen"]
    try:
        data = out.getvalue().encode(encoding)
    except UnicodeEncodeError as error:
        raise InvalidValue(
            f"a payee name cannot be written in {encoding}: {error.object[error.start : error.end]!r}",
            field="encoding",
            rule="encodable_names",
        ) from None
    require_unrelated_to_roll(services, principal, str(roll.id))
    roll.record_sent(
        file_sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        line_count=count,
        total_fen=total,
        actor=principal.credential_id,
        staff_id=principal.staff_id,
    )
    return Outcome([roll], roll_summary(roll)), data


def import_results(services: Services, principal: Principal, roll_id: str, data: bytes) -> Outcome:
    roll = _finance_roll(services, principal, roll_id)
    text = decode_text(data)
    sent = {
        line_no: (line["total_fen"], line["programme"])
        for line_no, line in payable_lines(services, roll)
    }
    expected = {
        reference(roll, line_no): (line_no, amount)
        for line_no, (amount, _programme) in sent.items()
    }
    results: list[list[Any]] = []
    seen: set[str] = set()
    _header, rows = csv_records(
        io.StringIO(text, newline=""), ("reference", "amount_fen", "status"), rule="result_columns"
    )
    for row_number, row in rows:
        where = f"file line {row_number}"
        ref = (row.get("reference") or "").strip()
        if ref not in expected:
            raise InvalidValue(
                f"{where}: unknown reference {ref!r}", field="file", rule="known_reference"
            )
        if ref in seen:
            raise InvalidValue(
                f"{where}: reference {ref} listed twice", field="file", rule="unique_reference"
            )
        seen.add(ref)
        line_no, amount = expected[ref]
        if (row.get("amount_fen") or "").strip() != str(amount):
            raise InvalidValue(
                f"{where}: amount {row.get('amount_fen')!r} differs from the {amount} fen sent",
                field="file",
                rule="amount_matches",
            )
        status = (row.get("status") or "").strip().lower()
        if status not in RESULT_STATUSES:
            raise InvalidValue(
                f"{where}: status must be paid or failed", field="file", rule="result_status"
            )
        reason = (row.get("reason") or "").strip()[:200]
        if status == "failed" and not reason:
            raise InvalidValue(
                f"{where}: a failed line needs a reason", field="file", rule="failure_reason"
            )
        results.append([line_no, status, reason])
    if not results:
        raise InvalidValue("the result file has no lines", field="file", rule="non_empty")
    changed = roll.import_bank_results(
        file_sha256=hashlib.sha256(data).hexdigest(),
        results=results,
        payable_lines=len(expected),
        actor=principal.credential_id,
        staff_id=principal.staff_id,
    )
    failed = sum(1 for _line, status, _reason in results if status == "failed")
    postings = _settle(services, roll, results, sent, hashlib.sha256(data).hexdigest(),
                       principal.credential_id) if changed else []  # fmt: skip
    return Outcome(
        [roll, *postings],
        roll_summary(roll) | {"imported": changed, "lines": len(results), "failed": failed},
    )


def _settle(
    services: Services,
    roll: PaymentRoll,
    results: list[list[Any]],
    sent: dict[int, tuple[int, str]],
    file_sha256: str,
    actor: str,
) -> list[Any]:
    """Post the bank's answer: paid lines leave the reservation as disbursed; failed ones go back
    to the pool (the next roll re-issues them)."""
    paid: dict[str, int] = {}
    failed: dict[str, int] = {}
    for line_no, status, _reason in results:
        amount, programme = sent[line_no]
        target = paid if status == "paid" else failed
        target[pool_group(programme)] = target.get(pool_group(programme), 0) + amount
    today = now_utc().date().isoformat()
    document = f"bank results {file_sha256[:12]}"
    loaded: dict[Any, Any] = {}
    return distinct([
        *flow_postings(services, key=f"roll:{roll.id}:paid:{file_sha256[:16]}", code="disburse",
                       county=roll.county_code, amounts=paid, debit_kind="disbursed", credit_kind="reserved",
                       posting_date=today, actor=actor, document_ref=document, loaded=loaded,
                       subject="roll_id", date_field="roll_id"),
        *flow_postings(services, key=f"roll:{roll.id}:failed:{file_sha256[:16]}", code="release",
                       county=roll.county_code, amounts=failed, debit_kind="pool", credit_kind="reserved",
                       posting_date=today, actor=actor, document_ref=document, loaded=loaded,
                       subject="roll_id", date_field="roll_id"),
    ])  # fmt: skip


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidValue(
        "the result file must be UTF-8 or GBK text", field="file", rule="result_encoding"
    )
