"""Known-at reads: a record as it was known at a past time or log position.

A read names either a time (``as_known_at``, UTC) or a log position (``as_of_position``); a
time is resolved to the log position it reflects (the last audited event, or bank statement,
recorded at or before it), and every answer states that position. What was known at a position
is what a replay of the log up to it gives:

- a case and its members: the case's own events up to the position, folded by the case-state
  view's own code (one aggregate's events, never the log);
- ledger balances and account statements: the entries recorded up to the position (entries
  are never changed; a reversal is entries of its own).

Each answer also lists the events recorded after the position that make today's answer differ
(their log positions, types, effective dates and documents). A special auditor's period bounds
the time (nothing recorded after the period's last day is known), and a position past it is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.access import Principal
from domain.errors import Forbidden, InvalidValue
from projections.runner import utc_text

if TYPE_CHECKING:
    from ops.services.core import Services

# Decisions saved at once wait on each other for seconds at most (``RETRY_BUDGET_S``), so their
# recorded times may run against their log order by that much: a time's position is looked for
# among the events recorded in the minute before it (``AuditTrailView.last_recorded_by``).
ORDER_WINDOW_S = 60


@dataclass(frozen=True)
class KnownAt:
    """The log position a read reflects, and the time asked for (UTC text) if one was."""

    position: int
    time: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "as_known_at": self.time}


def period_end(principal: Principal) -> str | None:
    """The last instant of a special auditor's period (UTC text), None without a period."""
    return f"{principal.period_to}T23:59:59.999999Z" if principal.period_to else None


def position_at(services: Services, moment: str) -> int:
    """The log position that reflects what was recorded by ``moment`` (UTC text)."""
    if moment >= utc_text(datetime.now(UTC)):
        return services.log_position()
    return max(
        services.audit.last_recorded_by(moment, ORDER_WINDOW_S),
        services.ledger.last_statement_recorded_by(moment),
    )


def resolve(
    services: Services,
    principal: Principal,
    as_known_at: str | None,
    as_of_position: int | None,
) -> KnownAt | None:
    """The position a read asks for: by time or by position (not both), None for a read as
    known now (a special auditor's reads then keep their own bounds by date)."""
    if as_known_at is not None and as_of_position is not None:
        raise InvalidValue(
            "name a time (as_known_at) or a log position (as_of_position), not both",
            field="as_of_position",
            rule="known_at_one",
        )
    end = period_end(principal)
    if as_of_position is not None:
        head = services.log_position()
        if as_of_position > head:
            raise InvalidValue(
                f"the log holds positions up to {head}",
                field="as_of_position",
                rule="position_recorded",
            )
        if end is not None and as_of_position > position_at(services, end):
            raise Forbidden(
                "the position was recorded after this credential's audit period",
                field="as_of_position",
                rule="audit_period",
            )
        return KnownAt(as_of_position)
    if as_known_at is None:
        return None
    try:
        moment = utc_text(datetime.fromisoformat(as_known_at))
    except ValueError:
        raise InvalidValue(
            "not a valid UTC time", field="as_known_at", rule="timestamp_valid"
        ) from None
    if end is not None:
        moment = min(moment, end)
    return KnownAt(position_at(services, moment), moment)


def case_known_at(
    services: Services, case_id: str, known: KnownAt, day: str | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the case as known at ``known``, None if not applied for by then; the case's events
    recorded after it). ``day``: leave out the decisions effective after it (an audit period's
    last day)."""
    events = services.log.aggregate(UUID(case_id))
    view = services.case_state
    case = view.folded(case_id, [(n.id, n) for n in events if n.id <= known.position], day)
    later = [view.event_summary(n.id, n) for n in events if n.id > known.position]
    return case, later


def reconciliation(
    services: Services, known: KnownAt | None, county: str, month: str, idle_days: int
) -> dict[str, Any]:
    """A county's reconciliation of a month as known now, or as known at ``known`` (pools idle
    counted to that time's day) with the facts recorded since that it lacks."""
    view = services.reconciliation.at(None if known is None else known.position)
    moment = known.time if known is not None and known.time else utc_text(datetime.now(UTC))
    report = view.report(county, month, idle_days, moment[:10])
    if known is not None:
        later = view.recorded_after(county, month)
        report["known_at"] = known.as_dict() | {"recorded_after": later}
    return report
