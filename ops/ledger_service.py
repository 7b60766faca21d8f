"""Ledger services: post a journal transaction, reverse one, close a period (SPEC §6).

A posting saves, in one ``save()``: the transaction, the period it is dated in (checked open),
and the guard of every never-negative account it moves. Concurrent postings that drain the same
pool therefore serialise on the guard's version: the loser is decided again against the new
balance (a few times) and is refused if the money is no longer there — never overdrawn.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.access import Principal
from domain.errors import InvalidValue, NotFound
from ledger.accounts import parse_account
from ledger.journal import (
    AccountGuard,
    JournalTransaction,
    LedgerPeriod,
    guard_id,
    guarded_deltas,
    period_id,
    transaction_id,
)
from ops.services import Outcome, Services


def summary(transaction: JournalTransaction) -> dict[str, Any]:
    return {"key": transaction.key, "transaction_id": str(transaction.id), "code": transaction.code,
            "posting_date": transaction.posting_date, "reversed_by": transaction.reversed_by,
            "total_fen": sum(line["debit_fen"] for line in transaction.lines)}  # fmt: skip


def _get(services: Services, cls: type[Any], aggregate_id: Any) -> Any | None:
    try:
        found = services.app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, cls) else None


def _effects(
    services: Services, transaction: JournalTransaction, loaded: dict[Any, Aggregate] | None = None
) -> list[Aggregate]:
    """The periods checked open and the guards moved by a new transaction. ``loaded`` shares
    aggregates between several transactions decided together (one save, one version each)."""
    loaded = {} if loaded is None else loaded

    def get(cls: type[Any], aggregate_id: Any, make: Any) -> Any:
        if aggregate_id not in loaded:
            loaded[aggregate_id] = _get(services, cls, aggregate_id) or make()
        return loaded[aggregate_id]

    touched: list[Aggregate] = []
    month = transaction.posting_date[:7]
    for county in sorted({line["account"].split(":")[1][:6] for line in transaction.lines}):
        period = get(
            LedgerPeriod,
            period_id(county, month),
            lambda c=county: LedgerPeriod(county_code=c, month=month),
        )
        period.check_open(transaction_key=transaction.key)
        touched.append(period)
    for account, delta in sorted(guarded_deltas(transaction.lines).items()):
        if delta == 0:
            continue
        guard = get(AccountGuard, guard_id(account), lambda a=account: AccountGuard(account=a))
        guard.move(transaction_key=transaction.key, delta_fen=delta)
        touched.append(guard)
    return touched


def _in_scope(principal: Principal, transaction: JournalTransaction) -> None:
    for index, line in enumerate(transaction.lines):
        principal.require_region(
            parse_account(line["account"]).region_code, f"lines[{index}].account"
        )


def post_transaction(
    services: Services, principal: Principal, key: str, fields: dict[str, Any]
) -> Outcome:
    principal.require("ledger.post")
    transaction = JournalTransaction.post(key=key, **fields, actor=principal.credential_id)
    _in_scope(principal, transaction)
    existing = _get(services, JournalTransaction, transaction.id)
    if existing is not None:
        existing.same_content(transaction)  # the same key again: the first result, or 409
        return Outcome([], summary(existing), 200)
    return Outcome([transaction, *_effects(services, transaction)], summary(transaction), 201)


def reverse_transaction(
    services: Services,
    principal: Principal,
    key: str,
    reversal_key: str,
    posting_date: str,
    document_ref: str,
) -> Outcome:
    principal.require("ledger.post")
    original = _get(services, JournalTransaction, transaction_id(key))
    if original is None:
        raise NotFound("no such transaction", field="key", rule="exists")
    _in_scope(principal, original)
    done = _get(services, JournalTransaction, transaction_id(reversal_key))
    if done is not None and done.reverses == key:
        return Outcome([], summary(done), 200)  # the same reversal again
    if done is not None:
        raise InvalidValue(
            "the reversal key names another transaction",
            field="Idempotency-Key",
            rule="transaction_key_reuse",
        )
    reversal = original.reversal(
        key=reversal_key,
        posting_date=posting_date,
        actor=principal.credential_id,
        document_ref=document_ref,
    )
    return Outcome([original, reversal, *_effects(services, reversal)], summary(reversal), 201)


def close_period(
    services: Services, principal: Principal, county: str, month: str, document_ref: str
) -> Outcome:
    principal.require("ledger.post")
    principal.require_region(county, "county_code")
    period = _get(services, LedgerPeriod, period_id(county, month)) or LedgerPeriod(
        county_code=county, month=month
    )
    period.close(actor=principal.credential_id, document_ref=document_ref)
    return Outcome([period], {"county_code": county, "month": month, "closed": True}, 201)


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
) -> list[Aggregate]:
    """A flow's transaction moving each programme group's amount from one account kind to another
    (pool → reserved on approval, reserved → disbursed when paid, reserved → pool when failed),
    with its period check and guards; nothing if there is nothing to move or it was posted."""
    lines = []
    for group, amount in sorted(amounts.items()):
        if amount > 0:
            lines += [
                {
                    "account": f"{debit_kind}:{county}:{group}",
                    "debit_fen": amount,
                    "credit_fen": 0,
                    "source": "",
                },
                {
                    "account": f"{credit_kind}:{county}:{group}",
                    "debit_fen": 0,
                    "credit_fen": amount,
                    "source": "",
                },
            ]
    if not lines or _get(services, JournalTransaction, transaction_id(key)) is not None:
        return []
    transaction = JournalTransaction.post(
        key=key,
        code=code,
        posting_date=posting_date,
        lines=lines,
        actor=actor,
        document_ref=document_ref,
        description=key,
    )
    return [transaction, *_effects(services, transaction, loaded)]


def distinct(aggregates: list[Aggregate]) -> list[Aggregate]:
    """Each aggregate once, in first-seen order (several postings may touch one period or guard)."""
    return list({id(aggregate): aggregate for aggregate in aggregates}.values())


def import_statement(services: Services, principal: Principal, county: str, data: bytes) -> Outcome:
    """Import the county's bank statement (CSV: reference, amount_fen, booked_on, description);
    the same file twice records nothing."""
    import csv
    import hashlib
    import io

    from ledger.statements import BankStatement, statement_id
    from ops.bank import decode_text

    principal.require("ledger.post")
    principal.require_region(county, "county_code")
    existing = _get(services, BankStatement, statement_id(county, hashlib.sha256(data).hexdigest()))
    if existing is not None:
        return Outcome(
            [],
            {"statement_id": str(existing.id), "lines": existing.line_count, "imported": False},
            200,
        )
    reader = csv.DictReader(io.StringIO(decode_text(data)))
    missing = {"reference", "amount_fen", "booked_on"} - set(reader.fieldnames or ())
    if missing:
        raise InvalidValue(
            f"the statement lacks columns {sorted(missing)}", field="file", rule="statement_columns"
        )
    statement = BankStatement.read(
        county_code=county, rows=list(reader), data=data, actor=principal.credential_id
    )
    return Outcome(
        [statement],
        {"statement_id": str(statement.id), "lines": statement.line_count, "imported": True},
        201,
    )
