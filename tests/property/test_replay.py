"""Properties over random case histories: replay equals live, and retries never double-record.

Method: hypothesis draws a sequence of decisions (some illegal in the state they meet); each is
run through the application services as the API would. Refused decisions must record nothing;
afterwards every projection rebuilt from position 0 equals the live one, and each aggregate
loaded from the store equals the one a pure in-memory replay of its events gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.access import Principal
from domain.errors import DomainError
from domain.household import HouseholdCase
from ops.services.cases import HOUSEHOLD_DECISIONS, ApplyHousehold
from ops.services.core import Services
from tests.conftest import COUNTY, make_settings
from tests.factories import approve_body, household_body, id_number

DECISIONS = {
    "economic-checks": lambda: {
        "income": {"household_income_fen": 20_000},
        "effective_date": "2024-01-10",
        "document_ref": "核",
    },
    "approve": lambda: {
        **approve_body(),
        "tier_code": None,
        "single_person_id_number": None,
        "annual_review_due": None,
        "programme": None,
    },
    "suspend": lambda: {"reason": "外出", "effective_date": "2024-03-01", "document_ref": "停"},
    "resume": lambda: {"effective_date": "2024-04-01", "document_ref": "复"},
    "gradual-exit": lambda: {"months": 3, "effective_date": "2024-05-01", "document_ref": "渐"},
    "terminate": lambda: {"reason": "moved", "effective_date": "2024-06-01", "document_ref": "终"},
    "income": lambda: {
        "income": {"household_income_fen": 30_000},
        "effective_date": "2024-02-01",
        "document_ref": "复核",
    },
    "members": lambda: {
        "member": {"id_number": id_number(sequence=999), "name": "新成员"},
        "effective_date": "2024-02-01",
        "document_ref": "增",
    },
}


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Services, Principal]]:
    with TemporaryDirectory() as folder:
        services = Services(make_settings(f"sqlite:///{Path(folder)}/p.sqlite3"))
        credential_id, _ = services.issue_credential(
            "test", role="admin", region_scope=COUNTY, staff_id="test-officer"
        )
        yield services, Principal(credential_id, "admin", COUNTY)
        services.close()


counter = iter(range(10**6))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(sorted(DECISIONS)), min_size=1, max_size=10), st.booleans())
def test_random_histories_replay_to_the_live_state(
    world: tuple[Services, Principal], steps: list[str], retry: bool
) -> None:
    services, principal = world
    seed = next(counter) + 100
    body = household_body(seed=seed, members=1)
    served = services.execute(
        principal, None, "x", lambda: ApplyHousehold(**body).decide(services, principal)
    )
    case_id = str(served.response["case_id"])
    for index, action in enumerate(steps):
        fields = DECISIONS[action]()
        if action == "members":
            fields["member"]["id_number"] = id_number(sequence=seed * 7 % 1000, birth="20000101")
        position = services.log_position()
        key = f"{case_id}-{index}"
        try:
            first = services.execute(
                principal,
                key,
                action,
                lambda a=action, f=fields: HOUSEHOLD_DECISIONS[a](case_id=case_id, **f).decide(
                    services, principal
                ),
            )
        except DomainError:
            assert services.log_position() == position  # a refused decision records nothing
            continue
        if retry:
            after = services.log_position()
            again = services.execute(
                principal, key, action, lambda: pytest.fail("a retry must not decide again")
            )
            assert again.response == first.response and services.log_position() == after
    stored: Any = services.app.repository.get(UUID(case_id))
    replayed: Any = None
    for record in services.app.recorder.select_events(UUID(case_id)):
        replayed = services.app.mapper.to_domain_event(record).mutate(replayed)
    assert vars(replayed) == vars(stored)
    assert isinstance(stored, HouseholdCase)
    services.fresh()
    for name in ("case_state", "audit_trail"):
        live = services.projections.dump(name)
        services.projections.rebuild(name)
        assert services.projections.dump(name) == live
    row = services.case_state.get(case_id)
    assert row is not None and row["status"] == stored.status and row["version"] == stored.version
