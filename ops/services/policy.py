"""Policy commands: record an effective-dated fact of a region's policy book (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.access import Principal
from ops.services.core import Command, Outcome, Services


@dataclass(frozen=True, kw_only=True)
class SetPolicy(Command):
    """Record one fact of ``kind`` (a standard, tiers, a subsidy…) for a region."""

    region_code: str
    kind: str
    fields: dict[str, Any]

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return services.set_policy(principal, self.region_code, self.kind, self.fields)
