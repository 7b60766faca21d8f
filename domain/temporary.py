"""Temporary assistance grants (临时救助, SPEC §5): requested, approved at a level, paid from a
township's reserve fund (备用金), documented afterwards (先行救助, 事后补充说明).

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

The place of occurrence may lie outside the person's hukou region (急难发生地). Approval levels by
amount are regional policy; the level a grant is approved at is the approver's (a township
credential approves at township level, a county one at county level, or as the committee 一事一议
with the committee's document), and an approver whose level is too low for the amount is refused.
"""

from __future__ import annotations

from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from domain.decisions import decision_documents, decision_meta
from domain.duties import require_other_person
from domain.errors import Forbidden, InvalidTransition, InvalidValue
from domain.household import _name, _text
from domain.identity import validate_id_number
from domain.money import require_fen
from domain.programmes import TemporaryType
from domain.regions import validate_region_code


class ApprovalLevel(StrEnum):
    TOWNSHIP = "township"
    COUNTY = "county"
    COMMITTEE = "committee"  # 一事一议


LEVEL_ORDER = [ApprovalLevel.TOWNSHIP, ApprovalLevel.COUNTY, ApprovalLevel.COMMITTEE]


def required_level(
    amount_fen: int, township_limit_fen: int, committee_limit_fen: int
) -> ApprovalLevel:
    if amount_fen <= township_limit_fen:
        return ApprovalLevel.TOWNSHIP
    if amount_fen < committee_limit_fen:
        return ApprovalLevel.COUNTY
    return ApprovalLevel.COMMITTEE


class TemporaryGrant(Aggregate):
    @event("Requested")
    def __init__(
        self,
        region_code: str,
        occurred_in: str,
        person: dict[str, str],
        grant_type: str,
        amount_fen: int,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.region_code = region_code
        self.occurred_in = occurred_in
        self.person = person
        self.amount_fen = amount_fen
        self.status = "requested"
        self.requested_on = effective_date
        self.approved_on: str | None = None
        self.level: str | None = None
        self.paying_township: str | None = None
        self.supplements = 0
        # Who requested and who approved: the approver is not the requester, the payer not
        # the approver (separation of duties).
        self.requested_by = staff_id
        self.approved_by = ""

    @classmethod
    def request(
        cls,
        *,
        region_code: str,
        occurred_in: str,
        id_number: str,
        name: str,
        grant_type: str,
        amount_fen: int,
        reason: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> TemporaryGrant:
        try:
            grant_type = TemporaryType(grant_type).value
        except ValueError:
            raise InvalidValue(
                "grant_type must be urgent or expenditure",
                field="grant_type",
                rule="temporary_type",
            ) from None
        meta = decision_meta(effective_date, actor, document_ref)
        meta |= decision_documents(decided_on, document_date)
        person = {"id_number": validate_id_number(id_number, born_by=meta["effective_date"]),
                  "name": _name(name, "name")}  # fmt: skip
        return cls(region_code=validate_region_code(region_code),
                   occurred_in=validate_region_code(occurred_in, "occurred_in"), person=person,
                   grant_type=grant_type, amount_fen=require_fen(amount_fen, "amount_fen", allow_zero=False),
                   reason=_text(reason, "reason"), **meta, staff_id=staff_id)  # fmt: skip

    def approve(
        self,
        *,
        level: str,
        paying_township: str,
        township_limit_fen: int,
        committee_limit_fen: int,
        effective_date: str,
        actor: str,
        document_ref: str,
        recorded_on: str,
        committee_document_ref: str | None = None,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        """``level`` is the approver's authority (from the credential, never from a request), and
        the limits are those in force on ``recorded_on``, the day the approval is recorded (see
        ``ops.services.grants.ApproveGrant``). The approval is dated from the request up to that day."""
        if self.status != "requested":
            raise InvalidTransition(
                f"the grant is already {self.status}", field="status", rule="approve_once"
            )
        meta = decision_meta(effective_date, actor, document_ref,
                             not_before=(self.requested_on, "before_request"), not_after=recorded_on)  # fmt: skip
        meta |= decision_documents(decided_on, document_date)
        chosen = ApprovalLevel(level)
        needed = required_level(self.amount_fen, township_limit_fen, committee_limit_fen)
        if LEVEL_ORDER.index(chosen) < LEVEL_ORDER.index(needed):
            raise Forbidden(
                f"{self.amount_fen} fen needs approval at {needed} level; this approval is at {chosen}",
                field="committee_document_ref"
                if chosen is ApprovalLevel.COUNTY
                else "region_scope",
                rule="approval_authority",
            )
        counties = (self.region_code[:6], self.occurred_in[:6])
        if (
            not isinstance(paying_township, str)
            or len(paying_township) != 9
            or paying_township[:6] not in counties
        ):
            raise InvalidValue(
                "paying_township is the 9-digit township whose reserve pays, in the county of "
                "residence or of occurrence",
                field="paying_township",
                rule="paying_township",
            )
        validate_region_code(paying_township, "paying_township")
        require_other_person(staff_id, "approve it", {"requested_by": self.requested_by})
        self._approved(
            staff_id=staff_id,
            level=chosen.value,
            needed=needed.value,
            paying_township=paying_township,
            committee_document_ref=committee_document_ref,
            **meta,
        )

    def pay(
        self, *, transaction_key: str, posting_date: str, actor: str, staff_id: str = ""
    ) -> None:
        if self.status != "approved":
            raise InvalidTransition(
                f"a grant that is {self.status} cannot be paid",
                field="status",
                rule="pay_requires_approved",
            )
        meta = decision_meta(posting_date, actor, transaction_key, field="posting_date",
                             not_before=(self.approved_on, "before_approval"))  # fmt: skip
        require_other_person(staff_id, "pay it", {"approved_by": self.approved_by})
        self._paid(transaction_key=transaction_key, **meta, staff_id=staff_id)

    def record_supplement(
        self,
        *,
        note: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        if self.status == "requested":
            raise InvalidTransition(
                "supplementary documentation follows approval",
                field="status",
                rule="supplement_after_approval",
            )
        meta = decision_meta(effective_date, actor, document_ref,
                             not_before=(self.approved_on, "before_approval"))  # fmt: skip
        meta |= decision_documents(decided_on, document_date)
        self._supplement_recorded(note=_text(note, "note"), **meta, staff_id=staff_id)

    @event("Approved")
    def _approved(
        self,
        level: str,
        needed: str,
        paying_township: str,
        committee_document_ref: str | None,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.status = "approved"
        self.approved_by = staff_id
        self.level = level
        self.paying_township = paying_township
        self.approved_on = effective_date

    @event("Paid")
    def _paid(
        self,
        transaction_key: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
    ) -> None:
        self.status = "paid"

    @event("SupplementRecorded")
    def _supplement_recorded(
        self,
        note: str,
        effective_date: str,
        actor: str,
        document_ref: str,
        staff_id: str = "",
        decided_on: str | None = None,
        document_date: str | None = None,
    ) -> None:
        self.supplements += 1
