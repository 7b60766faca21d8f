"""Audit trail: every decision and record, with effective date, recorded time, actor, document,
and the persons who prepared, checked and approved it (经办人 / 审核人 / 审批人) as far as it says.

Rows are keyed by log position and indexed by subject (case, person, region), so an auditor
can follow one case, one person across cases, or one region's policy decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from domain.access import IdempotencyRecord
from domain.duties import APPROVED, CHECKED, PREPARED, duties
from domain.household import HouseholdCase
from domain.policy import RegionPolicy
from domain.registry import RegistryRecord
from domain.roll import PaymentRoll
from domain.tekun import TekunApplication, TekunPerson
from domain.temporary import TemporaryGrant
from ledger.journal import JournalTransaction, LedgerYear
from projections.case_state.projection import pseudonymous_details
from projections.runner import event_name, utc_text


class AuditTrailProjection:
    def __init__(self, person_key: Callable[[str], str]) -> None:
        self.person_key = person_key

    def subjects(self, event: Any) -> Iterator[tuple[str, str]]:
        """(subject kind, subject id) pairs that this event concerns."""
        match event:
            case HouseholdCase.Event() | TekunPerson.Event():
                yield "case", str(event.originator_id)
            case RegionPolicy.Event():
                yield "policy", str(event.originator_id)
            case RegistryRecord.Recorded():
                yield "registry", str(event.originator_id)
            case TemporaryGrant.Event():
                yield "grant", str(event.originator_id)
            case PaymentRoll.Event():
                yield "roll", str(event.originator_id)
            case JournalTransaction.Posted():
                yield "transaction", str(event.originator_id)
                for account in dict.fromkeys(line["account"] for line in event.lines):
                    yield "account", account
            case JournalTransaction.Reversed():
                yield "transaction", str(event.originator_id)
            case TekunApplication.Event():
                yield "application", str(event.originator_id)
                if getattr(event, "case_id", None):
                    yield "case", str(event.case_id)
            case LedgerYear.Event():
                yield "carry_over", str(event.originator_id)
        for id_number in _id_numbers(event):
            yield "person", self.person_key(id_number)

    def rows(
        self, position: int, event: Any
    ) -> tuple[tuple[Any, ...] | None, list[tuple[str, str, int]]]:
        """The audit_events row and the audit_subjects rows of one event (none for plumbing)."""
        if isinstance(event, IdempotencyRecord.Event):
            return None, []
        subjects = list(self.subjects(event))
        if not subjects:
            return None, []
        steps = duties(event_name(event), vars(event))
        row = (
            position, str(event.originator_id), event.originator_version, event_name(event),
            getattr(event, "region_code", None),
            getattr(event, "effective_date", None) or getattr(event, "posting_date", None),
            utc_text(event.timestamp), getattr(event, "actor", None) or getattr(event, "issued_by", ""),
            getattr(event, "document_ref", None), pseudonymous_details(event, self.person_key),
            *(steps.get(step) for step in (PREPARED, CHECKED, APPROVED)),
        )  # fmt: skip
        return row, [(kind, subject, position) for kind, subject in subjects]


def _id_numbers(event: Any) -> list[str]:
    found = [m["id_number"] for m in getattr(event, "members", None) or []]
    for name in ("member", "person"):
        value = getattr(event, name, None)
        if isinstance(value, dict) and "id_number" in value:
            found.append(value["id_number"])
    for name in ("id_number", "single_person_id_number"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            found.append(value)
    return found
