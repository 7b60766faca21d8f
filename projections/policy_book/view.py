"""Policy book view: which fact applies to a region, item and month, as known at a time."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from domain.policy import InForce, PolicyValue, RegionPolicy, stored_value
from domain.regions import policy_lookup_chain
from ledger.store.db import Cursor, Database
from projections.policy_book.projection import PolicyBookProjection
from projections.runner import View, aggregate_topic

DDL = (
    "CREATE TABLE IF NOT EXISTS policy_regions (policy_id TEXT PRIMARY KEY, region_code TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS policy_facts (
        position BIGINT PRIMARY KEY, region_code TEXT NOT NULL, kind TEXT NOT NULL, item TEXT NOT NULL,
        effective_date TEXT NOT NULL, recorded_at TEXT NOT NULL, payload TEXT NOT NULL, actor TEXT NOT NULL,
        document_ref TEXT NOT NULL, event_type TEXT NOT NULL, originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS policy_facts_lookup ON policy_facts (region_code, kind, item, effective_date)",
)
V = TypeVar("V", bound=PolicyValue)
FACT_COLUMNS = (
    "position, region_code, kind, item, effective_date, recorded_at, payload, actor, document_ref,"
    " event_type, originator_id, originator_version"
)


class PolicyBookView(View):
    name = "policy_book"
    tables = ("policy_regions", "policy_facts")
    topics = (aggregate_topic(RegionPolicy),)

    def __init__(self, db: Database) -> None:
        self.db = db
        self.projection = PolicyBookProjection()

    def create(self, cur: Cursor) -> None:
        for statement in DDL:
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        self.projection.process(cur, position, event)

    def applicable(
        self, region_code: str, kind: str, item: str, on_date: str, as_of: str
    ) -> dict[str, Any] | None:
        """The fact in force on ``on_date`` as known at ``as_of``: the most specific region wins, then
        the latest effective date, then the latest recording (a correction of the same date)."""
        chain = policy_lookup_chain(region_code)
        # One statement: each region's latest fact (one index lookup each), the most specific first.
        each = (
            f"SELECT * FROM (SELECT {FACT_COLUMNS}, %s AS rank FROM policy_facts WHERE region_code = %s"
            " AND kind = %s AND item = %s AND effective_date <= %s AND recorded_at <= %s"
            " ORDER BY effective_date DESC, position DESC LIMIT 1) AS f"
        )
        params = [
            x for rank, code in enumerate(chain) for x in (rank, code, kind, item, on_date, as_of)
        ]
        with self.db.transaction() as cur:
            row = cur.execute(
                " UNION ALL ".join([each] * len(chain)) + " ORDER BY rank LIMIT 1", params
            ).fetchone()
        if row is None:
            return None
        del row["rank"]
        return _decoded(row)

    def in_force(
        self, region_code: str, kind: type[V], item: str, on_date: str, as_of: str
    ) -> InForce[V] | None:
        """``applicable`` as the fact's typed value (``domain.policy.InForce``)."""
        fact = self.applicable(region_code, kind.kind, item, on_date, as_of)
        return None if fact is None else typed(kind, fact)

    def every(self, region_code: str, kind: type[V], as_of: str) -> list[InForce[V]]:
        """The region's own facts of a kind recorded by ``as_of``, typed, by item then
        effective date."""
        return [typed(kind, fact) for fact in self.facts(region_code, kind.kind, as_of)]

    def latest_recorded(self, region_code: str, as_of: str) -> str:
        """When the latest policy fact bearing on a region (its county, city, province) was recorded."""
        chain = policy_lookup_chain(region_code)
        marks = ", ".join(["%s"] * len(chain))
        with self.db.transaction() as cur:
            row = cur.execute(
                f"SELECT MAX(recorded_at) AS latest FROM policy_facts WHERE region_code IN ({marks})"
                " AND recorded_at <= %s",
                [*chain, as_of],
            ).fetchone()
        return str(row["latest"] or "") if row else ""

    def facts(self, region_code: str, kind: str | None, as_of: str) -> list[dict[str, Any]]:
        sql = (
            f"SELECT {FACT_COLUMNS} FROM policy_facts WHERE region_code = %s AND recorded_at <= %s"
        )
        params: list[Any] = [region_code, as_of]
        if kind is not None:
            sql += " AND kind = %s"
            params.append(kind)
        with self.db.transaction() as cur:
            rows = cur.execute(
                sql + " ORDER BY kind, item, effective_date, position", params
            ).fetchall()
        return [_decoded(row) for row in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["payload"] = json.loads(row["payload"])
    return row


def typed(kind: type[V], fact: dict[str, Any]) -> InForce[V]:
    """A fact row as its typed value, named by its event reference ('RegionPolicy.StandardSet#12')."""
    return InForce(
        stored_value(kind, fact["payload"]),
        f"{fact['event_type']}#{fact['position']}",
        fact["effective_date"],
        fact["recorded_at"],
    )
