"""Fund reconciliation per county × month (SPEC §7): roll ↔ ledger ↔ bank statement.

It reads the rolls and ledger views' tables (none of its own) and answers — the ledger's sums
from the accounts' month totals the ledger view keeps (``ledger_month_totals``), never from the
county's entries:
- the ledger: per account, the balance before the month, debits and credits in it, the balance
  after; receipts into the pools by funding source;
- the three-way comparison of each roll of the month: every payable line against the bank's
  result, the ledger's disbursement and the bank statement, matched by reference *and* amount,
  with every mismatch itemised (which line, which amounts, which side is missing);
- pools holding allocated money with no outgoing movement for more than ``idle_days`` (滞留).

As known at a log position (``known_at``): every fact it reads carries the position it was
recorded at — ledger entries, a reversal, a carry-over, a statement, a roll's approval, sending
and settlement, each line's one bank result — so bounding each by the position gives what a
replay of the log up to it shows (``tests/property/test_known_at.py``), with no history tables.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.dates import add_months, first_day
from domain.references import reference_prefix
from ledger.store.db import Database
from projections.rolls.view import reference_sql


def _issue(row: dict[str, Any]) -> dict[str, Any]:
    status, booked = row["bank_status"], row["n"]
    item = {"reference": row["reference"], "case_id": row["case_id"], "roll_fen": int(row["total_fen"]),
            "bank_result": status, "statement_fen": None if row["fen"] is None else int(row["fen"])}  # fmt: skip
    if booked > 1:
        return item | {"issue": f"on the statement {booked} times"}
    if status == "paid" and not booked:
        return item | {"issue": "paid per bank results, missing from the statement"}
    if status == "failed":
        return item | {"issue": "failed per bank results, yet on the statement"}
    if status is None:
        return item | {"issue": "on the statement, no bank result imported yet"}
    return item | {"issue": "statement amount differs from the roll"}


# The statements recorded whole (header after all its chunks) of a county: lines of an import
# cut off half-way count nowhere until it is completed.
COMPLETE = "SELECT statement_id FROM bank_statements WHERE county_code = %s{known}"


class ReconciliationView:
    def __init__(self, db: Database, known_at: int | None = None) -> None:
        self.db = db
        self.known_at = known_at

    def at(self, known_at: int | None) -> ReconciliationView:
        """The same reads as known at log position ``known_at`` (None: as known now)."""
        return ReconciliationView(self.db, known_at)

    def _upto(self, column: str) -> str:
        """`` AND column <= position`` when known at a position, else nothing (the position is
        an integer, written into the text)."""
        return "" if self.known_at is None else f" AND {column} <= {int(self.known_at)}"

    def _bank_status(self) -> str:
        """A line's bank result (of ``roll_lines``): as known at a position, only a result
        recorded by then (each line gets one, ``bank_position`` says when)."""
        if self.known_at is None:
            return "bank_status"
        return f"CASE WHEN bank_position <= {int(self.known_at)} THEN bank_status END"

    def _months(self) -> str:
        """The accounts' totals per source and month: as known now the kept ones, as known at
        a position those of the entries recorded by then, in the same columns."""
        if self.known_at is None:
            return "ledger_month_totals"
        allocated = "CASE WHEN t.code = 'allocate' THEN e.{} ELSE 0 END AS allocated_{}"
        return (
            "(SELECT e.county_code, substr(e.posting_date, 1, 7) AS month, e.account, e.source,"
            " e.kind, e.debit_fen, e.credit_fen, e.posting_date AS first_on,"
            f" {allocated.format('debit_fen', 'debit_fen')}, {allocated.format('credit_fen', 'credit_fen')},"
            " CASE WHEN e.credit_fen > 0 THEN e.posting_date END AS last_out_on FROM ledger_entries e"
            f" JOIN ledger_transactions t ON t.txn_id = e.txn_id WHERE e.position <= {int(self.known_at)})"
        )  # fmt: skip

    def _complete(self) -> str:
        return COMPLETE.replace("{known}", self._upto("position"))

    def report(self, county: str, month: str, idle_days: int, today: str) -> dict[str, Any]:
        return {
            "county_code": county, "month": month,
            "accounts": self.accounts(county, month),
            "receipts_by_source": self.receipts(county, month),
            "funds_by_source": self.funds_by_source(county, month),
            "carried_in": self.carried_in(county, month),
            "rolls": [self.three_way(county, roll) for roll in self.rolls(county, month)],
            "unmatched_statement_lines": self.unknown_references(county, month),
            "idle_allocations": self.idle(county, idle_days, today),
        }  # fmt: skip

    def accounts(self, county: str, month: str) -> list[dict[str, Any]]:
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT account, kind,"
                " CAST(SUM(CASE WHEN month < %s THEN debit_fen - credit_fen ELSE 0 END) AS BIGINT) AS opening_fen,"
                " CAST(SUM(CASE WHEN month = %s THEN debit_fen ELSE 0 END) AS BIGINT) AS debit_fen,"
                " CAST(SUM(CASE WHEN month = %s THEN credit_fen ELSE 0 END) AS BIGINT) AS credit_fen"
                f" FROM {self._months()} m WHERE county_code = %s AND month <= %s"
                " GROUP BY account, kind ORDER BY account",
                (month, month, month, county, month),
            ).fetchall()
        for row in rows:
            row["closing_fen"] = (
                int(row["opening_fen"]) + int(row["debit_fen"]) - int(row["credit_fen"])
            )
        return rows

    def receipts(self, county: str, month: str) -> list[dict[str, Any]]:
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT source, CAST(SUM(allocated_debit_fen) AS BIGINT) AS amount_fen"
                f" FROM {self._months()} m WHERE county_code = %s AND month = %s AND kind = 'pool'"
                " AND allocated_debit_fen > 0 GROUP BY source ORDER BY source",
                (county, month),
            ).fetchall()

    def carried_in(self, county: str, month: str) -> list[dict[str, Any]]:
        """In January: what the previous year's carry-over (结转) recorded per account, beside the
        account's opening balance here (they agree unless something was posted into the closed
        year afterwards, which closed periods refuse)."""
        if not month.endswith("-01"):
            return []
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT c.account, CAST(SUM(c.amount_fen) AS BIGINT) AS carried_fen, CAST(COALESCE((SELECT"
                f" SUM(m.debit_fen) - SUM(m.credit_fen) FROM {self._months()} m WHERE m.county_code"
                " = %s AND m.account = c.account AND m.month < %s), 0) AS BIGINT) AS opening_fen"
                f" FROM ledger_carry_overs c WHERE c.county_code = %s AND c.year = %s{self._upto('c.position')}"
                " GROUP BY c.account ORDER BY c.account",
                (county, month, county, int(month[:4]) - 1),
            ).fetchall()
        return [
            row | {"agrees": int(row["carried_fen"]) == int(row["opening_fen"])} for row in rows
        ]

    def funds_by_source(self, county: str, month: str) -> list[dict[str, Any]]:
        """Each funding source's money through the month (资金来源追溯): allocated into the pools,
        paid out to beneficiaries, and what of it the county still holds at the month's end
        (pools, township reserves, reserved for rolls at the bank)."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT source,"
                " CAST(SUM(CASE WHEN kind = 'pool' AND month = %s"
                "  THEN allocated_debit_fen - allocated_credit_fen ELSE 0 END) AS BIGINT) AS allocated_fen,"
                " CAST(SUM(CASE WHEN kind = 'disbursed' AND month = %s"
                "  THEN debit_fen - credit_fen ELSE 0 END) AS BIGINT) AS disbursed_fen,"
                " CAST(SUM(CASE WHEN kind IN ('pool', 'reserve', 'reserved')"
                "  THEN debit_fen - credit_fen ELSE 0 END) AS BIGINT) AS held_fen"
                f" FROM {self._months()} m WHERE county_code = %s AND month <= %s"
                " AND kind IN ('pool', 'reserve', 'reserved', 'disbursed') GROUP BY source ORDER BY source",
                (month, month, county, month),
            ).fetchall()
        return [{k: (int(v) if k != "source" else v) for k, v in row.items()} for row in rows]

    def rolls(self, county: str, month: str) -> list[dict[str, Any]]:
        """The month's approved rolls, less those migrated (paid by the previous system: no
        ledger postings, bank results or statement lines in doudi to reconcile them with)."""
        migrated = (
            "json_extract(totals, '$.migrated')"
            if self.db.is_sqlite
            else "(totals::jsonb ->> 'migrated')"
        )
        status = "status"
        if self.known_at is not None:  # approved by then; sent and settled if recorded by then
            at = int(self.known_at)
            status = (f"CASE WHEN settled_position <= {at} THEN 'settled'"
                      f" WHEN sent_position <= {at} THEN 'sent' ELSE 'approved' END")  # fmt: skip
        with self.db.transaction() as cur:
            return cur.execute(
                f"SELECT roll_id, month, grp, {status} AS status, gen, total_fen FROM rolls WHERE county_code = %s"
                f" AND month = %s AND status IN ('approved', 'sent', 'settled'){self._upto('approved_position')}"
                f" AND {migrated} IS NULL ORDER BY grp",
                (county, month),
            ).fetchall()

    def _ledger(self, roll_id: str, kind: str) -> int:
        standing = "t.reversed_by IS NULL"
        if self.known_at is not None:  # not reversed by then
            standing = f"(t.reversed_by IS NULL OR t.reversed_position > {int(self.known_at)})"
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT CAST(COALESCE(SUM(e.debit_fen), 0) AS BIGINT) AS fen FROM ledger_entries e"
                " JOIN ledger_transactions t ON t.txn_id = e.txn_id WHERE t.txn_key LIKE %s AND e.kind = %s"
                f" AND {standing}{self._upto('e.position')}",
                (f"roll:{roll_id}:%", kind),
            ).fetchone()
        return int(row["fen"]) if row else 0

    def three_way(self, county: str, roll: dict[str, Any]) -> dict[str, Any]:
        """Match in the database: every payable line against the statement by reference and amount;
        only the mismatches (and the sums) come back, so a million-line roll stays small here."""
        prefix = reference_prefix(county, roll["month"], roll["grp"])
        bank_status = self._bank_status()
        lines = (
            f"SELECT {reference_sql(self.db.is_sqlite)} AS reference, l.case_id, l.total_fen,"
            f" {bank_status} AS bank_status FROM roll_lines l WHERE l.gen = %s"
        )
        booked = (
            "SELECT reference, amount_fen FROM bank_statement_lines WHERE county_code = %s"
            f" AND statement_id IN ({self._complete()}) AND reference LIKE %s{self._upto('position')}"
        )
        statement = (county, county, prefix + "%")
        with self.db.transaction() as cur:
            if not self.db.is_sqlite:
                # One hash of the statement in memory, built once: a parallel plan had each
                # worker build its own, and a small work_mem sorted it on disk.
                cur.execute("SET LOCAL work_mem = '256MB'")
                cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                # Lines and statements arrive by COPY faster than autovacuum analyses them; with
                # stale statistics the planner once took the tables for empty and matched row by
                # row (minutes). Every query below is a scan, an aggregate or a full join (hash
                # or merge only), so no ANALYZE of millions of rows (~3 s) is needed first.
                cur.execute("SET LOCAL enable_nestloop = off")
            # The sums need no join: the roll's lines by bank result, and the statement's lines
            # under the roll's reference prefix (less those the roll does not know, below).
            sums = cur.execute(
                f"SELECT CAST(COALESCE(SUM(CASE WHEN {bank_status} = 'paid' THEN total_fen END), 0) AS BIGINT) AS paid,"
                f" CAST(COALESCE(SUM(CASE WHEN {bank_status} = 'failed' THEN total_fen END), 0) AS BIGINT) AS failed,"
                f" CAST(COALESCE(SUM(CASE WHEN ({bank_status}) IS NULL THEN total_fen END), 0) AS BIGINT) AS awaiting"
                " FROM roll_lines WHERE gen = %s AND total_fen > 0",
                (roll["gen"],),
            ).fetchone() or {}  # fmt: skip
            on_statement = cur.execute(
                f"SELECT CAST(COALESCE(SUM(-amount_fen), 0) AS BIGINT) AS fen FROM ({booked}) s", statement
            ).fetchone() or {}  # fmt: skip
            # One pass over both sides, the statement summed per reference: every line whose
            # statement line is missing, booked more than once, differs or should not be there,
            # and every reference on the statement the roll does not know.
            odd = cur.execute(
                f"SELECT l.reference, s.reference AS statement_reference, l.case_id, l.total_fen, l.bank_status,"
                f" s.fen, COALESCE(s.n, 0) AS n FROM ({lines}) l FULL JOIN (SELECT reference, COUNT(*) AS n,"
                f" CAST(SUM(-amount_fen) AS BIGINT) AS fen FROM ({booked}) b GROUP BY reference) s"
                " ON s.reference = l.reference"
                # Null-safe on purpose: a line without a bank result or a statement line must
                # still compare true or false, never unknown.
                " WHERE l.reference IS NULL OR COALESCE(s.n, 0) > 1 OR NOT ((COALESCE(l.bank_status, '') = 'paid'"
                " AND s.n IS NOT NULL AND s.fen = l.total_fen)"
                " OR (s.reference IS NULL AND (l.total_fen <= 0 OR COALESCE(l.bank_status, '') <> 'paid')))"
                " ORDER BY COALESCE(l.reference, s.reference)",
                (prefix, roll["gen"], *statement),
            ).fetchall()
        strangers = [row for row in odd if row["reference"] is None]
        mismatches = [_issue(row) for row in odd if row["reference"] is not None]
        sums["booked"] = int(on_statement.get("fen", 0)) - sum(int(row["fen"]) for row in strangers)
        paid, failed = int(sums.get("paid", 0)), int(sums.get("failed", 0))
        disbursed, released = (
            self._ledger(roll["roll_id"], "disbursed"),
            self._ledger(roll["roll_id"], "pool"),
        )
        if disbursed != paid:
            mismatches.append(
                {
                    "issue": "ledger disbursement differs from lines paid",
                    "ledger_fen": disbursed,
                    "roll_fen": paid,
                }
            )
        if released != failed:
            mismatches.append(
                {
                    "issue": "failed lines not released in the ledger",
                    "ledger_fen": released,
                    "roll_fen": failed,
                }
            )
        mismatches += [{"reference": row["statement_reference"], "statement_fen": int(row["fen"]),
                        "issue": "statement line not in the roll"} for row in strangers]  # fmt: skip
        return {"roll_id": roll["roll_id"], "group": roll["grp"], "status": roll["status"],
                "roll_fen": int(roll["total_fen"]), "paid_fen": paid, "failed_fen": failed,
                "awaiting_fen": int(sums.get("awaiting", 0)), "ledger_disbursed_fen": disbursed,
                "ledger_released_fen": released, "statement_fen": int(sums.get("booked", 0)),
                "mismatches": mismatches}  # fmt: skip

    def unknown_references(self, county: str, month: str) -> list[dict[str, Any]]:
        """Statement lines of the month that belong to no roll of the county."""
        start, end = first_day(month), first_day(add_months(month, 1))
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT reference, amount_fen, booked_on FROM bank_statement_lines s WHERE s.county_code = %s"
                f" AND s.booked_on >= %s AND s.booked_on < %s AND s.statement_id IN ({self._complete()})"
                f"{self._upto('s.position')} AND NOT (substr(s.reference, 1, 6) = %s AND substr(s.reference, 7, 6) IN"
                f" (SELECT replace(month, '-', '') FROM rolls WHERE county_code = %s{self._upto('opened_position')}))"
                " ORDER BY reference",
                (county, start, end, county, county, county),
            ).fetchall()

    def idle(self, county: str, idle_days: int, today: str) -> list[dict[str, Any]]:
        """Pools that hold money and have not paid anything out for more than ``idle_days`` (滞留)."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT account, CAST(SUM(debit_fen) - SUM(credit_fen) AS BIGINT) AS balance_fen, MIN(first_on) AS first_in,"
                f" MAX(last_out_on) AS last_out FROM {self._months()} m"
                " WHERE county_code = %s AND kind = 'pool' GROUP BY account ORDER BY account",
                (county,),
            ).fetchall()
        found = []
        for row in rows:
            since = row["last_out"] or row["first_in"]
            days = (date.fromisoformat(today) - date.fromisoformat(since)).days
            if int(row["balance_fen"]) > 0 and days > idle_days:
                found.append({"account": row["account"], "balance_fen": int(row["balance_fen"]),
                              "idle_since": since, "days_idle": days})  # fmt: skip
        return found

    def recorded_after(self, county: str, month: str, limit: int = 100) -> list[dict[str, Any]]:
        """What the report as known at the position lacks: the facts it reads recorded after
        it, in log order — the county's ledger transactions (a reversal among them, naming the
        transaction it reverses), its bank statements and carry-overs, and the month's rolls'
        approval, sending, bank results and settlement."""
        if self.known_at is None:
            return []
        at = int(self.known_at)
        with self.db.transaction() as cur:
            found = cur.execute(
                "SELECT position, 'JournalTransaction.Posted' AS event_type, txn_key AS subject,"
                " posting_date AS effective_date, document_ref FROM ledger_transactions"
                " WHERE position > %s AND txn_id IN (SELECT txn_id FROM ledger_entries WHERE county_code = %s"
                " AND position > %s)"
                " UNION ALL SELECT position, 'BankStatement.Imported', statement_id, NULL, file_sha256"
                " FROM bank_statements WHERE county_code = %s AND position > %s"
                " UNION ALL SELECT DISTINCT position, 'LedgerYear.CarriedOver', CAST(year AS TEXT), NULL, document_ref"
                " FROM ledger_carry_overs WHERE county_code = %s AND position > %s"
                " UNION ALL SELECT p.position, p.event_type, r.roll_id, r.month, NULL FROM rolls r JOIN ("
                " SELECT roll_id, approved_position AS position, 'PaymentRoll.Approved' AS event_type FROM rolls"
                " UNION ALL SELECT roll_id, sent_position, 'PaymentRoll.Sent' FROM rolls"
                " UNION ALL SELECT roll_id, settled_position, 'PaymentRoll.Settled' FROM rolls"
                " ) p ON p.roll_id = r.roll_id WHERE r.county_code = %s AND r.month = %s AND p.position > %s"
                " UNION ALL SELECT DISTINCT l.bank_position, 'PaymentRoll.BankResultsImported', r.roll_id,"
                " r.month, NULL FROM rolls r JOIN roll_lines l ON l.gen = r.gen WHERE r.county_code = %s"
                " AND r.month = %s AND l.bank_position > %s ORDER BY 1 LIMIT %s",
                (
                    at,
                    county,
                    at,
                    county,
                    at,
                    county,
                    at,
                    county,
                    month,
                    at,
                    county,
                    month,
                    at,
                    limit,
                ),
            ).fetchall()
        return [row | {"position": int(row["position"])} for row in found]
