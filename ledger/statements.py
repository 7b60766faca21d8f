"""The county's bank statement, imported as events (SPEC §6): what the bank says moved.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

A statement's id is derived from the county and the SHA-256 of the file's content with its line
ends normalised (``statement_fingerprint``), so importing the same file twice records nothing,
even if it is re-sent with CRLF instead of LF line ends or with a byte-order mark. Each line
keeps the bank's reference, so reconciliation can match it to a roll line by reference *and*
amount.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from eventsourcing.domain import Aggregate, event

from domain.dates import validate_date
from domain.errors import InvalidValue
from domain.money import MAX_FEN

MAX_LINES = 2_000_000
LINES_PER_CHUNK = 10_000
COLUMNS = ("reference", "amount_fen", "booked_on")  # and optionally "description"


def statement_fingerprint(data: bytes) -> str:
    """The SHA-256 of a statement file as content: without a UTF-8 byte-order mark, with LF line
    ends (CRLF and CR read as LF) and without trailing line ends. (No GBK or UTF-8 sequence holds
    the bytes of CR or LF except those characters.)"""
    content = data.removeprefix(codecs.BOM_UTF8).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return hashlib.sha256(content.rstrip(b"\n")).hexdigest()


def statement_id(county_code: str, file_sha256: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:statement:{county_code}:{file_sha256}")


def statement_chunk_id(statement: UUID, number: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:statement-chunk:{statement}:{number}")


class StatementChunk(Aggregate):
    """Up to 10,000 lines of one statement, recorded once (a million-line statement is a hundred
    events). The ids follow from the statement's and the chunk's number, so an import cut off
    half-way is completed by running it again: the chunks already there are the same."""

    @staticmethod
    def create_id(statement_id: UUID, number: int, **_: Any) -> UUID:
        return statement_chunk_id(statement_id, number)

    @event("Recorded")
    def __init__(
        self, statement_id: UUID, number: int, first_line: int, county_code: str, lines_json: str
    ) -> None:
        """``lines_json``: the lines as one JSON text of [reference, amount_fen, booked_on,
        description] lists (orjson-encoded: the store then copies one string); the first of them
        is line ``first_line`` of the statement (counting from 0)."""
        self.statement_id = statement_id
        self.number = number


class BankStatement(Aggregate):
    class Imported(Aggregate.Created):
        """The statement's header, recorded after its lines' ``StatementChunk`` events."""

        county_code: str
        file_sha256: str
        line_count: int
        chunk_count: int
        actor: str

    @staticmethod
    def create_id(county_code: str, file_sha256: str, **_: Any) -> UUID:
        return statement_id(county_code, file_sha256)

    @event(Imported)
    def __init__(
        self, county_code: str, file_sha256: str, line_count: int, chunk_count: int, actor: str
    ) -> None:
        self.county_code = county_code
        self.line_count = line_count
        self.chunk_count = chunk_count

    @classmethod
    def read(
        cls, *, county_code: str, header: list[str], rows: Iterable[tuple[int, list[str]]],
        file_sha256: str, actor: str,
    ) -> list[Aggregate]:  # fmt: skip
        """Validate every row, given with its line number in the file (a bad row refuses the
        whole file, recording nothing) and return the statement's chunks followed by the
        statement itself — save them in that order."""
        missing = set(COLUMNS) - set(header)
        if missing:
            raise InvalidValue(
                f"the statement lacks columns {sorted(missing)}", field="file", rule="statement_columns"
            )  # fmt: skip
        at = [header.index(name) for name in COLUMNS]
        described = header.index("description") if "description" in header else None
        ident = statement_id(county_code, file_sha256)
        chunks: list[Aggregate] = []
        lines: list[list[Any]] = []
        count = 0
        for count, (number, row) in enumerate(rows, start=1):
            if count > MAX_LINES:
                break
            lines.append(_line(row, at, described, number))
            if len(lines) == LINES_PER_CHUNK:
                chunks.append(_chunk(ident, len(chunks), count - len(lines), county_code, lines))
                lines = []
        if not 1 <= count <= MAX_LINES:
            raise InvalidValue(
                f"a statement has 1 to {MAX_LINES} lines", field="file", rule="statement_size"
            )
        if lines:
            chunks.append(_chunk(ident, len(chunks), count - len(lines), county_code, lines))
        statement = cls(county_code=county_code, file_sha256=file_sha256, line_count=count,
                        chunk_count=len(chunks), actor=actor)  # fmt: skip
        return [*chunks, statement]


def _chunk(ident: UUID, number: int, first: int, county_code: str, lines: list[list[Any]]) -> StatementChunk:  # fmt: skip
    return StatementChunk(statement_id=ident, number=number, first_line=first, county_code=county_code,
                          lines_json=orjson.dumps(lines).decode())  # fmt: skip


@lru_cache(maxsize=4096)
def _booked(text: str) -> str:
    return validate_date(text, "booked_on")


_NON_ZERO_FEN = re.compile(r"-?[0-9]*[1-9][0-9]*").fullmatch
_MAX_CHARACTERS = 19  # a sign and 18 digits: int() only ever reads a short text


def _line(row: list[str], at: list[int], described: int | None, number: int) -> list[Any]:
    """One validated line; the checks are written out inline (a million lines run through here)."""
    try:
        reference, amount, booked = row[at[0]].strip(), row[at[1]].strip(), row[at[2]].strip()
        description = row[described].strip()[:200] if described is not None else ""
    except IndexError:
        raise InvalidValue(f"file line {number}: too few columns", field="file", rule="statement_columns") from None  # fmt: skip
    if not reference or len(reference) > 64:
        raise InvalidValue(f"file line {number}: a reference of 1–64 characters", field="file", rule="reference")  # fmt: skip
    if _NON_ZERO_FEN(amount) is None:
        raise InvalidValue(
            f"file line {number}: amount_fen must be a whole, non-zero number of fen", field="file", rule="integer_fen"
        )  # fmt: skip
    if len(amount) > _MAX_CHARACTERS:
        if len(amount.lstrip("-0")) > len(str(MAX_FEN)):
            raise InvalidValue(f"file line {number}: amount_fen beyond {MAX_FEN}", field="file", rule="max_fen")  # fmt: skip
        raise InvalidValue(
            f"file line {number}: amount_fen in at most {_MAX_CHARACTERS - 1} digits", field="file", rule="integer_fen"
        )  # fmt: skip
    fen = int(amount)
    if not -MAX_FEN <= fen <= MAX_FEN:
        raise InvalidValue(
            f"file line {number}: amount_fen beyond {MAX_FEN}", field="file", rule="max_fen"
        )
    try:
        return [reference, fen, _booked(booked), description]
    except InvalidValue as error:
        raise InvalidValue(f"file line {number}: {error}", field="file", rule=error.rule) from None
