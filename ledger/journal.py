"""Journal transactions (double entry) and the guard of accounts that must not go negative.

NOTE: the events below are a storage format. Renaming or moving them needs ``register_topic``.
Before the first release every event stays at version 1 and changes shape in place; from the
first release on, a change needs a ``class_version`` bump and an upcaster tested against a
frozen payload of the old version (see tests/upcasting).

A transaction's id is derived from its key (the client's idempotency key) in the namespace of
the scope that keys it (``key_namespace``): in one namespace the same key with the same content
is the same transaction, with other content a conflict; one township or county neither sees nor
takes the keys of another. A transaction is never edited: a correction is its reversal (at most
once) or a new transaction. An ``AccountGuard``
carries the running balance of one never-negative account and is saved in the same ``save()``
as the transaction that moves it, so concurrent postings cannot overdraw it: the second loses
on the guard's version and is retried against the new balance.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.dates import validate_date
from domain.decisions import require_document
from domain.errors import Conflict, InvalidTransition, InvalidValue
from ledger.accounts import TransferCode, check_flow, check_sources, parse_account

MAX_LINES = 1000


def key_namespace(region_scope: str) -> str:
    """Whose business a client's transaction key is: the credential's own scope — a township
    (its credentials share its keys), a county, a city, a province or the nation. A key of a
    sibling township, or of the county above, is another namespace's and never seen here."""
    return region_scope


# Keys of the postings doudi makes itself (a roll's reservation and bank results, a grant's
# payment): a client may reverse them, but not post under them. They are keyed in the namespace
# of the county whose books they move (``system_namespace``), and each names a roll or grant id.
SYSTEM_KEY_PREFIXES = ("roll:", "grant:")


def system_namespace(region_code: str) -> str:
    """The namespace of doudi's own postings in a region: its county's."""
    return region_code[:6]


