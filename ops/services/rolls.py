"""Payment-roll generation and approval (SPEC §7): policy and case facts as known at a time →
entitlement engine → lines in chunks → roll header.

Generation streams the county's cases page by page (never the whole roll in memory), records
the lines as ``RollChunk`` aggregates a few at a time, and finally records the header's
``Generated`` event naming the generation's token. Chunk ids include that random token, so a
crash half-way leaves only orphan chunks that no header names, and a retry starts cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

import orjson
import structlog
from eventsourcing.application import AggregateNotFoundError

from domain.access import Principal
from domain.basis import (
    REF_SEPARATOR,
    CaseFact,
    MonthBasis,
    SettledValues,
    basis_for_month,
    numbered_members,
    span_pays,
)
from domain.dates import first_day, validate_month
from domain.entitlement import Component, Income, counted_income_fen
from domain.errors import Forbidden, InvalidValue
from domain.lines import (
    BASIS,
    COMPONENTS,
    COVERED,
    FIELDS,
    INCOME,
    MONTHS,
    PROGRAMME,
    RECEIVABLE,
    TOTAL,
    Parts,
    table_rows,
)
from domain.lines import REGION_CODE as LINE_REGION
from domain.month_policy import MonthRules, entitlement_for, own_sources, subsidies_for
from domain.policy import InForce, PolicyValue
from domain.programmes import dibao_programme_for, standard_programme
from domain.recovery import adjustments as recovery_adjustments
from domain.recovery import net
from domain.regions import validate_region_code
from domain.roll import LINES_PER_CHUNK, PaymentRoll, ProgrammeGroup, RollChunk, roll_id
from ledger.store.runtime import gc_paused
from ops.services.core import Outcome, Services, now_utc
from ops.services.ledger import flow_postings, pool_group
from projections.case_state.view import CASE_ID, KIND, PAYEE, REGION_CODE
from projections.rolls.view import generation_key, new_token
from projections.runner import utc_text

# ~5,000 lines per transaction: bounded memory. Not ``Final``: mypyc would compile it in as a
# constant, and the tests set it lower (a module-level name is looked up once a save).
CHUNKS_PER_SAVE = 5


# Placeholders for a case's own references in cached components (see ``MonthPolicy.due``):
# the same as a chunk's parts hold (``domain.lines``), so a cached part is recorded as it is.
_INCOME_REF: Final = INCOME
_BASIS_REF: Final = BASIS
# A cached component: (code, amount, rule, sources, whether a source is a placeholder).
_Template = tuple[str, int, str, tuple[str, ...], bool]
_DUE_CACHE: Final = 50_000  # value keys kept per month: bounded memory whatever the incomes


class Due:
    """What a basis's values are owed in one month (``MonthPolicy.owed_by``): its components
    with placeholders for the case's own references, their total, and the ones with an amount
    as a chunk's parts."""

    def __init__(self, templates: list[_Template], month: str) -> None:
        self.templates = templates
        self.total_fen = sum(template[1] for template in templates)
        self.parts = [
            [code, month, amount, rule, list(sources)]
            for code, amount, rule, sources, _placed in templates if amount
        ]  # fmt: skip
        self.table = -1  # the chunk table ``found`` indexes (``Parts.table``)
        self.found: list[int] = []

    def indices(self, parts: Parts) -> list[int]:
        """The indices of the parts in the chunk's table, added to it by the first line of the
        chunk with these values; the chunk's later lines with them share the same list (a
        line's components are never changed once made: an adjusted line makes a list of its
        own)."""
        if self.table != parts.table:
            self.table = parts.table
            self.found = [parts.add(part) for part in self.parts]
        return self.found


V = TypeVar("V", bound=PolicyValue)


class BookFacts:
    """``domain.month_policy.PolicyFacts`` read from the policy book on one day as known at a
    time, noting when each fact read was recorded (``PolicyBook.recorded_at``). Kept apart from
    ``MonthPolicy``, so that a month's policy and its rules form no reference cycle and go as
    soon as the roll is done (a roll runs with the cyclic collector paused)."""

    def __init__(
        self, services: Services, county: str, day: str, as_of: str, recorded: dict[str, str]
    ) -> None:
        self.services, self.county, self.day, self.as_of = services, county, day, as_of
        self.recorded = recorded

    def find(self, kind: type[V], item: str) -> InForce[V] | None:
        fact = self.services.policy.in_force(self.county, kind, item, self.day, self.as_of)
        if fact is not None:
            self.recorded[fact.source] = fact.recorded_at
        return fact

    def every(self, kind: type[V]) -> list[InForce[V]]:
        return self.services.policy.every(self.county, kind, self.as_of)


