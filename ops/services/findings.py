"""Misuse findings: who reads which findings, the auditors' review (explained, confirmed), and
the dismissal of a death record that held a payment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.access import Principal, Role
from domain.errors import NotFound
from domain.findings import FindingReview
from domain.regions import scope_prefix
from domain.registry import RegistryRecord
from ledger.store.cursors import Pager
from ops.services.core import Command, Outcome, Services


def visible_finding(services: Services, principal: Principal, finding_id: str) -> dict[str, Any]:
    """One finding as the caller may see it: in scope, dated in a special auditor's period,
    and for a case worker on a case they worked; otherwise not found."""
    principal.require("read.findings")
    try:
        wanted = str(UUID(finding_id))
    except ValueError:
        raise NotFound("no such finding", field="finding_id", rule="exists") from None
    found = services.findings.get(wanted)
    if (
        found is None
        or not principal.sees(found["region_code"])
        or not principal.in_period(found["dated"])
        or (principal.role is Role.CASE_WORKER and principal.staff_id not in found["staff_ids"])
    ):
        raise NotFound("no such finding", field="finding_id", rule="exists")
    return found


def own_cases(principal: Principal) -> str | None:
    """The staff id whose cases a caller's finding lists are limited to (case workers only)."""
    return principal.staff_id if principal.role is Role.CASE_WORKER else None


def search_findings(
    services: Services, principal: Principal, *, rule: str | None = None,
    region: str | None = None, status: str | None = None, first: str | None = None,
    last: str | None = None, limit: int = 50, cursor: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A page of the findings the caller sees (``region`` within its scope, 403 otherwise;
    dated ``first``–``last``, within a special auditor's period, 403 outside it), with their
    count and money in all and per rule; ``cursor`` is the previous page's ``next``."""
    principal.require("read.findings")
    prefix = principal.prefix
    if region is not None:
        principal.require_filter(region)
        prefix = max(prefix, scope_prefix(region), key=len)
    period, staff = _dates(principal, first, last), own_cases(principal)
    pager = Pager(services, ["findings", prefix, period, staff, rule, status], width=3)
    total, money, items, by_rule, last_key = services.findings.search(
        scope_prefix=prefix, rule=rule, status=status, period=period, staff_id=staff,
        limit=limit, after=pager.after(cursor),
    )  # fmt: skip
    return pager.page(limit, items, last_key) | {"total": total, "amount_fen": money,
                                                 "by_rule": by_rule}  # fmt: skip


def _dates(principal: Principal, first: str | None, last: str | None) -> tuple[str, str] | None:
    """The dates asked, within a special auditor's period (403 naming ``from``/``to`` outside)."""
    if first is None and last is None and principal.period is None:
        return None
    low, high = first or "1990-01-01", last or "2100-12-31"
    if principal.period is not None:
        if first is not None:
            principal.require_period(first, "from")
        if last is not None:
            principal.require_period(last, "to")
        low, high = max(low, principal.period[0]), min(high, principal.period[1])
    return low, high


@dataclass(frozen=True, kw_only=True)
class ReviewFinding(Command):
    """An auditor's step on an open finding in their scope and period: ``explained`` (a reason
    clears it) or ``confirmed`` (with an outcome: recovery or referral)."""

    finding_id: str
    step: str
    note: str
    document_ref: str
    outcome: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("finding.review")
        found = visible_finding(services, principal, self.finding_id)
        fid = UUID(found["finding_id"])
        try:
            review: FindingReview = services.app.repository.get(fid)
        except AggregateNotFoundError:
            review = FindingReview.open(
                finding_id=fid, rule=found["rule"], region_code=found["region_code"]
            )
        meta = {"note": self.note, "document_ref": self.document_ref,
                "actor": principal.credential_id, "staff_id": principal.staff_id}  # fmt: skip
        if self.step == "confirmed":
            review.confirm(outcome=self.outcome or "", **meta)
        else:
            review.explain(**meta)
        return Outcome(
            [review], {"finding_id": str(fid), "status": review.status, "version": review.version}
        )


@dataclass(frozen=True, kw_only=True)
class DismissRecord(Command):
    """An officer dismisses a registry record (wrong person, not dead): a death record then
    holds no payment from the next roll on."""

    record_id: str
    note: str
    document_ref: str

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("registry.dismiss")
        record: RegistryRecord = services.load(RegistryRecord, self.record_id, "record_id")
        if not principal.sees(record.region_code):
            raise NotFound("no such RegistryRecord", field="record_id", rule="exists")
        record.dismiss(note=self.note, document_ref=self.document_ref,
                       actor=principal.credential_id, staff_id=principal.staff_id)  # fmt: skip
        return Outcome([record], {"record_id": str(record.id), "dismissed": True})
