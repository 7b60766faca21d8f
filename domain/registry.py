"""Records fed by data exchange (SPEC §5): deaths, vehicle/property/business registrations, and
the registry of cadres' and case workers' relatives (近亲属备案).

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

A record never changes a case: misuse checks read them beside the cases, and a death record
holds the person's payments (``domain.findings.held``) until the case is terminated or the
record dismissed. The id is derived
from (kind, source, source_ref) so re-importing the same feed records nothing new.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.dates import validate_date
from domain.decisions import require_document
from domain.errors import InvalidTransition, InvalidValue
from domain.identity import validate_id_number
from domain.regions import validate_region_code
from domain.text import clean_text


class RegistryKind(StrEnum):
    DEATH = "death"
    VEHICLE = "vehicle"
    PROPERTY = "property"
    BUSINESS = "business"
    CADRE_RELATIVE = "cadre_relative"


def official_of(record: Any) -> str | None:
    """The staff id of the official a ``cadre_relative`` record names (``details.staff_id``,
    the same id the official's credentials carry); None for every other kind."""
    if record.kind != RegistryKind.CADRE_RELATIVE:
        return None
    return str(record.details.get("staff_id") or "") or None


def registry_record_id(kind: str, source: str, source_ref: str, region_code: str) -> UUID:
    """A record is once per county: another county recording the same source reference records
    its own, and learns nothing of the first."""
    return uuid5(NAMESPACE_URL, f"doudi:registry:{region_code[:6]}:{kind}:{source}:{source_ref}")


class RegistryRecord(Aggregate):
    @staticmethod
    def create_id(kind: str, source: str, source_ref: str, region_code: str, **_: Any) -> UUID:
        return registry_record_id(kind, source, source_ref, region_code)

    @event("Recorded")
    def __init__(
        self,
        kind: str,
        source: str,
        source_ref: str,
        id_number: str,
        region_code: str,
        effective_date: str,
        details: dict[str, Any],
        actor: str,
    ) -> None:
        self.kind = kind
        self.id_number = id_number
        self.region_code = region_code
        self.effective_date = effective_date
        self.dismissed = False

    def dismiss(self, *, note: str, document_ref: str, actor: str, staff_id: str) -> None:
        """An officer found the record wrong (not this person, not dead): a death record that
        held a payment holds it no more. A record is dismissed once."""
        if self.dismissed:
            raise InvalidTransition(
                "the record is already dismissed", field="record_id", rule="dismiss_once"
            )
        if not isinstance(note, str) or not note.strip() or len(note) > 2000:
            raise InvalidValue("note is 1–2000 characters", field="note", rule="text_required")
        self._dismissed(
            note=clean_text(note.strip(), "note"), document_ref=require_document(document_ref),
            actor=actor, staff_id=staff_id,
        )  # fmt: skip

    @event("Dismissed")
    def _dismissed(self, note: str, document_ref: str, actor: str, staff_id: str) -> None:
        self.dismissed = True

    @classmethod
    def record(
        cls,
        *,
        kind: str,
        source: str,
        source_ref: str,
        id_number: str,
        region_code: str,
        effective_date: str,
        details: dict[str, Any] | None,
        actor: str,
    ) -> RegistryRecord:
        try:
            kind = RegistryKind(kind).value
        except ValueError:
            raise InvalidValue(
                f"kind must be one of {[k.value for k in RegistryKind]}",
                field="kind",
                rule="registry_kind",
            ) from None
        for field, value in (("source", source), ("source_ref", source_ref)):
            if not isinstance(value, str) or not value.strip() or len(value) > 100:
                raise InvalidValue(
                    f"{field} is 1–100 characters", field=field, rule="text_required"
                )
        if kind == RegistryKind.CADRE_RELATIVE:
            _require_official(details or {})
        return cls(
            kind=kind,
            source=source.strip(),
            source_ref=source_ref.strip(),
            id_number=validate_id_number(id_number, born_by=validate_date(effective_date)),
            region_code=validate_region_code(region_code),
            effective_date=validate_date(effective_date),
            details=dict(details or {}),
            actor=actor,
        )


def _require_official(details: dict[str, Any]) -> None:
    """A relatives' registry record (近亲属备案) names the official by ``details.staff_id``: the
    person its ``id_number`` is related to, whom recusal keeps off that person's cases."""
    staff_id = details.get("staff_id")
    if not isinstance(staff_id, str) or not 1 <= len(staff_id) <= 64:
        raise InvalidValue(
            "a cadre_relative record names the official's staff id in details.staff_id",
            field="details.staff_id",
            rule="official_staff_id",
        )