class MonthPolicy:
    """The policy of a county for one month as known at a time (``domain.month_policy.MonthRules``
    reading the policy book), and what bases are owed under it, kept per value key."""

    def __init__(
        self,
        services: Services,
        county_code: str,
        month: str,
        as_of: str,
        recorded: dict[str, str] | None = None,
    ) -> None:
        self.services, self.county, self.month, self.as_of = services, county_code, month, as_of
        self.recorded = recorded if recorded is not None else {}
        self.day = first_day(month)
        self._due: dict[tuple[Any, ...], Due] = {}
        self._subsidies: dict[tuple[str, int, str], list[Component]] = {}
        facts = BookFacts(services, county_code, self.day, as_of, self.recorded)
        self.rules = MonthRules(county_code, month, as_of, facts)

    def due(self, basis: MonthBasis, region_code: str) -> list[Component]:
        """The entitlement and subsidy components of a basis paying this month."""
        income, own = basis.income.source, ",".join(basis.sources[-1:])
        return [
            Component(code, amount, rule, tuple(own_sources(sources, income, own)) if placed else sources)
            for code, amount, rule, sources, placed in self.owed_by(basis, region_code, basis.covered_members).templates
        ]  # fmt: skip

    def due_parts(
        self, basis: MonthBasis, region_code: str, covered: int, parts: Parts
    ) -> tuple[list[int], int]:
        """What ``due`` gives, as indices into a chunk's parts table (amounts of zero left out:
        a line's own references fill the placeholders when it is read), and their total: the
        roll's path, no objects a line but the list of indices."""
        due = self.owed_by(basis, region_code, covered)
        return due.indices(parts), due.total_fen

    def owed_by(self, basis: MonthBasis, region_code: str, covered: int) -> Due:
        """The components of a basis, with placeholders for the case's own references.

        The engine is pure, and within one month's policy its amounts and rules depend only on
        the basis's values, not on which case it is; the case's own fact references reach only
        the components' sources. So results are kept per value key, computed once with
        placeholder references and filled in with each case's own: two cases with the same
        values get the same components, as the engine would give them, for a dict lookup.
        """
        income = basis.income
        key = self._value_key(basis, region_code, covered)
        found = self._due.get(key)
        if found is None:
            template = MonthBasis(
                basis.kind, basis.programme, basis.status, basis.method, basis.tier_code,
                basis.members, Income(income.household_income_fen, income.excluded_income_fen,
                                      income.rigid_expenditure_fen, income.employment_cost_fen, _INCOME_REF),
                basis.start_month, basis.exit_month, basis.exit_months, basis.care_level, basis.mode,
                [_BASIS_REF],
            )  # fmt: skip
            found = self.computed(key, template, region_code)
        return found

    def computed(self, key: tuple[Any, ...], template: MonthBasis, region_code: str) -> Due:
        """Work out and keep what a value key is owed, from a basis with those values whose
        references are the placeholders (``_INCOME_REF``, ``_BASIS_REF``)."""
        components = [
            *entitlement_for(template, region_code, self.rules).components,
            *self.subsidies(template, region_code),
        ]
        found = Due(
            [(c.code, c.amount_fen, c.rule, c.sources, _INCOME_REF in c.sources or _BASIS_REF in c.sources)
             for c in components],
            self.month,
        )  # fmt: skip
        if len(self._due) >= _DUE_CACHE:
            self._due.clear()
        self._due[key] = found
        return found

    def subsidies(self, basis: MonthBasis, region_code: str) -> list[Component]:
        """``subsidies_for`` a basis, kept per what they depend on: the programme, the covered
        count and the standard they are reckoned on (for 特困, the region's dibao standard)."""
        key = (
            basis.programme,
            basis.covered_members,
            standard_programme(basis.kind, basis.programme, region_code),
        )
        found = self._subsidies.get(key)
        if found is None:
            found = self._subsidies[key] = subsidies_for(basis, region_code, self.rules)
        return found

    def _value_key(self, basis: MonthBasis, region_code: str, covered: int) -> tuple[Any, ...]:
        """What a basis's components depend on, besides the case's own references
        (``value_key`` of its values)."""
        return self.value_key(
            basis.kind, basis.programme, basis.method, basis.tier_code, len(basis.members),
            covered, basis.income, basis.care_level, basis.mode, region_code,
        )  # fmt: skip

    def value_key(
        self,
        kind: str,
        programme: str,
        method: str,
        tier_code: str | None,
        household: int,
        covered: int,
        income: Income,
        care_level: str | None,
        mode: str | None,
        region_code: str,
    ) -> tuple[Any, ...]:
        """What components depend on, besides the case's own references: the values each
        engine function reads (and the subsidies, by programme and covered count).

        - 特困 (``tekun_entitlement``): the care level, the mode, the region's dibao standard;
          no income.
        - By tier (``household_entitlement``): the tier, the household size and covered count;
          no income.
        - Top-up: the sizes, and the income only as the rules count it (``counted_income_fen``:
          exclusions and deductions taken, employment costs capped at the standard).

        So households whose incomes differ but count the same, and every household paid by
        tier, share one computation."""
        if kind == "tekun":
            return ("tekun", programme, covered, care_level, mode, dibao_programme_for(region_code))
        if method == "tier":
            return ("tier", programme, tier_code, household, covered)
        standard = self.rules.standard(programme).amount_fen
        return ("top_up", programme, household, covered, counted_income_fen(income, standard))

    def known_due(self, key: tuple[Any, ...]) -> Due | None:
        """What ``owed_by`` has worked out for a value key this month, if it has."""
        return self._due.get(key)


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
        }


