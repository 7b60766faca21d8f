"""Credentials by token hash: what the API authenticates against."""

from __future__ import annotations

from typing import Any

from domain.access import Credential
from ledger.store.db import Cursor, Database
from projections.runner import View, aggregate_topic, utc_text

DDL = (
    """CREATE TABLE IF NOT EXISTS credentials (
        credential_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
        region_scope TEXT NOT NULL, label TEXT NOT NULL, expires_at TEXT, period_from TEXT, period_to TEXT,
        revoked BOOLEAN NOT NULL DEFAULT FALSE, issued_at TEXT NOT NULL, staff_id TEXT)""",
)


class AccessView(View):
    name = "access"
    tables = ("credentials",)
    topics = (aggregate_topic(Credential),)

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        match event:
            case Credential.Issued():
                cur.execute(
                    "INSERT INTO credentials (credential_id, token_sha256, role, region_scope, label, expires_at,"
                    " period_from, period_to, issued_at, staff_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        str(event.originator_id),
                        event.token_sha256,
                        event.role,
                        event.region_scope,
                        event.label,
                        event.expires_at,
                        event.period_from,
                        event.period_to,
                        utc_text(event.timestamp),
                        event.staff_id,
                    ),
                )
            case Credential.Revoked():
                cur.execute(
                    "UPDATE credentials SET revoked = TRUE WHERE credential_id = %s",
                    (str(event.originator_id),),
                )

    def by_token_hash(self, token_sha256: str) -> dict[str, Any] | None:
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT credential_id, role, region_scope, label, expires_at, period_from, period_to,"
                " revoked, staff_id"
                " FROM credentials WHERE token_sha256 = %s",
                (token_sha256,),
            ).fetchone()
