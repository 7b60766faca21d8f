"""Payment-roll generation and approval (SPEC §7): policy and case facts as known at a time →
entitlement engine → lines in chunks → roll header.

Generation streams the county's cases page by page (never the whole roll in memory), records
the lines as ``RollChunk`` aggregates a few at a time, and finally records the header's
``Generated`` event naming the generation's token. Chunk ids include that random token, so a
crash half-way leaves only orphan chunks that no header names, and a retry starts cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import structlog
from eventsourcing.application import AggregateNotFoundError

from domain.access import Principal, Role
from domain.basis import CaseFact, MonthBasis, basis_for_month
from domain.dates import first_day, validate_month
from domain.entitlement import Component, HouseholdBasis, Income, counted_fen
from domain.errors import Forbidden, InvalidValue
from domain.lines import (
    BASIS,
    FIELDS,
    INCOME,
    Due,
    Parts,
    table_rows,
)
from domain.month_policy import (
    MonthRules,
    entitlement_for,
    household_entitlement_for,
    own_sources,
    programme_subsidies,
)
from domain.policy import InForce, PolicyValue, RollDeputy
from domain.programmes import dibao_programme_for, standard_programme
from domain.recovery import adjustments as recovery_adjustments
from domain.regions import validate_region_code
from domain.roll import LINES_PER_CHUNK, PaymentRoll, ProgrammeGroup, RollChunk, roll_id
from ledger.store.runtime import gc_paused
from ops.services.cases import require_unrelated_to_roll
from ops.services.core import Outcome, Services, now_utc
from ops.services.ledger import flow_postings, pool_group
from projections.rolls.view import generation_key, new_token
from projections.runner import utc_text

# ~5,000 lines per transaction: bounded memory (the tests set it lower).
CHUNKS_PER_SAVE = 5


# Placeholders for a case's own references in cached components (see ``MonthPolicy.due``):
# the same as a chunk's parts hold (``domain.lines``), so a cached part is recorded as it is.
_INCOME_REF: Final = INCOME
_BASIS_REF: Final = BASIS
_DUE_CACHE: Final = 50_000  # value keys kept per month: bounded memory whatever the incomes


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
        self._standard_fen: dict[str, int] = {}  # programme → its standard (``value_key``)
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
        return self._kept(key, [
            *entitlement_for(template, region_code, self.rules).components,
            *self.subsidies(template, region_code),
        ])  # fmt: skip

    def computed_household(
        self, key: tuple[Any, ...], household: HouseholdBasis, kind: str, programme: str,
        region_code: str,
    ) -> Due:  # fmt: skip
        """``computed`` for a household case (not 特困) given as the engine reads it, its
        references the placeholders: no ``MonthBasis`` built for it."""
        return self._kept(key, [
            *household_entitlement_for(household, programme, self.rules).components,
            *self.subsidies_of(kind, programme, household.covered_members, region_code),
        ])  # fmt: skip

    def _kept(self, key: tuple[Any, ...], components: list[Component]) -> Due:
        found = Due(
            [(code, amount, rule, sources, _INCOME_REF in sources or _BASIS_REF in sources)
             for code, amount, rule, sources in components],  # (a ``Component`` is a tuple)
            self.month,
        )  # fmt: skip
        if len(self._due) >= _DUE_CACHE:
            self._due.clear()
        self._due[key] = found
        return found

    def subsidies(self, basis: MonthBasis, region_code: str) -> list[Component]:
        """``subsidies_for`` a basis (``subsidies_of`` its values)."""
        return self.subsidies_of(basis.kind, basis.programme, basis.covered_members, region_code)

    def subsidies_of(
        self, kind: str, programme: str, covered: int, region_code: str
    ) -> list[Component]:
        """``programme_subsidies``, kept per what they depend on: the programme, the covered
        count and the standard they are reckoned on (for 特困, the region's dibao standard)."""
        key = (programme, covered, standard_programme(kind, programme, region_code))
        found = self._subsidies.get(key)
        if found is None:
            found = self._subsidies[key] = programme_subsidies(
                kind, programme, covered, region_code, self.rules
            )
        return found

    def _value_key(self, basis: MonthBasis, region_code: str, covered: int) -> tuple[Any, ...]:
        """What a basis's components depend on, besides the case's own references
        (``value_key`` of its values)."""
        income = basis.income
        return self.value_key(
            basis.kind, basis.programme, basis.method, basis.tier_code, len(basis.members),
            covered, (income.household_income_fen, income.excluded_income_fen,
                      income.rigid_expenditure_fen, income.employment_cost_fen),
            basis.care_level, basis.mode, region_code, basis.status == "gradual_exit",
        )  # fmt: skip

    def value_key(
        self,
        kind: str,
        programme: str,
        method: str,
        tier_code: str | None,
        household: int,
        covered: int,
        income: tuple[int, int, int, int],
        care_level: str | None,
        mode: str | None,
        region_code: str,
        exiting: bool = False,
    ) -> tuple[Any, ...]:
        """What components depend on, besides the case's own references: the values each
        engine function reads (and the subsidies, by programme and covered count). ``income``
        is an ``Income``'s figures: household income, excluded, rigid expenditure, employment.

        - 特困 (``tekun_entitlement``): the care level, the mode, the region's dibao standard;
          no income.
        - By tier (``household_entitlement``): the tier, the household size and covered count;
          no income.
        - Top-up: the sizes, and the income only as the rules count it (``counted_income_fen``:
          exclusions and deductions taken, employment costs capped at the standard).

        So households whose incomes differ but count the same, and every household paid by
        tier, share one computation. A household in a gradual exit (``exiting``) is keyed
        apart: the region's exit percent applies to it."""
        if kind == "tekun":
            return ("tekun", programme, covered, care_level, mode, dibao_programme_for(region_code))
        if method == "tier":
            return ("tier", programme, tier_code, household, covered, exiting)
        standard = self._standard_fen.get(programme)
        if standard is None:
            standard = self._standard_fen[programme] = self.rules.standard(programme).amount_fen
        household_fen, excluded_fen, rigid_fen, employment_fen = income
        counted = counted_fen(household_fen, excluded_fen, rigid_fen, employment_fen, standard)
        return ("top_up", programme, household, covered, counted, exiting)

    def known_due(self, key: tuple[Any, ...]) -> Due | None:
        """What ``owed_by`` has worked out for a value key this month, if it has."""
        return self._due.get(key)


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
    # Imported here: the line loop reads this module's policy (``MonthPolicy``, ``adjustments``).
    from ops.services.roll_lines import Totals, roll_chunks

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

    group_of = ProgrammeGroup(roll.group)
    held = services.findings.holds(county, month)  # death records: 次月停发
    for lines in roll_chunks(services, county, month, group_of, book, parts, totals, held):
        pending.append(record(lines, chunks))
        chunks += 1
        if len(pending) == CHUNKS_PER_SAVE:
            save()
        if progress is not None and len(lines) == LINES_PER_CHUNK:
            progress(LINES_PER_CHUNK)
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
    """Approval by a finance officer of that county only (not a city or province officer), or
    by the deputy a ``roll_deputy`` policy fact names for a county with a single finance officer
    (the approval records that fact); never by an official related to a payee (recusal)."""
    found = _visible_roll(services, principal, roll)
    own = principal.role == Role.FINANCE_OFFICER and principal.region_scope == found.county_code
    deputy = None if own else roll_deputy(services, principal, found.county_code)
    if deputy is None:
        principal.require("roll.approve")
    if deputy is None and principal.region_scope != found.county_code:
        raise Forbidden(
            "only a finance officer of the roll's own county approves it",
            field="region_scope",
            rule="county_finance_officer",
        )
    require_unrelated_to_roll(services, principal, str(found.id))
    found.approve(actor=principal.credential_id, staff_id=principal.staff_id,
                  deputy_policy=deputy or "")  # fmt: skip
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
                                document_ref=f"roll {found.county_code} {found.month} {found.group}", subject="roll_id", date_field="roll_id")  # fmt: skip
    shown = {"deputy_policy": deputy} if deputy else {}
    return Outcome([found, *reservation], roll_summary(found) | shown)


def roll_deputy(services: Services, principal: Principal, county: str) -> str | None:
    """The policy fact in force naming this person the county's roll deputy (``RollDeputy``),
    if they are: a finance officer or approver whose scope holds the county."""
    if principal.role not in (Role.FINANCE_OFFICER, Role.APPROVER) or not principal.sees(county):
        return None
    now = now_utc()
    services.projections.catch_up_if_behind("policy_book")
    fact = services.policy.in_force(county, RollDeputy, "", now.date().isoformat(), utc_text(now))
    return fact.source if fact is not None and fact.value.staff_id == principal.staff_id else None


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