class PolicyBook:
    """Month policies of one county as known at one time, built on first use."""

    def __init__(self, services: Services, county: str, as_of: str) -> None:
        self.services, self.county, self.as_of = services, county, as_of
        self.months: dict[str, MonthPolicy] = {}
        # Policy fact ref → when it was recorded, filled as facts are read.
        self.recorded: dict[str, str] = {}
        self.policy_recorded_until = services.policy.latest_recorded(county, as_of)

    def month(self, month: str) -> MonthPolicy:
        if month not in self.months:
            self.months[month] = MonthPolicy(
                self.services, self.county, month, self.as_of, self.recorded
            )
        return self.months[month]

    def recorded_at(self, ref: str) -> str:
        """When a policy fact named in a component was recorded ('' if it is not a policy fact)."""
        return self.recorded.get(ref, "")


def due_components(
    case: dict[str, Any], facts: list[CaseFact], month: str, book: PolicyBook
) -> tuple[MonthBasis, list[Component]]:
    """What the case is owed for ``month`` as known at the book's time, as components."""
    policy = book.month(month)
    basis = basis_for_month(case["kind"], facts, month, book.as_of)
    if not basis.paying_in(month):
        return basis, []
    return basis, policy.due(basis, case["region_code"])


def adjustments(
    case: dict[str, Any],
    facts: list[CaseFact],
    month: str,
    paid: dict[str, tuple[int, str]],
    book: PolicyBook,
) -> list[dict[str, Any]]:
    """``domain.recovery.adjustments`` for a case, what it is owed worked out under the book's
    policy (``due_components``)."""
    return recovery_adjustments(
        facts,
        month,
        paid,
        book.policy_recorded_until,
        lambda paid_month: due_components(case, facts, paid_month, book)[1],
        book.recorded_at,
    )


