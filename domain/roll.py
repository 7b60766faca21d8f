"""Monthly payment roll (发放名册) per county × month × programme group (SPEC §7).

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

A roll's lines are recorded in chunks (``RollChunk``, up to 1,000 lines each, one event per
chunk) so a million-line roll is about a thousand events; the ``PaymentRoll`` aggregate holds
only the header (generation, totals, chunk ids, status), so loading it stays cheap. Draft →
approved → sent → settled. Regenerating replaces a draft (a new generation); an approved roll
never changes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.duties import require_other_person
from domain.errors import InvalidTransition, InvalidValue
from domain.lines import FIELDS, compact, expand

LINES_PER_CHUNK = 1000


class RollStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENT = "sent"
    SETTLED = "settled"


class ProgrammeGroup(StrEnum):
    ALL = "all"
    DIBAO = "dibao"  # dibao_urban, dibao_rural
    MARGINAL = "marginal"
    TEKUN = "tekun"

    def includes(self, programme: str) -> bool:
        return self is ProgrammeGroup.ALL or programme.startswith(self.value)


def roll_id(county_code: str, month: str, group: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:roll:{county_code}:{month}:{group}")


def chunk_id(roll: UUID, token: UUID, number: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:roll-chunk:{roll}:{token}:{number}")


class PlainLines(list[Any]):
    """Roll lines (or a chunk's parts) holding plain JSON values only: text, integers, booleans,
    None, lists and dicts of them, and ``orjson.Fragment`` (JSON already written, a line's
    ``payee``). The store's transcoder writes such a list with orjson in one call
    (``ledger.store.transcoding``), the same bytes the library's encoder would write; a UUID or
    a date inside would not be plain."""


class RollChunk(Aggregate):
    """Up to 1,000 roll lines, recorded once."""

    class Recorded(Aggregate.Created):
        """Chunk ``number`` of a roll generation: its lines as rows of values in the order
        ``fields`` names, each line's components as indices into ``parts`` (``domain.lines``).
        Rows hold the payee's account sealed (``account_sealed``), as the case-state view keeps
        it, so no account is ever stored in the clear; the bank file unseals it with the
        deployment's key (``ledger.store.keys``). ``expanded`` gives the lines as objects."""

        roll_id: UUID
        token: UUID
        number: int
        county_code: str
        month: str
        group: str
        fields: list[str]
        parts: list[list[Any]]
        lines: list[list[Any]]

        def expanded(self) -> list[dict[str, Any]]:
            """The chunk's lines as objects (``domain.lines.expand``)."""
            return expand(
                self.fields, self.parts, self.lines, self.number * LINES_PER_CHUNK,
                self.county_code, self.month, self.group,
            )  # fmt: skip

    @staticmethod
    def create_id(roll_id: UUID, token: UUID, number: int, **_: Any) -> UUID:
        return chunk_id(roll_id, token, number)

    @event(Recorded)
    def __init__(
        self, roll_id: UUID, token: UUID, number: int, county_code: str, month: str, group: str,
        fields: list[str], parts: list[list[Any]], lines: list[list[Any]],
    ) -> None:  # fmt: skip
        """``token`` names the generation attempt; only the one its roll header names counts."""
        self.roll_id = roll_id
        self.token = token
        self.number = number

    @classmethod
    def record(
        cls, *, roll_id: UUID, token: UUID, number: int, county_code: str, month: str, group: str,
        parts: list[list[Any]], lines: list[list[Any]],
    ) -> RollChunk:  # fmt: skip
        """Record rows of ``FIELDS`` (``domain.lines``) as chunk ``number``."""
        return cls(roll_id=roll_id, token=token, number=number, county_code=county_code,
                   month=month, group=group, fields=list(FIELDS), parts=PlainLines(parts),
                   lines=PlainLines(lines))  # fmt: skip

    @classmethod
    def record_lines(
        cls, *, roll_id: UUID, token: UUID, number: int, county_code: str, month: str, group: str,
        lines: list[dict[str, Any]],
    ) -> RollChunk:  # fmt: skip
        """Record lines given as objects (the fields of ``expand``'s lines, less the number,
        reference and income source, whose components then need no placeholders)."""
        fields, parts, rows = compact(lines, month)
        return cls(roll_id=roll_id, token=token, number=number, county_code=county_code,
                   month=month, group=group, fields=fields, parts=PlainLines(parts),
                   lines=PlainLines(rows))  # fmt: skip


class PaymentRoll(Aggregate):
    @staticmethod
    def create_id(county_code: str, month: str, group: str, **_: Any) -> UUID:
        return roll_id(county_code, month, group)

    @event("Opened")
    def __init__(self, county_code: str, month: str, group: str) -> None:
        self.county_code = county_code
        self.month = month
        self.group = group
        self.status = RollStatus.DRAFT
        self.generation = 0
        self.line_count = 0
        self.total_fen = 0
        # Who generated the current draft and who approved it: the approver is not the
        # generator, the sender not the approver (separation of duties).
        self.generated_by = ""
        self.approved_by = ""

    @classmethod
    def open(cls, *, county_code: str, month: str, group: str) -> PaymentRoll:
        if len(county_code) != 6 or county_code.endswith("00"):
            raise InvalidValue(
                "a roll is per county (6-digit code not ending 00)",
                field="county_code",
                rule="county_level",
            )
        try:
            group = ProgrammeGroup(group).value
        except ValueError:
            raise InvalidValue(
                f"group must be one of {[g.value for g in ProgrammeGroup]}",
                field="group",
                rule="programme_group",
            ) from None
        return cls(county_code=county_code, month=month, group=group)

    def require_draft(self) -> None:
        if self.status != RollStatus.DRAFT:
            raise InvalidTransition(
                f"a roll that is {self.status} never changes",
                field="status",
                rule="regenerate_only_draft",
            )

    def record_generation(
        self,
        *,
        as_of: str,
        line_count: int,
        total_fen: int,
        totals: dict[str, Any],
        chunk_count: int,
        actor: str,
        staff_id: str = "",
    ) -> int:
        """Record a (re)generated draft; returns its generation number."""
        if self.status != RollStatus.DRAFT:
            raise InvalidTransition(
                f"a roll that is {self.status} never changes",
                field="status",
                rule="regenerate_only_draft",
            )
        self._generated(
            generation=self.generation + 1,
            as_of=as_of,
            line_count=line_count,
            total_fen=total_fen,
            totals=totals,
            chunk_count=chunk_count,
            actor=actor,
            staff_id=staff_id,
        )
        return self.generation

    def migrate(
        self, *, as_of: str, line_count: int, total_fen: int, totals: dict[str, Any],
        chunk_count: int, actor: str,
    ) -> None:  # fmt: skip
        """Record a month the county's previous system paid (migrated history): its lines, as
        generated, approved and settled at once, with ``totals["migrated"]`` set. Its lines
        count as paid for later rolls' back-pay and recoveries; it moves no money in the fund
        ledger and never goes to the bank."""
        if self.status != RollStatus.DRAFT or self.generation != 0:
            raise InvalidTransition(
                f"the roll of {self.county_code} {self.month} exists already ({self.status})",
                field="month",
                rule="migrated_month_free",
            )
        self._generated(generation=1, as_of=as_of, line_count=line_count, total_fen=total_fen,
                        totals=totals | {"migrated": True}, chunk_count=chunk_count, actor=actor)  # fmt: skip
        self._approved(generation=1, total_fen=total_fen, actor=actor)
        self._settled(actor=actor)

    def _require_not_migrated(self, action: str) -> None:
        if self.migrated:
            raise InvalidTransition(
                f"a migrated roll (paid by the previous system) {action}",
                field="roll_id",
                rule="migrated_roll",
            )

    def approve(self, *, actor: str, staff_id: str = "", deputy_policy: str = "") -> None:
        """``deputy_policy``: the policy fact naming the approver the county's roll deputy, when
        the approver is not one of its finance officers (recorded, never assumed)."""
        if self.status != RollStatus.DRAFT:
            raise InvalidTransition(
                f"the roll is already {self.status}", field="status", rule="approve_once"
            )
        if self.generation == 0:
            raise InvalidTransition(
                "nothing generated yet", field="status", rule="generate_before_approval"
            )
        require_other_person(staff_id, "approve it", {"generated_by": self.generated_by})
        self._approved(generation=self.generation, total_fen=self.total_fen, actor=actor,
                       staff_id=staff_id, deputy_policy=deputy_policy)  # fmt: skip

    @event("Generated")
    def _generated(
        self,
        generation: int,
        as_of: str,
        line_count: int,
        total_fen: int,
        totals: dict[str, Any],
        chunk_count: int,
        actor: str,
        staff_id: str = "",
    ) -> None:
        self.generation = generation
        self.generated_by = staff_id
        self.line_count = line_count
        self.total_fen = total_fen
        self.chunk_count = chunk_count
        self.as_of = as_of
        self.token: str | None = totals.get("token")
        self.totals = totals
        self.payable_lines: int = totals.get("payable_lines", line_count)
        self.migrated: bool = bool(totals.get("migrated", False))

    def record_sent(
        self,
        *,
        file_sha256: str,
        encoding: str,
        line_count: int,
        total_fen: int,
        actor: str,
        staff_id: str = "",
    ) -> bool:
        """The bank file left for the bank. Returns False (records nothing) if already sent.
        The roll's approver never sends it, nor takes the sent file again."""
        if self.generation:
            self._require_not_migrated("has no bank file")
        if self.status not in (RollStatus.APPROVED, RollStatus.SENT):
            raise InvalidTransition(
                f"a roll that is {self.status} cannot be sent",
                field="status",
                rule="send_requires_approved",
            )
        require_other_person(staff_id, "send its bank file", {"approved_by": self.approved_by})
        if self.status == RollStatus.SENT:
            return False
        self._sent(
            file_sha256=file_sha256,
            encoding=encoding,
            line_count=line_count,
            total_fen=total_fen,
            actor=actor,
            staff_id=staff_id,
        )
        return True

    def import_bank_results(
        self, *, file_sha256: str, results: list[list[Any]], payable_lines: int, actor: str,
        staff_id: str = "",
    ) -> bool:  # fmt: skip
        """Record the bank's result per line ([line_no, "paid"|"failed", reason]). The same file
        again records nothing (returns False); a line already settled cannot get another result."""
        if self.generation:
            self._require_not_migrated("has no bank results")
        if self.status not in (RollStatus.SENT, RollStatus.SETTLED):
            raise InvalidTransition(
                f"a roll that is {self.status} has no bank results yet",
                field="status",
                rule="results_require_sent",
            )
        if file_sha256 in self.result_files:
            return False
        again = sorted({line for line, _status, _reason in results} & self.resulted)
        if again:
            raise InvalidValue(
                f"lines {again[:10]} already have a bank result",
                field="file",
                rule="one_result_per_line",
            )
        self._bank_results_imported(file_sha256=file_sha256, results=results, actor=actor,
                                    staff_id=staff_id)  # fmt: skip
        if len(self.resulted) == payable_lines:
            self._settled(actor=actor)
        return True

    @event("Approved")
    def _approved(
        self, generation: int, total_fen: int, actor: str, staff_id: str = "",
        deputy_policy: str = "",
    ) -> None:  # fmt: skip
        self.status = RollStatus.APPROVED
        self.approved_by = staff_id
        self.deputy_policy = deputy_policy
        self.result_files: list[str] = []
        self.resulted: set[int] = set()

    @event("Sent")
    def _sent(
        self,
        file_sha256: str,
        encoding: str,
        line_count: int,
        total_fen: int,
        actor: str,
        staff_id: str = "",
    ) -> None:
        self.status = RollStatus.SENT
        self.sent_by = staff_id

    @event("BankResultsImported")
    def _bank_results_imported(
        self, file_sha256: str, results: list[list[Any]], actor: str, staff_id: str = ""
    ) -> None:
        self.result_files.append(file_sha256)
        self.resulted.update(line for line, _status, _reason in results)

    @event("Settled")
    def _settled(self, actor: str) -> None:
        self.status = RollStatus.SETTLED
