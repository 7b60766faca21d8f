"""Name-based ids: every derived id in doudi (a person's enrolment, an imported case, a roll) is
``uuid5`` of a name under ``NAMESPACE_URL``."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5


def name_uuid(name: str) -> UUID:
    """``uuid.uuid5(uuid.NAMESPACE_URL, name)``."""
    return uuid5(NAMESPACE_URL, name)
