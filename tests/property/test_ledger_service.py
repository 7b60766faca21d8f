"""A stateful property of the ledger service against a simple reference model.

Method: hypothesis drives random sequences — raise, allocate, advance a township reserve, pay a
grant from it, reserve and disburse or release a roll, reverse a transaction, close a period —
through the same service calls as the API, on SQLite. After every step: the view's trial balance
is zero, every account's balance equals the model's sum of its entries, every guard equals its
account's balance, nothing that must not go negative is, and each reservation was resolved at
most once. Refused steps must record nothing.
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.access import Principal
from domain.errors import DomainError
from ledger.accounts import parse_account
from ledger.journal import AccountGuard, guard_id
from ops.services.core import Services
from ops.services.ledger import close_period, post_transaction, reverse_transaction
from tests.conftest import make_settings

C = "420582"
CLEARING, SOURCE, POOL = f"clearing:{C}:bank", f"source:{C}:central", f"pool:{C}:dibao"
RESERVED, DISBURSED = f"reserved:{C}:dibao", f"disbursed:{C}:dibao"
TEMP_POOL, RESERVE, GRANTS = (
    f"pool:{C}:temporary",
    f"reserve:{C}001:temporary",
    f"disbursed:{C}001:temporary",
)
MONTHS = ["2024-01", "2024-02", "2024-03"]


class LedgerServiceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = TemporaryDirectory()
        self.services = Services(make_settings(f"sqlite:///{Path(self.folder.name)}/l.sqlite3"))
        credential_id, _ = self.services.issue_credential(
            "test", role="finance_officer", region_scope=C, staff_id="test-officer"
        )
        self.finance = Principal(credential_id, "finance_officer", C)
        self.model: dict[str, int] = {}
        self.posted: list[tuple[str, list[tuple[str, int]]]] = []  # key, (account, debit − credit)
        self.reversed: set[str] = set()
        self.closed: set[str] = set()
        self.count = 0

    def teardown(self) -> None:
        self.services.close()
        self.folder.cleanup()

    def _post(self, code: str, debit: str, credit: str, fen: int, month: str) -> None:
        self.count += 1
        key = f"k{self.count}"
        fields = {"code": code, "posting_date": f"{month}-15", "document_ref": "doc", "lines": [
            {"account": debit, "debit_fen": fen, "credit_fen": 0, "source": "central"},
            {"account": credit, "debit_fen": 0, "credit_fen": fen, "source": "central"}]}  # fmt: skip
        expect_refusal = month in self.closed or any(
            parse_account(a).never_negative and self.model.get(a, 0) + d < 0 for a, d in ((debit, fen), (credit, -fen))
        )  # fmt: skip
        position = self.services.log_position()
        try:
            self.services.execute(self.finance, None, key, lambda: post_transaction(self.services, self.finance, key,
                                                                                    fields))  # fmt: skip
        except DomainError:
            assert expect_refusal, (code, debit, credit, fen, month)
            assert self.services.log_position() == position
            return
        assert not expect_refusal, (code, debit, credit, fen, month)
        for account, delta in ((debit, fen), (credit, -fen)):
            self.model[account] = self.model.get(account, 0) + delta
        self.posted.append((key, [(debit, fen), (credit, -fen)]))

    @rule(fen=st.integers(1, 50_000), month=st.sampled_from(MONTHS))
    def raise_funds(self, fen: int, month: str) -> None:
        self._post("raise", CLEARING, SOURCE, fen, month)

    @rule(
        fen=st.integers(1, 50_000),
        month=st.sampled_from(MONTHS),
        pool=st.sampled_from([POOL, TEMP_POOL]),
    )
    def allocate(self, fen: int, month: str, pool: str) -> None:
        self._post("allocate", pool, CLEARING, fen, month)

    @rule(fen=st.integers(1, 20_000), month=st.sampled_from(MONTHS))
    def advance_reserve(self, fen: int, month: str) -> None:
        self._post("advance", RESERVE, TEMP_POOL, fen, month)

    @rule(fen=st.integers(1, 20_000), month=st.sampled_from(MONTHS))
    def grant(self, fen: int, month: str) -> None:
        self._post("grant", GRANTS, RESERVE, fen, month)

    @rule(fen=st.integers(1, 30_000), month=st.sampled_from(MONTHS))
    def reserve_roll(self, fen: int, month: str) -> None:
        self._post("reserve_roll", RESERVED, POOL, fen, month)

    @rule(fen=st.integers(1, 30_000), month=st.sampled_from(MONTHS), paid=st.booleans())
    def settle(self, fen: int, month: str, paid: bool) -> None:
        if paid:
            self._post("disburse", DISBURSED, RESERVED, fen, month)
        else:
            self._post("release", POOL, RESERVED, fen, month)

    @precondition(lambda self: bool(self.posted))
    @rule(index=st.integers(0, 100), month=st.sampled_from(MONTHS))
    def reverse(self, index: int, month: str) -> None:
        key, moves = self.posted[index % len(self.posted)]
        self.count += 1
        mirrored = [(account, -delta) for account, delta in moves]
        expect_refusal = key in self.reversed or key.startswith("rev") or month in self.closed or any(
            parse_account(a).never_negative and self.model.get(a, 0) + d < 0 for a, d in mirrored)  # fmt: skip
        reversal_key = f"rev{self.count}"
        position = self.services.log_position()
        try:
            self.services.execute(self.finance, None, reversal_key, lambda: reverse_transaction(
                self.services, self.finance, key, reversal_key, f"{month}-20", "更正"))  # fmt: skip
        except DomainError:
            assert expect_refusal
            assert self.services.log_position() == position
            return
        assert not expect_refusal
        self.reversed.add(key)
        for account, delta in mirrored:
            self.model[account] = self.model.get(account, 0) + delta
        self.posted.append((reversal_key, mirrored))

    @rule(month=st.sampled_from(MONTHS[:2]))
    def close(self, month: str) -> None:
        try:
            self.services.execute(self.finance, None, "close", lambda: close_period(
                self.services, self.finance, C, month, "结账"))  # fmt: skip
        except DomainError as error:
            assert month in self.closed and error.rule == "close_once"
            return
        self.closed.add(month)

    @invariant()
    def the_books_agree(self) -> None:
        balances = {
            row["account"]: int(row["balance_fen"])
            for row in self.services.fresh().ledger.balances(C)
        }
        assert sum(balances.values()) == 0
        assert {a: b for a, b in balances.items() if b} == {
            a: b for a, b in self.model.items() if b
        }
        for account, balance in balances.items():
            if parse_account(account).never_negative:
                assert balance >= 0
                guard: Any = self.services.app.repository.get(guard_id(account))
                assert isinstance(guard, AccountGuard) and guard.balance_fen == balance


LedgerServiceMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
)
TestLedgerService = LedgerServiceMachine.TestCase
