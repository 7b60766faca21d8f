"""The OpenAPI document says what the API does: problem statuses, path patterns, typed bodies.

The generated run (test_schemathesis.py) checks answers against this document; these tests pin
the document's own rules, and check that the generated run fails when an answer breaks them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http import openapi, paths, problems, schemas
from api.http.app import create_app
from api.http.examples import JSON_EXAMPLES as EXAMPLES
from api.http.responses import Problem
from tests.api.conftest import colleague
from tests.api.test_households_api import API, assert_problem
from tests.api.test_schemathesis import Seeded, _exercise
from tests.conftest import make_settings

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi')}/doudi.sqlite3"
    return create_app(make_settings(url)).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_problem_is_problem_json_with_the_problem_schema(document: dict[str, Any]) -> None:
    """Walks every operation: each 4xx names application/problem+json and the Problem schema,
    and FastAPI's own validation shape is gone."""
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail", "instance",
    ]  # fmt: skip
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert response["content"] == {problems.PROBLEM: {"schema": PROBLEM_REF}}, (
                    method, path, status,
                )  # fmt: skip


def test_each_operation_lists_only_the_problems_it_can_answer(document: dict[str, Any]) -> None:
    """Reads the statuses of representative operations: no 401 without auth, no 409 on a read,
    404 only where a record is named, 413 only with a body."""

    def statuses(method: str, path: str) -> set[str]:
        return set(document["paths"][f"{API}{path}"][method]["responses"])

    assert statuses("get", "/health") == {"200"}
    assert statuses("get", "/households") == {"200", "401", "403", "422", "503"}
    assert statuses("get", "/rolls/{roll_id}") == {"200", "401", "403", "404", "422", "503"}
    assert statuses("post", "/households/{case_id}/approve") == {
        "200", "401", "403", "404", "409", "413", "422",
    }  # fmt: skip
    assert statuses("post", "/audit/persons/search") == {
        "200", "401", "403", "413", "422", "503",
    }  # fmt: skip
    assert statuses("post", "/ledger/transactions") == {
        "200", "201", "202", "401", "403", "409", "413", "422",
    }  # fmt: skip
    assert statuses("post", "/rolls/{roll_id}/bank-file") == {
        "200", "401", "403", "404", "409", "422",
    }  # fmt: skip
    for method, path, operation in _operations(document):
        if method == "get":
            assert "409" not in operation["responses"], path
            assert "413" not in operation["responses"], path
        # A read from the views takes Doudi-Log-Position, may answer 503 (the views did not
        # reach it in time) and states the position it reflects; a command does neither.
        takes = any(p["name"] == "Doudi-Log-Position" for p in operation.get("parameters", []))
        assert ("503" in operation["responses"]) == takes, (method, path)
        for status, answer in operation["responses"].items():
            if status.startswith("2"):
                stated = "Doudi-View-Position" in answer.get("headers", {})
                assert stated == takes, (method, path, status)
        if method == "post" and "409" in operation["responses"]:
            assert not takes, path


def test_path_parameters_have_patterns_and_answers_have_schemas(document: dict[str, Any]) -> None:
    """Every path parameter is a UUID or has a pattern, range or length; every 2xx JSON answer
    names a schema from components (not an untyped object)."""
    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                schema = parameter["schema"]
                assert {"format", "pattern", "maximum", "maxLength"} & set(schema), (path, schema)
        for status, response in operation["responses"].items():
            json_body = response.get("content", {}).get("application/json")
            if status.startswith("2") and json_body is not None:
                assert json_body["schema"].get("$ref", "").startswith("#/components/schemas/"), (
                    method, path, status,
                )  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (paths.REGION, ["420582", "420582001", "420582001000"], ["42058", "4205820", "٤٢٠٥٨٢"]),
        (paths.COUNTY, ["420582"], ["420582001", "４２０５８２"]),
        (
            paths.MONTH,
            ["2022-06", "2022-12"],
            ["2022-13", "2022-00", "2022-6", "1989-12", "9999-01"],
        ),
        (
            paths.ACCOUNT,
            ["pool:420582:dibao", "reserve:420582001:temporary"],
            ["pool:420582", "vault:420582:dibao", "pool:420582:Dibao"],
        ),
    ],
)
def test_path_patterns_accept_ascii_codes_only(
    pattern: str, good: list[str], bad: list[str]
) -> None:
    """Matches each pattern against valid codes and near misses (other scripts' digits too)."""
    for value in good:
        assert re.fullmatch(pattern, value), value
    for value in bad:
        assert not re.fullmatch(pattern, value), value


def test_a_body_that_cannot_be_read_is_a_422_problem(client: TestClient, token: Any) -> None:
    """Posts bytes that are not UTF-8 JSON: 422 naming the body, not FastAPI's undocumented 400."""
    response = client.post(
        f"{API}/households",
        content=b"\x7f\xff=",
        headers=token("admin") | {"Content-Type": "application/json"},
    )
    assert_problem(response, 422, "body", "json_invalid")


def test_a_query_filter_outside_its_values_is_a_422_problem(client: TestClient, token: Any) -> None:
    """Filters registry records by kinds that do not exist, one with a NUL (a 500 on PostgreSQL
    when it reached the query): 422 naming `kind`; a real kind still answers 200."""
    admin = token("admin")
    for kind in ("%00", "a%00b", "deaths"):
        response = client.get(f"{API}/registry/records?kind={kind}", headers=admin)
        assert_problem(response, 422, "kind")
    assert client.get(f"{API}/registry/records?kind=death", headers=admin).status_code == 200


