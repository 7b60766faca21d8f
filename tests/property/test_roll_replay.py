"""Property: a draft roll regenerated after replaying the whole log is identical.

Method: hypothesis draws random histories for a few households (decisions in random order, some
refused), a policy book is recorded, and the county's roll for a month is generated. Every view
is then rebuilt from position 0 and the roll regenerated: its lines must equal the first
generation's, line for line, and its totals must equal the sum of its lines.
"""

from __future__ import annotations

import contextlib
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
from ops.services.rolls import generate_roll
from tests.conftest import COUNTY, make_settings
from tests.factories import household_body
from tests.property.test_replay import DECISIONS

POLICY = [
    (
        "standard",
        {
            "programme": "dibao_urban",
            "amount_fen": 67_000,
            "period": "month",
            "effective_date": "2021-01-01",
        },
    ),
    (
        "standard",
        {
            "programme": "dibao_urban",
            "amount_fen": 70_000,
            "period": "month",
            "effective_date": "2024-03-01",
        },
    ),
    ("rounding", {"unit": "yuan", "mode": "half_up", "effective_date": "2021-01-01"}),
]


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Services, Principal]]:
    with TemporaryDirectory() as folder:
        services = Services(make_settings(f"sqlite:///{Path(folder)}/r.sqlite3"))
        credential_id, _ = services.issue_credential(
            "test", role="admin", region_scope=COUNTY, staff_id="test-officer"
        )
        admin = Principal(credential_id, "admin", COUNTY)
        for kind, fields in POLICY:
            services.execute(admin, None, "p", lambda k=kind, f=fields: services.set_policy(
                admin, COUNTY, k, {**f, "document_ref": "当民发"}))  # fmt: skip
        yield services, admin
        services.close()


seeds = iter(range(500, 10**6))


def lines_of(services: Services, roll_id: str) -> list[dict[str, Any]]:
    return list(services.fresh().rolls.all_lines(roll_id))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.lists(st.sampled_from(sorted(DECISIONS)), max_size=6), min_size=1, max_size=4),
    st.sampled_from(["2024-02", "2024-03", "2024-05"]),
)
def test_regenerated_roll_after_replay_is_identical(
    world: tuple[Services, Principal], histories: list[list[str]], month: str
) -> None:
    services, admin = world
    for steps in histories:
        seed = next(seeds)
        body = household_body("420582001000", seed=seed, members=1 + seed % 3)
        case_id = str(
            services.execute(
                admin, None, "a", lambda b=body: ApplyHousehold(**b).decide(services, admin)
            ).response["case_id"]
        )
        for action in ["economic-checks", "approve", *steps]:
            fields = DECISIONS[action]()
            if action == "members":
                fields["member"]["id_number"] = household_body(seed=seed + 7000, members=1)[
                    "members"
                ][0]["id_number"]
            with contextlib.suppress(DomainError):
                services.execute(admin, None, action, lambda a=action, f=fields, c=case_id: HOUSEHOLD_DECISIONS[a](case_id=c, **f).decide(services, admin))  # fmt: skip
    first = generate_roll(
        services, admin, COUNTY, month, "all"
    )  # never approved here: always a draft
    services.app.save(*first.aggregates)
    before = lines_of(services, first.response["roll_id"])
    assert sum(line["total_fen"] for line in before) == first.response["total_fen"]
    for name in services.projections.views:
        services.projections.rebuild(name)
    again = generate_roll(services, admin, COUNTY, month, "all")
    services.app.save(*again.aggregates)
    assert lines_of(services, again.response["roll_id"]) == before
    assert again.response["total_fen"] == first.response["total_fen"]
