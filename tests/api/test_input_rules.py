"""Input rules at the boundary (issue #23 items 1, 5 and 7), walked over the whole API.

Method: the request bodies are generated from the application's own OpenAPI document (a valid
value for every field), so every POST operation and every text field in it is tried — a new
route or field is tried without touching this file. Each test runs on SQLite and PostgreSQL
through the ``client`` fixture and checks the log position, so "refused" also means "nothing
recorded".
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import find
from hypothesis import strategies as st

from api.http.app import create_app
from api.http.schemas import MAX_OFFSET, TIMESTAMP_PATTERN
from ledger.store.settings import Settings
from ops.services.core import Services
from tests.api.test_households_api import API, assert_problem
from tests.factories import household_body

# One character of each refused class, and every bidi control named in the issue.
BAD_TEXT = {
    "text_control_character": ["\x00", "\x1b", "\x7f", "\x85"],
    "text_bidi_override": [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))],
    "text_zero_width": ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"],
}
# Characters refused by the same rule function (``domain.text.text_problem``), tried in a name.
MORE_BAD_TEXT = {
    "text_line_break": ["\u2028", "\u2029"],
    "text_blank_character": ["\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"],
    "text_noncharacter": ["\ufdd0", "\ufffe", "\U0010ffff"],
}
PATTERN_SAMPLES = {
    "^[0-9]{6}([0-9]{3}|[0-9]{6})?$": "420582",
    "^[0-9]{6}$": "420582",
    "^[0-9]{9}$": "420582001",
}
FIELD_SAMPLES = {"expires_at": "2099-01-01T00:00:00+00:00"}
PATH_SAMPLES = {"region_code": "420582", "county_code": "420582", "month": "2024-03",
                "year": 2024, "key": "some-key"}  # fmt: skip


def openapi(settings: Settings) -> dict[str, Any]:
    return create_app(settings).openapi()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def sample(spec: dict[str, Any], schema: dict[str, Any], name: str = "") -> Any:
    """A value the schema accepts (every optional property filled, so each can be tried)."""
    schema = resolve(spec, schema)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if resolve(spec, s).get("type") != "null"]
        return sample(spec, options[0], name)
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return {key: sample(spec, sub, key) for key, sub in schema["properties"].items()}
    if kind == "object":
        return {"k1": sample(spec, schema.get("additionalProperties", {"type": "string"}))}
    if kind == "array":
        return [sample(spec, schema["items"], name)] * max(schema.get("minItems", 1), 1)
    if kind == "integer":
        return schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
    if kind == "boolean":
        return True
    if schema.get("format") == "date":
        return "2024-01-05"
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if name in FIELD_SAMPLES:
        return FIELD_SAMPLES[name]
    if "pattern" in schema:
        if "0[1-9]|1[0-2]" in schema["pattern"]:
            return "2024-02"
        return pattern_sample(schema["pattern"])
    return "a" * max(schema.get("minLength", 2), 2)


@functools.cache  # hypothesis's search and shrinking take ~0.1 s a pattern; the answer is fixed
def pattern_sample(pattern: str) -> str:
    """A known sample for the API's patterns, else the simplest text the pattern matches."""
    if pattern in PATTERN_SAMPLES:
        return PATTERN_SAMPLES[pattern]
    return str(find(st.from_regex(pattern, fullmatch=True), lambda _text: True))


