"""Fund reconciliation per county × month (SPEC §7): roll ↔ ledger ↔ bank statement.

It reads the rolls and ledger views' tables (none of its own) and answers:
- the ledger: per account, the balance before the month, debits and credits in it, the balance
  after; receipts into the pools by funding source;
- the three-way comparison of each roll of the month: every payable line against the bank's
  result, the ledger's disbursement and the bank statement, matched by reference *and* amount,
  with every mismatch itemised (which line, which amounts, which side is missing);
- pools holding allocated money with no outgoing movement for more than ``idle_days`` (滞留).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from domain.dates import add_months, first_day
from projections.db import Database

PAGE = 5000


def reference(county: str, month: str, group: str, line_no: int) -> str:
    """The bank reference of a roll line (as ``ops.bank.reference`` writes it)."""
    return f"{county}{month.replace('-', '')}{group[0].upper()}{line_no:07d}"


class ReconciliationView:
    def __init__(self, db: Database) -> None:
        self.db = db

    def report(self, county: str, month: str, idle_days: int, today: str) -> dict[str, Any]:
        return {
            "county_code": county, "month": month,
            "accounts": self.accounts(county, month),
            "receipts_by_source": self.receipts(county, month),
            "rolls": [self.three_way(county, roll) for roll in self.rolls(county, month)],
            "unmatched_statement_lines": self.unknown_references(county, month),
            "idle_allocations": self.idle(county, idle_days, today),
        }  # fmt: skip

    def accounts(self, county: str, month: str) -> list[dict[str, Any]]:
        start, end = first_day(month), first_day(add_months(month, 1))
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT account, kind,"
                " CAST(SUM(CASE WHEN posting_date < %s THEN debit_fen - credit_fen ELSE 0 END) AS BIGINT) AS opening_fen,"
                " CAST(SUM(CASE WHEN posting_date >= %s AND posting_date < %s THEN debit_fen ELSE 0 END) AS BIGINT) AS debit_fen,"
                " CAST(SUM(CASE WHEN posting_date >= %s AND posting_date < %s THEN credit_fen ELSE 0 END) AS BIGINT) AS credit_fen"
                " FROM ledger_entries WHERE county_code = %s AND posting_date < %s GROUP BY account, kind ORDER BY account",
                (start, start, end, start, end, county, end),
            ).fetchall()
        for row in rows:
            row["closing_fen"] = (
                int(row["opening_fen"]) + int(row["debit_fen"]) - int(row["credit_fen"])
            )
        return rows

    def receipts(self, county: str, month: str) -> list[dict[str, Any]]:
        start, end = first_day(month), first_day(add_months(month, 1))
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT source, CAST(SUM(debit_fen) AS BIGINT) AS amount_fen FROM ledger_entries WHERE county_code = %s"
                " AND kind = 'pool' AND debit_fen > 0 AND posting_date >= %s AND posting_date < %s"
                " AND txn_id IN (SELECT txn_id FROM ledger_transactions WHERE code = 'allocate')"
                " GROUP BY source ORDER BY source",
                (county, start, end),
            ).fetchall()

    def rolls(self, county: str, month: str) -> list[dict[str, Any]]:
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT roll_id, month, grp, status, token, total_fen FROM rolls WHERE county_code = %s AND month = %s"
                " AND status IN ('approved', 'sent', 'settled') ORDER BY grp",
                (county, month),
            ).fetchall()

    def _lines(self, roll: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The roll's payable lines in order, a page at a time (keyset paging: no growing OFFSET)."""
        last = -1
        while True:
            with self.db.transaction() as cur:
                page = cur.execute(
                    "SELECT line_no, case_id, total_fen, bank_status FROM roll_lines WHERE roll_id = %s AND token = %s"
                    " AND total_fen > 0 AND line_no > %s ORDER BY line_no LIMIT %s",
                    (roll["roll_id"], roll["token"], last, PAGE),
                ).fetchall()
            yield from page
            if len(page) < PAGE:
                return
            last = int(page[-1]["line_no"])

    def _statement(self, county: str, prefix: str) -> dict[str, list[int]]:
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT reference, amount_fen FROM bank_statement_lines WHERE county_code = %s AND reference LIKE %s",
                (county, prefix + "%"),
            ).fetchall()
        found: dict[str, list[int]] = {}
        for row in rows:
            found.setdefault(row["reference"], []).append(
                -int(row["amount_fen"])
            )  # a debit on the account
        return found

    def _ledger(self, roll_id: str, kind: str) -> int:
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT COALESCE(SUM(e.debit_fen), 0) AS fen FROM ledger_entries e JOIN ledger_transactions t"
                " ON t.txn_id = e.txn_id WHERE t.txn_key LIKE %s AND e.kind = %s AND t.reversed_by IS NULL",
                (f"roll:{roll_id}:%", kind),
            ).fetchone()
        return int(row["fen"]) if row else 0

    def three_way(self, county: str, roll: dict[str, Any]) -> dict[str, Any]:
        prefix = reference(county, roll["month"], roll["grp"], 0)[:-7]
        statement = self._statement(county, prefix)
        mismatches: list[dict[str, Any]] = []
        paid = failed = awaiting = on_statement = 0
        for line in self._lines(roll):
            ref = reference(county, roll["month"], roll["grp"], int(line["line_no"]))
            amount, status = int(line["total_fen"]), line["bank_status"]
            booked = statement.pop(ref, [])
            on_statement += sum(booked)
            paid += amount if status == "paid" else 0
            failed += amount if status == "failed" else 0
            awaiting += amount if status is None else 0
            item = {"reference": ref, "case_id": line["case_id"], "roll_fen": amount, "bank_result": status,
                    "statement_fen": sum(booked) if booked else None}  # fmt: skip
            if status == "paid" and not booked:
                mismatches.append(
                    item | {"issue": "paid per bank results, missing from the statement"}
                )
            elif status == "failed" and booked:
                mismatches.append(item | {"issue": "failed per bank results, yet on the statement"})
            elif booked and (len(booked) > 1 or booked[0] != amount):
                mismatches.append(item | {"issue": "statement amount differs from the roll"})
            elif status is None and booked:
                mismatches.append(item | {"issue": "on the statement, no bank result imported yet"})
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
        for ref, amounts in sorted(statement.items()):
            mismatches.append(
                {
                    "reference": ref,
                    "statement_fen": sum(amounts),
                    "issue": "statement line not in the roll",
                }
            )
        return {"roll_id": roll["roll_id"], "group": roll["grp"], "status": roll["status"], "roll_fen": int(roll["total_fen"]),
                "paid_fen": paid, "failed_fen": failed, "awaiting_fen": awaiting, "ledger_disbursed_fen": disbursed,
                "ledger_released_fen": released, "statement_fen": on_statement, "mismatches": mismatches}  # fmt: skip

    def unknown_references(self, county: str, month: str) -> list[dict[str, Any]]:
        """Statement lines of the month that belong to no roll of the county."""
        start, end = first_day(month), first_day(add_months(month, 1))
        with self.db.transaction() as cur:
            lines = cur.execute(
                "SELECT reference, amount_fen, booked_on FROM bank_statement_lines WHERE county_code = %s"
                " AND booked_on >= %s AND booked_on < %s ORDER BY reference",
                (county, start, end),
            ).fetchall()
            months = {r["month"].replace("-", "") for r in cur.execute(
                "SELECT DISTINCT month FROM rolls WHERE county_code = %s", (county,)).fetchall()}  # fmt: skip
        return [line for line in lines
                if not (line["reference"].startswith(county) and line["reference"][6:12] in months)]  # fmt: skip

    def idle(self, county: str, idle_days: int, today: str) -> list[dict[str, Any]]:
        """Pools that hold money and have not paid anything out for more than ``idle_days`` (滞留)."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT account, CAST(SUM(debit_fen) - SUM(credit_fen) AS BIGINT) AS balance_fen, MIN(posting_date) AS first_in,"
                " MAX(CASE WHEN credit_fen > 0 THEN posting_date END) AS last_out FROM ledger_entries"
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