def transaction_id(namespace: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:journal:{namespace}:{key}")


def guard_id(account: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:guard:{account}")


def assert_balanced(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate and normalise a transaction's lines: at least two, each a debit or a credit of a
    whole positive number of fen to a known account, no account on both sides, debits = credits."""
    if not isinstance(lines, list) or not 2 <= len(lines) <= MAX_LINES:
        raise InvalidValue(
            f"a transaction has 2 to {MAX_LINES} lines", field="lines", rule="line_count"
        )
    clean: list[dict[str, Any]] = []
    sides: dict[str, str] = {}
    for index, line in enumerate(lines):
        field = f"lines[{index}]"
        account = parse_account(line.get("account", ""), f"{field}.account").code
        debit, credit = line.get("debit_fen", 0), line.get("credit_fen", 0)
        for name, value in (("debit_fen", debit), ("credit_fen", credit)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidValue(
                    f"{field}.{name} must be whole fen ≥ 0",
                    field=f"{field}.{name}",
                    rule="integer_fen",
                )
        if (debit > 0) == (credit > 0):
            raise InvalidValue(
                f"{field} is either a debit or a credit of more than 0 fen",
                field=field,
                rule="one_positive_side",
            )
        side = "debit" if debit else "credit"
        if sides.setdefault(account, side) != side:
            raise InvalidValue(
                f"{field}: {account} is both debited and credited",
                field=field,
                rule="distinct_accounts",
            )
        clean.append(
            {
                "account": account,
                "debit_fen": debit,
                "credit_fen": credit,
                "source": str(line.get("source") or ""),
            }
        )
    debits = sum(line["debit_fen"] for line in clean)
    credits = sum(line["credit_fen"] for line in clean)
    if debits != credits:
        raise InvalidValue(
            f"debits {debits} fen ≠ credits {credits} fen", field="lines", rule="balanced"
        )
    return clean


def content_sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(content, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


class JournalTransaction(Aggregate):
    @staticmethod
    def create_id(namespace: str, key: str, **_: Any) -> UUID:
        return transaction_id(namespace, key)

    @event("Posted")
    def __init__(
        self,
        namespace: str,
        key: str,
        code: str,
        posting_date: str,
        lines: list[dict[str, Any]],
        description: str,
        actor: str,
        document_ref: str,
        reverses: str | None,
        content_sha256: str,
        staff_id: str = "",
        confirmed_by: str = "",
    ) -> None:
        """``staff_id``: the person who prepared it (经办); ``confirmed_by``: the second finance
        officer who confirmed it when it was above the confirmation threshold (复核), else ''."""
        self.namespace = namespace
        self.key = key
        self.code = code
        self.posting_date = posting_date
        self.lines = lines
        self.content_sha256 = content_sha256
        self.reverses = reverses
        self.reversed_by: str | None = None
        self.staff_id = staff_id
        self.confirmed_by = confirmed_by

    @classmethod
    def post(
        cls,
        *,
        namespace: str,
        key: str,
        code: str,
        posting_date: str,
        lines: list[dict[str, Any]],
        actor: str,
        document_ref: str,
        description: str = "",
        reverses: str | None = None,
        staff_id: str = "",
        confirmed_by: str = "",
    ) -> JournalTransaction:
        if not isinstance(key, str) or not 1 <= len(key) <= 200:
            raise InvalidValue(
                "the transaction key (Idempotency-Key) is 1–200 characters",
                field="Idempotency-Key",
                rule="transaction_key",
            )
        try:
            code = TransferCode(code).value
        except ValueError:
            raise InvalidValue(
                f"code must be one of {[c.value for c in TransferCode]}",
                field="code",
                rule="transfer_code",
            ) from None
        content: dict[str, Any] = {
            "code": code,
            "posting_date": validate_date(posting_date, "posting_date"),
            "lines": assert_balanced(lines),
            "description": str(description or "")[:500],
            "document_ref": require_document(document_ref),
        }
        if reverses is None:  # a reversal mirrors a transaction recorded under these rules
            check_flow(code, content["lines"])
            check_sources(content["lines"])
        return cls(
            namespace=namespace,
            key=key,
            **content,
            actor=actor,
            reverses=reverses,
            content_sha256=content_sha256(content),
            staff_id=staff_id,
            confirmed_by=confirmed_by,
        )

    def summary(self) -> dict[str, Any]:
        return {"key": self.key, "transaction_id": str(self.id), "code": self.code,
                "posting_date": self.posting_date, "reversed_by": self.reversed_by,
                "total_fen": sum(line["debit_fen"] for line in self.lines),
                "prepared_by": self.staff_id or None, "confirmed_by": self.confirmed_by or None}  # fmt: skip

    def same_content(self, other: JournalTransaction) -> None:
        """A retry with the same key must carry the same content; anything else is a conflict."""
        if other.content_sha256 != self.content_sha256:
            raise Conflict(
                "this transaction key (Idempotency-Key) was used with different content",
                field="Idempotency-Key",
                rule="transaction_key_reuse",
            )

    def reversal(
        self,
        *,
        key: str,
        posting_date: str,
        actor: str,
        document_ref: str,
        namespace: str | None = None,
        staff_id: str = "",
        confirmed_by: str = "",
    ) -> JournalTransaction:
        """The mirror transaction (debits and credits swapped), keyed in ``namespace`` (the
        reverser's; by default this transaction's); a transaction is reversed at most once."""
        if self.reversed_by is not None:
            raise InvalidTransition(
                "this transaction has already been reversed", field="reverses", rule="reverse_once"
            )
        if self.code == TransferCode.REVERSAL:
            raise InvalidTransition(
                "a reversal is not itself reversed; post a new transaction",
                field="reverses",
                rule="no_reversal_of_reversal",
            )
        mirror = [
            {
                "account": line["account"],
                "debit_fen": line["credit_fen"],
                "credit_fen": line["debit_fen"],
                "source": line["source"],
            }
            for line in self.lines
        ]
        reversal = JournalTransaction.post(
            namespace=self.namespace if namespace is None else namespace,
            key=key,
            code=TransferCode.REVERSAL,
            posting_date=posting_date,
            lines=mirror,
            description=f"reversal of {self.key}",
            actor=actor,
            document_ref=document_ref,
            reverses=self.key,
            staff_id=staff_id,
            confirmed_by=confirmed_by,
        )
        self._reversed(reversal_key=key, actor=actor, staff_id=staff_id)
        return reversal

    @event("Reversed")
    def _reversed(self, reversal_key: str, actor: str, staff_id: str = "") -> None:
        self.reversed_by = reversal_key


# The order a flow draws on a guarded account's money by funding source (资金来源): higher-level
# transfers first, then the county's own funds, then money of no recorded source.
FUNDING_ORDER = ("central", "provincial", "city", "county", "")


class AccountGuard(Aggregate):
    """The running balance of one never-negative account (pool, reserve, reserved, clearing),
    in total and per funding source: neither may go negative, so money can only leave an
    account from a source that put it there, and the source stays traceable to the payment."""

    class Moved(Aggregate.Event):
        transaction_key: str
        delta_fen: int
        sources: dict[str, int]

    @staticmethod
    def create_id(account: str) -> UUID:
        return guard_id(account)

    @event("Opened")
    def __init__(self, account: str) -> None:
        self.account = account
        self.balance_fen = 0
        self.sources: dict[str, int] = {}

    def move(self, *, transaction_key: str, delta_fen: int, sources: dict[str, int]) -> None:
        if self.balance_fen + delta_fen < 0:
            raise InvalidValue(
                f"{self.account} holds {self.balance_fen} fen; this would take it to {self.balance_fen + delta_fen}",
                field="lines", rule="never_negative",
            )  # fmt: skip
        for source, delta in sorted(sources.items()):
            held = self.sources.get(source, 0)
            if held + delta < 0:
                raise InvalidValue(
                    f"{self.account} holds {held} fen from source {source or '(none)'};"
                    f" this would take it to {held + delta}",
                    field="lines", rule="never_negative_by_source",
                )  # fmt: skip
        self._moved(transaction_key=transaction_key, delta_fen=delta_fen, sources=sources)

    @event(Moved)
    def _moved(self, transaction_key: str, delta_fen: int, sources: dict[str, int]) -> None:
        self.balance_fen += delta_fen
        for source, delta in sources.items():
            self.sources[source] = self.sources.get(source, 0) + delta

    def draw(self, amount_fen: int) -> dict[str, int]:
        """How ``amount_fen`` leaving this account splits by funding source, taking what each
        source holds in ``FUNDING_ORDER``; more than the account holds is left unattributed
        for ``move`` to refuse."""
        split: dict[str, int] = {}
        left = amount_fen
        order = [*FUNDING_ORDER, *sorted(set(self.sources) - set(FUNDING_ORDER))]
        for source in order:
            taken = min(left, max(self.sources.get(source, 0), 0))
            if taken:
                split[source] = taken
                left -= taken
        if left:
            split[""] = split.get("", 0) + left
        return split


def guarded_deltas(lines: list[dict[str, Any]]) -> dict[str, tuple[int, dict[str, int]]]:
    """Balance change (debit − credit) of each never-negative account a transaction touches, in
    total and per funding source."""
    deltas: dict[str, tuple[int, dict[str, int]]] = {}
    for line in lines:
        if parse_account(line["account"]).never_negative:
            delta = line["debit_fen"] - line["credit_fen"]
            total, sources = deltas.get(line["account"], (0, {}))
            sources[line["source"]] = sources.get(line["source"], 0) + delta
            deltas[line["account"]] = (total + delta, sources)
    return deltas


def period_id(county_code: str, month: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:period:{county_code}:{month}")


class LedgerPeriod(Aggregate):
    """One month of one county's ledger. A closed period accepts no posting dated in it; every
    posting records that it checked its period, so a closing and a posting into the same month
    cannot both succeed (the second loses on the version). The application snapshots it."""

    @staticmethod
    def create_id(county_code: str, month: str) -> UUID:
        return period_id(county_code, month)

    @event("Opened")
    def __init__(self, county_code: str, month: str) -> None:
        self.county_code = county_code
        self.month = month
        self.closed = False
        self.postings = 0

    def check_open(self, *, transaction_key: str) -> None:
        if self.closed:
            raise InvalidValue(
                f"the period {self.month} of {self.county_code} is closed",
                field="posting_date",
                rule="period_closed",
            )
        self._checked(transaction_key=transaction_key)

    def close(self, *, actor: str, document_ref: str, staff_id: str = "") -> None:
        if self.closed:
            raise InvalidTransition(
                f"{self.month} is already closed", field="month", rule="close_once"
            )
        self._closed(
            county_code=self.county_code,
            month=self.month,
            actor=actor,
            document_ref=require_document(document_ref),
            staff_id=staff_id,
        )

    @event("Checked")
    def _checked(self, transaction_key: str) -> None:
        self.postings += 1

    @event("Closed")
    def _closed(
        self, county_code: str, month: str, actor: str, document_ref: str, staff_id: str = ""
    ) -> None:
        self.closed = True


def books_id(county_code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:ledger-books:{county_code}")


class LedgerBooks(Aggregate):
    """A county's books across the years: the months its postings have opened, and the last year
    carried over (结转), which closes that year and every year before it, posted in or not. The
    first posting of a month and a carry-over both write here, and a carry-over closes every open
    month listed, so a posting into an earlier year and a carry-over cannot both be saved."""

    @staticmethod
    def create_id(county_code: str) -> UUID:
        return books_id(county_code)

    @event("Opened")
    def __init__(self, county_code: str) -> None:
        self.county_code = county_code
        self.months: list[str] = []
        self.carried_through: int | None = None

    def check_open(self, month: str) -> None:
        """Refuse a posting dated ``month`` (YYYY-MM) if its year has been carried over."""
        if self.carried_through is not None and int(month[:4]) <= self.carried_through:
            raise InvalidValue(
                f"{month} of {self.county_code} is closed: {self.carried_through} and every"
                " year before it are carried over",
                field="posting_date",
                rule="period_closed",
            )

    def open_month(self, month: str) -> None:
        self.check_open(month)
        self._month_opened(month=month)

    def carry_over(self, year: int) -> None:
        if self.carried_through is not None and year <= self.carried_through:
            raise Conflict(
                f"{self.county_code} {year} is closed by the carry-over of {self.carried_through}",
                field="year",
                rule="period_closed",
            )
        self._carried_through(year=year)

    @event("MonthOpened")
    def _month_opened(self, month: str) -> None:
        self.months.append(month)

    @event("CarriedThrough")
    def _carried_through(self, year: int) -> None:
        self.carried_through = year


def year_id(county_code: str, year: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:ledger-year:{county_code}:{year}")


class LedgerYear(Aggregate):
    """A county's year-end carry-over (结转): once every month of the year is closed, the balance
    each cash account (bank clearing, pools, township reserves, roll reservations) holds at 31
    December, per funding source, is carried into the next year — recorded once, as the next
    year's opening balances."""

    @staticmethod
    def create_id(county_code: str, year: int, **_: Any) -> UUID:
        return year_id(county_code, year)

    @event("CarriedOver")
    def __init__(
        self,
        county_code: str,
        year: int,
        balances: list[list[Any]],
        actor: str,
        document_ref: str,
        staff_id: str = "",
        confirmed_by: str = "",
    ) -> None:
        """``balances``: [account, source, fen] for every non-zero balance carried over;
        ``staff_id`` who prepared it, ``confirmed_by`` who confirmed it (above the threshold)."""
        self.county_code = county_code
        self.year = year
        self.carried_fen = sum(int(fen) for _account, _source, fen in balances)
        self.balances = balances
        self.staff_id = staff_id
        self.confirmed_by = confirmed_by

    def summary(self, periods_closed: list[str]) -> dict[str, Any]:
        return {"county_code": self.county_code, "year": self.year, "carried_fen": self.carried_fen,
                "balances": [{"account": a, "source": s, "amount_fen": f} for a, s, f in self.balances],
                "periods_closed": periods_closed, "prepared_by": self.staff_id or None,
                "confirmed_by": self.confirmed_by or None}  # fmt: skip
