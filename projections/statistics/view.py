"""Statistics as the seeds report them (SPEC §7), from approved rolls.

Per programme × area (county, city or province) × period (month, quarter or year):
households (户), persons (人), person-times (人次: persons summed over the months), amount paid
(the payable totals of the period's approved rolls, back-pay included), the average monthly level
(amount ÷ person-times: Xinping's 463.33万元 ÷ 8,520 人次 = 543.82 元), additions (新增: paid this
month, not the month before) and removals (清退: paid the month before, not this month).

It reads the rolls view's tables (no tables of its own), counting only rolls approved, sent or
settled. Households and persons of a quarter or year are those of its last month.

As known at a log position: an approved roll is never generated again and stays counted, and
its lines are recorded before its approval, so the statistics known then are those of the
rolls whose approval (``rolls.approved_position``) lies at or before the position.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from domain.dates import add_months
from domain.money import RoundingMode, RoundingUnit, divide_rounded, format_yuan
from ledger.store.db import Database
from projections.rolls.view import line_months

LEVEL_DIGITS = {"county": 6, "city": 4, "province": 2}


def period_of(month: str, period: str) -> str:
    if period == "month":
        return month
    if period == "quarter":
        return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"
    return month[:4]


def area_of(county_code: str, level: str) -> str:
    digits = LEVEL_DIGITS[level]
    return county_code[:digits].ljust(6, "0")


@dataclass
class Bucket:
    months: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    persons_by_month: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    amount_fen: int = 0
    additions: int = 0
    removals: int = 0

    def row(self) -> dict[str, Any]:
        last = max(self.months) if self.months else None
        person_times = sum(self.persons_by_month.values())
        average = (
            divide_rounded(self.amount_fen, person_times, RoundingUnit.FEN, RoundingMode.HALF_UP)
            if person_times
            else 0
        )
        return {
            "households": len(self.months[last]) if last else 0,
            "persons": self.persons_by_month[last] if last else 0,
            "person_times": person_times, "amount_fen": self.amount_fen, "amount_yuan": format_yuan(self.amount_fen),
            "average_monthly_fen": average, "average_monthly_yuan": format_yuan(average),
            "additions": self.additions, "removals": self.removals,
        }  # fmt: skip


class StatisticsView:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _lines(
        self,
        scope_prefix: str,
        first: str,
        last: str,
        programme: str | None,
        known_at: int | None = None,
    ) -> list[dict[str, Any]]:
        months, month, _amount = line_months(self.db.is_sqlite)
        counted, params = "r.status IN ('approved', 'sent', 'settled')", []
        if known_at is not None:
            counted = "r.approved_position <= %s"  # NULL (never approved) is not counted
            params.append(known_at)
        sql = (
            "SELECT r.county_code, r.month, l.programme, l.case_id, l.covered_members, l.total_fen,"
            f" EXISTS (SELECT 1 FROM {months} WHERE {month} = r.month) AS regular"
            f" FROM roll_lines l JOIN rolls r ON r.gen = l.gen WHERE {counted}"
            " AND r.county_code LIKE %s AND r.month >= %s AND r.month <= %s"
        )
        params += [scope_prefix + "%", first, last]
        if programme is not None:
            sql += " AND l.programme = %s"
            params.append(programme)
        with self.db.transaction() as cur:
            return cur.execute(sql, params).fetchall()

    def report(
        self,
        *,
        scope_prefix: str,
        level: str,
        period: str,
        first: str,
        last: str,
        programme: str | None,
        known_at: int | None = None,
    ) -> list[dict[str, Any]]:
        # One month before the range, to count additions and removals in its first month.
        rows = self._lines(scope_prefix, add_months(first, -1), last, programme, known_at)
        paid: dict[tuple[str, str, str], set[str]] = defaultdict(
            set
        )  # (area, programme, month) → cases
        buckets: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
        for row in rows:
            area = area_of(row["county_code"], level)
            if row["regular"]:
                paid[area, row["programme"], row["month"]].add(row["case_id"])
            if row["month"] < first:
                continue
            bucket = buckets[area, row["programme"], period_of(row["month"], period)]
            bucket.amount_fen += int(row["total_fen"])
            if row["regular"]:
                bucket.months[row["month"]].add(row["case_id"])
                bucket.persons_by_month[row["month"]] += int(row["covered_members"])
        for (area, programme_code, month), cases in list(paid.items()):
            if month < first:
                continue
            before = paid.get((area, programme_code, add_months(month, -1)), set())
            bucket = buckets[area, programme_code, period_of(month, period)]
            bucket.additions += len(cases - before)
            bucket.removals += len(before - cases)
        return [
            {
                "area": area,
                "level": level,
                "programme": programme_code,
                "period": key,
                **bucket.row(),
            }
            for (area, programme_code, key), bucket in sorted(buckets.items())
        ]

    def approved_after(
        self, position: int, scope_prefix: str, first: str, last: str
    ) -> list[dict[str, Any]]:
        """The rolls of the months ``first``…``last`` in scope approved after log position
        ``position``, in log order: what statistics known then do not count."""
        with self.db.transaction() as cur:
            return cur.execute(
                "SELECT e.position, r.roll_id, r.county_code, r.month, e.recorded_at, e.actor"
                " FROM audit_events e JOIN rolls r ON r.roll_id = e.originator_id"
                " WHERE e.event_type = 'PaymentRoll.Approved' AND e.position > %s"
                " AND r.county_code LIKE %s AND r.month >= %s AND r.month <= %s ORDER BY e.position",
                (position, scope_prefix + "%", first, last),
            ).fetchall()