def text_positions(
    spec: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, "value" | "key") of every text a body of this schema carries."""
    schema = resolve(spec, schema)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if resolve(spec, s).get("type") != "null"]
        yield from text_positions(spec, options[0], path)
        return
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        for key, sub in schema["properties"].items():
            yield from text_positions(spec, sub, (*path, key))
    elif kind == "object":
        yield (*path, "k1"), "key"
        yield from text_positions(spec, schema.get("additionalProperties", {}), (*path, "k1"))
    elif kind == "array":
        yield from text_positions(spec, schema["items"], (*path, 0))
    elif kind == "string" and "enum" not in schema and schema.get("format") not in ("date", "uuid"):
        yield path, "value"  # a date or an id (a 特困 application's) is parsed, not free text


def with_text(body: Any, path: tuple[Any, ...], where: str, bad: str) -> Any:
    """A copy of ``body`` with ``bad`` inside the text at ``path`` (or inside the dict key)."""
    if len(path) == 1 and where == "key":
        return {(k[:1] + bad + k[1:] if k == path[0] else k): v for k, v in body.items()}
    if not path:
        return body[:1] + bad + body[1:]
    copy = list(body) if isinstance(body, list) else dict(body)
    copy[path[0]] = with_text(body[path[0]], path[1:], where, bad)
    return copy


def post_operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(URL with path parameters filled, JSON body schema) of every POST taking JSON."""
    for template, item in spec["paths"].items():
        operation = item.get("post")
        content = (operation or {}).get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        url = template
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                name = parameter["name"]
                value = PATH_SAMPLES.get(name, uuid.uuid4())
                url = url.replace(f"{{{name}}}", str(value))
        yield url, content["application/json"]["schema"]


