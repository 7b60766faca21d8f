"""Generated requests against every operation of /openapi.json, in process, on both backends.

Schemathesis draws requests from each operation's schema (path parameters half of the time
replaced by a record the seeded county really has, so decisions, rolls and grants are reached,
not only 404s) and sends them to the ASGI app with an admin's and an auditor's bearer token. An
answer fails the run when it is a server error, or when its status, content type or body is not
what the document declares for the operation. Examples are derandomised and bounded per
operation, so a run is repeatable and takes about a minute per backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from ops.demo import load_demo
from ops.services import Services
from tests.conftest import COUNTY, make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation; DOUDI_SCHEMATHESIS_EXAMPLES raises it for a longer local run.
EXAMPLES = int(os.environ.get("DOUDI_SCHEMATHESIS_EXAMPLES", "12"))
READ_EXAMPLES = max(1, EXAMPLES // 3)


@dataclass
class Seeded:
    services: Services
    app: Any
    schema: Any
    tokens: dict[str, str]
    records: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis')}/doudi.sqlite3"
        cleanup = None
    else:
        url, cleanup = _postgres_database()
    services = Services(make_settings(url))
    try:
        demo = load_demo(services, households=6, tekun=2)
        app = create_app(make_settings(url), services)
        auditor = services.issue_credential("test", role="auditor", region_scope=COUNTY)[1]
        found = Seeded(
            services,
            app,
            schemathesis.openapi.from_asgi("/openapi.json", app),
            {"admin": demo["tokens"]["admin"], "auditor": auditor},
        )
        found.records = _records(services)
        yield found
    finally:
        services.close()
        if cleanup is not None:
            cleanup()


def _postgres_database() -> tuple[str, Any]:
    """A fresh PostgreSQL database for the module (the shared fixture is per test)."""
    import uuid

    import psycopg

    from tests.conftest import _PG_REASON, PG_ADMIN_URL, REQUIRE_PG

    if _PG_REASON is not None:
        if REQUIRE_PG:
            pytest.fail(f"DOUDI_REQUIRE_POSTGRES=1 but {_PG_REASON}")
        pytest.skip(_PG_REASON)
    name = f"doudi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", drop


def _records(services: Services) -> dict[str, list[str]]:
    """Ids of the seeded county's records, by the path parameter that names them."""
    services.projections.catch_up()
    _, households = services.case_state.search(
        scope_prefix=COUNTY, kind="household", region_prefix=None, status=None, programme=None,
        limit=10, offset=0,
    )  # fmt: skip
    _, tekun = services.case_state.search(
        scope_prefix=COUNTY, kind="tekun", region_prefix=None, status=None, programme=None,
        limit=10, offset=0,
    )  # fmt: skip
    _, rolls = services.rolls.search(
        scope_prefix=COUNTY, county=None, month=None, limit=10, offset=0, until_month=None
    )
    _, grants = services.grants.search(COUNTY, 10, 0)
    return {
        "case_id": [row["case_id"] for row in households + tekun],
        "roll_id": [row["roll_id"] for row in rolls],
        "grant_id": [row["grant_id"] for row in grants],
        "key": ["demo-allocate-dibao", "demo-raise-county"],
        "account": [f"pool:{COUNTY}:dibao", f"reserve:{COUNTY}001:temporary"],
        "region_code": [COUNTY],
        "county_code": [COUNTY],
        "month": ["2022-06", "2022-07"],
    }


def _sweep(seeded: Seeded, role: str, reads_only: bool) -> list[str]:
    """Run every operation (or every GET) with ``role``'s token; each failure as one line."""
    failures: list[str] = []
    for result in seeded.schema.get_all_operations():
        operation = result.ok()
        if not reads_only or operation.method.upper() == "GET":
            examples = READ_EXAMPLES if reads_only else EXAMPLES
            failures += _exercise(seeded, operation, role, examples)
    return failures


def _exercise(seeded: Seeded, operation: Any, role: str, examples: int) -> list[str]:
    headers = {"Authorization": f"Bearer {seeded.tokens[role]}"}
    failures: list[str] = []

    @given(case=operation.as_strategy(), data=st.data())
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            known = seeded.records.get(name)
            if known and data.draw(st.booleans()):
                case.path_parameters[name] = data.draw(st.sampled_from(known))
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except Exception as failure:  # one example's failures; keep going, report them all
            failures.append(f"{role} {operation.label}: {_first_lines(failure)}")

    run()
    return failures


def _first_lines(failure: BaseException) -> str:
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    return " | ".join(lines[:8])


def test_every_operation_answers_as_documented(seeded: Seeded) -> None:
    """Admin over every operation, auditor over every read: no 5xx, no answer off the document."""
    failures = _sweep(seeded, "admin", reads_only=False) + _sweep(
        seeded, "auditor", reads_only=True
    )
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(sorted(set(failures)))
