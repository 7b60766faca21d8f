"""Grouped postings decide as postings one after another would: for random batches of roll
reservations from two pools (some more than is left, some repeating a key), a batch decided and
saved together (``ops/services/grouped.py``) answers each posting as the same postings executed
one at a time in the same order, and leaves the same balances. A posting refused on its second
pool after its first pool moved is the case the in-place restore is for. SQLite (the grouping
itself does not depend on the backend)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.access import Principal, idempotency_id
from domain.errors import DomainError
from ops.services.core import Services
from ops.services.grouped import Waiting
from ops.services.ledger import PostTransaction
from tests.conftest import make_settings

COUNTY = "420582"
FUNDS = {"dibao": 50_000, "tekun": 30_000}
DOC = {"document_ref": "当财社〔2024〕7号", "posting_date": "2024-03-05"}


def line(account: str, debit: int = 0, credit: int = 0) -> dict[str, Any]:
    return {"account": account, "debit_fen": debit, "credit_fen": credit, "source": "central"}


def reservation(key: str, dibao: int, tekun: int) -> PostTransaction:
    lines = []
    for group, fen in (("dibao", dibao), ("tekun", tekun)):
        if fen:
            lines += [line(f"reserved:{COUNTY}:{group}", debit=fen),
                      line(f"pool:{COUNTY}:{group}", credit=fen)]  # fmt: skip
    return PostTransaction(key=key, code="reserve_roll", lines=lines, **DOC)


@contextmanager
def funded() -> Iterator[tuple[Services, Principal]]:
    with tempfile.TemporaryDirectory() as folder:
        services = Services(make_settings(f"sqlite:///{folder}/doudi.sqlite3"))
        finance = Principal("finance", "finance_officer", COUNTY, staff_id="f1")
        try:
            total = sum(FUNDS.values())
            services.execute(finance, None, "", PostTransaction(key="raise", code="raise", lines=[
                line(f"clearing:{COUNTY}:bank", debit=total),
                line(f"source:{COUNTY}:central", credit=total)], **DOC))  # fmt: skip
            for group, fen in FUNDS.items():
                services.execute(finance, None, "", PostTransaction(
                    key=f"allocate-{group}", code="allocate", **DOC, lines=[
                        line(f"pool:{COUNTY}:{group}", debit=fen),
                        line(f"clearing:{COUNTY}:bank", credit=fen)]))  # fmt: skip
            yield services, finance
        finally:
            services.close()


def answer(run: Any) -> tuple[Any, ...]:
    try:
        served = run()
    except DomainError as error:
        return ("refused", error.rule)
    return (served.status_code, served.response["key"], served.response["total_fen"])


def balances(services: Services) -> dict[str, int]:
    return {row["account"]: int(row["balance_fen"])
            for row in services.fresh().ledger.balances(COUNTY)}  # fmt: skip


postings = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 30_000), st.integers(0, 20_000)).filter(
        lambda p: p[1] + p[2] > 0
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None)
@given(postings)
# The second posting's tekun pool is short after its dibao pool moved; the third needs dibao.
@example([(0, 10_000, 10_000), (1, 10_000, 25_000), (2, 1_000, 0)])
@example([(0, 10_000, 10_000), (1, 10_000, 25_000)])
def test_a_grouped_batch_answers_as_one_posting_after_another(
    batch: list[tuple[int, int, int]],
) -> None:
    commands = [(f"key-{k}", reservation(f"key-{k}", d, t)) for k, d, t in batch]
    with funded() as (services, finance):
        waiting = [Waiting(finance, key, idempotency_id(finance.credential_id, key), f"body-{i}",
                           command) for i, (key, command) in enumerate(commands)]  # fmt: skip
        services.group_commit._decide_and_save(waiting)
        # Only a key repeated in the batch waits for the save; the batch itself never loses a
        # race (nothing else writes), so no posting falls back to the one-at-a-time way.
        repeated = {i for i, (key, _c) in enumerate(commands) if key in dict(commands[:i])}
        assert {i for i, w in enumerate(waiting) if w.alone} <= repeated
        grouped = [answer(lambda w=w: services.group_commit._finish(w)) for w in waiting]
        grouped_balances = balances(services)
    with funded() as (services, finance):
        serial = [answer(lambda k=key, c=command, i=i: services.execute(
                      finance, k, f"body-{i}", c, grouped=False))
                  for i, (key, command) in enumerate(commands)]  # fmt: skip
        serial_balances = balances(services)
    assert grouped == serial
    assert grouped_balances == serial_balances
