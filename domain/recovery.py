"""Adjustments for months already paid, and how a roll line nets them (SPEC §7).

When what a case is owed for a paid month, as known now, differs from what was paid, the next
roll adds one adjustment for that month: back-pay (补发) if more is owed, recovery (追回) if less,
naming the facts learned since the payment that caused it. A line pays back-pay in full and
takes recoveries, oldest month first, out of what it would pay; what it cannot take stays a
receivable on the line.

An adjustment is a dict as a roll chunk's parts keep it: ``code`` ('backpay' | 'recovery'),
``month``, ``amount_fen`` (signed), ``rule`` (in words) and ``sources``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.basis import CaseFact
from domain.dates import first_day
from domain.entitlement import Component


def adjustments(
    facts: list[CaseFact],
    month: str,
    paid: dict[str, tuple[int, str]],
    policy_recorded_until: str,
    owed: Callable[[str], list[Component]],
    recorded_at: Callable[[str], str],
) -> list[dict[str, Any]]:
    """Back-pay or recovery for each month up to ``month`` already paid (``paid``: month →
    (amount paid, as known at)) whose amount owed as known now (``owed(month)``) differs from
    what was paid; one adjustment per month, naming the facts that caused it.

    A month is not worked out again when nothing about the case (its latest fact) nor about
    the county's policy (``policy_recorded_until``) was recorded since it was paid.
    ``recorded_at`` tells when a policy fact named in a component was recorded ('' if none).
    """
    found = []
    latest_case_fact = max((f.recorded_at for f in facts), default="")
    for paid_month in sorted(m for m in paid if m <= month):
        paid_fen, paid_as_of = paid[paid_month]
        if latest_case_fact <= paid_as_of and policy_recorded_until <= paid_as_of:
            continue  # nothing about this case or the county's policy was learned since it was paid
        due = owed(paid_month)
        difference = sum(c.amount_fen for c in due) - paid_fen
        if difference == 0:
            continue
        kind = "backpay" if difference > 0 else "recovery"
        found.append({
            "code": kind, "month": paid_month, "amount_fen": difference,
            "rule": f"{'back-pay' if difference > 0 else 'recovery'} for {paid_month}: due "
                    f"{difference + paid_fen} fen as known now, paid {paid_fen} fen",
            "sources": causes(facts, due, paid_month, paid_as_of, recorded_at),
        })  # fmt: skip
    return found


def causes(
    facts: list[CaseFact],
    due: list[Component],
    month: str,
    paid_as_of: str,
    recorded_at: Callable[[str], str],
) -> list[str]:
    """The facts recorded after the month was paid that bear on it — the case's facts in force
    by its first day, the policy facts its components name — in that order, each once; or
    'recomputed' if none (the same facts, worked out anew)."""
    cut = first_day(month)
    found = [f.ref for f in facts if f.recorded_at > paid_as_of and f.effective_date <= cut]
    for component in due:
        found += [ref for ref in component.sources if recorded_at(ref) > paid_as_of]
    return list(dict.fromkeys(found)) or ["recomputed"]


def net(
    month: str, regular_fen: int | None, adjusted: list[dict[str, Any]]
) -> tuple[int, int, list[dict[str, Any]]]:
    """Net adjustments against this month's payment (``regular_fen``, None if the line pays
    nothing for this month): (payable, receivable, amount per month).

    Back-pay is paid in full; recoveries are taken, oldest month first, from what this line
    would pay. What cannot be recovered stays a receivable on the line — never netted to nothing.
    """
    months = [{"month": month, "amount_fen": regular_fen}] if regular_fen is not None else []
    available = regular_fen or 0
    for adjustment in adjusted:
        if adjustment["amount_fen"] > 0:
            available += adjustment["amount_fen"]
            months.append({"month": adjustment["month"], "amount_fen": adjustment["amount_fen"]})
    receivable = 0
    for adjustment in adjusted:
        if adjustment["amount_fen"] < 0:
            taken = min(available, -adjustment["amount_fen"])
            available -= taken
            receivable += -adjustment["amount_fen"] - taken
            if taken:
                months.append({"month": adjustment["month"], "amount_fen": -taken})
    return available, receivable, months
