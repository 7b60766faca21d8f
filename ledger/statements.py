"""The county's bank statement, imported as events (SPEC §6): what the bank says moved.

NOTE: the events below are a storage format (see the other aggregate modules).

A statement's id is derived from the county and the file's SHA-256, so importing the same file
twice records nothing. Each line keeps the bank's reference, so reconciliation can match it to
a roll line by reference *and* amount.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.dates import validate_date
from domain.errors import InvalidValue

MAX_LINES = 200_000


def statement_id(county_code: str, file_sha256: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:statement:{county_code}:{file_sha256}")


class BankStatement(Aggregate):
    @staticmethod
    def create_id(county_code: str, file_sha256: str, **_: Any) -> UUID:
        return statement_id(county_code, file_sha256)

    @event("Imported")
    def __init__(
        self, county_code: str, file_sha256: str, lines: list[list[Any]], actor: str
    ) -> None:
        self.county_code = county_code
        self.line_count = len(lines)

    @classmethod
    def read(
        cls, *, county_code: str, rows: list[dict[str, str]], data: bytes, actor: str
    ) -> BankStatement:
        """Validate every row (a bad row refuses the whole file) and record the statement."""
        if not rows or len(rows) > MAX_LINES:
            raise InvalidValue(
                f"a statement has 1 to {MAX_LINES} lines", field="file", rule="statement_size"
            )
        lines: list[list[Any]] = []
        for number, row in enumerate(rows, start=2):
            where = f"file line {number}"
            reference = (row.get("reference") or "").strip()
            amount = (row.get("amount_fen") or "").strip()
            if not reference or len(reference) > 64:
                raise InvalidValue(
                    f"{where}: a reference of 1–64 characters", field="file", rule="reference"
                )
            if not amount.lstrip("-").isdigit() or int(amount) == 0:
                raise InvalidValue(
                    f"{where}: amount_fen must be a whole, non-zero number of fen",
                    field="file",
                    rule="integer_fen",
                )
            booked = validate_date((row.get("booked_on") or "").strip(), "booked_on")
            lines.append(
                [reference, int(amount), booked, (row.get("description") or "").strip()[:200]]
            )
        return cls(
            county_code=county_code,
            file_sha256=hashlib.sha256(data).hexdigest(),
            lines=lines,
            actor=actor,
        )
