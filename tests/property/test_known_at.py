"""Property: a known-at read equals a replay of only the events recorded up to its position.

Method: hypothesis draws a history mixing a household case's decisions (some refused in the
state they meet) with fund-ledger postings and reversals, run through the services as the API
runs them, and a log position inside it. The case as known at that position (its own events
folded, ``case_known_at``) and the county's list as known then (the case versions valid
there) must equal the case-state view replayed from nothing up to that position into a scratch
database, and the balances and a pool's statement as known then (the
live view bounded by position) and the county's March reconciliation as known then the ledger
and rolls views replayed the same way. Both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.access import Principal
from domain.errors import DomainError
from ops.services.cases import HOUSEHOLD_DECISIONS, ApplyHousehold
from ops.services.core import Services
from ops.services.known_at import KnownAt, case_known_at
from ops.services.ledger import PostTransaction, ReverseTransaction
from projections.reconciliation.view import ReconciliationView
from projections.replay import replay_into, scratch_database
from tests.conftest import COUNTY, make_settings, new_postgres_database
from tests.factories import household_body, id_number
from tests.property.test_replay import DECISIONS

CHECKED_BY_ANOTHER = ("approve", "terminate")  # separation of duties: the checker decides these
POOL = "pool:420582:dibao"
LEDGER_STEPS = ("raise", "allocate", "reverse")
LIST = {"scope_prefix": COUNTY, "kind": None, "region_prefix": None, "status": None,
        "programme": None, "limit": 500}  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(request: pytest.FixtureRequest) -> Iterator[tuple[Services, dict[str, Principal]]]:
    with TemporaryDirectory() as folder:
        if request.param == "sqlite":
            url, drop = f"sqlite:///{Path(folder)}/k.sqlite3", None
        else:
            url, drop = new_postgres_database()
        services = Services(make_settings(url))
        people = {}
        for name, role in (
            ("maker", "admin"),
            ("checker", "admin"),
            ("finance", "finance_officer"),
        ):
            credential_id, _ = services.issue_credential(
                "test", role=role, region_scope=COUNTY, staff_id=f"known-at-{name}"
            )
            people[name] = Principal(credential_id, role, COUNTY, staff_id=f"known-at-{name}")
        yield services, people
        services.close()
        if drop is not None:
            drop()


counter = iter(range(10**6))


def ledger_step(services: Services, finance: Principal, step: str, keys: list[str]) -> None:
    n = next(counter)
    if step == "reverse":
        if not keys:
            return
        command: Any = ReverseTransaction(key=keys.pop(), reversal_key=f"rev-{n}",
                                          posting_date="2024-03-06", document_ref="冲")  # fmt: skip
    else:
        debit, credit = (
            ("clearing:420582:bank", "source:420582:central")
            if step == "raise"
            else (POOL, "clearing:420582:bank")
        )
        fen = 1_000 + n
        command = PostTransaction(key=f"{step}-{n}", code=step, posting_date="2024-03-05",
                                  document_ref="拨", lines=[
                                      {"account": debit, "debit_fen": fen, "source": "central"},
                                      {"account": credit, "credit_fen": fen, "source": "central"}])  # fmt: skip
    services.execute(finance, None, step, command)
    if step != "reverse":
        keys.append(command.key)


def case_step(services: Services, people: dict[str, Principal], case_id: str, action: str) -> None:
    fields = DECISIONS[action]()
    if action == "members":
        fields["member"]["id_number"] = id_number(sequence=next(counter) % 1000, birth="20000101")
    by = people["checker" if action in CHECKED_BY_ANOTHER else "maker"]
    services.execute(by, None, action, HOUSEHOLD_DECISIONS[action](case_id=case_id, **fields))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(sorted(DECISIONS) + list(LEDGER_STEPS) * 2), min_size=1, max_size=10),
    st.floats(min_value=0, max_value=1),
)
def test_known_at_equals_a_replay_up_to_the_position(
    world: tuple[Services, dict[str, Principal]], steps: list[str], where: float
) -> None:
    services, people = world
    start = services.log_position()
    body = household_body(seed=next(counter) + 500, members=1)
    case_id = str(services.execute(
        people["maker"], None, "apply", ApplyHousehold(**body)
    ).response["case_id"])  # fmt: skip
    keys: list[str] = []
    for step in steps:
        try:
            if step in LEDGER_STEPS:
                ledger_step(services, people["finance"], step, keys)
            else:
                case_step(services, people, case_id, step)
        except DomainError:
            continue  # refused: records nothing (tests/property/test_replay.py holds that)
    services.fresh()
    head = services.log_position()
    position = start + round(where * (head - start))
    known = KnownAt(position)
    case, later = case_known_at(services, case_id, known)
    balances = services.ledger.balances(COUNTY, known_at=position)
    statement = services.ledger.statement(POOL, 500, known_at=position)
    listed = services.case_state.search(known_at=position, **LIST)
    reconciled = services.reconciliation.at(position).report(COUNTY, "2024-03", 1, "2024-12-31")
    views = [services.case_state, services.ledger, services.rolls]
    with scratch_database(services.db) as scratch:
        replay_into(scratch, views, services.log.read, services.app.mapper.to_domain_event,
                    {view.name: position for view in views})  # fmt: skip
        replayed_case: Any = services.case_state.on(scratch)
        replayed_ledger: Any = services.ledger.on(scratch)
        assert case == replayed_case.get(case_id)
        assert listed == replayed_case.search(**LIST)
        assert balances == replayed_ledger.balances(COUNTY)
        assert statement == replayed_ledger.statement(POOL, 500)
        assert reconciled == ReconciliationView(scratch).report(COUNTY, "2024-03", 1, "2024-12-31")
    now = services.case_state.get(case_id)
    assert (later == []) == (case == now)  # it differs from today exactly when events came later
    assert all(event["position"] > position for event in later)
