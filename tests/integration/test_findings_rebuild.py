"""The findings view after a bulk import, live and rebuilt: the same findings with the same ids.

Method: a roster of 60 households is imported (its catch-up takes the import's events in large
batches, the view's in-memory path), two of its households paid to one account, and a third
household saved past the enrolment guard as a copy of another (its members in two cases, paid
to one account); registry hits are recorded for members of imported households; then the view
is rebuilt from position 0 and compared, table by table, with the live one. On PostgreSQL the
rebuild takes the import from the case-state and audit-trail views (``seed.py``): no household
event is decoded.
"""

from __future__ import annotations

import csv
import io
from uuid import UUID

from domain.access import Principal
from ops.demo import roster_csv, write_roster
from ops.services.access import RecordRegistryEntry
from ops.services.core import Services
from ops.services.importer import build_household, import_households
from ops.services.rebuild import rebuild


def test_findings_after_an_import_equal_a_rebuild(services: Services) -> None:
    rows = list(csv.DictReader(io.StringIO(roster_csv(60, seed=7))))
    households = sorted({row["household_ref"] for row in rows})
    shared = {households[3], households[11]}
    account = next(row["payee_account"] for row in rows if row["household_ref"] == households[3])
    for row in rows:
        if row["household_ref"] in shared:
            row["payee_account"] = account
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    report = import_households(services, io.StringIO(out.getvalue()), "migration")
    assert not report.errors
    twin = [
        dict(row, household_ref="twin") for row in rows if row["household_ref"] == households[5]
    ]
    services.app.save(build_household(twin, "migration"))
    services.fresh()
    operator = Principal("test", "admin", "000000", staff_id="op")
    heads = [row for row in rows if row["relation"] in ("", "self", "head")][:6]
    for number, (row, kind) in enumerate(zip(heads, ["vehicle", "property", "business",
                                                      "cadre_relative", "death", "vehicle"], strict=True)):  # fmt: skip
        details = {"staff_id": "E7"} if kind == "cadre_relative" else {}
        command = RecordRegistryEntry(kind=kind, source="test", source_ref=f"{kind}-{number}",
                                      id_number=row["id_number"], region_code=row["region_code"],
                                      effective_date="2022-10-15", details=details)  # fmt: skip
        services.execute(operator, None, "", command)
    services.fresh()
    live = services.projections.dump("findings")
    rules = sorted(row[1] for row in live["findings"])
    assert rules.count("shared_account") == 2 and rules.count("registry_hit") >= 1
    assert rules.count("two_active_cases") == len(twin)
    decoded: list[str] = []
    decoder = services.projections.decoder
    services.projections.decoder = lambda n: decoded.append(n.topic) or decoder(n)
    services.projections.rebuild("findings")
    assert services.projections.dump("findings") == live
    households_decoded = [topic for topic in decoded if "HouseholdCase" in topic]
    assert bool(households_decoded) == services.db.is_sqlite


def test_two_cases_across_counties_survive_a_rebuild_with_workers(services: Services) -> None:
    """The findings view is never rebuilt by shards of aggregates (it is not ``shardable``), so
    a rebuild asked of several workers still replays the whole province in one pass and finds
    a person added, past the enrolment guard, to a case of another county."""
    roster = io.StringIO()
    write_roster(roster, 40, seed=9, counties=("420582", "420583"))
    rows = list(csv.DictReader(io.StringIO(roster.getvalue())))
    report = import_households(services, io.StringIO(roster.getvalue()), "migration")
    assert not report.errors
    services.fresh()
    assert not services.projections.views["findings"].shardable
    person = rows[0]
    with services.db.transaction() as cur:
        other = cur.execute(
            "SELECT case_id FROM case_state WHERE county_code <> %s AND status = 'active'"
            " ORDER BY case_id LIMIT 1",
            (person["region_code"][:6],),
        ).fetchone()
    assert other is not None
    case = services.app.repository.get(UUID(other["case_id"]))
    case.add_member(member={"id_number": person["id_number"], "name": "王某"},
                    effective_date="2022-10-15", actor="migration", document_ref="迁移")  # fmt: skip
    services.app.save(case)
    services.fresh()
    live = services.projections.dump("findings")
    assert sorted(row[1] for row in live["findings"]).count("two_active_cases") == 1
    rebuild(services, "findings", workers=2)
    assert services.projections.dump("findings") == live