def field_name(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


def test_every_text_field_of_every_post_refuses_invisible_characters(
    client: TestClient, token: Any, services: Services, settings: Settings
) -> None:
    """Each text field (dict keys too) of each POST, given a control, a bidi and a zero-width
    character in turn, answers 422 naming that field and the rule; nothing is recorded."""
    spec, admin = openapi(settings), token("admin") | {"Idempotency-Key": "input-rules"}
    position, tried = services.log_position(), 0
    for url, schema in post_operations(spec):
        body = sample(spec, schema)
        for path, where in text_positions(spec, schema):
            for rule, characters in BAD_TEXT.items():
                bad = with_text(body, path, where, characters[tried % len(characters)])
                response = client.post(url, json=bad, headers=admin)
                assert_problem(
                    response, 422, field_name(path[:-1] if where == "key" else path), rule
                )
                tried += 1
    assert tried > 200  # the walk found the API's text fields
    assert services.log_position() == position


def test_every_refused_character_is_refused_in_a_name(
    client: TestClient, token: Any, services: Services
) -> None:
    """Every character of every class, inside an applicant's name, is refused with its rule, as
    is a name that begins with a combining mark."""
    headers = token("case_worker")
    position = services.log_position()
    names = [
        (f"王{character}一", rule)
        for rule, characters in (BAD_TEXT | MORE_BAD_TEXT).items()
        for character in characters
    ]
    for name, rule in [*names, ("\u0301王一", "text_combining_start")]:
        body = household_body()
        body["members"][0]["name"] = name
        response = client.post(f"{API}/households", json=body, headers=headers)
        assert_problem(response, 422, "members.0.name", rule)
    assert services.log_position() == position


def test_text_is_stored_in_nfc(client: TestClient, token: Any) -> None:
    """A name and address sent decomposed (NFD) are stored and answered composed (NFC): one
    spelling, one encoding."""
    body = household_body()
    body["members"][0]["name"] = "阿依古丽·Zoe\u0301"
    body["address"] = "当阳市玉阳街道Cafe\u0301"
    headers = token("case_worker")
    created = client.post(f"{API}/households", json=body, headers=headers)
    assert created.status_code == 201, created.text
    case = client.get(f"{API}/households/{created.json()['case_id']}", headers=headers).json()
    assert "阿依古丽·Zoé" in {member["name"] for member in case["members"]}
    assert case["head_name"] == "阿依古丽·Zoé"


def test_text_in_headers_queries_and_paths_is_refused(
    client: TestClient, token: Any, services: Services
) -> None:
    """The stored Idempotency-Key header, a text query parameter and a transaction key in the
    path carry the same rule."""
    admin, finance = token("admin"), token("finance_officer")
    position = services.log_position()
    keyed: dict[str, Any] = admin | {"Idempotency-Key": b"key\x85"}  # C1 control (latin-1)
    response = client.post(f"{API}/households", json=household_body(), headers=keyed)
    assert_problem(response, 422, "Idempotency-Key", "text_control_character")
    response = client.get(f"{API}/policy/420582/facts?kind=standard%E2%80%8B", headers=admin)
    assert_problem(response, 422, "kind", "text_zero_width")
    reversal = {"posting_date": "2024-03-01", "document_ref": "冲销"}
    response = client.post(
        f"{API}/ledger/transactions/k%00y/reverse",
        json=reversal,
        headers=finance | {"Idempotency-Key": "r1"},
    )
    assert_problem(response, 422, "key", "text_control_character")
    assert services.log_position() == position


def parameter_sample(spec: dict[str, Any], parameter: dict[str, Any]) -> Any:
    schema = resolve(spec, parameter["schema"])
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    if parameter["in"] == "path" and options[0].get("format") != "uuid":
        return PATH_SAMPLES.get(parameter["name"], "pool:420582:dibao")
    if options[0].get("format") == "uuid":
        return str(uuid.uuid4())
    pattern = options[0].get("pattern", "")
    if pattern.startswith("^(") and "[" not in pattern:
        return pattern[2:].split("|")[0].split(")")[0]  # the first of the words allowed
    if pattern in PARAMETER_SAMPLES:
        return PARAMETER_SAMPLES[pattern]
    return sample(spec, options[0], parameter["name"])


PARAMETER_SAMPLES = {"^[0-9]{2,12}$": "420582", TIMESTAMP_PATTERN: "2024-05-01T00:00:00Z"}


def test_every_text_parameter_refuses_invisible_characters(
    client: TestClient, token: Any, services: Services, settings: Settings
) -> None:
    """Each text parameter of each operation (query, path, header), given a control character,
    answers 422 naming it; one without a pattern names the text rule. Nothing is recorded."""
    spec, admin = openapi(settings), token("admin")
    position, tried = services.log_position(), 0
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            parameters = operation.get("parameters", [])
            content = operation.get("requestBody", {}).get("content", {})
            body = (
                sample(spec, content["application/json"]["schema"])
                if "application/json" in content
                else None
            )
            for target in parameters:
                schema = resolve(spec, target["schema"])
                option = next(o for o in schema.get("anyOf", [schema]) if o.get("type") != "null")
                if (
                    option.get("type") != "string"
                    or "enum" in option
                    or option.get("format") == "uuid"
                ):
                    continue
                url, query, headers = template, {}, dict(admin)
                for parameter in parameters:
                    value = "a\x00b" if parameter is target else parameter_sample(spec, parameter)
                    if parameter["in"] == "path":
                        url = url.replace(f"{{{parameter['name']}}}", quote(str(value), safe=":"))
                    elif parameter["in"] == "header":
                        headers[parameter["name"]] = b"a\x85b" if parameter is target else b"k1"
                    elif parameter is target or parameter.get("required"):
                        query[parameter["name"]] = value
                response = client.request(method, url, params=query, headers=headers, json=body)
                rule = None if "pattern" in option else "text_control_character"
                assert_problem(response, 422, target["name"], rule)
                tried += 1
    assert tried >= 30
    assert services.log_position() == position


# --- item 5: identity numbers --------------------------------------------------------------


def test_one_person_cannot_be_enrolled_twice_through_a_variant_of_the_number(
    client: TestClient, token: Any, services: Services
) -> None:
    """A person enrolled with a number ending in X cannot be enrolled again with x, and the
    same number in full-width or Arabic-Indic digits is refused as a format error."""
    from tests.factories import id_number

    number = next(id_number(sequence=n) for n in range(1, 100) if id_number(sequence=n)[-1] == "X")
    headers = token("case_worker")
    first = household_body(members=1)
    first["members"][0]["id_number"] = number
    assert client.post(f"{API}/households", json=first, headers=headers).status_code == 201
    position = services.log_position()
    again = household_body(members=1, seed=2)
    again["members"][0]["id_number"] = number[:-1] + "x"
    assert_problem(client.post(f"{API}/households", json=again, headers=headers), 409, "")
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)  # ０-９ and Ｘ
    arabic_indic = "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in number)
    for variant in (full_width, arabic_indic, number[:-1] + "\uff38"):
        again["members"][0]["id_number"] = variant
        response = client.post(f"{API}/households", json=again, headers=headers)
        assert_problem(response, 422, "members", "id_number_format")
    assert services.log_position() == position


