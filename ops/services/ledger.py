"""Ledger commands: post a journal transaction, reverse one, close a period, carry a year over,
import a bank statement (SPEC §6).

A posting saves, in one ``save()``: the transaction, the period it is dated in (checked open),
and the guard of every never-negative account it moves. Concurrent postings that drain the same
pool therefore serialise on the guard's version: the loser is decided again against the new
balance (``Services.execute``: jittered pauses, turns, a time budget) and is refused if the money
is no longer there — never overdrawn. A client's transaction keys live in the namespace of its
credential's scope — township, county, city, province (``ledger.journal.key_namespace``);
doudi's own postings in their county's.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.access import Principal
from domain.csv_input import csv_table
from domain.dates import FIRST_YEAR, LAST_YEAR
from domain.decisions import require_document
from domain.errors import Conflict, InsufficientFunds, InvalidTransition, InvalidValue, NotFound
from domain.policy import DEFAULT_CONFIRMATION_THRESHOLD_FEN, LedgerConfirmation, policy_id
from domain.regions import policy_lookup_chain
from domain.text import clean_text
from ledger.accounts import parse_account
from ledger.journal import (
    SYSTEM_KEY_PREFIXES,
    AccountGuard,
    JournalTransaction,
    LedgerBooks,
    LedgerPeriod,
    LedgerYear,
    books_id,
    content_sha256,
    guard_id,
    guarded_deltas,
    key_namespace,
    period_id,
    system_namespace,
    transaction_id,
    year_id,
)
from ledger.proposals import PostingProposal, carry_over_proposal_id, proposal_id
from ops.services.core import (
    CONTENDED_RETRIES,
    Command,
    Outcome,
    Services,
    now_utc,
    save_or_keep,
)
from projections.runner import utc_text


def confirmation_threshold(
    services: Services, region_code: str, versions: dict[UUID, int] | None = None
) -> tuple[int, str]:
    """The confirmation threshold in force today for a region (its own, its city's, its
    province's ``ledger_confirmation`` fact, else the documented default) and what set it.
    Given ``versions`` (``log.versions`` of the policy records of ``policy_lookup_chain``), it
    is remembered until one of them or the day changes."""
    now = now_utc()
    chain = policy_lookup_chain(region_code)
    remembered = None if versions is None else (
        region_code, now.date(), *(versions.get(policy_id(code)) for code in chain))  # fmt: skip
    if remembered is not None:
        with contextlib.suppress(KeyError):
            return services.thresholds.get(remembered)  # type: ignore[no-any-return]
    services.projections.catch_up_if_behind("policy_book")
    fact = services.policy.in_force(
        region_code, LedgerConfirmation, "", now.date().isoformat(), utc_text(now)
    )
    found = (DEFAULT_CONFIRMATION_THRESHOLD_FEN, "default") if fact is None else (
        fact.value.threshold_fen, fact.source)  # fmt: skip
    if remembered is not None:
        services.thresholds.put(remembered, found)
    return found


def _get(services: Services, cls: type[Any], aggregate_id: Any) -> Any | None:
    try:
        found = services.app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, cls) else None


def _effect_ids(transaction: JournalTransaction) -> list[UUID]:
    """The books and periods a transaction checks and the guards it may move (``_effects``)."""
    month = transaction.posting_date[:7]
    counties = {line["account"].split(":")[1][:6] for line in transaction.lines}
    return [*(books_id(county) for county in counties), *(period_id(c, month) for c in counties),
            *(guard_id(account) for account in guarded_deltas(transaction.lines))]  # fmt: skip


def _effects(
    services: Services, transaction: JournalTransaction, loaded: dict[Any, Aggregate] | None = None,
    versions: dict[UUID, int] | None = None,
) -> list[Aggregate]:  # fmt: skip
    """The periods checked open and the guards moved by a new transaction. ``loaded`` shares
    aggregates between several transactions decided together (one save, one version each);
    ``versions``, the store's last version of each of ``_effect_ids`` that exists, if looked
    up: the others are new, and one this process saved last is taken as it kept it."""
    loaded = {} if loaded is None else loaded

    def found(cls: type[Any], aggregate_id: Any) -> Any:
        if aggregate_id in loaded:
            return loaded[aggregate_id]
        if versions is not None and aggregate_id not in versions:
            return None  # nothing recorded yet
        kept = None if versions is None else services.app.kept(aggregate_id, versions[aggregate_id])
        aggregate = kept or _get(services, cls, aggregate_id)
        if aggregate is not None:
            loaded[aggregate_id] = aggregate
        return aggregate

    def get(cls: type[Any], aggregate_id: Any, make: Any) -> Any:
        if found(cls, aggregate_id) is None:
            loaded[aggregate_id] = make()
        return loaded[aggregate_id]

    touched: list[Aggregate] = []
    month = transaction.posting_date[:7]
    for county in sorted({line["account"].split(":")[1][:6] for line in transaction.lines}):
        books = get(LedgerBooks, books_id(county), lambda c=county: LedgerBooks(county_code=c))
        books.check_open(month)  # a month of a carried-over year, opened or not
        period = found(LedgerPeriod, period_id(county, month))
        if period is None:  # the month's first posting opens it in the books
            period = loaded[period_id(county, month)] = LedgerPeriod(
                county_code=county, month=month
            )
            books.open_month(month)
            touched.append(books)
        period.check_open(transaction_key=transaction.key)
        touched.append(period)
    for account, (delta, sources) in sorted(guarded_deltas(transaction.lines).items()):
        moved = {source: fen for source, fen in sources.items() if fen}
        if delta == 0 and not moved:
            continue
        guard = get(AccountGuard, guard_id(account), lambda a=account: AccountGuard(account=a))
        guard.move(transaction_key=transaction.key, delta_fen=delta, sources=moved)
        touched.append(guard)
    return touched


def _in_scope(principal: Principal, transaction: JournalTransaction) -> None:
    for index, line in enumerate(transaction.lines):
        principal.require_region(
            parse_account(line["account"]).region_code, f"lines[{index}].account"
        )


def _client_key(key: str) -> str:
    """A key a client posts under: text by the text rule (the command line's too), and none of
    doudi's own."""
    key = clean_text(key, "Idempotency-Key")
    if key.startswith(SYSTEM_KEY_PREFIXES):
        raise InvalidValue(
            f"keys beginning with {' or '.join(SYSTEM_KEY_PREFIXES)} are doudi's own postings",
            field="Idempotency-Key",
            rule="reserved_transaction_key",
        )
    return key


def post_transaction(
    services: Services, principal: Principal, key: str, fields: dict[str, Any],
    shared: dict[Any, Aggregate] | None = None,
) -> Outcome:  # fmt: skip
    """Post under ``key`` in the caller's namespace: another township's or county's use of the
    same key is another transaction, invisible here."""
    principal.require("ledger.post")
    namespace = key_namespace(principal.region_scope)
    transaction = JournalTransaction.post(
        namespace=namespace, key=_client_key(key), **fields,
        actor=principal.credential_id, staff_id=principal.staff_id,
    )  # fmt: skip
    _in_scope(principal, transaction)
    shared = {} if shared is None else shared
    proposed_id = proposal_id(namespace, key)
    # One statement: whether the key is new (neither), and what the effects' aggregates are at.
    policies = [policy_id(code) for code in policy_lookup_chain(principal.region_scope)]
    recorded = services.log.versions([transaction.id, proposed_id, *_effect_ids(transaction),
                                      *policies])  # fmt: skip
    existing = shared.get(transaction.id) or (
        _get(services, JournalTransaction, transaction.id) if transaction.id in recorded else None
    )
    if existing is not None:
        existing.same_content(transaction)  # the same key again: the first result, or 409
        return Outcome([], existing.summary(), 200)
    proposed = _get(services, PostingProposal, proposed_id) if proposed_id in recorded else None
    if proposed is not None:
        proposed.same_content("posting", transaction.content_sha256)
        return Outcome([], proposed.summary(), 202)
    total = sum(line["debit_fen"] for line in transaction.lines)
    proposal = PostingProposal.above_threshold(
        confirmation_threshold(services, principal.region_scope, recorded), namespace=namespace,
        key=key, kind="posting", content=dict(fields), content_sha256=transaction.content_sha256,
        total_fen=total, actor=principal.credential_id, staff_id=principal.staff_id,
    )  # fmt: skip
    if proposal is not None:
        return Outcome([proposal], proposal.summary(), 202)
    effects = _effects(services, transaction, shared, recorded)
    shared[transaction.id] = transaction  # the same key later in a group finds it
    return Outcome([transaction, *effects], transaction.summary(), 201)


def confirm_posting(services: Services, principal: Principal, key: str) -> Outcome:
    """Confirm the posting or reversal proposed under ``key`` in the caller's namespace: a second
    finance officer (another person than the proposer) posts it now, against the balances and
    periods of now. Confirming again answers the posted transaction."""
    principal.require("ledger.post")
    namespace = key_namespace(principal.region_scope)
    proposal = _get(services, PostingProposal, proposal_id(namespace, clean_text(key, "key")))
    if proposal is None or proposal.kind == "carry_over":
        raise NotFound("no posting proposed under this key", field="key", rule="exists")
    proposal.require_confirmer(principal.staff_id)
    if proposal.confirmed:
        done = _get(services, JournalTransaction, transaction_id(namespace, key))
        return Outcome([], done.summary(), 200)
    content = proposal.content
    people = {"actor": proposal.actor, "staff_id": proposal.proposed_by,
              "confirmed_by": principal.staff_id}  # fmt: skip
    if proposal.kind == "posting":
        transaction = JournalTransaction.post(namespace=namespace, key=key, **content, **people)
        _in_scope(principal, transaction)
        aggregates: list[Aggregate] = [transaction]
    else:
        original = _get(services, JournalTransaction,
                        transaction_id(content["lookup"], content["reverses"]))  # fmt: skip
        if original is None or not all(
            principal.sees(parse_account(line["account"]).region_code) for line in original.lines
        ):
            raise NotFound("no such transaction", field="key", rule="exists")
        transaction = original.reversal(
            key=key, posting_date=content["posting_date"], document_ref=content["document_ref"],
            namespace=namespace, **people,
        )  # fmt: skip
        aggregates = [original, transaction]
    proposal.confirm(actor=principal.credential_id, staff_id=principal.staff_id)
    aggregates += _effects(services, transaction)
    return Outcome([proposal, *aggregates], transaction.summary(), 201)


def reverse_transaction(
    services: Services,
    principal: Principal,
    key: str,
    reversal_key: str,
    posting_date: str,
    document_ref: str,
) -> Outcome:
    """Reverse the transaction ``key`` names in the caller's namespace (doudi's own postings: in
    its county's), recording the reversal under ``reversal_key`` in the caller's namespace. A key
    used only in another namespace, or a posting of doudi's that moves an account outside the
    caller's scope, is answered as a key never used."""
    principal.require("ledger.post")
    namespace = key_namespace(principal.region_scope)
    lookup = (
        system_namespace(principal.region_scope)
        if key.startswith(SYSTEM_KEY_PREFIXES)
        else namespace
    )
    original = _get(services, JournalTransaction, transaction_id(lookup, key))
    if original is None or not all(
        principal.sees(parse_account(line["account"]).region_code) for line in original.lines
    ):
        raise NotFound("no such transaction", field="key", rule="exists")
    done = _get(services, JournalTransaction, transaction_id(namespace, _client_key(reversal_key)))
    if done is not None and done.reverses == key:
        return Outcome([], done.summary(), 200)  # the same reversal again
    if done is not None:
        raise InvalidValue(
            "the reversal key names another transaction",
            field="Idempotency-Key",
            rule="transaction_key_reuse",
        )
    content = {"reverses": key, "lookup": lookup, "posting_date": posting_date,
               "document_ref": document_ref}  # fmt: skip
    reversal = original.reversal(
        key=reversal_key,
        posting_date=posting_date,
        actor=principal.credential_id,
        document_ref=document_ref,
        namespace=namespace,
        staff_id=principal.staff_id,
    )
    sha = content_sha256(content)
    proposed = _get(services, PostingProposal, proposal_id(namespace, reversal_key))
    if proposed is not None:
        proposed.same_content("reversal", sha)
        return Outcome([], proposed.summary(), 202)
    total = sum(line["debit_fen"] for line in reversal.lines)
    proposal = PostingProposal.above_threshold(
        confirmation_threshold(services, principal.region_scope), namespace=namespace,
        key=reversal_key, kind="reversal", content=content, content_sha256=sha, total_fen=total,
        actor=principal.credential_id, staff_id=principal.staff_id,
    )  # fmt: skip
    if proposal is not None:
        return Outcome([proposal], proposal.summary(), 202)
    return Outcome([original, reversal, *_effects(services, reversal)], reversal.summary(), 201)


def close_period(
    services: Services, principal: Principal, county: str, month: str, document_ref: str
) -> Outcome:
    principal.require("ledger.post")
    principal.require_region(county, "county_code")
    carried = getattr(_get(services, LedgerBooks, books_id(county)), "carried_through", None)
    if carried is not None and int(month[:4]) <= carried:
        raise InvalidTransition(
            f"{month} is already closed by the carry-over of {carried}",
            field="month",
            rule="close_once",
        )
    period = _get(services, LedgerPeriod, period_id(county, month)) or LedgerPeriod(
        county_code=county, month=month
    )
    period.close(
        actor=principal.credential_id, document_ref=document_ref, staff_id=principal.staff_id
    )
    return Outcome([period], {"county_code": county, "month": month, "closed": True}, 201)


def carry_over(
    services: Services, principal: Principal, county: str, year: int, document_ref: str,
    *, confirm: bool = False,
) -> Outcome:  # fmt: skip
    """Year-end carry-over (结转) of a county: close every month of the year still open (and every
    open month of the years before it: ``LedgerBooks``), and record what its bank clearing,
    pools, township reserves and roll reservations hold at 31 December, per funding source, as
    carried into the next year. Once per county and year, never for a year already closed by a
    later carry-over (409). When what it carries is above the county's confirmation threshold it
    is only proposed (202), and a second finance officer's ``confirm`` carries it over then.

    The balances are read from the ledger view after catching it up; a posting dated in the
    year that races this would have to check one of the periods closed here, so one of the two
    loses on the version and the carried balances are final."""
    from domain.regions import validate_region_code

    principal.require("ledger.post")
    validate_region_code(county, "county_code")
    principal.require_region(county, "county_code")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidValue(
            f"year must be between {FIRST_YEAR} and {LAST_YEAR}", field="year", rule="year_range"
        )
    proposal = _get(services, PostingProposal, carry_over_proposal_id(county, year))
    if confirm:
        if proposal is None:
            raise NotFound("no carry-over proposed for this year", field="year", rule="exists")
        proposal.require_confirmer(principal.staff_id)
    done = _get(services, LedgerYear, year_id(county, year))
    if done is not None and confirm and proposal.confirmed:
        return Outcome([], done.summary([]), 200)
    if done is not None:
        raise Conflict(
            f"{county} {year} is already carried over", field="year", rule="carry_over_once"
        )
    document_ref = require_document(proposal.content["document_ref"] if confirm else document_ref)
    services.projections.catch_up_if_behind(services.ledger.name)  # the balances it carries
    if not confirm:
        content = {"county_code": county, "year": year, "document_ref": document_ref}
        if proposal is not None:
            proposal.same_content("carry_over", content_sha256(content))
            return Outcome([], proposal.summary(), 202)
        held = services.ledger.year_end_balances(county, year)
        proposal = PostingProposal.above_threshold(
            confirmation_threshold(services, county), namespace=f"carry-over:{county}",
            key=str(year), kind="carry_over", content=content,
            content_sha256=content_sha256(content), total_fen=sum(int(f) for _a, _s, f in held),
            actor=principal.credential_id, staff_id=principal.staff_id,
        )  # fmt: skip
        if proposal is not None:
            return Outcome([proposal], proposal.summary(), 202)
    people = {"actor": principal.credential_id, "staff_id": principal.staff_id, "confirmed_by": ""}
    if confirm:
        people = {"actor": proposal.actor, "staff_id": proposal.proposed_by,
                  "confirmed_by": principal.staff_id}  # fmt: skip
        proposal.confirm(actor=principal.credential_id, staff_id=principal.staff_id)
    books = _get(services, LedgerBooks, books_id(county)) or LedgerBooks(county_code=county)
    earlier = books.carried_through or 0
    months = [m for m in books.months if earlier < int(m[:4]) < year]
    periods = []
    for month in [*months, *(f"{year}-{number:02d}" for number in range(1, 13))]:
        period = _get(services, LedgerPeriod, period_id(county, month)) or LedgerPeriod(
            county_code=county, month=month
        )
        if not period.closed:
            period.close(
                actor=principal.credential_id,
                document_ref=document_ref,
                staff_id=principal.staff_id,
            )
            periods.append(period)
    books.carry_over(year)
    balances = services.ledger.year_end_balances(county, year)
    carried = LedgerYear(county_code=county, year=year, balances=balances,
                         document_ref=document_ref, **people)  # fmt: skip
    confirmed = [proposal] if confirm and proposal is not None else []
    response = carried.summary([p.month for p in periods])
    return Outcome([*confirmed, *periods, books, carried], response, 201)


def pool_group(programme: str) -> str:
    """The county fund pool a programme is paid from."""
    if programme.startswith("tekun"):
        return "tekun"
    return "temporary" if programme == "temporary" else "dibao"


def flow_postings(
    services: Services,
    *,
    key: str,
    code: str,
    county: str,
    amounts: dict[str, int],
    debit_kind: str,
    credit_kind: str,
    posting_date: str,
    actor: str,
    document_ref: str,
    loaded: dict[Any, Aggregate] | None = None,
    subject: str = "key",
    date_field: str = "posting_date",
) -> list[Aggregate]:
    """A flow's transaction moving each programme group's amount from one account kind to another
    (pool → reserved on approval, reserved → disbursed when paid, reserved → pool when failed),
    with its period check and guards; nothing if there is nothing to move or it was posted.
    The money keeps its funding source: each amount is split by the sources the credited
    account holds (``AccountGuard.draw``), one debit and one credit line per source. An account
    that does not hold its amount refuses the flow with ``InsufficientFunds`` naming ``subject``,
    the caller's record the flow is for (``roll_id``, ``grant_id``); a closed period names
    ``date_field``, what dated the flow in the caller's terms (the record, when the date is
    today's and not the caller's)."""
    loaded = {} if loaded is None else loaded
    lines = []
    short: list[dict[str, object]] = []
    for group, amount in sorted(amounts.items()):
        if amount <= 0:
            continue
        debit, credit = f"{debit_kind}:{county}:{group}", f"{credit_kind}:{county}:{group}"
        split = {"": amount}
        if parse_account(credit).never_negative:
            if guard_id(credit) not in loaded:
                loaded[guard_id(credit)] = _get(services, AccountGuard, guard_id(credit)) or AccountGuard(account=credit)  # fmt: skip
            guard: AccountGuard = loaded[guard_id(credit)]  # type: ignore[assignment]
            if guard.balance_fen < amount:
                short.append(shortfall(guard, group, amount))
            split = guard.draw(amount)
        for source, fen in split.items():
            lines += [
                {"account": debit, "debit_fen": fen, "credit_fen": 0, "source": source},
                {"account": credit, "debit_fen": 0, "credit_fen": fen, "source": source},
            ]
    if short:
        raise InsufficientFunds(
            f"the {subject.removesuffix('_id')} needs " + "; ".join(
                f"{f['needs_fen']} fen from {f['account']}, which holds {f['holds_fen']} fen"
                for f in short
            ),
            field=subject,
            funds=short,
        )  # fmt: skip
    namespace = system_namespace(county)
    if not lines or _get(services, JournalTransaction, transaction_id(namespace, key)) is not None:
        return []
    transaction = JournalTransaction.post(
        namespace=namespace,
        key=key,
        code=code,
        posting_date=posting_date,
        lines=lines,
        actor=actor,
        document_ref=document_ref,
        description=key,
    )
    try:
        effects = _effects(services, transaction, loaded)
    except InvalidValue as error:
        if error.rule != "period_closed" or date_field == error.field:
            raise
        raise InvalidValue(error.detail, field=date_field, rule=error.rule) from error
    return [transaction, *effects]


def shortfall(guard: AccountGuard, group: str, needs_fen: int) -> dict[str, object]:
    """What an account holds against what a flow needs of it (``FundShortfall`` in the API)."""
    return {
        "account": guard.account,
        "programme_group": group,
        "holds_fen": guard.balance_fen,
        "needs_fen": needs_fen,
        "short_fen": needs_fen - guard.balance_fen,
        "holds_fen_by_source": {
            source: fen for source, fen in sorted(guard.sources.items()) if fen
        },
    }


def distinct(aggregates: list[Aggregate]) -> list[Aggregate]:
    """Each aggregate once, in first-seen order (several postings may touch one period or guard)."""
    return list({id(aggregate): aggregate for aggregate in aggregates}.values())


def import_statement(services: Services, principal: Principal, county: str, data: bytes) -> Outcome:
    """Import the county's bank statement (CSV: reference, amount_fen, booked_on, description);
    the same file twice records nothing, with LF or CRLF line ends, with or without a byte-order
    mark (``statement_fingerprint``). The file is parsed as a stream (UTF-8, else GBK) by the
    rules of every CSV file (``csv_table``; a file without a quote character, as statements are,
    is split on commas) and its lines recorded in chunks; the outcome lists the chunks before the
    statement, for ``save_in_order``."""
    from domain.regions import validate_region_code
    from ledger.statements import BankStatement, statement_fingerprint, statement_id

    principal.require("ledger.post")
    if len(validate_region_code(county, "county_code")) != 6:
        raise InvalidValue(
            "a statement is a county's (6-digit code)", field="county_code", rule="county_level"
        )
    principal.require_region(county, "county_code")
    sha = statement_fingerprint(data)
    existing = _get(services, BankStatement, statement_id(county, sha))
    if existing is not None:
        return Outcome(
            [],
            {"statement_id": str(existing.id), "lines": existing.line_count, "imported": False},
            200,
        )
    for encoding in ("utf-8-sig", "gbk"):
        try:
            text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
            header, reader = csv_table(text, plain=b'"' not in data)
            aggregates = BankStatement.read(county_code=county, header=header, rows=reader,
                                            file_sha256=sha, actor=principal.credential_id)  # fmt: skip
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidValue(
            "the statement must be UTF-8 or GBK text", field="file", rule="statement_encoding"
        )
    statement = aggregates[-1]
    return Outcome(
        aggregates,
        {"statement_id": str(statement.id), "lines": statement.line_count, "imported": True},
        201,
    )


def save_in_order(services: Services, aggregates: Sequence[Aggregate], batch: int = 10) -> None:
    """Save chunk aggregates a batch at a time, the last aggregate (the header naming them) last:
    bounded memory for a large file. Chunks already recorded by an attempt that was cut off are
    the same chunks (their ids follow from the content), and are skipped."""
    *chunks, header = aggregates
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        try:
            save_or_keep(services.app, *part)
        except IntegrityError:
            for chunk in part:
                with contextlib.suppress(IntegrityError):
                    services.app.save(chunk)
    with contextlib.suppress(IntegrityError):  # another import of the same file finished first
        services.app.save(header)


@dataclass(frozen=True, kw_only=True)
class PostTransaction(Command):
    """Post a balanced journal transaction under the client's key (its idempotency key)."""

    key: str
    code: str
    posting_date: str
    lines: list[dict[str, Any]]
    description: str = ""
    document_ref: str
    retries = CONTENDED_RETRIES
    grouped = True

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return self.decide_with(services, principal, {})

    def decide_with(
        self, services: Services, principal: Principal, shared: dict[Any, Aggregate]
    ) -> Outcome:
        fields = {"code": self.code, "posting_date": self.posting_date, "lines": self.lines,
                  "description": self.description, "document_ref": self.document_ref}  # fmt: skip
        return post_transaction(services, principal, self.key, fields, shared)


@dataclass(frozen=True, kw_only=True)
class ReverseTransaction(Command):
    """Reverse the transaction ``key`` names, at most once, under ``reversal_key``."""

    key: str
    reversal_key: str
    posting_date: str
    document_ref: str
    retries = CONTENDED_RETRIES

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return reverse_transaction(services, principal, self.key, self.reversal_key,
                                   self.posting_date, self.document_ref)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ClosePeriod(Command):
    """Close a county's month: no more postings in it."""

    county_code: str
    month: str
    document_ref: str

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return close_period(services, principal, self.county_code, self.month, self.document_ref)


@dataclass(frozen=True, kw_only=True)
class CarryOverYear(Command):
    """Year-end carry-over (结转) of a county."""

    county_code: str
    year: int
    document_ref: str

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return carry_over(services, principal, self.county_code, self.year, self.document_ref)


@dataclass(frozen=True, kw_only=True)
class ConfirmPosting(Command):
    """Confirm (复核) a posting or reversal proposed above the confirmation threshold."""

    key: str
    retries = CONTENDED_RETRIES

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return confirm_posting(services, principal, self.key)


@dataclass(frozen=True, kw_only=True)
class ConfirmCarryOver(Command):
    """Confirm a county's year-end carry-over proposed above the confirmation threshold."""

    county_code: str
    year: int

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return carry_over(services, principal, self.county_code, self.year, "", confirm=True)


@dataclass(frozen=True, kw_only=True)
class ImportStatement(Command):
    """Import the county's bank statement (CSV); the same file twice records nothing."""

    county_code: str
    data: bytes

    def decide(self, services: Services, principal: Principal) -> Outcome:
        return import_statement(services, principal, self.county_code, self.data)
