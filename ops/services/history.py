"""Migrated history: the months a county's previous system paid (``doudi import history``).

A county moving onto doudi brings its caseload (``doudi import households``, with each
approval's decided date) and what it paid: one CSV row per household and month,

    household_ref, region_code, month, amount_fen

naming a household of the roster (``region_code`` and ``household_ref`` as there). Each
county × month becomes a roll of group ``all`` recorded as generated, approved and settled at
once and marked migrated (``PaymentRoll.migrate``): one line per household, its amount the one
paid, its component naming the migration document. Those lines count as paid like any approved
roll's, so the first doudi roll computes back-pay and recovery against what was really paid;
a migrated roll moves no money in the fund ledger and never goes to the bank.

A month with a bad row (an unknown household, a household twice, an amount that is not whole
fen) or whose roll exists already is refused whole and named in the report; the other months
are recorded. Importing the same file again records nothing new.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson
from eventsourcing.application import AggregateNotFoundError

from domain.csv_input import csv_records
from domain.dates import validate_month
from domain.decisions import require_document
from domain.errors import DomainError, InvalidValue
from domain.regions import county_of, validate_region_code
from domain.roll import LINES_PER_CHUNK, PaymentRoll, RollChunk, roll_id
from ops.services.core import Services, now_utc
from ops.services.importer import imported_case_id
from ops.services.roll_lines import Totals
from projections.rolls.view import new_token
from projections.runner import utc_text

HISTORY_COLUMNS = ("household_ref", "region_code", "month", "amount_fen")
_FEN = re.compile(r"[1-9][0-9]{0,15}")


@dataclass
class HistoryReport:
    rolls: int = 0
    lines: int = 0
    total_fen: int = 0
    skipped_months: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Paid:
    """One household's payment for one month, as the history file gives it."""

    line: int
    case_id: str
    amount_fen: int


def read_history(stream: TextIO) -> dict[tuple[str, str], list[Paid]]:
    """The file's payments by (county, month). A row that breaks a rule is an ``InvalidValue``
    naming its line: the history is a record of money paid, so it comes in whole or not."""
    _header, records = csv_records(stream, HISTORY_COLUMNS, field="history")
    months: dict[tuple[str, str], list[Paid]] = defaultdict(list)
    for line, row in records:
        where = f"line {line}"
        try:
            region = validate_region_code(row["region_code"], "region_code")
            month = validate_month(row["month"], "month")
        except InvalidValue as error:
            raise InvalidValue(f"{where}: {error}", field="history", rule=error.rule) from None
        if not _FEN.fullmatch(row["amount_fen"] or ""):
            raise InvalidValue(f"{where}: amount_fen must be whole fen > 0 in ASCII digits",
                               field="history", rule="integer_fen")  # fmt: skip
        case_id = str(imported_case_id(region, row["household_ref"]))
        months[county_of(region), month].append(Paid(line, case_id, int(row["amount_fen"])))
    return dict(months)


def import_history(
    services: Services, stream: TextIO, actor: str, document_ref: str
) -> HistoryReport:
    """Record each county × month of the history as a migrated roll (see the module)."""
    document_ref = require_document(document_ref)
    report = HistoryReport()
    this_month = utc_text(now_utc())[:7]
    for (county, month), paid in sorted(read_history(stream).items()):
        try:
            if month > this_month:
                raise InvalidValue(f"{month} has not been paid yet", field="month",
                                   rule="paid_in_the_past")  # fmt: skip
            if _migrated_before(services, county, month, paid):
                report.skipped_months += 1
                continue
            roll, chunks = migrated_roll(services, county, month, paid, actor, document_ref)
        except DomainError as error:
            report.errors.append(f"{county} {month}: {error}")
            continue
        services.app.save(*chunks, roll)  # the lines first: the roll's approval counts them
        report.rolls += 1
        report.lines += roll.line_count
        report.total_fen += roll.total_fen
    return report


def _migrated_before(services: Services, county: str, month: str, paid: list[Paid]) -> bool:
    """Whether this month was migrated before with the same payments (the file again)."""
    try:
        roll: PaymentRoll = services.app.repository.get(roll_id(county, month, "all"))
    except AggregateNotFoundError:
        return False
    same = roll.generation and roll.migrated and roll.total_fen == sum(p.amount_fen for p in paid)
    if same and roll.line_count == len(paid):
        return True
    raise InvalidValue(
        f"the roll of {county} {month} exists already ({roll.status}, {roll.total_fen} fen)",
        field="month",
        rule="migrated_month_free",
    )


def migrated_roll(
    services: Services, county: str, month: str, paid: list[Paid], actor: str, document_ref: str
) -> tuple[PaymentRoll, list[RollChunk]]:
    """The roll of one county × month the previous system paid, and its line chunks."""
    cases = services.case_state.roll_fields([p.case_id for p in paid])
    seen: set[str] = set()
    for payment in paid:
        case = cases.get(payment.case_id)
        if case is None or county_of(case["region_code"]) != county:
            raise InvalidValue(f"line {payment.line}: no imported household of {county} with"
                               " that household_ref", field="household_ref", rule="exists")  # fmt: skip
        if payment.case_id in seen:
            raise InvalidValue(f"line {payment.line}: the household is paid twice in {month}",
                               field="household_ref", rule="once_a_month")  # fmt: skip
        seen.add(payment.case_id)
    roll = PaymentRoll.open(county_code=county, month=month, group="all")
    token, totals = new_token(), Totals()
    rule = f"migrated: paid by the previous system ({document_ref})"
    chunks = []
    for number, start in enumerate(range(0, len(paid), LINES_PER_CHUNK)):
        parts: list[list[Any]] = []
        part_of: dict[int, int] = {}
        rows = []
        for payment in paid[start : start + LINES_PER_CHUNK]:
            case, amount = cases[payment.case_id], payment.amount_fen
            if amount not in part_of:
                part_of[amount] = len(parts)
                parts.append(["base", month, amount, rule, [f"migration:{document_ref}"]])
            rows.append([
                payment.case_id, case["kind"], case["programme"], case["region_code"],
                orjson.Fragment(case["payee"]), case["covered_count"], [part_of[amount]], amount,
                0, None, "",
            ])  # fmt: skip
            totals.add(rows[-1], parts)
        chunks.append(RollChunk.record(roll_id=roll.id, token=token, number=number,
                                       county_code=county, month=month, group="all",
                                       parts=parts, lines=rows))  # fmt: skip
    roll.migrate(
        as_of=utc_text(now_utc()), line_count=totals.lines, total_fen=totals.amount_fen,
        totals=totals.as_dict() | {"token": str(token), "document_ref": document_ref},
        chunk_count=len(chunks), actor=actor,
    )  # fmt: skip
    return roll, chunks