def test_accounts_and_codes_take_ascii_digits_only(
    client: TestClient, token: Any, services: Services
) -> None:
    """Full-width digits are refused in a payee account, a region code in the body and in a
    query, and a ledger account in the path."""
    headers = token("admin")
    position = services.log_position()
    body = household_body()
    body["region_code"] = "４２０５８２"
    assert_problem(client.post(f"{API}/households", json=body, headers=headers), 422, "region_code")
    assert_problem(client.get(f"{API}/households?region=４２０５", headers=headers), 422, "region")
    assert_problem(
        client.get(f"{API}/ledger/accounts/pool:４２０５８２:dibao/statement", headers=headers),
        422,
        "account",
        "string_pattern_mismatch",  # the path's documented pattern refuses it before the domain
    )
    assert services.log_position() == position


# --- item 7: limits, numeric bounds, dates ---------------------------------------------------


def small_client(settings: Settings, services: Services) -> TestClient:
    limited = settings.model_copy(update={"max_body_bytes": 2_000, "max_file_bytes": 10_000})
    return TestClient(create_app(limited, services))


def chunks(size: int, total: int) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


def test_a_chunked_body_past_the_limit_is_413(
    token: Any, services: Services, settings: Settings
) -> None:
    """Bodies sent without Content-Length (chunked) are counted as they arrive: a JSON body
    past max_body_bytes and a statement past max_file_bytes answer 413; nothing is recorded."""
    admin = token("admin") | {"Content-Type": "application/json"}
    finance = token("finance_officer")
    position = services.log_position()
    with small_client(settings, services) as client:
        response = client.post(f"{API}/households", content=chunks(500, 5_000), headers=admin)
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "body", "max_body_bytes")
        statement = b"reference,amount_fen,booked_on\n" + b"R1,100,2024-03-01\n" * 1_000
        response = client.post(
            f"{API}/ledger/statements/420582",
            content=iter([statement[i : i + 1000] for i in range(0, len(statement), 1000)]),
            headers=finance,
        )
        assert_problem(response, 413, "body", "max_body_bytes")
        declared = client.post(f"{API}/households", content=b" " * 3_000, headers=admin)
        assert_problem(declared, 413, "body", "max_body_bytes")
    assert services.log_position() == position


def test_every_integer_query_parameter_has_bounds(settings: Settings) -> None:
    """Walk the OpenAPI: every integer parameter (query or path) has a minimum and a maximum
    within PostgreSQL's integer, so no value reaches the database out of its range."""
    spec, seen = openapi(settings), 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = resolve(spec, parameter["schema"])
                options = schema.get("anyOf", [schema])
                for option in options:
                    if option.get("type") == "integer":
                        seen += 1
                        where = (method, path, parameter["name"])
                        assert "maximum" in option and "minimum" in option, where
                        assert option["maximum"] < 2**63, where  # the databases' 64-bit integers
    assert seen >= 10


def test_offsets_beyond_the_integer_range_are_422(client: TestClient, token: Any) -> None:
    """Every list operation refuses a limit past its bound and a cursor not shaped as one with
    422 naming it; the one still paged by offset (issued checkpoints, a short list) refuses an
    offset past its bound and answers the largest allowed."""
    spec, headers = client.app.openapi(), token("admin")  # type: ignore[attr-defined]

    def lists(parameter: str) -> list[str]:
        return [
            path.replace("{roll_id}", str(uuid.uuid4())).replace("{account}", "pool:420582:dibao")
            for path, item in spec["paths"].items()
            if any(p["name"] == parameter for p in item.get("get", {}).get("parameters", []))
        ]

    assert len(lists("cursor")) >= 8
    for url in lists("cursor"):
        assert_problem(client.get(f"{url}?limit={2**31}", headers=headers), 422, "limit")
        for bad in (
            "x",
            "a.b",
            "%00.AAAAAAAAAAAAAAAAAAAAAA",
            "A" * 700 + ".AAAAAAAAAAAAAAAAAAAAAA",
        ):
            assert_problem(client.get(f"{url}?cursor={bad}", headers=headers), 422, "cursor")
    for url in lists("offset"):
        for name, value in (("offset", 2**63), ("offset", MAX_OFFSET + 1), ("limit", 2**31)):
            assert_problem(client.get(f"{url}?{name}={value}", headers=headers), 422, name)
        assert client.get(f"{url}?offset={MAX_OFFSET}", headers=headers).status_code == 200


