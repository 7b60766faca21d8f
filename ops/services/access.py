"""Registry and credential commands: data-exchange records (deaths, registrations, relatives of
cadres 近亲属备案) and the bearer credentials an admin issues within its own scope."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain.access import Credential, Principal
from domain.dates import validate_date
from domain.errors import InvalidValue
from domain.registry import RegistryRecord, registry_record_id
from domain.text import clean_text
from ops.services.core import Command, Outcome, Services, now_utc


@dataclass(frozen=True, kw_only=True)
class RecordRegistryEntry(Command):
    """Record a data-exchange record; the same (kind, source, source_ref) twice in one county
    records once."""

    kind: str
    source: str
    source_ref: str
    id_number: str
    region_code: str
    effective_date: str
    details: dict[str, Any] = field(default_factory=dict)

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("registry.write")
        principal.require_region(self.region_code)
        record_id = registry_record_id(self.kind, self.source, self.source_ref, self.region_code)
        try:
            services.app.repository.get(record_id)
        except AggregateNotFoundError:
            record = RegistryRecord.record(
                kind=self.kind, source=self.source, source_ref=self.source_ref,
                id_number=self.id_number, region_code=self.region_code,
                effective_date=self.effective_date, details=self.details,
                actor=principal.credential_id,
            )  # fmt: skip
            return Outcome([record], {"record_id": str(record.id), "created": True}, 201)
        return Outcome([], {"record_id": str(record_id), "created": False}, 200)


@dataclass(frozen=True, kw_only=True)
class IssueCredential(Command):
    """A new credential within the issuer's scope, and its token, shown once (kept sealed in the
    idempotency record for a retried request). The issuer never issues for their own person."""

    role: str
    region_scope: str
    label: str = ""
    expires_at: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    staff_id: str | None = None

    def decide(self, services: Services, principal: Principal) -> Outcome:
        principal.require("credential.issue")
        principal.require_region(self.region_scope, "region_scope")
        label = clean_text(self.label, "label")
        if self.expires_at is not None:
            require_future(self.expires_at)
        token = "doudi_" + secrets.token_urlsafe(32)
        credential = Credential.issue(
            role=self.role,
            region_scope=self.region_scope,
            label=label,
            token_sha256=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=self.expires_at,
            period_from=self.period_from,
            period_to=self.period_to,
            issued_by=principal.credential_id,
            staff_id=self.staff_id,
            issuer_staff_id=principal.staff_id or "",
        )
        response = {"credential_id": str(credential.id), "token": token, "role": self.role,
                    "region_scope": self.region_scope, "staff_id": credential.staff_id}  # fmt: skip
        return Outcome([credential], response, 201, sealed=("token",))


def require_future(expires_at: str) -> None:
    """An expiry is an ISO timestamp later than now, read as ``Services.authenticate`` reads
    it: a credential expired when issued serves no one."""
    try:
        expires = datetime.fromisoformat(clean_text(expires_at, "expires_at"))
    except ValueError:
        raise InvalidValue(
            "expires_at must be an ISO timestamp", field="expires_at", rule="timestamp_format"
        ) from None
    validate_date(expires.date().isoformat(), "expires_at")
    if expires.astimezone(UTC) <= now_utc():
        raise InvalidValue(
            "expires_at must be later than now: the credential would never be valid",
            field="expires_at",
            rule="expires_in_past",
        )
