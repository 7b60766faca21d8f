"""The plans PostgreSQL chooses for every list query: an index range, never the county sorted.

Goal: with county-sized tables (tens of thousands of rows in the county listed, analysed, so
that a scan would be the planner's choice where no index served the order), each list query
the views run — every documented filter, the first page and a later one (after a cursor's
key), as known now and at a past log position — is planned with no Sort node and no
sequential scan of a county-sized table; balances read their kept rows, never the entries.
Method: the views' own queries are captured as they run and explained with their parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ledger.store.db import Cursor
from ops.services.core import Services
from tests.conftest import make_settings, new_postgres_database

pytestmark = pytest.mark.postgres

COUNTY, OTHER = "420582", "420581"
ROWS = 40_000  # per county
# The tables a list reads that grow with a county: never scanned whole.
COUNTY_SIZED = {
    "audit_events", "audit_subjects", "case_state", "case_versions", "temporary_grants", "grant_scopes", "rolls", "roll_lines",
    "findings", "registry_records", "ledger_entries", "ledger_transactions", "ledger_balances",
    "roll_statistics", "ledger_month_totals",
}  # fmt: skip


def _fill(services: Services) -> None:
    """Two counties of synthetic rows in every listed table (the views' own columns)."""
    townships = "lpad((i % 12)::text, 3, '0')"
    region = f"c || {townships} || lpad((i % 20)::text, 3, '0')"
    status = "(ARRAY['active','suspended','terminated','gradual_exit','applied'])[1 + i % 5]"
    programme = "(ARRAY['dibao_urban','dibao_rural','marginal'])[1 + i % 3]"
    day = "to_char(DATE '2020-01-01' + (i % 1500), 'YYYY-MM-DD')"
    counties = f"(VALUES ('{COUNTY}'), ('{OTHER}')) AS v(c), generate_series(1, {ROWS}) AS i"
    statements = [
        "INSERT INTO case_state (case_id, kind, region_code, county_code, programme, status,"
        " status_since, head_name, head_id_masked, head_person_key, applied_on, version, recorded_at,"
        " facts, settled_from, payee, exit_until)"
        f" SELECT c || '-' || i, CASE WHEN i % 10 = 0 THEN 'tekun' ELSE 'household' END, {region}, c,"
        f" {programme}, {status}, {day}, '王', '4205**', 'k' || i, {day}, 1, '2024-01-01T00:00:00Z',"
        f" '\\x00', {day}, '\\x00', {day} FROM {counties}",
        "INSERT INTO case_versions (case_id, kind, region_code, county_code, programme, status,"
        " status_since, head_name, head_id_masked, applied_on, single_person, member_count,"
        " covered_count, version, recorded_at, valid_from, valid_to)"
        f" SELECT c || '-' || i, 'household', {region}, c, {programme}, {status}, {day}, '王', '4205**',"
        f" {day}, FALSE, 1, 1, 1, '2024-01-01T00:00:00Z', i, CASE WHEN i % 2 = 0 THEN i + 7 END"
        f" FROM {counties}",
        "INSERT INTO temporary_grants (grant_id, region_code, occurred_in, person_key, id_masked, name,"
        " grant_type, amount_fen, status, requested_on, recorded_at)"
        f" SELECT c || '-g' || i, {region}, {region}, 'k' || i, '4205**', '李', 'illness', 100,"
        f" 'requested', {day}, '2024-01-01T00:00:00Z' FROM {counties}",
        "INSERT INTO grant_scopes (scope, requested_on, grant_id)"
        " SELECT DISTINCT s.scope, g.requested_on, g.grant_id FROM temporary_grants g,"
        " LATERAL (VALUES (''), (left(g.region_code, 2)), (left(g.region_code, 4)),"
        " (left(g.region_code, 6)), (left(g.region_code, 9)), (g.region_code)) AS s(scope)",
        "INSERT INTO rolls (roll_id, county_code, month, grp, status, generation, gen, line_count,"
        " persons, total_fen, totals, version)"
        f" SELECT c || '-r' || i, c, to_char(DATE '1900-01-01' + (i || ' months')::interval, 'YYYY-MM'),"
        f" 'dibao', 'approved', 1, CASE WHEN c = '{COUNTY}' THEN i ELSE -i END, 0, 0, 0, '{{}}', 1"
        f" FROM {counties}",
        "INSERT INTO roll_lines (gen, line_no, case_id, programme, region_code, covered_members,"
        " total_fen, receivable_fen)"
        f" SELECT 1, i, c || '-' || i, 'dibao_urban', {region}, 1, 100, 100 FROM {counties}"
        f" WHERE c = '{COUNTY}' UNION ALL SELECT 2, i, 'x' || i, 'dibao_urban', '{OTHER}', 1, 100, 100"
        f" FROM generate_series(1, {ROWS}) AS i",
        "INSERT INTO findings (finding_id, rule, severity, region_code, status, amount_fen, dated,"
        " evidence, detected_position, detected_at, updated_position, staff_ids)"
        f" SELECT c || '-f' || i, (ARRAY['registry_hit','backdated_decision'])[1 + i % 2], 'high',"
        f" {region}, (ARRAY['open','explained','confirmed'])[1 + i % 3], 100, {day}, '{{}}', i,"
        f" '2024-01-01T00:00:00Z', i, '[]' FROM {counties}",
        "INSERT INTO registry_records (record_id, kind, person_key, id_masked, region_code,"
        " effective_date, recorded_at, source, source_ref, details, position)"
        f" SELECT c || '-d' || i, (ARRAY['death','cadre_relative'])[1 + i % 2], 'k' || i, '4205**',"
        f" {region}, {day}, '2024-01-01T00:00:00Z', 'civil', 'r' || i, '{{}}', i FROM {counties}",
        "INSERT INTO ledger_transactions (txn_id, txn_key, code, posting_date, recorded_at, description,"
        " document_ref, actor, position)"
        f" SELECT c || '-t' || i, 'k' || i, 'fund', {day}, '2024-01-01T00:00:00Z', '', '', 'a', i"
        f" FROM {counties}",
        "INSERT INTO ledger_entries (txn_id, line_no, account, kind, region_code, county_code,"
        " debit_fen, credit_fen, source, posting_date, position, debit_total, credit_total)"
        f" SELECT c || '-t' || i, n, CASE WHEN n = 0 THEN 'pool:' || c || ':dibao'"
        " ELSE 'reserve:' || c || lpad((i % 300)::text, 3, '0') || ':temporary' END,"
        " CASE WHEN n = 0 THEN 'pool' ELSE 'reserve' END, c, c, CASE WHEN n = 0 THEN 100 ELSE 0 END,"
        f" CASE WHEN n = 0 THEN 0 ELSE 100 END, '', {day}, i, i * 100, 0"
        f" FROM {counties}, (VALUES (0), (1)) AS l(n)",
        "INSERT INTO audit_events (position, originator_id, originator_version, event_type,"
        " recorded_at, actor, details) SELECT i, 'o' || (i % 1000), 1, 'JournalTransaction.Posted',"
        f" '2024-01-01T00:00:00Z', 'a', '{{}}' FROM generate_series(1, {2 * ROWS}) AS i",
        "INSERT INTO audit_subjects (subject_kind, subject_id, position)"
        f" SELECT 'account', CASE WHEN i % 2 = 0 THEN 'pool:{COUNTY}:dibao' ELSE 'pool:{OTHER}:dibao'"
        f" END, i FROM generate_series(1, {2 * ROWS}) AS i",
        "INSERT INTO roll_statistics (county_code, month, programme, valid_from, valid_to, households,"
        " persons, amount_fen, continuing) SELECT c, to_char(DATE '1900-01-01' + (i / 3 || ' months')"
        "::interval, 'YYYY-MM'), (ARRAY['dibao_urban','dibao_rural','marginal'])[1 + i % 3], i,"
        f" CASE WHEN i % 2 = 0 THEN i + 1 END, 10, 20, 1000, 5 FROM {counties}",
        # A province's month totals: 50 counties, 35 accounts each, ten years of months.
        "INSERT INTO ledger_month_totals (county_code, month, account, source, kind, debit_fen,"
        " credit_fen, allocated_debit_fen, allocated_credit_fen, first_on, last_out_on)"
        " SELECT c, to_char(DATE '1985-01-01' + (m || ' months')::interval, 'YYYY-MM'),"
        " CASE WHEN a = 0 THEN 'pool:' || c || ':dibao' ELSE 'reserve:' || c || lpad(a::text, 3, '0')"
        " || ':temporary' END, 'central', CASE WHEN a = 0 THEN 'pool' ELSE 'reserve' END, 100, 50,"
        f" 0, 0, '1985-01-01', NULL FROM (SELECT '{COUNTY}' UNION ALL SELECT '{OTHER}' UNION ALL"
        " SELECT (420600 + n)::text FROM generate_series(1, 48) AS n) AS v(c),"
        " generate_series(0, 34) AS a, generate_series(0, 119) AS m",
        "INSERT INTO ledger_balances (account, kind, region_code, debit_fen, credit_fen)"
        " SELECT account, min(kind), min(region_code), max(debit_total), 0 FROM ledger_entries"
        " GROUP BY account",
    ]
    with services.db.transaction(write=True) as cur:
        cur.execute("ALTER TABLE ledger_entries DISABLE TRIGGER USER")
        for statement in statements:
            cur.execute(statement)
        cur.execute("ALTER TABLE ledger_entries ENABLE TRIGGER USER")
    with services.db.transaction(write=True) as cur:
        cur.execute("ANALYZE")


@pytest.fixture(scope="module")
def filled() -> Iterator[Services]:
    url, drop = new_postgres_database()
    services = Services(make_settings(url))
    try:
        services.projections.setup()
        _fill(services)
        yield services
    finally:
        services.close()
        drop()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def planned(services: Services, read: Callable[[], Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Run ``read`` and explain every SELECT it ran: (the query, its plan's nodes)."""
    ran: list[tuple[str, tuple[Any, ...]]] = []
    execute = Cursor.execute

    def capture(self: Cursor, sql: str, params: Any = ()) -> Cursor:
        if sql.lstrip().upper().startswith("SELECT"):
            ran.append((sql, tuple(params)))
        return execute(self, sql, params)

    Cursor.execute = capture  # type: ignore[method-assign]
    try:
        read()
    finally:
        Cursor.execute = execute  # type: ignore[method-assign]
    found = []
    with services.db.transaction() as cur:
        for sql, params in ran:
            row = execute(cur, "EXPLAIN (FORMAT JSON) " + sql, params).raw.fetchone()
            plan = row[0] if isinstance(row, tuple) else next(iter(row.values()))
            plan = json.loads(plan) if isinstance(plan, str) else plan
            found.append((sql, list(_nodes(plan[0]["Plan"]))))
    assert found, "the read ran no query"
    return found


def assert_index_only_reads(plans: list[tuple[str, list[dict[str, Any]]]]) -> None:
    for sql, nodes in plans:
        shown = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes]
        assert not [n for n in nodes if "Sort" in n["Node Type"]], (sql, shown)
        scanned = [n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"]
        assert not set(scanned) & COUNTY_SIZED, (sql, shown)
        assert not [n for n in nodes if n["Node Type"] == "Aggregate"], (sql, shown)


def both_pages(read: Callable[[list[Any] | None], tuple[list[Any], Any]]) -> None:
    """The first page, then the page after its last key (the cursor's)."""
    _page, key = read(None)
    assert key is not None, "the first page is not the last"
    read(key)


CASE_FILTERS: list[dict[str, Any]] = [
    {},
    {"status": "suspended"},
    {"programme": "marginal"},
    {"status": "active", "programme": "dibao_rural"},
    {"region_prefix": f"{COUNTY}003"},
    {"region_prefix": f"{COUNTY}003007"},
    {"kind": "tekun"},
    {"known_at": ROWS // 2},
    {"period": ("2021-01-01", "2021-12-31")},
]


@pytest.mark.parametrize("filters", CASE_FILTERS, ids=lambda f: "-".join(map(str, f)) or "all")
def test_case_lists(filled: Services, filters: dict[str, Any]) -> None:
    query = {
        "kind": "household",
        "region_prefix": None,
        "status": None,
        "programme": None,
    } | filters

    def read() -> None:
        both_pages(lambda after: filled.case_state.search(
            scope_prefix=COUNTY, limit=50, after=after, **query))  # fmt: skip

    assert_index_only_reads(planned(filled, read))


def test_case_lists_of_a_wider_scope(filled: Services) -> None:
    """A city's scope: the counties in turn, from one index range."""

    def read() -> None:
        both_pages(lambda after: filled.case_state.search(
            scope_prefix="4205", kind="household", region_prefix=None, status="suspended",
            programme=None, limit=50, after=after))  # fmt: skip

    assert_index_only_reads(planned(filled, read))


def test_grant_roll_finding_record_lists(filled: Services) -> None:
    reads: list[Callable[[], None]] = [
        lambda: both_pages(lambda after: filled.grants.search(COUNTY, 50, after)),
        lambda: both_pages(
            lambda after: filled.grants.search(f"{COUNTY}003", 50, after, ("2021-01-01", "2022-01-01"))
        ),
        lambda: both_pages(lambda after: filled.rolls.search(
            scope_prefix=COUNTY, county=None, month=None, limit=50, after=after)),
        lambda: both_pages(lambda after: filled.registry.search(
            scope_prefix=COUNTY, kind=None, limit=50, after=after)),
        lambda: both_pages(lambda after: filled.registry.search(
            scope_prefix=COUNTY, kind="death", limit=50, after=after)),
    ]  # fmt: skip

    def findings(rule: str | None, status: str | None, after: list[Any] | None) -> Any:
        found = filled.findings.search(scope_prefix=COUNTY, rule=rule, status=status,
                                       period=None, staff_id=None, limit=50, after=after)  # fmt: skip
        return found[2], found[4]

    for rule, status in ((None, None), ("registry_hit", None), (None, "open")):
        reads.append(lambda r=rule, s=status: both_pages(lambda after: findings(r, s, after)))
    for read in reads:
        plans = planned(filled, read)
        # the findings' totals per rule are a summary beside the page, not the list query
        assert_index_only_reads([(sql, nodes) for sql, nodes in plans if "LIMIT" in sql])


def test_roll_lines_read_only_the_lines_shown(filled: Services) -> None:
    lines = {"kind": "household", "head_name": "王", "head_id_masked": "4205**", "payee_name": "王",
             "account_masked": "6217**", "components": []}  # fmt: skip
    filled.rolls.chunk_lines = lambda roll, token, number: [  # type: ignore[method-assign]
        lines | {"line_no": n} for n in range(number * 1000, number * 1000 + 1000)
    ]
    with filled.db.transaction(write=True) as cur:
        cur.execute("UPDATE rolls SET gen = 1, token = 't' WHERE roll_id = %s", (f"{COUNTY}-r5",))

    def read() -> None:
        page, key = filled.rolls.lines(f"{COUNTY}-r5", limit=100)
        assert [line["line_no"] for line in page] == list(range(1, 101)) and key == 100
        filled.rolls.lines(f"{COUNTY}-r5", limit=100, after=key)

    assert_index_only_reads(planned(filled, read))


def test_statement_and_balances(filled: Services) -> None:
    pool = f"pool:{COUNTY}:dibao"

    def statement() -> None:
        both_pages(lambda after: filled.ledger.statement(pool, 100, after))
        both_pages(lambda after: filled.ledger.statement(pool, 100, after, known_at=ROWS // 2))

    def balances() -> None:
        now = filled.ledger.balances(COUNTY)
        assert {row["account"]: row["balance_fen"] for row in now}[pool] == ROWS * 100
        then = filled.ledger.balances(COUNTY, known_at=ROWS // 2)
        assert {row["account"]: row["balance_fen"] for row in then}[pool] == ROWS // 2 * 100

    assert_index_only_reads(planned(filled, statement))
    for sql, nodes in planned(filled, balances):
        scanned = [n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"]
        assert "ledger_entries" not in scanned, sql
        assert not [n for n in nodes if n["Node Type"] == "Aggregate"], sql


def test_audit_trail_pages(filled: Services) -> None:
    pool = f"pool:{COUNTY}:dibao"

    def read() -> None:
        first = filled.audit.for_subject("account", pool, limit=101)
        assert len(first) == 101
        filled.audit.for_subject("account", pool, limit=101, after=first[99]["position"])
        filled.audit.for_subject("account", pool, as_of="2025-01-01", limit=101, after=1000)

    assert_index_only_reads(planned(filled, read))


def test_statistics_and_reconciliation_read_kept_totals(filled: Services) -> None:
    """Statistics at every level and period (as known now and at a position) and the
    reconciliation's ledger sums as known now read the totals their projections keep through
    an index, never a roll's lines, the county's entries or the approvals."""

    def statistics() -> None:
        for level, period, scope in (("county", "month", COUNTY), ("city", "quarter", "4205"),
                                     ("province", "year", "42")):  # fmt: skip
            filled.statistics.report(scope_prefix=scope, level=level, period=period,
                                     first="1990-01", last="1990-12", programme=None)  # fmt: skip
        filled.statistics.report(scope_prefix=COUNTY, level="county", period="month",
                                 first="1990-01", last="1990-03", programme="marginal",
                                 known_at=ROWS // 2)  # fmt: skip

    def reconciliation() -> None:
        view = filled.reconciliation
        for read in (view.accounts, view.receipts, view.funds_by_source, view.carried_in):
            read(COUNTY, "1990-01")
        view.idle(COUNTY, 30, "2024-06-30")
        filled.ledger.year_end_balances(COUNTY, 1990)

    for sql, nodes in planned(filled, statistics) + planned(filled, reconciliation):
        shown = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes]
        read = {n.get("Relation Name") for n in nodes} - {None}
        assert not read & {"roll_lines", "ledger_entries", "rolls", "audit_events"}, (sql, shown)
        scanned = [n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"]
        assert not set(scanned) & COUNTY_SIZED, (sql, shown)
