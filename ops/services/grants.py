"""Temporary assistance (临时救助) commands: request, approve at a level, pay from the township
reserve, record supplementary documentation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from domain.access import Principal
from domain.errors import Forbidden, InvalidValue, NotFound
from domain.policy import ApprovalLimits
from domain.temporary import ApprovalLevel, TemporaryGrant
from ops.services.cases import decision_dates, require_unrelated
from ops.services.core import CONTENDED_RETRIES, Command, Outcome, Services, now_utc
from ops.services.ledger import flow_postings
from projections.runner import utc_text


def summary(grant: TemporaryGrant) -> dict[str, Any]:
    return {"grant_id": str(grant.id), "status": grant.status, "amount_fen": grant.amount_fen, "level": grant.level,
            "paying_township": grant.paying_township, "version": grant.version}  # fmt: skip


def _sees(principal: Principal, grant: TemporaryGrant) -> bool:
    return principal.sees(grant.region_code) or principal.sees(grant.occurred_in)


def _load(services: Services, principal: Principal, grant_id: str) -> TemporaryGrant:
    grant: TemporaryGrant = services.load(TemporaryGrant, grant_id, "grant_id")
    if not _sees(principal, grant):
        raise NotFound("no such grant", field="grant_id", rule="exists")
    return grant


def approval_level(principal: Principal, committee_document_ref: str | None) -> ApprovalLevel:
    """The level an approver acts at, from its credential: a township credential (9-digit
    scope) at township level; any wider scope at county level, or as the committee (一事一议)
    when it records the committee's decision document, which a township cannot."""
    if principal.is_township:
        if committee_document_ref is not None:
            raise Forbidden(
                "a township credential cannot record a committee (一事一议) decision",
                field="committee_document_ref",
                rule="approval_authority",
            )
        return ApprovalLevel.TOWNSHIP
    return ApprovalLevel.COUNTY if committee_document_ref is None else ApprovalLevel.COMMITTEE


@dataclass(frozen=True, kw_only=True)
class RequestGrant(Command):
    """Request a grant; the place of occurrence may be outside the hukou region."""

    region_code: str
    occurred_in: str
    id_number: str
    name: str
    grant_type: str
    amount_fen: int
    reason: str
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("case.apply")
        if not (principal.sees(self.region_code) or principal.sees(self.occurred_in)):
            raise Forbidden(
                "neither the hukou region nor the place of occurrence is in scope",
                field="region_code",
                rule="region_scope",
            )
        grant = TemporaryGrant.request(
            **asdict(self) | decision_dates(self.decided_on, self.document_date),
            actor=principal.credential_id, staff_id=principal.staff_id,
        )  # fmt: skip
        require_unrelated(services, principal, [grant.person["id_number"]])
        return Outcome([grant], summary(grant), 201)


@dataclass(frozen=True, kw_only=True)
class ApproveGrant(Command):
    """Approve at the approver's level, paid from a township reserve in the approver's scope.

    The approval limits are those in force on the day the approval is recorded, as known then:
    an approver's authority is what it is when they act, and no date in a body (the request's
    or the approval's, both written by callers) chooses older, higher limits.
    """

    grant_id: str
    paying_township: str
    committee_document_ref: str | None = None
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        grant = _load(services, principal, self.grant_id)
        principal.require("case.decide")
        require_unrelated(services, principal, [grant.person["id_number"]])
        principal.require_region(self.paying_township, "paying_township")
        level = approval_level(principal, self.committee_document_ref)
        now = now_utc()
        today = now.date().isoformat()
        services.projections.catch_up_if_behind("policy_book")
        limits = services.policy.in_force(
            self.paying_township[:6], ApprovalLimits, "", today, utc_text(now)
        )
        if limits is None:
            raise InvalidValue(
                "no approval limits (审批权限) in force for the paying county",
                field="paying_township",
                rule="approval_limits_in_force",
            )
        grant.approve(
            paying_township=self.paying_township,
            committee_document_ref=self.committee_document_ref,
            effective_date=self.effective_date,
            document_ref=self.document_ref,
            level=level.value,
            township_limit_fen=limits.value.township_limit_fen,
            committee_limit_fen=limits.value.committee_limit_fen,
            actor=principal.credential_id,
            recorded_on=today,
            staff_id=principal.staff_id,
            **decision_dates(self.decided_on, self.document_date),
        )
        return Outcome([grant], summary(grant) | {"limits_set_by": limits.source})


@dataclass(frozen=True, kw_only=True)
class PayGrant(Command):
    """Pay from the township reserve fund (备用金): refused if the reserve does not hold the
    amount. Other postings move the reserve too, so a lost race is decided again."""

    grant_id: str
    posting_date: str
    retries = CONTENDED_RETRIES

    def decide(self, services: Services, principal: Principal) -> Outcome:
        grant = _load(services, principal, self.grant_id)
        principal.require("ledger.post")
        if grant.paying_township is not None:  # the reserve that pays must be in the payer's scope
            principal.require_region(grant.paying_township, "paying_township")
        key = f"grant:{grant.id}:pay"
        require_unrelated(services, principal, [grant.person["id_number"]])
        grant.pay(transaction_key=key, posting_date=self.posting_date,
                  actor=principal.credential_id, staff_id=principal.staff_id)  # fmt: skip
        postings = flow_postings(
            services, key=key, code="grant", county=str(grant.paying_township),
            amounts={"temporary": grant.amount_fen}, debit_kind="disbursed", credit_kind="reserve",
            posting_date=self.posting_date, actor=principal.credential_id,
            document_ref=f"临时救助 {grant.id}", subject="grant_id",
        )  # fmt: skip
        return Outcome([grant, *postings], summary(grant))


@dataclass(frozen=True, kw_only=True)
class RecordSupplement(Command):
    """Record supplementary documentation (事后补充说明) after approval."""

    grant_id: str
    note: str
    effective_date: str
    document_ref: str
    decided_on: str | None = None
    document_date: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        grant = _load(services, principal, self.grant_id)
        principal.require("case.record")
        require_unrelated(services, principal, [grant.person["id_number"]])
        grant.record_supplement(note=self.note, effective_date=self.effective_date,
                                document_ref=self.document_ref, actor=principal.credential_id,
                                staff_id=principal.staff_id,
                                **decision_dates(self.decided_on, self.document_date))  # fmt: skip
        return Outcome([grant], summary(grant))
