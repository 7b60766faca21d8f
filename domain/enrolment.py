"""A person's enrolment: the guard that keeps one person in at most one open case of each kind.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

The id is derived from a keyed hash of the identity number (never the number itself), and the
enrolment is saved in the same atomic ``save()`` as the case decision, so two concurrent
applications naming the same person cannot both succeed: the second fails on the version.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict
from domain.ids import name_uuid


def enrolment_name(person_key: str) -> str:
    """The name a person's enrolment id is derived from (``name_uuid``)."""
    return f"doudi:person:{person_key}"


def enrolment_id(person_key: str) -> UUID:
    return name_uuid(enrolment_name(person_key))


class PersonEnrolment(Aggregate):
    @staticmethod
    def create_id(person_key: str) -> UUID:
        return enrolment_id(person_key)

    @event("Registered")
    def __init__(self, person_key: str, kind: str, case_id: str) -> None:
        """A person's first enrolment: one event, since most people only ever have one case."""
        self.person_key = person_key
        self.open_cases: dict[str, str] = {kind: case_id}

    def enrol(self, *, kind: str, case_id: str, field: str = "id_number") -> None:
        current = self.open_cases.get(kind)
        if current == case_id:
            return
        if current is not None:
            raise Conflict(
                f"this person is already in another open {kind} case",
                field=field,
                rule=f"one_open_{kind}_case_per_person",
            )
        self._enrolled(kind=kind, case_id=case_id)

    def release(self, *, kind: str, case_id: str) -> None:
        if self.open_cases.get(kind) == case_id:
            self._released(kind=kind, case_id=case_id)

    @event("Enrolled")
    def _enrolled(self, kind: str, case_id: str) -> None:
        self.open_cases[kind] = case_id

    @event("Released")
    def _released(self, kind: str, case_id: str) -> None:
        del self.open_cases[kind]
