"""Credentials and idempotency records: who may do what where, and which requests were served.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

A credential stores only the SHA-256 of its bearer token. An idempotency record is saved in the
same atomic ``save()`` as the command it answers, so a retry either finds it or races the first
request on the record's version and loses cleanly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.dates import validate_date
from domain.duties import require_other_person
from domain.errors import Forbidden, InvalidTransition, InvalidValue
from domain.regions import NATIONAL, is_ancestor_or_self, scope_prefix, validate_region_code


class Role(StrEnum):
    CASE_WORKER = "case_worker"
    APPROVER = "approver"
    FINANCE_OFFICER = "finance_officer"
    AUDITOR = "auditor"
    SPECIAL_AUDITOR = "special_auditor"
    ADMIN = "admin"


class Credential(Aggregate):
    @event("Issued")
    def __init__(
        self,
        role: str,
        region_scope: str,
        token_sha256: str,
        label: str,
        expires_at: str | None,
        period_from: str | None,
        period_to: str | None,
        issued_by: str,
        staff_id: str | None = None,
    ) -> None:
        self.role = role
        self.staff_id = staff_id
        self.region_scope = region_scope
        self.token_sha256 = token_sha256
        self.expires_at = expires_at
        self.revoked = False

    @classmethod
    def issue(
        cls,
        *,
        role: str,
        region_scope: str,
        token_sha256: str,
        label: str,
        expires_at: str | None,
        period_from: str | None,
        period_to: str | None,
        issued_by: str,
        staff_id: str | None = None,
        issuer_staff_id: str = "",
    ) -> Credential:
        """``staff_id`` names the person who holds the credential (required for the roles that
        prepare or approve); ``issuer_staff_id`` the person issuing it, who is never the same."""
        try:
            role = Role(role).value
        except ValueError:
            raise InvalidValue(
                f"role must be one of {[r.value for r in Role]}", field="role", rule="role"
            ) from None
        if region_scope != NATIONAL:
            validate_region_code(region_scope, "region_scope")
        if len(region_scope) not in (6, 9):
            raise InvalidValue(
                "region_scope is a 6-digit division code or a 9-digit township code",
                field="region_scope",
                rule="region_scope",
            )
        if role == Role.SPECIAL_AUDITOR and not (expires_at and period_from and period_to):
            raise InvalidValue(
                "a special audit credential needs an expiry and an audit period",
                field="expires_at",
                rule="special_audit_limits",
            )
        _check_period(period_from, period_to)
        staff_id = _staff_id(staff_id, role)
        if staff_id is not None:
            require_other_person(
                issuer_staff_id, "issue a credential for themselves", {"staff_id": staff_id}
            )
        return cls(
            role=role,
            region_scope=region_scope,
            token_sha256=token_sha256,
            label=label[:100],
            expires_at=expires_at,
            period_from=period_from,
            period_to=period_to,
            issued_by=issued_by,
            staff_id=staff_id,
        )

    def revoke(self, *, actor: str) -> None:
        if self.revoked:
            raise InvalidTransition(
                "credential already revoked", field="credential_id", rule="revoke_once"
            )
        self._revoked(actor=actor)

    @event("Revoked")
    def _revoked(self, actor: str) -> None:
        self.revoked = True


# The roles whose holders prepare or approve decisions and payments: each credential of them
# names its person, so separation of duties can tell two people from two tokens of one.
PERSONAL_ROLES = frozenset({Role.CASE_WORKER, Role.APPROVER, Role.FINANCE_OFFICER, Role.ADMIN})
STAFF_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _staff_id(staff_id: str | None, role: str) -> str | None:
    """An officer's staff id: 1–64 ASCII letters, digits, ``-``, ``_`` or ``.``; required for
    the personal roles, optional (a label of the person) for auditors."""
    if staff_id is None or staff_id == "":
        if role in PERSONAL_ROLES:
            raise InvalidValue(
                f"a {role} credential names its holder's staff id",
                field="staff_id",
                rule="staff_id_required",
            )
        return None
    if (
        not isinstance(staff_id, str)
        or not 1 <= len(staff_id) <= 64
        or not set(staff_id) <= STAFF_ID_CHARACTERS
    ):
        raise InvalidValue(
            "staff_id is 1–64 ASCII letters, digits, '-', '_' or '.'",
            field="staff_id",
            rule="staff_id_format",
        )
    return staff_id


def valid_staff_id(staff_id: str) -> str:
    """A staff id that must be given (a policy naming a person), in the format of every staff id."""
    found = _staff_id(staff_id, Role.ADMIN)
    assert found is not None
    return found


def _check_period(period_from: str | None, period_to: str | None) -> None:
    """An audit period is two dates as every date is accepted (``validate_date``), the first
    not after the last."""
    for field, value in (("period_from", period_from), ("period_to", period_to)):
        if value is not None:
            validate_date(value, field)
    if period_from and period_to and period_from > period_to:
        raise InvalidValue(
            "period_from must not be after period_to", field="period_from", rule="range_order"
        )


def idempotency_id(credential_id: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:idempotency:{credential_id}:{key}")


class IdempotencyRecord(Aggregate):
    @staticmethod
    def create_id(credential_id: str, key: str, **_: Any) -> UUID:
        return idempotency_id(credential_id, key)

    @event("Served")
    def __init__(
        self,
        credential_id: str,
        key: str,
        request_sha256: str,
        status_code: int,
        response: dict[str, Any],
    ) -> None:
        self.request_sha256 = request_sha256
        self.status_code = status_code
        self.response = response


# Which roles may take which action. Reads are separate from writes so that auditors and
# special auditors record nothing but their review of misuse findings.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "policy.write": frozenset({Role.APPROVER, Role.ADMIN}),
    "case.apply": frozenset({Role.CASE_WORKER, Role.APPROVER, Role.ADMIN}),
    "case.record": frozenset({Role.CASE_WORKER, Role.APPROVER, Role.ADMIN}),
    "case.decide": frozenset({Role.APPROVER, Role.ADMIN}),
    "registry.write": frozenset({Role.CASE_WORKER, Role.APPROVER, Role.ADMIN}),
    "registry.dismiss": frozenset({Role.APPROVER, Role.ADMIN}),
    "finding.review": frozenset({Role.AUDITOR, Role.SPECIAL_AUDITOR}),
    "credential.issue": frozenset({Role.ADMIN}),
    "roll.generate": frozenset({Role.FINANCE_OFFICER, Role.ADMIN}),
    "ledger.post": frozenset({Role.FINANCE_OFFICER, Role.ADMIN}),
    "read.ledger": frozenset(
        {Role.FINANCE_OFFICER, Role.AUDITOR, Role.SPECIAL_AUDITOR, Role.ADMIN}
    ),
    "roll.approve": frozenset({Role.FINANCE_OFFICER}),
    "read.rolls": frozenset(
        {Role.FINANCE_OFFICER, Role.AUDITOR, Role.SPECIAL_AUDITOR, Role.ADMIN, Role.APPROVER}
    ),
    "read.cases": frozenset(set(Role)),
    "read.policy": frozenset(set(Role)),
    "read.audit": frozenset({Role.AUDITOR, Role.SPECIAL_AUDITOR, Role.ADMIN, Role.APPROVER}),
    # Case workers see the findings on their own cases only (``ops/services/findings.py``).
    "read.findings": frozenset(
        {Role.CASE_WORKER, Role.APPROVER, Role.AUDITOR, Role.SPECIAL_AUDITOR, Role.ADMIN}
    ),
    "read.registry": frozenset(
        {Role.CASE_WORKER, Role.APPROVER, Role.AUDITOR, Role.SPECIAL_AUDITOR, Role.ADMIN}
    ),
}


class Principal:
    """The authenticated caller: a credential's id, role, region scope, the person holding it
    (``staff_id``) and (for a special audit) the audit period, both ends as ISO dates.

    A credential without a staff id (an auditor's) acts as a person of its own,
    ``credential:<id>``, so no step ever compares equal to an unnamed one by accident."""

    def __init__(
        self,
        credential_id: str,
        role: str,
        region_scope: str,
        period_to: str | None = None,
        period_from: str | None = None,
        staff_id: str | None = None,
    ) -> None:
        self.credential_id = credential_id
        self.staff_id = staff_id or f"credential:{credential_id}"
        self.role = Role(role)
        self.region_scope = region_scope
        self.period_from = period_from
        self.period_to = period_to

    @property
    def prefix(self) -> str:
        return scope_prefix(self.region_scope)

    @property
    def is_township(self) -> bool:
        """A township credential (9-digit scope): 乡镇街道 authority only."""
        return len(self.region_scope) == 9

    def require(self, action: str) -> None:
        if self.role not in PERMISSIONS[action]:
            raise Forbidden(
                f"role {self.role} may not {action}", field="role", rule=f"permission:{action}"
            )

    def require_region(self, region_code: str, field: str = "region_code") -> None:
        """A named region outside the scope is refused (403) without saying what is there."""
        if not self.sees(region_code):
            raise Forbidden(
                "the region is outside this credential's scope", field=field, rule="region_scope"
            )

    def require_filter(self, region_prefix: str, field: str = "region") -> None:
        """A list filter must overlap the scope: narrower is fine, broader is clipped to the scope."""
        if not (region_prefix.startswith(self.prefix) or self.prefix.startswith(region_prefix)):
            raise Forbidden(
                "the region is outside this credential's scope", field=field, rule="region_scope"
            )

    def sees_policy_of(self, region_code: str) -> bool:
        """Policy of the scope's own regions and of the regions it lies in (its county, city,
        province) is readable; a sibling's never is."""
        return self.sees(region_code) or is_ancestor_or_self(region_code, self.region_scope)

    def sees(self, region_code: str) -> bool:
        return region_code.startswith(self.prefix)

    # --- the special-audit period ------------------------------------------------------------

    @property
    def period(self) -> tuple[str, str] | None:
        """(first day, last day) of a special audit's period; None for every other credential."""
        if self.period_from is None and self.period_to is None:
            return None
        return (self.period_from or "0001-01-01", self.period_to or "9999-12-31")

    def in_period(self, day_or_month: str | None) -> bool:
        """Whether a date (a timestamp by its date, a month by its days) lies in the audit
        period. Without a period everything does; with one, something undated does not."""
        if self.period is None:
            return True
        if not day_or_month:
            return False
        value = day_or_month[:10]
        first, last = self.period
        return first[: len(value)] <= value <= last[: len(value)]

    def require_period(self, day_or_month: str, field: str) -> None:
        if not self.in_period(day_or_month):
            raise Forbidden(
                "the date is outside this credential's audit period",
                field=field,
                rule="audit_period",
            )

    def clip_months(self, first: str, last: str, field: str = "from") -> tuple[str, str]:
        """A month range clipped to the audit period; refused (403) if it lies wholly outside."""
        if self.period is None:
            return first, last
        clipped = (max(first, self.period[0][:7]), min(last, self.period[1][:7]))
        if clipped[0] > clipped[1]:
            raise Forbidden(
                "the months are outside this credential's audit period",
                field=field,
                rule="audit_period",
            )
        return clipped