def test_dates_and_months_out_of_range_are_refused_everywhere(
    client: TestClient, token: Any, services: Services, settings: Settings
) -> None:
    """Every date field of every POST body refuses year 1 and year 9999 (rule date_range),
    every month field 1989-12 and 2101-01; month and time queries and month paths too."""
    spec, admin = openapi(settings), token("admin") | {"Idempotency-Key": "dates"}
    position, tried = services.log_position(), 0
    for url, schema in post_operations(spec):
        body = sample(spec, schema)
        for path, value, rule in date_positions(spec, schema):
            response = client.post(url, json=replaced(body, path, value), headers=admin)
            assert_problem(response, 422, field_name(path), rule)
            tried += 1
    assert tried > 40
    for url, name in (
        ("/policy/420582/standard?programme=dibao_rural&month=9999-01", "month"),
        ("/policy/420582/facts?as_of=9999-01-01T00:00:00Z", "as_of"),
        ("/rolls?month=0001-01", "month"),
        ("/statistics?from=1989-12&to=2024-01", "from"),
        ("/statistics?from=2024-01&to=2101-01", "to"),
        ("/ledger/reconciliation/420582/9999-01", "month"),
    ):
        assert_problem(client.get(API + url, headers=admin), 422, name)
    close = {"document_ref": "关账"}
    for url, name in (("/ledger/periods/420582/2101-01/close", "month"),
                      ("/ledger/carry-over/420582/9999", "year")):  # fmt: skip
        assert_problem(client.post(API + url, json=close, headers=admin), 422, name)
    assert services.log_position() == position


def date_positions(
    spec: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """(path, out-of-range value, expected rule) for every date and month in a body."""
    schema = resolve(spec, schema)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if resolve(spec, s).get("type") != "null"]
        yield from date_positions(spec, options[0], path)
    elif schema.get("type") == "object" and "properties" in schema:
        for key, sub in schema["properties"].items():
            yield from date_positions(spec, sub, (*path, key))
    elif schema.get("type") == "array":
        yield from date_positions(spec, schema["items"], (*path, 0))
    elif schema.get("format") == "date":
        yield path, "0001-01-01", "date_range"
        yield path, "9999-12-31", "date_range"
    elif "0[1-9]|1[0-2]" in schema.get("pattern", ""):
        yield path, "1989-12", "string_pattern_mismatch"
        yield path, "2101-01", "string_pattern_mismatch"
    elif path and path[-1] == "expires_at":
        yield path, "9999-01-01T00:00:00+00:00", "date_range"


