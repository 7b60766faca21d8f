"""Double entry in memory: the chart, balanced transactions, reversal once, never-negative guards.

The case file: 当阳市 receives 1,000,000 yuan of central funds, allocates 600,000 to its dibao pool,
approves a 271,667-yuan roll (reserved), and the bank pays it.

    source:420582:central   Cr 100,000,000   (raised)
    pool:420582:dibao       Dr  60,000,000 · Cr 27,166,700
    reserved:420582:dibao   Dr  27,166,700 · Cr 27,166,700
    disbursed:420582:dibao  Dr  27,166,700
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.errors import Conflict, InvalidTransition, InvalidValue
from ledger.accounts import FLOWS, TransferCode, parse_account
from ledger.journal import AccountGuard, JournalTransaction, assert_balanced, guarded_deltas

META = {"actor": "finance-1", "document_ref": "当财社〔2024〕1号", "description": ""}


def dr(account: str, fen: int, source: str = "central") -> dict[str, Any]:
    return {"account": account, "debit_fen": fen, "credit_fen": 0, "source": source}


def cr(account: str, fen: int, source: str = "central") -> dict[str, Any]:
    return {"account": account, "debit_fen": 0, "credit_fen": fen, "source": source}


def post(key: str, code: str, *lines: dict[str, Any]) -> JournalTransaction:
    return JournalTransaction.post(
        namespace="420582", key=key, code=code, posting_date="2024-03-05", lines=list(lines), **META
    )


def test_the_case_file_balances_and_every_line_keeps_its_source() -> None:
    transactions = [
        post(
            "t1",
            "raise",
            dr("clearing:420582:bank", 100_000_000),
            cr("source:420582:central", 100_000_000),
        ),
        post(
            "t2",
            "allocate",
            dr("pool:420582:dibao", 60_000_000),
            cr("clearing:420582:bank", 60_000_000),
        ),
        post(
            "t3",
            "reserve_roll",
            dr("reserved:420582:dibao", 27_166_700),
            cr("pool:420582:dibao", 27_166_700),
        ),
        post(
            "t4",
            "disburse",
            dr("disbursed:420582:dibao", 27_166_700),
            cr("reserved:420582:dibao", 27_166_700),
        ),
    ]
    balances: dict[str, int] = {}
    for transaction in transactions:
        for line in transaction.lines:
            balances[line["account"]] = (
                balances.get(line["account"], 0) + line["debit_fen"] - line["credit_fen"]
            )
    assert sum(balances.values()) == 0  # the trial balance
    assert balances["pool:420582:dibao"] == 32_833_300 and balances["reserved:420582:dibao"] == 0
    assert all(line["source"] == "central" for t in transactions for line in t.lines)


@pytest.mark.parametrize(("lines", "rule"), [
    ([dr("pool:420582:dibao", 100)], "line_count"),
    ([dr("pool:420582:dibao", 100), cr("source:420582:central", 99)], "balanced"),
    ([dr("pool:420582:dibao", 0), cr("source:420582:central", 0)], "one_positive_side"),
    ([dr("pool:420582:dibao", -5), cr("source:420582:central", -5)], "integer_fen"),
    ([dr("pool:420582:dibao", 1.5), cr("source:420582:central", 1.5)], "integer_fen"),
    ([dr("pool:420582:dibao", 100), cr("pool:420582:dibao", 100)], "distinct_accounts"),
    ([dr("vault:420582:dibao", 100), cr("source:420582:central", 100)], "account_kind"),
    ([dr("pool:420582:dibao", 100), cr("source:420582:lottery", 100)], "funding_level"),
])  # fmt: skip
def test_unbalanced_or_malformed_transactions_are_refused(
    lines: list[dict[str, Any]], rule: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        assert_balanced(lines)
    assert caught.value.rule == rule


def test_same_key_same_content_is_the_same_transaction_other_content_conflicts() -> None:
    first = post("k", "allocate", dr("pool:420582:dibao", 100), cr("clearing:420582:bank", 100))
    again = post("k", "allocate", dr("pool:420582:dibao", 100), cr("clearing:420582:bank", 100))
    assert again.id == first.id
    first.same_content(again)
    other = post("k", "allocate", dr("pool:420582:dibao", 101), cr("clearing:420582:bank", 101))
    with pytest.raises(Conflict):
        first.same_content(other)


def test_reversal_mirrors_the_lines_and_happens_once() -> None:
    original = post("a", "allocate", dr("pool:420582:dibao", 500), cr("clearing:420582:bank", 500))
    reversal = original.reversal(
        key="a-rev", posting_date="2024-03-06", actor="f", document_ref="更正"
    )
    assert [
        (line["account"], line["debit_fen"], line["credit_fen"]) for line in reversal.lines
    ] == [("pool:420582:dibao", 0, 500), ("clearing:420582:bank", 500, 0)]
    with pytest.raises(InvalidTransition):
        original.reversal(key="a-rev2", posting_date="2024-03-06", actor="f", document_ref="更正")
    with pytest.raises(InvalidTransition):
        reversal.reversal(
            key="a-rev-rev", posting_date="2024-03-06", actor="f", document_ref="更正"
        )


def test_a_pool_never_goes_negative() -> None:
    guard = AccountGuard(account="pool:420582:dibao")
    guard.move(transaction_key="t1", delta_fen=1_000, sources={"central": 1_000})
    with pytest.raises(InvalidValue) as caught:
        guard.move(transaction_key="t2", delta_fen=-1_001, sources={"central": -1_001})
    assert caught.value.rule == "never_negative" and guard.balance_fen == 1_000
    lines = [dr("reserved:420582:dibao", 300), cr("pool:420582:dibao", 300)]
    assert guarded_deltas(assert_balanced(lines)) == {
        "reserved:420582:dibao": (300, {"central": 300}),
        "pool:420582:dibao": (-300, {"central": -300}),
    }
    assert parse_account("disbursed:420582:dibao").never_negative is False


def test_money_leaves_an_account_only_from_a_source_that_put_it_there() -> None:
    """Per funding source the guard never goes negative either, and a flow draws central money
    first, then provincial, city, county and money of no recorded source."""
    guard = AccountGuard(account="pool:420582:dibao")
    guard.move(transaction_key="t1", delta_fen=1_500, sources={"county": 1_000, "central": 500})
    with pytest.raises(InvalidValue) as caught:
        guard.move(transaction_key="t2", delta_fen=-600, sources={"central": -600})
    assert caught.value.rule == "never_negative_by_source"
    assert guard.draw(700) == {"central": 500, "county": 200}
    assert guard.draw(2_000) == {"central": 500, "county": 1_000, "": 500}  # move refuses this


ACCOUNTS = [
    "clearing:420582:bank",
    "pool:420582:dibao",
    "reserve:420582101:temporary",
    "reserved:420582:dibao",
    "disbursed:420582:dibao",
    "source:420582:central",
]


class LedgerMachine(RuleBasedStateMachine):
    """Random postings against a reference model: after every step the trial balance is zero,
    each guard equals the sum of its account's entries, in total and per funding source, and no
    guarded account is negative."""

    def __init__(self) -> None:
        super().__init__()
        self.guards = {
            a: AccountGuard(account=a) for a in ACCOUNTS if parse_account(a).never_negative
        }
        self.entries: dict[str, int] = dict.fromkeys(ACCOUNTS, 0)
        self.by_source: dict[tuple[str, str], int] = {}
        self.posted: list[JournalTransaction] = []
        self.count = 0

    def _post(self, transaction: JournalTransaction) -> None:
        deltas = guarded_deltas(transaction.lines)
        if any(
            self.guards[a].balance_fen + d < 0
            or any(self.guards[a].sources.get(src, 0) + fen < 0 for src, fen in sources.items())
            for a, (d, sources) in deltas.items()
        ):
            with pytest.raises(InvalidValue):
                for account, (delta, sources) in deltas.items():
                    copy = AccountGuard(account=account)
                    copy.balance_fen = self.guards[account].balance_fen
                    copy.sources = dict(self.guards[account].sources)
                    copy.move(transaction_key=transaction.key, delta_fen=delta, sources=sources)
            return
        for account, (delta, sources) in deltas.items():
            self.guards[account].move(
                transaction_key=transaction.key, delta_fen=delta, sources=sources
            )
        for line in transaction.lines:
            self.entries[line["account"]] += line["debit_fen"] - line["credit_fen"]
            key = (line["account"], line["source"])
            self.by_source[key] = (
                self.by_source.get(key, 0) + line["debit_fen"] - line["credit_fen"]
            )
        self.posted.append(transaction)

    @rule(
        code=st.sampled_from(sorted(c.value for c in FLOWS)),
        debit=st.sampled_from(ACCOUNTS),
        credit=st.sampled_from(ACCOUNTS),
        fen=st.integers(1, 10_000),
        source=st.sampled_from(["central", "county"]),
    )
    def transfer(self, code: str, debit: str, credit: str, fen: int, source: str) -> None:
        """Any code between any two accounts: refused unless the flow is one SPEC §6 allows, with
        the funding source a source account keeps."""
        self.count += 1
        debit_kinds, credit_kinds = FLOWS[TransferCode(code)]
        allowed = (
            parse_account(debit).kind in debit_kinds
            and parse_account(credit).kind in credit_kinds
            and all(  # a funding source account carries money of its own level only
                parse_account(a).kind != "source" or parse_account(a).qualifier == source
                for a in (debit, credit)
            )
        )
        if debit == credit or not allowed:
            with pytest.raises(InvalidValue):
                post(f"k{self.count}", code, dr(debit, fen, source), cr(credit, fen, source))
            return
        self._post(post(f"k{self.count}", code, dr(debit, fen, source), cr(credit, fen, source)))

    @rule(index=st.integers(0, 50))
    def reverse(self, index: int) -> None:
        if not self.posted:
            return
        original = self.posted[index % len(self.posted)]
        self.count += 1
        if original.reversed_by is not None or original.code == "reversal":
            with pytest.raises(InvalidTransition):
                original.reversal(
                    key=f"r{self.count}", posting_date="2024-03-06", actor="f", document_ref="更正"
                )
            return
        deltas = guarded_deltas(
            [
                {**line, "debit_fen": line["credit_fen"], "credit_fen": line["debit_fen"]}
                for line in original.lines
            ]
        )
        if any(
            self.guards[a].balance_fen + d < 0
            or any(self.guards[a].sources.get(src, 0) + fen < 0 for src, fen in sources.items())
            for a, (d, sources) in deltas.items()
        ):
            return  # the reversal would overdraw a pool: the service refuses it before reversing
        self._post(
            original.reversal(
                key=f"r{self.count}", posting_date="2024-03-06", actor="f", document_ref="更正"
            )
        )

    @invariant()
    def balanced_and_never_negative(self) -> None:
        assert sum(self.entries.values()) == 0
        for account, guard in self.guards.items():
            assert guard.balance_fen == self.entries[account] >= 0
            for source, held in guard.sources.items():
                assert held == self.by_source.get((account, source), 0) >= 0


TestLedgerMachine = LedgerMachine.TestCase


def test_a_reserve_fund_is_never_diverted() -> None:
    """A township reserve (备用金) pays grants and is replenished by the county; any other use is refused."""
    post(
        "ok",
        "grant",
        dr("disbursed:420582101:temporary", 100),
        cr("reserve:420582101:temporary", 100),
    )
    with pytest.raises(InvalidValue) as caught:
        post("no", "allocate", dr("pool:420582:dibao", 100), cr("reserve:420582101:temporary", 100))
    assert caught.value.rule == "transfer_flow" and caught.value.field == "lines[1].account"


@pytest.mark.parametrize(("account", "rule"), [
    ("reserve:420582001000:temporary", "account_region_level"),  # a township written with 12 digits
    ("reserve:420582:temporary", "account_region_level"),  # a "township reserve" of a county
    ("pool:420582001:dibao", "account_region_level"),
    ("clearing:420582001:bank", "account_region_level"),
    ("source:420582001000:county", "account_region_level"),
    ("disbursed:420582001001:temporary", "account_region_level"),
    ("clearing:420582:b1", "account_qualifier"),  # a second bank clearing account by another name
    ("pool:420582:lottery", "account_qualifier"),
    ("reserve:420582001:dibao", "account_qualifier"),
    ("reserved:420582:bank", "account_qualifier"),
    ("source:420582:foreign_aid", "funding_level"),
])  # fmt: skip
def test_every_account_has_one_name_in_the_chart(account: str, rule: str) -> None:
    """Each kind sits at its one region level with its own qualifiers (``CHART``): any other
    spelling of an account, or a qualifier outside the chart, is refused naming the line."""
    with pytest.raises(InvalidValue) as caught:
        assert_balanced([dr(account, 1), cr("source:420582:central", 1)])
    assert (caught.value.field, caught.value.rule) == ("lines[0].account", rule)


def test_the_chart_names_the_accounts_doudi_posts_to() -> None:
    """Every account the flows of rolls and grants post to is in the chart, at both levels a
    payment is recorded at."""
    for code in ("pool:420582:tekun", "reserved:420582:temporary", "disbursed:420582:dibao",
                 "disbursed:420582001:temporary", "reserve:420582001:temporary",
                 "returned:420582:dibao", "recovery:420582:tekun", "payable:420582:dibao"):  # fmt: skip
        assert parse_account(code).code == code


@pytest.mark.parametrize(("lines", "field", "rule"), [
    ([dr("clearing:420582:bank", 5, "central"), cr("source:420582:county", 5, "county")], "lines", "source_balance"),
    ([dr("clearing:420582:bank", 5, "lottery"), cr("source:420582:central", 5, "lottery")], "lines[0].source", "funding_source"),
    ([dr("clearing:420582:bank", 5, "county"), cr("source:420582:central", 5, "county")], "lines[1].source", "funding_source"),
    ([dr("clearing:420582:bank", 5, ""), cr("disbursed:420582:dibao", 5, "")], "lines[1].source", "funding_source"),
    ([dr("pool:420582:dibao", 5, "county"), cr("clearing:420582:bank", 3, "county"),
      cr("clearing:420582:bank", 2, "central")], "lines", "source_balance"),
])  # fmt: skip
def test_money_never_changes_funding_source(
    lines: list[dict[str, Any]], field: str, rule: str
) -> None:
    """A new transaction names one of the four funding levels on each line, a source account's
    line its own level, and balances per source; money of no recorded source (``""``) only
    leaves an account whose guard holds it, so it is never created."""
    code = "raise" if lines[0]["account"].startswith("clearing") else "allocate"
    if lines[1]["account"].startswith("disbursed"):
        code = "return"
    with pytest.raises(InvalidValue) as caught:
        post("s", code, *lines)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_money_of_no_recorded_source_moves_and_a_relabelling_of_old_is_reversed() -> None:
    """Money held with no recorded source may still be allocated onward (its guard keeps it),
    and a transaction recorded before sources were checked — here one relabelling central
    money as county — can be reversed: the reversal mirrors what was recorded."""
    moved = post("m", "allocate", dr("pool:420582:dibao", 5, ""), cr("clearing:420582:bank", 5, ""))
    assert {line["source"] for line in moved.lines} == {""}
    old = JournalTransaction(
        namespace="420582", key="old", code="raise", posting_date="2022-03-05", description="",
        actor="f", document_ref="旧", reverses=None, content_sha256="x",
        lines=[dr("clearing:420582:bank", 5, "central"), cr("source:420582:county", 5, "county")],
    )  # fmt: skip
    mirror = old.reversal(key="old-rev", posting_date="2024-03-06", actor="f", document_ref="更正")
    assert [(line["source"], line["credit_fen"]) for line in mirror.lines] == [
        ("central", 5),
        ("county", 0),
    ]
