"""The roll's line loop: every line of a county's roll for a month, and the roll's totals
(compiled with mypyc: see ``ops/native.py``).

``roll_lines`` reads the county's cases page by page from the case-state view and gives each
line as a row of ``domain.lines.FIELDS``; ``Totals`` adds them up. The amounts come from the
month's policy (``ops.services.rolls.MonthPolicy``), worked out once per distinct set of values
a settled basis holds (``Valued``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypeVar

import orjson

from domain.basis import MonthBasis, basis_for_month
from domain.dates import first_day
from domain.entitlement import HouseholdBasis, Income
from domain.lines import (
    BASIS,
    COMPONENTS,
    COVERED,
    INCOME,
    MONTHS,
    PROGRAMME,
    RECEIVABLE,
    REF_SEPARATOR,
    TOTAL,
    Due,
    Parts,
)
from domain.lines import CASE_ID as LINE_CASE
from domain.lines import REGION_CODE as LINE_REGION
from domain.programmes import dibao_programme_for
from domain.recovery import net
from domain.roll import LINES_PER_CHUNK, ProgrammeGroup
from ops.services.core import Services
from ops.services.rolls import MonthPolicy, PolicyBook, adjustments
from projections.case_state.settled import (
    CASE_ID,
    KIND,
    PAYEE,
    REGION_CODE,
    SettledValues,
    numbered_members,
    span_pays,
)


class Valued:
    """What one settled basis's values (``projections.case_state.settled``) give in a month's roll:
    the programme, the covered count and, once a case with them is paid, what they are owed.
    Kept per values (and, for 特困, the dibao standard of the case's region), so the cases that
    share them — thousands in a county — are neither decoded nor looked up again. New values
    whose value key the month has met already (``MonthPolicy.value_key``: every household paid
    by tier, and top-ups counting the same income) take its components without a basis built
    for them."""

    def __init__(self, values: bytes) -> None:
        self.values = SettledValues(values)
        self.programme = self.values.programme
        self.covered = min(self.values.covered, self.values.household)  # as a basis counts
        self.owed: Due | None = None

    def due(self, policy: MonthPolicy, region_code: str) -> Due:
        if self.owed is None:
            v = self.values
            key = policy.value_key(
                v.kind, v.programme, v.method, v.tier_code, v.household, self.covered,
                (v.income, v.excluded, v.rigid, v.employment), v.care_level, v.mode, region_code,
                v.exiting,
            )  # fmt: skip
            found = policy.known_due(key)
            if found is None:
                income = _record(Income, (v.income, v.excluded, v.rigid, v.employment, INCOME))
                if v.kind == "tekun":
                    found = policy.computed(key, self.template(income), region_code)
                else:  # as ``entitlement_for`` reads a household basis
                    household = _record(HouseholdBasis, (
                        v.method, max(v.household, 1), self.covered, income, v.tier_code, True,
                        BASIS, v.exiting,
                    ))  # fmt: skip
                    found = policy.computed_household(
                        key, household, v.kind, v.programme, region_code
                    )
            self.owed = found
        return self.owed

    def template(self, income: Income) -> MonthBasis:
        """A 特困 basis with these values and the placeholder references (``income`` holds the
        ``INCOME`` one), as ``owed_by`` computes from (its status and months do not reach a
        month's amounts: the span decides whether the case is paid, ``span_pays``). A
        household's components are worked out from its ``HouseholdBasis`` instead."""
        v = self.values
        members = _MEMBERS.get((v.household, self.covered))
        if members is None:  # read only: a template is never folded further
            if len(_MEMBERS) >= 1_000:
                _MEMBERS.clear()
            members = _MEMBERS[v.household, self.covered] = numbered_members(
                v.household, self.covered
            )
        return MonthBasis(
            v.kind, v.programme, "approved", v.method, v.tier_code, members, income, None, None, 0,
            v.care_level, v.mode, [BASIS],
        )  # fmt: skip


R = TypeVar("R", bound=tuple[Any, ...])


def _record(kind: type[R], fields: tuple[Any, ...]) -> R:
    """A ``NamedTuple`` of ``kind`` with all its ``fields`` given in order: what its generated
    ``__new__`` does (``tuple.__new__``), called from compiled code without running that
    ``__new__`` as interpreted Python, once per new set of values."""
    return tuple.__new__(kind, fields)


_VALUED: Final = 20_000  # values kept per roll: bounded memory whatever the incomes
_MEMBERS: dict[tuple[int, int], dict[str, bool]] = {}  # (household, covered) → template members


def roll_lines(
    services: Services,
    county: str,
    month: str,
    group: ProgrammeGroup,
    book: PolicyBook,
    parts: Parts,
) -> Iterator[list[Any]]:
    """Every line of the county's roll, in case-id order (deterministic): this month's benefit
    for cases not yet paid for it, plus adjustments for months already paid. Each line is a row
    of ``domain.lines.FIELDS``, its components indices into ``parts``, the table of the chunk
    it goes into: the caller takes the table when it records a chunk, before the next line.

    A case whose settled basis holds for the month is read from the basis's parts (``Valued``,
    ``span_pays``): its references and payee passed on as the view keeps them, nothing decoded
    unless its values or span are new to the roll. Any other case's facts are folded."""
    cut, as_of = first_day(month), book.as_of
    policy = book.month(month)
    everything = group is ProgrammeGroup.ALL
    known = (cut, as_of, book.policy_recorded_until)
    valued: dict[bytes, Valued] = {}
    spans: dict[bytes, bool] = {}
    fragment = orjson.Fragment  # a local: ``orjson.Fragment`` is a module attribute lookup a line
    for page in services.case_state.county_case_pages(county, month, known):
        for row in page:
            case = row.case
            region: str = case[REGION_CODE]
            settled = row.settled
            entry: Valued | None = None
            basis: MonthBasis | None = None
            if settled is not None and row.holds:  # (``holds`` implies a basis was read)
                # No fact of the case counts from a later date nor is unknown at the book's
                # time: its basis this month is the settled one the view keeps (no fold).
                values, span, refs = settled.split(b"\n", 2)
                key = (
                    values
                    if case[KIND] != "tekun"
                    else values + dibao_programme_for(region).encode()
                )
                entry = valued.get(key)
                if entry is None:
                    if len(valued) >= _VALUED:
                        valued.clear()
                    entry = valued[key] = Valued(values)
                programme, covered = entry.programme, entry.covered
                paying = spans.get(span)
                if paying is None:
                    paying = spans[span] = span_pays(span, month)
                line_refs = refs.decode()  # as the line keeps them (``domain.lines.REFS``)
            else:
                basis = basis_for_month(case[KIND], row.facts, month, as_of)
                programme, covered, paying = (
                    basis.programme,
                    basis.covered_members,
                    basis.paying_in(month),
                )
                # Fact references (``Class.Event#position``) never hold the separator.
                line_refs = REF_SEPARATOR.join([basis.income.source, *basis.sources])
            if not everything and not group.includes(programme):
                continue
            history = row.history
            if month in history or not paying:
                regular: list[int] = []
                regular_fen = 0
            else:
                if entry is not None:
                    due = entry.due(policy, region)
                else:
                    assert basis is not None  # folded above
                    due = policy.owed_by(basis, region, covered)
                regular, regular_fen = due.indices(parts), due.total_fen
            months: list[dict[str, Any]] | None = None  # this month's only, its total
            if history:
                adjusted = adjustments(row.as_dict(), row.facts, month, history, book)
                if not regular and not adjusted:
                    continue
                payable, receivable, months = net(month, regular_fen if regular else None, adjusted)
                components = regular + [
                    parts.add([a["code"], a["month"], a["amount_fen"], a["rule"], a["sources"]])
                    for a in adjusted
                ]  # fmt: skip
                if not adjusted:
                    months = None
            elif regular:  # what ``net`` gives with no adjustments, without its loops
                payable, receivable, components = regular_fen, 0, regular
            else:
                continue
            yield [
                case[CASE_ID], case[KIND], programme, region, fragment(case[PAYEE]),
                covered, components, payable, receivable, months, line_refs,
            ]  # fmt: skip


def roll_chunks(
    services: Services,
    county: str,
    month: str,
    group: ProgrammeGroup,
    book: PolicyBook,
    parts: Parts,
    totals: Totals,
    held: dict[str, dict[str, Any]],
) -> Iterator[list[list[Any]]]:
    """``roll_lines`` in chunks of ``LINES_PER_CHUNK`` (the last one shorter), each line added to
    ``totals``. The line of a case in ``held`` (case id → reason: a death record, 次月停发) goes
    into ``totals.held`` instead, never into a chunk, so never into the bank file. The caller
    takes ``parts``, the chunk's table, before it asks for the next."""
    chunk: list[list[Any]] = []
    for line in roll_lines(services, county, month, group, book, parts):
        reason = held.get(line[LINE_CASE]) if held else None
        if reason is not None:
            totals.hold(line, reason)
            continue
        totals.add(line, parts.parts)
        chunk.append(line)
        if len(chunk) == LINES_PER_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Cell:
    """One programme × region's tally (native integers: no boxed arithmetic a line)."""

    def __init__(self) -> None:
        self.lines = 0
        self.persons = 0
        self.amount_fen = 0
        self.payable = 0


class Totals:
    """A roll's totals, added line by line: one tally per programme × region code, summed by
    programme and by township at the end (two dict lookups a line instead of a dozen updates;
    keyed by the line's own region code, so no township code is cut out of it a line)."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, Cell]] = {}  # programme → region code → tally
        self.backpay_fen = self.recovered_fen = self.receivable_fen = 0
        self.held: list[dict[str, Any]] = []  # the lines held, with their reasons

    def hold(self, line: list[Any], reason: dict[str, Any]) -> None:
        """Keep a held line out of the totals, naming it, its amount and why it is held."""
        total: int = line[TOTAL]
        self.held.append(
            reason | {"programme": line[PROGRAMME], "region_code": line[LINE_REGION],
                      "amount_fen": total}
        )  # fmt: skip

    def add(self, line: list[Any], parts: list[list[Any]]) -> None:
        """Add a row of ``domain.lines.FIELDS`` whose components index ``parts``."""
        total: int = line[TOTAL]
        programme: str = line[PROGRAMME]
        regions = self.cells.get(programme)
        if regions is None:
            regions = self.cells[programme] = {}
        region: str = line[LINE_REGION]
        cell = regions.get(region)
        if cell is None:
            cell = regions[region] = Cell()
        covered: int = line[COVERED]  # typed: a native addition, not a generic one
        cell.lines += 1
        cell.persons += covered
        cell.amount_fen += total
        if total > 0:
            cell.payable += 1
        receivable: int = line[RECEIVABLE]
        if receivable:
            self.receivable_fen += receivable
        months: list[dict[str, Any]] | None = line[MONTHS]
        if months is not None:  # only a line with adjustments lists its months
            for index in line[COMPONENTS]:
                if parts[index][0] == "backpay":
                    self.backpay_fen += parts[index][2]
            for part in months:
                if part["amount_fen"] < 0:
                    self.recovered_fen -= part["amount_fen"]

    def _tallies(self) -> list[tuple[str, str, Cell]]:
        return [
            (programme, region, cell)
            for programme, regions in self.cells.items()
            for region, cell in regions.items()
        ]

    @property
    def lines(self) -> int:
        return sum(cell.lines for _p, _r, cell in self._tallies())

    @property
    def amount_fen(self) -> int:
        return sum(cell.amount_fen for _p, _r, cell in self._tallies())

    def _by(self, township: bool) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for programme, region, cell in self._tallies():
            name = region[:9] if township else programme
            bucket = found.setdefault(name, {"lines": 0, "persons": 0, "amount_fen": 0})
            bucket["lines"] += cell.lines
            bucket["persons"] += cell.persons
            bucket["amount_fen"] += cell.amount_fen
        return dict(sorted(found.items()))

    def as_dict(self) -> dict[str, Any]:
        cells = [cell for _p, _r, cell in self._tallies()]
        return {
            "lines": sum(cell.lines for cell in cells),
            "persons": sum(cell.persons for cell in cells),
            "amount_fen": sum(cell.amount_fen for cell in cells),
            "payable_lines": sum(cell.payable for cell in cells),
            "backpay_fen": self.backpay_fen,
            "recovered_fen": self.recovered_fen,
            "receivable_fen": self.receivable_fen,
            "by_programme": self._by(False),
            "by_township": self._by(True),
            "held": self.held,
            "held_fen": sum(int(h["amount_fen"]) for h in self.held),
        }
