"""Temporary assistance grants (临时救助): one row per grant, its level and payment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.identity import mask_id_number
from domain.temporary import TemporaryGrant
from ledger.store.db import Cursor, Database
from projections.keyset import after as keyset_after
from projections.keyset import split
from projections.runner import View, aggregate_topic, utc_text

DDL = (
    """CREATE TABLE IF NOT EXISTS temporary_grants (
        grant_id TEXT PRIMARY KEY, region_code TEXT NOT NULL, occurred_in TEXT NOT NULL, person_key TEXT NOT NULL,
        id_masked TEXT NOT NULL, name TEXT NOT NULL, grant_type TEXT NOT NULL, amount_fen BIGINT NOT NULL,
        status TEXT NOT NULL, level TEXT, needed_level TEXT, paying_township TEXT, requested_on TEXT NOT NULL,
        approved_on TEXT, paid_on TEXT, supplements INTEGER NOT NULL DEFAULT 0, recorded_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS temporary_grants_person ON temporary_grants (person_key)",
    # Every scope that sees a grant (each level's prefix of its hukou region and of the place
    # of occurrence, '' for the nation), in the list's order: a scope's page is a range of
    # this key, whichever of the two regions puts the grant in scope, and no grant twice.
    """CREATE TABLE IF NOT EXISTS grant_scopes (
        scope TEXT NOT NULL, requested_on TEXT NOT NULL, grant_id TEXT NOT NULL,
        PRIMARY KEY (scope, requested_on, grant_id))""",
)
# The digits of a region code at each level (nation, province, city, county, township, village).
SCOPE_LENGTHS = (0, 2, 4, 6, 9, 12)
COLUMNS = (
    "grant_id, region_code, occurred_in, id_masked, name, grant_type, amount_fen, status, level, needed_level,"
    " paying_township, requested_on, approved_on, paid_on, supplements, recorded_at"
)


class GrantsView(View):
    name = "grants"
    # Bumped whenever what the tables hold changes: the view is then rebuilt from the log.
    version = 2
    tables = ("temporary_grants", "grant_scopes")
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
                scopes = {code[:n] for code in (event.region_code, event.occurred_in)
                          for n in SCOPE_LENGTHS if n <= len(code)}  # fmt: skip
                cur.executemany(
                    "INSERT INTO grant_scopes (scope, requested_on, grant_id) VALUES (%s, %s, %s)",
                    [(scope, event.effective_date, grant) for scope in sorted(scopes)],
                )
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
        self,
        scope_prefix: str,
        limit: int,
        after: list[Any] | None = None,
        period: tuple[str, str] | None = None,
    ) -> tuple[list[dict[str, Any]], list[Any] | None]:
        """A page of the grants in scope (by hukou region or place of occurrence) by request
        date, then id, after the key ``after``, and the key to continue from (None: no more);
        with an audit ``period``, those requested (effective) in it."""
        where, params = "s.scope = %s", [scope_prefix]
        if period is not None:
            where += " AND s.requested_on BETWEEN %s AND %s"
            params += list(period)
        following, key = keyset_after(("s.requested_on", "s.grant_id"), after)
        shown = ", ".join(f"g.{column.strip()}" for column in COLUMNS.split(","))
        with self.db.transaction() as cur:
            rows = cur.execute(
                f"SELECT {shown} FROM grant_scopes s JOIN temporary_grants g ON g.grant_id = s.grant_id"
                f" WHERE {where}{following} ORDER BY s.requested_on, s.grant_id LIMIT %s",
                [*params, *key, limit + 1],
            ).fetchall()
        return split(rows, limit, ("requested_on", "grant_id"))

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
