"""Registry records (deaths, registrations, relatives of cadres), by person and region."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from domain.identity import mask_id_number
from domain.registry import RegistryKind, RegistryRecord, official_of
from ledger.store.db import Cursor, Database
from projections.keyset import after as keyset_after
from projections.keyset import prefix_range, split
from projections.runner import View, aggregate_topic, utc_text

DDL = (
    """CREATE TABLE IF NOT EXISTS registry_records (
        record_id TEXT PRIMARY KEY, kind TEXT NOT NULL, person_key TEXT NOT NULL, id_masked TEXT NOT NULL,
        region_code TEXT NOT NULL, effective_date TEXT NOT NULL, recorded_at TEXT NOT NULL, source TEXT NOT NULL,
        source_ref TEXT NOT NULL, details TEXT NOT NULL, position BIGINT NOT NULL,
        official_staff_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS registry_person ON registry_records (person_key)",
    "CREATE INDEX IF NOT EXISTS registry_region ON registry_records (region_code, kind)",
    "CREATE INDEX IF NOT EXISTS registry_official ON registry_records (official_staff_id)",
)
# The order of the record list (``search``) and the indexes serving it, unfiltered and by kind.
LIST_ORDER = ("region_code", "position")
LIST_INDEXES = (
    "CREATE INDEX IF NOT EXISTS registry_list ON registry_records (region_code, position)",
    "CREATE INDEX IF NOT EXISTS registry_list_kind ON registry_records (kind, region_code, position)",
)
COLUMNS = "record_id, kind, id_masked, region_code, effective_date, recorded_at, source, source_ref, details"


class RegistryView(View):
    name = "registry"
    tables = ("registry_records",)
    topics = (aggregate_topic(RegistryRecord),)

    def __init__(self, db: Database, person_key: Callable[[str], str]) -> None:
        self.db = db
        self.person_key = person_key

    def create(self, cur: Cursor) -> None:
        for statement in (*DDL, *LIST_INDEXES):
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        if isinstance(event, RegistryRecord.Recorded):
            cur.execute(
                f"INSERT INTO registry_records ({COLUMNS}, person_key, position, official_staff_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    str(event.originator_id),
                    event.kind,
                    mask_id_number(event.id_number),
                    event.region_code,
                    event.effective_date,
                    utc_text(event.timestamp),
                    event.source,
                    event.source_ref,
                    json.dumps(event.details, ensure_ascii=False, sort_keys=True),
                    self.person_key(event.id_number),
                    position,
                    official_of(event),
                ),
            )

    def related(self, staff_id: str, person_keys: list[str]) -> bool:
        """Whether the official with this staff id is registered as related to any of these
        people (近亲属备案), in any region."""
        marks = ", ".join(["%s"] * len(person_keys))
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT 1 AS hit FROM registry_records WHERE kind = %s AND official_staff_id = %s"
                f" AND person_key IN ({marks}) LIMIT 1",
                [RegistryKind.CADRE_RELATIVE.value, staff_id, *person_keys],
            ).fetchone()
        return row is not None

    def relatives_of(self, staff_id: str) -> list[str]:
        """The person keys of everyone registered as this official's relative (近亲属备案)."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT DISTINCT person_key FROM registry_records WHERE kind = %s"
                " AND official_staff_id = %s ORDER BY person_key",
                (RegistryKind.CADRE_RELATIVE.value, staff_id),
            ).fetchall()
        return [row["person_key"] for row in rows]

    def search(
        self,
        *,
        scope_prefix: str,
        kind: str | None,
        limit: int,
        after: list[Any] | None = None,
        period: tuple[str, str] | None = None,
    ) -> tuple[list[dict[str, Any]], list[Any] | None]:
        """A page of the records in scope by region, then log position, after the key
        ``after``, and the key to continue from (None: no more); with an audit ``period``,
        those effective in it. An index leads with each filter's equalities (none, kind)."""
        where, params = "TRUE", []
        if period is not None:
            where += " AND effective_date BETWEEN %s AND %s"
            params += list(period)
        if kind:
            where += " AND kind = %s"
            params.append(kind)
        ranged, bounds = prefix_range("region_code", scope_prefix)
        following, key = keyset_after(LIST_ORDER, after)
        with self.db.transaction() as cur:
            rows = cur.execute(
                f"SELECT {COLUMNS}, position FROM registry_records WHERE {where}{ranged}{following}"
                f" ORDER BY {', '.join(LIST_ORDER)} LIMIT %s",
                [*params, *bounds, *key, limit + 1],
            ).fetchall()
        rows, last = split(rows, limit, LIST_ORDER)
        for row in rows:
            row["details"] = json.loads(row["details"])
            del row["position"]
        return rows, last