def test_the_generated_run_fails_on_a_server_error_and_on_an_undocumented_answer() -> None:
    """Runs the same per-operation check on a two-route app: one answers 500, one answers a
    body its declared schema refuses; each is reported as a failure."""
    app = FastAPI()
    problems.install(app)

    @app.get("/broken", responses={200: {"model": Problem}})
    def broken() -> Any:
        return problems.problem(500, "Integrity", "boom", instance="/broken")

    @app.get("/off-schema", response_model=None, responses={200: {"model": Problem}})
    def off_schema() -> dict[str, Any]:
        return {"status": "not a number"}

    openapi.install(app)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seeded = Seeded(schema=schema, tokens={"admin": "none"})
    reported = {
        operation.path: _exercise(seeded, operation, "admin", 1)
        for operation in (result.ok() for result in schema.get_all_operations())
    }
    assert any("500" in line or "Server error" in line for line in reported["/broken"]), reported
    assert any("schema" in line.lower() for line in reported["/off-schema"]), reported


def _body_schemas(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", media_type, media)
        for method, path, operation in _operations(document)
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items()
    ]


def test_every_post_body_has_a_worked_example_that_its_schema_accepts(
    document: dict[str, Any],
) -> None:
    """`/docs` shows an example request for every body an operation takes: each JSON example is
    accepted by the body's own model (the API's rules, not only the JSON schema), each CSV
    example starts with its header line."""
    bodies = _body_schemas(document)
    assert len(bodies) >= 40
    for operation, media_type, media in bodies:
        assert "example" in media, operation
        if media_type == "text/csv":
            assert media["example"].split("\r\n")[0].startswith("reference,amount_fen"), operation
            continue
        name = media["schema"]["$ref"].rsplit("/", 1)[-1]
        getattr(schemas, name).model_validate(media["example"])


def test_every_money_and_rate_field_states_its_unit_with_an_example(
    document: dict[str, Any],
) -> None:
    """Money is integer fen and rates are percent or permille: every such property of every
    schema (requests and answers) names the unit in its name and its description, and carries
    an example."""
    found = 0
    for name, schema in document["components"]["schemas"].items():
        for field, spec in schema.get("properties", {}).items():
            unit = next((u for u in ("fen", "percent", "permille") if u in field), None)
            if unit is None:
                continue
            found += 1
            parts = [spec, *spec.get("anyOf", [])]
            described = " ".join(part.get("description", "") for part in parts)
            assert unit in described, (name, field, described)
            assert any(part.get("examples") for part in parts), (name, field)
    assert found >= 40


def test_the_worked_examples_pay_the_month_they_describe(client: TestClient, token: Any) -> None:
    """The examples read as one case file and run as one: the county's policy, the household's
    application, check and approval, a 特困 person's application and (by another person) its
    approval, then the April 2024 roll pays the household 670 × 2 − 300 = 1,040 yuan (104,000
    fen) and the 特困 person 130 % × 670 + 15 % × 1,800 = 1,141 yuan (114,100 fen)."""
    admin = token("admin")
    for path, name in (
        ("standards", "StandardIn"), ("tiers", "TiersIn"), ("tekun-rules", "TekunRuleIn"),
        ("care-standards", "CareStandardIn"), ("minimum-wage", "MinimumWageIn"),
        ("rounding", "RoundingIn"), ("price-indices", "PriceIndexIn"),
        ("price-linkage", "PriceLinkageIn"), ("electricity-subsidies", "ElectricityIn"),
        ("one-time-subsidies", "OneTimeIn"), ("approval-limits", "ApprovalLimitsIn"),
    ):  # fmt: skip
        response = client.post(f"{API}/policy/420582/{path}", json=EXAMPLES[name], headers=admin)
        assert response.status_code == 201, (path, response.text)
    applied = client.post(f"{API}/households", json=EXAMPLES["HouseholdApplyIn"], headers=admin)
    assert applied.status_code == 201, applied.text
    case = f"{API}/households/{applied.json()['case_id']}"
    checked = client.post(f"{case}/economic-checks", json=EXAMPLES["IncomeIn"], headers=admin)
    assert checked.status_code == 200, checked.text
    approved = client.post(f"{case}/approve", json=EXAMPLES["ApproveIn"],
                           headers=colleague(client, admin))  # fmt: skip
    assert approved.status_code == 200, approved.text
    case_worker = colleague(client, admin, "case_worker", "applicant")
    application = client.post(
        f"{API}/tekun/applications", json=EXAMPLES["TekunApplyIn"], headers=case_worker
    )
    assert application.status_code == 201, application.text
    approval = EXAMPLES["TekunApproveIn"] | {"application_id": application.json()["application_id"]}
    person = client.post(f"{API}/tekun", json=approval, headers=admin)
    assert person.status_code == 201, person.text
    roll = client.post(f"{API}/rolls", json=EXAMPLES["RollGenerateIn"],
                       headers=token("finance_officer"))  # fmt: skip
    assert roll.status_code == 201, roll.text
    lines = client.get(f"{API}/rolls/{roll.json()['roll_id']}/lines", headers=admin).json()
    paid = {line["case_id"]: line["total_fen"] for line in lines["items"]}
    assert paid == {applied.json()["case_id"]: 104_000, person.json()["case_id"]: 114_100}
