"""Roll commands: generate (or regenerate) a county's draft roll for a month, approve it.

They carry out ``generate_roll`` and ``approve_roll`` of ``ops/services/rolls.py``; they live
here because that module is compiled (``ops/native.py``), and a command is a plain dataclass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from domain.access import Principal
from ops.services.core import CONTENDED_RETRIES, Command, Outcome, Services
from ops.services.rolls import approve_roll, generate_roll


@dataclass(frozen=True, kw_only=True)
class GenerateRoll(Command):
    """Generate (or regenerate) the draft roll of a county × month × programme group, as known
    now; ``progress`` (not part of the command's value) hears of each chunk of lines."""

    county_code: str
    month: str
    group: str = "all"
    progress: Callable[[int], None] | None = field(default=None, compare=False, repr=False)

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return generate_roll(
            services, principal, self.county_code, self.month, self.group, self.progress
        )


@dataclass(frozen=True, kw_only=True)
class ApproveRoll(Command):
    """Approve a draft roll (a finance officer of its county): reserves its total in the pools
    that postings also move, so a lost race is decided again."""

    roll_id: str
    retries = CONTENDED_RETRIES

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return approve_roll(services, principal, self.roll_id)
