"""Statistics as the seeds report them (SPEC §7), from approved rolls.

Per programme × area (county, city or province) × period (month, quarter or year):
households (户), persons (人), person-times (人次: persons summed over the months), amount paid
(the payable totals of the period's approved rolls, back-pay included), the average monthly level
(amount ÷ person-times: Xinping's 463.33万元 ÷ 8,520 人次 = 543.82 元), additions (新增: paid this
month, not the month before) and removals (清退: paid the month before, not this month).

It reads the totals the rolls view keeps per county × programme × month as rolls are approved
(``roll_statistics``: households, persons and amount of the counted rolls, and how many of the
households the month before paid too), never the lines. An area's households and persons are
the sums of its counties' (a case belongs to one county); additions are the households less
those paid the month before, removals the month before's less those paid again. Households
and persons of a quarter or year are those of its last month.

As known at a log position: an approved roll is never generated again and stays counted, and
each restatement of a month's totals is valid from the position of the approval that made it,
so the statistics known then read the rows valid at the position.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from domain.dates import add_months
from domain.money import RoundingMode, RoundingUnit, divide_rounded, format_yuan
from ledger.store.db import Database
from projections.keyset import prefix_range

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
    households_by_month: dict[str, int] = field(default_factory=dict)
    persons_by_month: dict[str, int] = field(default_factory=dict)
    amount_fen: int = 0
    additions: int = 0
    removals: int = 0

    def row(self) -> dict[str, Any]:
        last = max(self.households_by_month) if self.households_by_month else None
        person_times = sum(self.persons_by_month.values())
        average = (
            divide_rounded(self.amount_fen, person_times, RoundingUnit.FEN, RoundingMode.HALF_UP)
            if person_times
            else 0
        )
        return {
            "households": self.households_by_month[last] if last else 0,
            "persons": self.persons_by_month[last] if last else 0,
            "person_times": person_times, "amount_fen": self.amount_fen, "amount_yuan": format_yuan(self.amount_fen),
            "average_monthly_fen": average, "average_monthly_yuan": format_yuan(average),
            "additions": self.additions, "removals": self.removals,
        }  # fmt: skip


class StatisticsView:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _totals(
        self,
        scope_prefix: str,
        first: str,
        last: str,
        programme: str | None,
        known_at: int | None = None,
    ) -> list[dict[str, Any]]:
        """The kept totals of the counties in scope for the months ``first``…``last``, as they
        stand (or as they stood at log position ``known_at``): one index range."""
        valid, params = "valid_to IS NULL", []
        if known_at is not None:
            valid = "valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)"
            params += [known_at, known_at]
        ranged, bounds = prefix_range("county_code", scope_prefix)
        sql = (
            "SELECT county_code, month, programme, households, persons, amount_fen, continuing"
            f" FROM roll_statistics WHERE {valid}{ranged} AND month >= %s AND month <= %s"
        )
        params += [*bounds, first, last]
        if programme is not None:
            sql += " AND programme = %s"
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
        rows = self._totals(scope_prefix, add_months(first, -1), last, programme, known_at)
        # (area, programme, month) → [households, persons, amount, households paid before too]
        sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for row in rows:
            found = sums[area_of(row["county_code"], level), row["programme"], row["month"]]
            for index, name in enumerate(("households", "persons", "amount_fen", "continuing")):
                found[index] += int(row[name])
        buckets: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
        for (area, programme_code, month), (households, persons, amount, kept) in sums.items():
            if month < first:
                continue
            bucket = buckets[area, programme_code, period_of(month, period)]
            bucket.amount_fen += amount
            if households:
                before = sums.get((area, programme_code, add_months(month, -1)), [0])[0]
                bucket.households_by_month[month] = households
                bucket.persons_by_month[month] = persons
                bucket.additions += households - kept
                bucket.removals += before - kept
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
