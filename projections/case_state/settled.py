"""What a roll reads of a case from the case-state view: the case's row and its settled basis in
the view's byte form (compiled with mypyc: see ``ops/native.py``).

The settled basis (``settled_data``) is three parts, each on a line of its own, so that a roll
takes a case's apart with one split and decodes only what it has not seen: its *values* (what
the amounts depend on: kind, programme, method, tier, household size and covered count, the
income figures, care level, mode, whether it is in a gradual exit), its *span* (status, start month, exit month and months:
whether a month is paid) and its *references* (the income fact, then the basis's facts,
separated by ``REF_SEPARATOR``, the form a roll line keeps them in). Thousands of cases share
their values and a dozen spans cover a county: the roll keeps what each gives, and per case
passes its references on. Members are kept as counts: their person keys are the facts'
business, not the amount's.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from domain.basis import CaseFact, MonthBasis
from domain.entitlement import CareLevel, Income, PayMethod
from domain.lines import REF_SEPARATOR

# The columns of a case a roll reads along the county index, in this order (``RollCase.case``).
# ``payee``: the names and masked numbers a roll line carries, as one JSON array
# (``domain.lines.PAYEE_FIELDS``), which the roll hands to its chunk event undecoded.
PAGE_FIELDS = ("case_id", "kind", "region_code", "payee")
# Where each of ``PAGE_FIELDS`` sits in a ``RollCase.case`` tuple; ``Final``, so that compiled
# code reads each as a constant.
CASE_ID: Final = 0
KIND: Final = 1
REGION_CODE: Final = 2
PAYEE: Final = 3


def settled_data(basis: MonthBasis) -> bytes | None:
    """The settled basis in the view's form (above); None if a reference holds a separator
    (never a fact reference, ``Class.Event#position``: the roll then folds the case's facts)."""
    income = basis.income
    refs = [income.source, *basis.sources]
    if any(REF_SEPARATOR in ref or "\n" in ref for ref in refs):
        return None
    values = orjson.dumps([
        basis.kind, basis.programme, basis.method, basis.tier_code, basis.household_members,
        basis.covered_members, income.household_income_fen, income.excluded_income_fen,
        income.rigid_expenditure_fen, income.employment_cost_fen, basis.care_level, basis.mode,
        basis.status == "gradual_exit",
    ])  # fmt: skip
    span = orjson.dumps([basis.status, basis.start_month, basis.exit_month, basis.exit_months])
    return b"\n".join((values, span, REF_SEPARATOR.join(refs).encode()))


class SettledValues:
    """A settled basis's values, read from the part ``settled_data`` stores."""

    def __init__(self, values: bytes) -> None:
        (kind, programme, method, tier_code, household, covered, income, excluded, rigid,
         employment, care_level, mode, exiting) = orjson.loads(values)  # fmt: skip
        self.kind: str = kind
        self.programme: str = programme
        self.method: PayMethod = method
        self.tier_code: str | None = tier_code
        self.household: int = household
        self.covered: int = covered
        self.income: int = income
        self.excluded: int = excluded
        self.rigid: int = rigid
        self.employment: int = employment
        self.care_level: CareLevel = care_level
        self.mode: str = mode
        self.exiting: bool = exiting  # within a gradual exit: the region's exit percent applies


def numbered_members(household: int, covered: int) -> dict[str, bool]:
    """Members as the settled form keeps them, as counts: numbered, the first ``covered`` of
    them covered."""
    return {f"#{number}": number < covered for number in range(household)}


def basis_from_settled(values: bytes, span: bytes, refs: str) -> MonthBasis:
    """A basis from the view's three parts (``settled_data``). Its members are numbered, not
    named: the form keeps their count and covered count, all a month's amount reads. A roll
    reads the values alone (``SettledValues``); this is the whole inverse of ``settled_data``."""
    v = SettledValues(values)
    status, start_month, exit_month, exit_months = orjson.loads(span)
    income_source, *sources = refs.split(REF_SEPARATOR)
    return MonthBasis(v.kind, v.programme, status, v.method, v.tier_code,
                      numbered_members(v.household, v.covered),
                      Income(v.income, v.excluded, v.rigid, v.employment, income_source),
                      start_month, exit_month, exit_months, v.care_level, v.mode, sources)  # fmt: skip


def span_pays(span: bytes, month: str) -> bool:
    """Whether a settled basis with this span (``settled_data``) is paid for ``month``."""
    status, start_month, exit_month, exit_months = orjson.loads(span)
    return MonthBasis(
        "", status=status, start_month=start_month, exit_month=exit_month, exit_months=exit_months
    ).paying_in(month)


class RollCase:
    """A case as a roll reads it: its row (``PAGE_FIELDS`` in order, read along the county
    index), its settled basis, what was paid for it; its facts and history are decoded only if
    the roll needs them (a recent fact, or adjustments to work out)."""

    def __init__(
        self,
        case: tuple[Any, ...],
        settled: bytes | None,
        paid: str | None,
        blob: bytes | None,
        holds: bool = False,
    ) -> None:
        self.case = case  # ``PAGE_FIELDS`` in order, perhaps followed by more of the row
        self.settled = settled  # None: too large for the county index (the roll folds the facts)
        self.paid = paid
        self.blob = blob  # None: not read, as the roll said it would not need them
        # Whether the settled basis is the case's basis for the month as known at the roll's
        # time: it was read, no fact counts from a later date, none is unknown then (worked
        # out by the database as it reads the row; False when the stream was not told the
        # month's first day and the roll's time, and so reads every case's facts).
        self.holds = holds
        self.decoded: list[CaseFact] | None = None

    @property
    def unpaid(self) -> bool:
        """No month paid is listed (NULL or '[]' from the stream's subquery)."""
        return not self.paid or self.paid == "[]"

    @property
    def facts(self) -> list[CaseFact]:
        if self.decoded is None:
            if self.blob is None:
                raise LookupError(f"the facts of case {self.case[CASE_ID]} were not read")
            self.decoded = [CaseFact(*fact) for fact in orjson.loads(self.blob)]
        return self.decoded

    @property
    def history(self) -> dict[str, tuple[int, str]]:
        """Month → (amount paid, as of when it was first paid), for months up to the roll's."""
        return paid_months(self.paid)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(PAGE_FIELDS, self.case[: len(PAGE_FIELDS)], strict=True))


def roll_cases(rows: list[tuple[Any, ...]], width: int) -> list[RollCase]:
    """A page of a county's cases as the view's stream reads them for a roll's month and time:
    each row ``PAGE_FIELDS``, then (from ``width`` on) the settled basis if inline, the months
    paid and whether the settled basis holds (``RollCase.holds``)."""
    return [RollCase(row, row[width], row[width + 1], None, bool(row[width + 2])) for row in rows]


def wanting_facts(cases: list[RollCase]) -> dict[str, RollCase]:
    """By case id, the cases whose facts a roll reads: those it folds (the settled basis does
    not hold, or was too large to read along the index) and those with a paid month listed
    (adjustments fold the facts)."""
    return {case.case[CASE_ID]: case for case in cases if not case.unpaid or not case.holds}


def paid_months(history: str | None) -> dict[str, tuple[int, str]]:
    """Month → (amount, as-of) from the JSON the case page's subquery returns (NULL or '[]' if
    none)."""
    if not history or history == "[]":
        return {}
    return {month: (int(amount), as_of) for month, amount, as_of in orjson.loads(history)}