class Valued:
    """What one settled basis's values (``domain.basis.settled_data``) give in a month's roll:
    the programme, the covered count and, once a case with them is paid, what they are owed.
    Kept per values (and, for 特困, the dibao standard of the case's region), so the cases that
    share them — thousands in a county — are neither decoded nor looked up again. New values
    whose value key the month has met already (``MonthPolicy.value_key``: every household paid
    by tier, and top-ups counting the same income) take its components without a basis built
    for them (measured: a basis built per new values was ~9 % of a roll's instructions)."""

    def __init__(self, values: bytes) -> None:
        self.values = SettledValues(values)
        self.programme = self.values.programme
        self.covered = min(self.values.covered, self.values.household)  # as a basis counts
        self.owed: Due | None = None

    def due(self, policy: MonthPolicy, region_code: str) -> Due:
        if self.owed is None:
            v = self.values
            income = Income(v.income, v.excluded, v.rigid, v.employment)
            key = policy.value_key(
                v.kind, v.programme, v.method, v.tier_code, v.household, self.covered, income,
                v.care_level, v.mode, region_code,
            )  # fmt: skip
            found = policy.known_due(key)
            if found is None:
                found = policy.computed(key, self.template(income), region_code)
            self.owed = found
        return self.owed

    def template(self, income: Income) -> MonthBasis:
        """A basis with these values and the placeholder references, as ``owed_by`` computes
        from (its status and months do not reach a month's amounts: the span decides whether
        the case is paid, ``span_pays``)."""
        v = self.values
        members = _MEMBERS.get((v.household, self.covered))
        if members is None:  # read only: a template is never folded further
            if len(_MEMBERS) >= 1_000:
                _MEMBERS.clear()
            members = _MEMBERS[v.household, self.covered] = numbered_members(
                v.household, self.covered
            )
        return MonthBasis(
            v.kind, v.programme, "approved", v.method, v.tier_code, members,
            Income(income.household_income_fen, income.excluded_income_fen,
                   income.rigid_expenditure_fen, income.employment_cost_fen, _INCOME_REF),
            None, None, 0, v.care_level, v.mode, [_BASIS_REF],
        )  # fmt: skip


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


def check_policy_in_force(services: Services, county: str, policy: MonthPolicy) -> None:
    """Refuse before anything is recorded when the month's policy lacks what the county's cases
    need (a standard per programme, the 特困 rule, each tier used), so a refused roll records
    nothing rather than half its chunks. The combinations come from a short list that keeps
    every one a case has had: one the policy does not cover refuses the roll only if a case
    still has it."""
    for kind, programme, tier_code in services.case_state.county_programmes(county):
        try:
            _require_policy(county, policy, kind, programme, tier_code)
        except InvalidValue:
            if services.case_state.programme_in_use(county, kind, programme, tier_code):
                raise


def _require_policy(
    county: str, policy: MonthPolicy, kind: str, programme: str, tier_code: str | None
) -> None:
    rules = policy.rules
    if kind == "tekun" and rules.tekun_multiplier() is None:
        raise InvalidValue(
            f"no 特困 rule in force for {county} in {policy.month}",
            field="month",
            rule="tekun_rule_in_force",
        )
    rules.standard(programme)
    if tier_code is not None and tier_code not in rules.tiers(programme):
        raise InvalidValue(
            f"tier {tier_code} of {programme} has no amount in force in {policy.month}",
            field="month",
            rule="tier_in_force",
        )