def replaced(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = list(body) if isinstance(body, list) else dict(body)
    copy[path[0]] = replaced(body[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize("kind", ["statement", "results"])
def test_csv_problems_are_422_naming_the_line(
    kind: str, client: TestClient, token: Any, services: Services
) -> None:
    """A NUL, a bidi override or a Unicode line break in a cell (quoted or not), a blank or
    combining-only cell, a field past the csv module's limit (quoted or not), bad quoting and
    extra cells are each 422 naming the file's line (2), for bank statements and bank results;
    nothing is recorded."""
    if kind == "statement":
        url, headers = f"{API}/ledger/statements/420582", token("finance_officer")
        header, good = "reference,amount_fen,booked_on,description", "R1,100,2024-03-01,ok"
    else:
        from tests.api.test_bank_api import approved_march

        roll_id, headers, _ids = approved_march(client, token)
        client.post(f"{API}/rolls/{roll_id}/bank-file", headers=headers)
        url, header, good = f"{API}/rolls/{roll_id}/bank-results", "reference,amount_fen,status,reason", "X,1,paid,"  # fmt: skip
    position = services.log_position()
    for line2, rule in (
        ("R2,100,2024-03-01,a\x00b", "text_control_character"),
        ('R2,100,2024-03-01,"a\x00b"', "text_control_character"),
        ("R2,100,2024-03-01,a\u202eb", "text_bidi_override"),
        ('R2,100,2024-03-01,"' + "x" * 200_000 + '"', "csv_format"),
        ('"R2"x,100,2024-03-01,"y"', "csv_format"),
        ("R2,100,2024-03-01," + "x" * 200_000, "csv_format"),
        ('R2,100,2024-03-01,"y",extra,cells', "csv_columns"),
        ("R2,100,2024-03-01,y,extra", "csv_columns"),
        ("R2,100,2024-03-01,a\u2028b", "text_line_break"),
        ("R2,100,2024-03-01,\u3164", "text_blank_character"),
        ("R2,100,2024-03-01,\u0301b", "text_combining_start"),
    ):
        data = f"{header}\n{line2}\n{good}\n".encode()
        response = client.post(url, content=data, headers=headers)
        assert_problem(response, 422, "file", rule)
        assert "line 2" in response.json()["detail"], response.text
    assert services.log_position() == position


@pytest.mark.parametrize(
    "raw",
    [
        b'{"document_ref": "x", "document_ref": "y"}',
        b'{"effective_date": "2024-01-01", "document_ref": "x", "tiers": {"A": 1, "A": 100000},'
        b' "programme": "dibao_urban"}',
    ],
    ids=["top-level", "nested"],
)
def test_a_json_object_naming_a_key_twice_is_refused(
    client: TestClient, token: Any, services: Services, raw: bytes
) -> None:
    """Goal: a body means one thing, not "the last of two values". Method: a key repeated at the
    top level (closing a period) and inside a nested object (a policy's tiers): 422
    ``json_duplicate_key`` naming the body, nothing recorded."""
    headers = token("admin") | {"Content-Type": "application/json", "Idempotency-Key": "dup"}
    url = f"{API}/ledger/periods/420582/2024-03/close" if b"tiers" not in raw else f"{API}/policy/420582/tiers"  # fmt: skip
    position = services.log_position()
    response = client.post(url, content=raw, headers=headers)
    assert_problem(response, 422, "body", "json_duplicate_key")
    assert services.log_position() == position


def test_unknown_routes_and_methods_name_what_was_wrong(client: TestClient, token: Any) -> None:
    """Goal: every problem has ``errors[]``, also those of the HTTP layer. Method: an unknown
    path (404 ``route_exists``), a method the route does not take (405 ``method_allowed``)
    and no credential (401 ``bearer_token`` naming the Authorization header)."""
    admin = token("admin")
    assert_problem(client.get(f"{API}/no-such-thing", headers=admin), 404, "path", "route_exists")
    assert_problem(client.delete(f"{API}/households", headers=admin), 405, "method", "method_allowed")  # fmt: skip
    assert_problem(client.get(f"{API}/households"), 401, "Authorization", "bearer_token")


@pytest.mark.parametrize("value", [1.5, {"x": 1}, [1], "x" * 501, -(2**70)])
def test_a_registry_detail_of_another_type_is_one_error_naming_it(
    client: TestClient, token: Any, services: Services, value: Any
) -> None:
    """Goal: a refused detail is one error naming ``details.<key>`` and the rule it broke, never
    one error per member of a union. Method: a float, an object, a list, a long text and a huge
    negative integer as a death record's detail."""
    from tests.api.test_hostile_findings import registry_body

    admin = token("admin")
    position = services.log_position()
    response = client.post(f"{API}/registry/records", json=registry_body({"note": value}), headers=admin)  # fmt: skip
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["details.note"], errors
    assert errors[0]["rule"] in ("detail_value_type", "string_too_long", "greater_than_equal")
    assert services.log_position() == position
