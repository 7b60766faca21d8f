"""Temporary assistance grants (临时救助): one row per grant, its level and payment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.identity import mask_id_number
from domain.temporary import TemporaryGrant
from ledger.store.db import Cursor, Database
from projections.runner import View, aggregate_topic, utc_text

DDL = (
    """CREATE TABLE IF NOT EXISTS temporary_grants (
        grant_id TEXT PRIMARY KEY, region_code TEXT NOT NULL, occurred_in TEXT NOT NULL, person_key TEXT NOT NULL,
        id_masked TEXT NOT NULL, name TEXT NOT NULL, grant_type TEXT NOT NULL, amount_fen BIGINT NOT NULL,
        status TEXT NOT NULL, level TEXT, needed_level TEXT, paying_township TEXT, requested_on TEXT NOT NULL,
        approved_on TEXT, paid_on TEXT, supplements INTEGER NOT NULL DEFAULT 0, recorded_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS temporary_grants_person ON temporary_grants (person_key)",
)
COLUMNS = (
    "grant_id, region_code, occurred_in, id_masked, name, grant_type, amount_fen, status, level, needed_level,"
    " paying_township, requested_on, approved_on, paid_on, supplements, recorded_at"
)


class GrantsView(View):
    name = "grants"
    tables = ("temporary_grants",)
    topics = (aggregate_topic(TemporaryGrant),)

    def __init__(self, db: Database, person_key: Callable[[str], str]) -> None:
        self.db = db
        self.person_key = person_key

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        grant, at = str(event.originator_id), utc_text(event.timestamp)
        match event:
            case TemporaryGrant.Requested():
                cur.execute(
                    f"INSERT INTO temporary_grants ({COLUMNS}, person_key) VALUES"
                    " (%s, %s, %s, %s, %s, %s, %s, 'requested', NULL, NULL, NULL, %s, NULL, NULL, 0, %s, %s)",
                    (grant, event.region_code, event.occurred_in, mask_id_number(event.person["id_number"]),
                     event.person["name"], event.grant_type, event.amount_fen, event.effective_date, at,
                     self.person_key(event.person["id_number"])),
                )  # fmt: skip
            case TemporaryGrant.Approved():
                cur.execute(
                    "UPDATE temporary_grants SET status = 'approved', level = %s, needed_level = %s,"
                    " paying_township = %s, approved_on = %s, recorded_at = %s WHERE grant_id = %s",
                    (
                        event.level,
                        event.needed,
                        event.paying_township,
                        event.effective_date,
                        at,
                        grant,
                    ),
                )
            case TemporaryGrant.Paid():
                cur.execute("UPDATE temporary_grants SET status = 'paid', paid_on = %s, recorded_at = %s"
                            " WHERE grant_id = %s", (event.effective_date, at, grant))  # fmt: skip
            case TemporaryGrant.SupplementRecorded():
                cur.execute("UPDATE temporary_grants SET supplements = supplements + 1, recorded_at = %s"
                            " WHERE grant_id = %s", (at, grant))  # fmt: skip

    def search(
        self, scope_prefix: str, limit: int, offset: int, period: tuple[str, str] | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """Grants in scope; with an audit ``period``, those requested (effective) in it."""
        where = "(region_code LIKE %s OR occurred_in LIKE %s)"
        params = [scope_prefix + "%", scope_prefix + "%"]
        if period is not None:
            where += " AND requested_on BETWEEN %s AND %s"
            params += list(period)
        with self.db.transaction() as cur:
            total = cur.execute(
                f"SELECT COUNT(*) AS n FROM temporary_grants WHERE {where}", params
            ).fetchone()
            rows = cur.execute(
                f"SELECT {COLUMNS} FROM temporary_grants WHERE {where} ORDER BY requested_on, grant_id"
                " LIMIT %s OFFSET %s",
                [*params, limit, offset],
            ).fetchall()
        return int(total["n"] if total else 0), rows

    def get(self, grant_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as cur:
            return cur.execute(
                f"SELECT {COLUMNS} FROM temporary_grants WHERE grant_id = %s", (grant_id,)
            ).fetchone()


def grant_as_of(grant: dict[str, Any], day: str) -> dict[str, Any]:
    """A grant as it stood on ``day`` (a special auditor's period end): an approval or a
    payment effective after that day is not shown."""
    shown = dict(grant)
    if shown["paid_on"] is not None and shown["paid_on"] > day:
        shown.update(status="approved", paid_on=None)
    if shown["approved_on"] is not None and shown["approved_on"] > day:
        shown.update(status="requested", approved_on=None, level=None, needed_level=None,
                     paying_township=None)  # fmt: skip
    return shown