def generate_roll(
    services: Services,
    principal: Principal,
    county: str,
    month: str,
    group: str,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Generate (or regenerate) the draft roll of a county × month × programme group."""
    with gc_paused():  # no cycles made a line (``ledger.store.runtime.gc_paused``)
        return _generate_roll(services, principal, county, month, group, progress)


def _generate_roll(
    services: Services,
    principal: Principal,
    county: str,
    month: str,
    group: str,
    progress: Callable[[int], None] | None,
) -> Outcome:
    principal.require("roll.generate")
    validate_region_code(county, "county_code")
    principal.require_region(county, "county_code")
    month = validate_month(month)
    services.fresh()
    try:
        roll: PaymentRoll = services.app.repository.get(roll_id(county, month, group))
    except AggregateNotFoundError:
        roll = PaymentRoll.open(county_code=county, month=month, group=group)
    roll.require_draft()
    as_of = utc_text(now_utc())
    book = PolicyBook(services, county, as_of)
    check_policy_in_force(services, county, book.month(month))
    token = new_token()  # time-ordered: its lines' key follows every earlier generation's
    totals, chunks = Totals(), 0
    parts = Parts()
    chunk: list[list[Any]] = []
    pending: list[RollChunk] = []
    written: list[tuple[Any, ...]] = []  # the view's rows of the pending chunks
    gen = generation_key(str(token))

    def record(lines: list[list[Any]], number: int) -> RollChunk:
        written.extend(table_rows(gen, number * LINES_PER_CHUNK, FIELDS, lines))
        return RollChunk.record(roll_id=roll.id, token=token, number=number, county_code=roll.county_code,
                                month=roll.month, group=roll.group, parts=parts.take(), lines=lines)  # fmt: skip

    def save() -> None:
        # The lines go into the rolls view first, then their chunk events into the log
        # (``RollsView.write_ahead`` says why that order keeps the view exactly once).
        if pending:
            services.rolls.write_ahead(
                str(roll.id), str(token), [str(c.id) for c in pending], written
            )
            try:
                services.app.save(*pending)
            except BaseException:
                withdraw_unrecorded(services, str(roll.id), str(token), pending, written)
                raise
        pending.clear()
        written.clear()

    per_chunk = LINES_PER_CHUNK  # a local: a module-level name is looked up at every use
    for line in roll_lines(services, county, month, ProgrammeGroup(roll.group), book, parts):
        totals.add(line, parts.parts)
        chunk.append(line)
        if len(chunk) == per_chunk:
            pending.append(record(chunk, chunks))
            chunks, chunk = chunks + 1, []
            if len(pending) == CHUNKS_PER_SAVE:
                save()
            if progress is not None:
                progress(LINES_PER_CHUNK)
    if chunk:
        pending.append(record(chunk, chunks))
        chunks += 1
    save()
    generation = roll.record_generation(
        as_of=as_of,
        line_count=totals.lines,
        total_fen=totals.amount_fen,
        totals=totals.as_dict() | {"token": str(token)},
        chunk_count=chunks,
        actor=principal.credential_id,
        staff_id=principal.staff_id,
    )
    return Outcome([roll], roll_summary(roll) | {"generation": generation}, 201)


def withdraw_unrecorded(
    services: Services, roll: str, token: str, chunks: list[RollChunk], rows: list[tuple[Any, ...]]
) -> None:
    """After a failed save of chunks: if their events are not in the log, take their lines out
    of the rolls view again, so the view holds only what the log can rebuild. (If the save did
    commit before failing, the events are there and the lines stay.) A save records all of its
    chunks or none, so the first one tells. Best effort: the save's own error is what the
    caller sees; lines left behind are never shown and go with the roll's next generation."""
    try:
        if not services.app.recorder.select_events(chunks[0].id, limit=1):
            services.rolls.withdraw(roll, token, [str(c.id) for c in chunks], rows)
    except Exception:  # the save's error is the one that matters
        structlog.get_logger().warning("roll_lines_not_withdrawn", roll_id=roll, token=token)


def approve_roll(services: Services, principal: Principal, roll: str) -> Outcome:
    """Approval by a finance officer of that county only (not a city or province officer)."""
    found = _visible_roll(services, principal, roll)
    principal.require("roll.approve")
    if principal.region_scope != found.county_code:
        raise Forbidden(
            "only a finance officer of the roll's own county approves it",
            field="region_scope",
            rule="county_finance_officer",
        )
    found.approve(actor=principal.credential_id, staff_id=principal.staff_id)
    # Approval reserves the roll's total in the county's pools (pending the bank): refused,
    # with nothing recorded, if a pool does not hold the money.
    amounts: dict[str, int] = {}
    for programme, bucket in found.totals.get("by_programme", {}).items():
        amounts[pool_group(programme)] = (
            amounts.get(pool_group(programme), 0) + bucket["amount_fen"]
        )
    reservation = flow_postings(services, key=f"roll:{found.id}:reserve", code="reserve_roll",
                                county=found.county_code, amounts=amounts, debit_kind="reserved", credit_kind="pool",
                                posting_date=now_utc().date().isoformat(), actor=principal.credential_id,
                                document_ref=f"roll {found.county_code} {found.month} {found.group}")  # fmt: skip
    return Outcome([found, *reservation], roll_summary(found))


def _visible_roll(services: Services, principal: Principal, roll: str) -> PaymentRoll:
    from domain.errors import NotFound

    found: PaymentRoll = services.load(PaymentRoll, roll, "roll_id")
    if not principal.sees(found.county_code):
        raise NotFound("no such roll", field="roll_id", rule="exists")
    return found


def roll_summary(roll: PaymentRoll) -> dict[str, Any]:
    return {
        "roll_id": str(roll.id),
        "county_code": roll.county_code,
        "month": roll.month,
        "group": roll.group,
        "status": str(roll.status),
        "generation": roll.generation,
        "line_count": roll.line_count,
        "total_fen": roll.total_fen,
        "version": roll.version,
    }
