"""The OpenAPI document: each operation lists the problem statuses it can answer, in one place.

Which problems an operation can answer follows from what the document already says of it, so
they are derived here rather than repeated on every route:

- 401 and 403: it needs a bearer token (``security``); every such route checks the role, and
  the region scope where one is named.
- 404: a path parameter names a record (case, grant, roll, transaction, account, finding,
  registry record), or the route declares 404 itself (``responses={404: ...}``) for a lookup
  that may find nothing.
- 409: it records something (a POST, unless marked ``x-query``: a read whose input goes in the
  body to keep identity numbers out of URLs): an Idempotency-Key reused with another request,
  or a decision the record's state refuses.
- 413: it takes a request body (the size limit is counted on the body).
- 422: it takes any input (path, query, header or body).
- 503: it is a read that takes ``Doudi-Log-Position``: the views did not reach the position
  within the wait allowed. Its successful answers carry ``Doudi-View-Position``.

Every problem is ``application/problem+json`` with the ``Problem`` schema (``api/http/problems.py``
writes them). FastAPI's own 422 schema (``HTTPValidationError``) is replaced, since the
validation handler answers a problem, not that shape.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.http.examples import CSV_EXAMPLES, JSON_EXAMPLES
from api.http.problems import PROBLEM
from api.http.responses import Problem

RECORD_PARAMETERS = frozenset(
    {"case_id", "grant_id", "roll_id", "key", "account", "finding_id", "record_id"}
)
DESCRIPTIONS = {
    401: "Missing, unknown, expired or revoked bearer token",
    403: "The credential's role or region scope does not allow this request",
    404: "No such record within the caller's scope (outside the scope reads the same)",
    409: "Refused by the record's state, or an Idempotency-Key reused with another request",
    413: "The request body is larger than the limit",
    422: "An input breaks a rule; `errors` names each field and rule",
    503: "The views did not reach the Doudi-Log-Position sent within the wait allowed"
    " (`reached_position` says where they are); retry",
}
LOG_POSITION = "Doudi-Log-Position"
VIEW_POSITION_HEADER = {
    "Doudi-View-Position": {
        "description": "the log position the views answering this read have reached",
        "schema": {"type": "integer", "minimum": 0},
    }
}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
QUERY = "x-query"


def problem_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The 4xx statuses an operation can answer (see the module docstring for the rules)."""
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = {int(code) for code in operation["responses"] if code.isdigit() and int(code) >= 400}
    statuses.discard(422)  # FastAPI's own; added back below when there is input
    if operation.get("security"):
        statuses |= {401, 403}
    if any(p["in"] == "path" and p["name"] in RECORD_PARAMETERS for p in parameters):
        statuses.add(404)
    if method == "post" and not operation.get(QUERY):
        statuses.add(409)
    if has_body:
        statuses.add(413)
    if parameters or has_body:
        statuses.add(422)
    if _is_read(operation):
        statuses.add(503)
    return statuses


def _is_read(operation: dict[str, Any]) -> bool:
    """Whether the operation answers from the views (it takes ``Doudi-Log-Position``)."""
    return any(
        p["in"] == "header" and p["name"] == LOG_POSITION for p in operation.get("parameters", [])
    )


def _problem_components() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {**definitions, "Problem": schema}


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app`` with every operation's problems."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)
    components.update(_problem_components())
    reference = {"$ref": "#/components/schemas/Problem"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            _example_request(path, operation)
            responses = operation["responses"]
            if _is_read(operation):
                for code, answer in responses.items():
                    if code.startswith("2"):
                        answer.setdefault("headers", {}).update(VIEW_POSITION_HEADER)
            for status in sorted(problem_statuses(method, operation)):
                declared = responses.get(str(status), {}) if status != 422 else {}
                responses[str(status)] = {
                    "description": declared.get("description") or DESCRIPTIONS[status],
                    "content": {PROBLEM: {"schema": reference}},
                }
    return schema


def _example_request(path: str, operation: dict[str, Any]) -> None:
    """Put the worked example (``api/http/examples.py``) on each body the operation takes, so
    that `/docs` shows a request that reads like a case file."""
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        if media_type == "text/csv" and path in CSV_EXAMPLES:
            media["example"] = CSV_EXAMPLES[path]
        name = media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        if name in JSON_EXAMPLES:
            media["example"] = JSON_EXAMPLES[name]


# The documents built in this process, by app title, version, description and route count:
# every app ``create_app`` makes has the same routes, and building one takes about a second.
_DOCUMENTS: dict[tuple[str, str, str, int], dict[str, Any]] = {}


def install(app: FastAPI) -> None:
    """Serve ``document(app)`` at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            key = (app.title, app.version, app.description, len(app.routes))
            if key not in _DOCUMENTS:
                _DOCUMENTS[key] = document(app)
            app.openapi_schema = copy.deepcopy(_DOCUMENTS[key])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
