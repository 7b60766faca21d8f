"""A special auditor's period bounds every read, at both ends.

Method: 当阳市 records two of everything — a household case, a 特困 person, a registry record,
a temporary grant, a roll, a ledger posting, policy facts — one dated in the first half of
2024 and one in the second. Two special auditors of the county hold the two halves as their
periods (the second half's runs on into the future, so what was recorded today is known to it).
For every GET route of the application (enumerated from the app: a new read route without a row
here fails) and the one read by POST, the row's check shows each auditor exactly its own half:
lists hold only records dated in the period, one record outside it is not found, a month
outside it is 403 ``audit_period``, a range is clipped to it.

The semantics: a case is in the period if it was open at some time in it (applied by its end,
not ended before its start); a grant by its request's effective date; a registry record, a
policy fact, an audit-trail event by its effective date; a roll and a reconciliation by their
month; a statement's entries by posting date; balances are those at the period's end; what was
recorded after the period's end is never known (``as_of``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import colleague, tekun_applied
from tests.api.test_households_api import API, assert_problem
from tests.api.test_rolls_api import POLICY
from tests.api.test_scope_table import app_routes, ok, raise_body
from tests.conftest import COUNTY
from tests.factories import household_body, id_number

C = COUNTY
DOC = {"document_ref": "当民发〔2024〕11号"}
FIRST, SECOND = "2024-03", "2024-09"  # months of the first and the second half's records
HALVES = {"early": ("2024-01-01", "2024-06-30"), "late": ("2024-07-01", "2099-12-31")}
MONTH_OF = {"early": FIRST, "late": SECOND}
World = dict[str, Any]
Auditors = dict[str, dict[str, str]]


def on(month: str, day: int = 1) -> dict[str, str]:
    return {"effective_date": f"{month}-{day:02d}", **DOC}


def build_world(client: TestClient, token: Callable[..., dict[str, str]]) -> World:
    """Two records of each kind, the first dated in 2024's first half, the second in its second."""
    admin, finance = token("admin", staff_id="period-admin"), token("finance_officer")
    for path, body in POLICY:
        ok(client.post(f"{API}/policy/{C}/{path}", json=body | DOC, headers=admin))
    world: World = {"admin": admin}
    for half, month in (("early", FIRST), ("late", SECOND)):
        body = {"programme": "dibao_urban", "amount_fen": 70_000 + int(month[-2:]), **on(month)}
        ok(client.post(f"{API}/policy/{C}/standards", json=body, headers=admin))
        household = household_body(f"{C}001000", seed=40) | on(month)  # the same people twice
        world[f"case_{half}"] = ok(client.post(f"{API}/households", json=household, headers=admin))["case_id"]  # fmt: skip
        tekun = {"region_code": f"{C}101000", "id_number": id_number(sequence=600), "name": "赵老",
                 "mode": "dispersed", "care_level": "partial", "payee_account": "6217003312345678",
                 "payee_name": "赵老", "start_month": month, **on(month)}  # fmt: skip
        world[f"tekun_{half}"] = ok(
            client.post(f"{API}/tekun", json=tekun_applied(client, admin, tekun), headers=admin)
        )["case_id"]
        record = {"kind": "vehicle", "source": "公安", "source_ref": f"V-{half}", "region_code": C,
                  "id_number": id_number(sequence=500), "effective_date": f"{month}-02"}  # fmt: skip
        world[f"record_{half}"] = ok(client.post(f"{API}/registry/records", json=record, headers=admin))["record_id"]  # fmt: skip
        grant = {"region_code": C, "occurred_in": f"{C}001000", "id_number": id_number(sequence=400),
                 "name": "过路人", "grant_type": "urgent", "amount_fen": 10_000, "reason": "急救",
                 **on(month, 2)}  # fmt: skip
        world[f"grant_{half}"] = ok(client.post(f"{API}/temporary-grants", json=grant, headers=admin))["grant_id"]  # fmt: skip
        posting = raise_body(f"clearing:{C}:bank", f"source:{C}:central") | {
            "posting_date": f"{month}-05"
        }
        ok(client.post(f"{API}/ledger/transactions", json=posting, headers=finance | {"Idempotency-Key": half}))  # fmt: skip
        roll = client.post(f"{API}/rolls", json={"county_code": C, "month": month}, headers=finance)
        world[f"roll_{half}"] = ok(roll)["roll_id"]
        if half == "early":  # the first half's cases end in it: the second half never sees them
            reason = {"reason": "不符合条件", **on(FIRST[:5] + "05")}
            ok(client.post(f"{API}/households/{world['case_early']}/reject", json=reason, headers=colleague(client, admin)))  # fmt: skip
            ended = {"reason": "death", **on(FIRST[:5] + "05")}
            ok(client.post(f"{API}/tekun/{world['tekun_early']}/terminate", json=ended, headers=colleague(client, admin)))  # fmt: skip
    # A misuse finding dated in each half: a household rejected today with a date in the half
    # (a back-dated decision, dated by its effective date).
    for half, month in (("early", FIRST), ("late", SECOND)):
        household = household_body(f"{C}001000", seed=42 if half == "early" else 43) | on(month)
        case = ok(client.post(f"{API}/households", json=household, headers=admin))["case_id"]
        rejected = {"reason": "不符合条件", **on(month, 6)}
        ok(client.post(f"{API}/households/{case}/reject", json=rejected, headers=colleague(client, admin)))  # fmt: skip
    found = ok(get(client, "/findings", token("auditor")))["items"]
    for half in HALVES:
        world[f"finding_{half}"] = next(f["finding_id"] for f in found if in_half(half, f["dated"]))
    return world


def auditors(token: Callable[..., dict[str, str]]) -> Auditors:
    return {half: token("special_auditor", expires_at="2099-12-31T00:00:00+00:00",
                        period_from=first, period_to=last)
            for half, (first, last) in HALVES.items()}  # fmt: skip


def other(half: str) -> str:
    return "late" if half == "early" else "early"


def in_half(half: str, day: str) -> bool:
    first, last = HALVES[half]
    return first <= day[:10] <= last


def get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    return client.get(f"{API}{path}", headers=headers, params=params)


def one_each(
    client: TestClient, world: World, who: Auditors, noun: str, path: str, field: str
) -> None:
    """A single record: found by its own half's auditor, not found by the other's."""
    for half in HALVES:
        assert get(client, path.format(world[f"{noun}_{half}"]), who[half]).status_code == 200
        assert_problem(
            get(client, path.format(world[f"{noun}_{other(half)}"]), who[half]), 404, field
        )


def listed(client: TestClient, who: Auditors, path: str, key: str, world: World, noun: str) -> None:
    """A list: each auditor's holds its own half's record and not the other's."""
    for half in HALVES:
        found = {item[key] for item in ok(get(client, path, who[half]))["items"]}
        assert world[f"{noun}_{half}"] in found and world[f"{noun}_{other(half)}"] not in found, (
            path,
            half,
        )


def policy_standard(client: TestClient, world: World, who: Auditors) -> None:
    for half in HALVES:
        outside = get(client, f"/policy/{C}/standard", who[half], programme="dibao_urban",
                      month=MONTH_OF[other(half)])  # fmt: skip
        assert_problem(outside, 403, "month", "audit_period")
    late = ok(
        get(client, f"/policy/{C}/standard", who["late"], programme="dibao_urban", month=SECOND)
    )
    assert late["set_by"]["effective_date"] == f"{SECOND}-01"


def dated_items(client: TestClient, path: str, who: Auditors, date_key: str, **params: Any) -> None:
    """Every item an auditor gets is dated in its period; the late one (which knows today's
    records) gets some."""
    for half in HALVES:
        items = ok(get(client, path, who[half], **params))["items"]
        dates = [item[date_key] or item["recorded_at"] for item in items]  # undated: recorded
        assert all(in_half(half, day) for day in dates), (path, half, items)
    assert ok(get(client, path, who["late"], **params))["items"], path


def case_trail(client: TestClient, world: World, who: Auditors) -> None:
    one_each(client, world, who, "case", "/audit/cases/{}", "case_id")
    for half in HALVES:
        items = ok(get(client, f"/audit/cases/{world[f'case_{half}']}", who[half]))["items"]
        assert all(in_half(half, item["effective_date"] or item["recorded_at"]) for item in items)


def person_trail(client: TestClient, who: Auditors) -> None:
    person = {"id_number": household_body(seed=40)["members"][0]["id_number"]}
    for half in HALVES:
        items = ok(client.post(f"{API}/audit/persons/search", json=person, headers=who[half]))[
            "items"
        ]
        assert all(in_half(half, item["effective_date"] or item["recorded_at"]) for item in items)
    late = ok(client.post(f"{API}/audit/persons/search", json=person, headers=who["late"]))["items"]
    assert late


def statement(client: TestClient, who: Auditors) -> None:
    for half in HALVES:
        items = ok(get(client, f"/ledger/accounts/clearing:{C}:bank/statement", who[half]))["items"]
        assert [item["posting_date"] for item in items] == [f"{MONTH_OF[half]}-05"]
    assert ok(get(client, f"/ledger/accounts/clearing:{C}:bank/statement", who["late"]))["items"][0]["balance_fen"] == 200  # fmt: skip


def balances(client: TestClient, who: Auditors) -> None:
    """Balances at the end of the period: the first half's posting only, then both."""
    for half, fen in (("early", 100), ("late", 200)):
        items = {
            i["account"]: i["balance_fen"]
            for i in ok(get(client, "/ledger/balances", who[half]))["items"]
        }
        assert items[f"clearing:{C}:bank"] == fen, (half, items)


def reconciliation(client: TestClient, who: Auditors) -> None:
    for half in HALVES:
        assert (
            get(client, f"/ledger/reconciliation/{C}/{MONTH_OF[half]}", who[half]).status_code
            == 200
        )
        outside = get(client, f"/ledger/reconciliation/{C}/{MONTH_OF[other(half)]}", who[half])
        assert_problem(outside, 403, "month", "audit_period")


def statistics(client: TestClient, who: Auditors) -> None:
    clipped = ok(get(client, "/statistics", who["early"], **{"from": "2023-01", "to": "2024-12"}))
    assert (clipped["from"], clipped["to"]) == ("2024-01", "2024-06")
    assert_problem(get(client, "/statistics", who["early"], **{"from": "2024-07", "to": "2024-12"}),
                   403, "from", "audit_period")  # fmt: skip


def timelines(client: TestClient, world: World, who: Auditors, kind: str, noun: str) -> None:
    one_each(client, world, who, noun, f"/{kind}/{{}}/timeline", "case_id")
    for half in HALVES:
        items = ok(get(client, f"/{kind}/{world[f'{noun}_{half}']}/timeline", who[half]))["items"]
        assert items and all(in_half(half, item["effective_date"]) for item in items)


def rolls_files(client: TestClient, world: World, who: Auditors, suffix: str) -> None:
    one_each(client, world, who, "roll", "/rolls/{}" + suffix, "roll_id")


def findings(client: TestClient, world: World, who: Auditors) -> None:
    """Findings by the date of what they found; asking for dates outside the period is 403."""
    listed(client, who, "/findings", "finding_id", world, "finding")
    dated_items(client, "/findings", who, "dated")
    for half in HALVES:
        first = HALVES[other(half)][0]
        assert_problem(get(client, "/findings", who[half], **{"from": first, "to": first}), 403,
                       "from", "audit_period")  # fmt: skip


def inclusion(client: TestClient, world: World, who: Auditors) -> None:
    """An inclusion proof by case and version: only for a case of the auditor's own half."""
    for half in HALVES:
        path = "/audit/proofs/inclusion"
        mine = get(client, path, who[half], case_id=world[f"case_{half}"], version=1)
        assert ok(mine)["leaf_index"] >= 0
        theirs = get(client, path, who[half], case_id=world[f"case_{other(half)}"], version=1)
        assert_problem(theirs, 404, "case_id")


def export(client: TestClient, who: Auditors) -> None:
    """The special-audit package: of months in the period only."""
    for half in HALVES:
        month = MONTH_OF[half]
        assert (
            get(client, "/audit/export", who[half], **{"from": month, "to": month}).status_code
            == 200
        )
        wrong = MONTH_OF[other(half)]
        answer = get(client, "/audit/export", who[half], **{"from": wrong, "to": wrong})
        assert_problem(answer, 403, "", "audit_period")


def recusal_review(client: TestClient, world: World, who: Auditors) -> None:
    """The admin who applied for both households is registered (today) as a relative of their
    head: the second half's auditor sees only the second case's application for review; the
    first half's auditor, whose period ended before the registration was recorded, nothing."""
    head = household_body(f"{C}001000", seed=40)["members"][0]["id_number"]
    record = {"kind": "cadre_relative", "source": "纪委近亲属备案", "source_ref": "R-period",
              "id_number": head, "region_code": f"{C}001000", "effective_date": "2024-12-01",
              "details": {"staff_id": "period-admin", "relation": "兄弟"}}  # fmt: skip
    client.post(f"{API}/registry/records", json=record, headers=world["admin"])
    found = {half: {item["originator_id"] for item in ok(get(client, "/audit/recusal-review", who[half]))["items"]}
             for half in HALVES}  # fmt: skip
    assert found == {"early": set(), "late": {world["case_late"]}}, found


Check = Callable[[TestClient, World, Auditors], None]
READS: dict[str, Check] = {
    "/policy/{region_code}/standard": policy_standard,
    "/policy/{region_code}/facts": lambda c, w, a: dated_items(c, f"/policy/{C}/facts", a, "effective_date"),
    "/households": lambda c, w, a: listed(c, a, "/households", "case_id", w, "case"),
    "/households/{case_id}": lambda c, w, a: one_each(c, w, a, "case", "/households/{}", "case_id"),
    "/households/{case_id}/timeline": lambda c, w, a: timelines(c, w, a, "households", "case"),
    "/tekun": lambda c, w, a: listed(c, a, "/tekun", "case_id", w, "tekun"),
    "/tekun/{case_id}": lambda c, w, a: one_each(c, w, a, "tekun", "/tekun/{}", "case_id"),
    "/tekun/{case_id}/timeline": lambda c, w, a: timelines(c, w, a, "tekun", "tekun"),
    "/registry/records": lambda c, w, a: listed(c, a, "/registry/records", "record_id", w, "record"),
    "/audit/cases/{case_id}": case_trail,
    "/audit/persons/search": lambda c, w, a: person_trail(c, a),
    "/audit/policy/{region_code}": lambda c, w, a: dated_items(c, f"/audit/policy/{C}", a, "effective_date"),
    "/audit/accounts/{account}": lambda c, w, a: dated_items(c, f"/audit/accounts/clearing:{C}:bank", a, "effective_date"),
    "/rolls": lambda c, w, a: listed(c, a, "/rolls", "roll_id", w, "roll"),
    "/rolls/{roll_id}": lambda c, w, a: rolls_files(c, w, a, ""),
    "/rolls/{roll_id}/lines": lambda c, w, a: rolls_files(c, w, a, "/lines"),
    "/rolls/{roll_id}/xlsx": lambda c, w, a: rolls_files(c, w, a, "/xlsx"),
    "/rolls/{roll_id}/disclosure": lambda c, w, a: rolls_files(c, w, a, "/disclosure"),
    "/ledger/balances": lambda c, w, a: balances(c, a),
    "/ledger/accounts/{account}/statement": lambda c, w, a: statement(c, a),
    "/ledger/reconciliation/{county_code}/{month}": lambda c, w, a: reconciliation(c, a),
    "/temporary-grants": lambda c, w, a: listed(c, a, "/temporary-grants", "grant_id", w, "grant"),
    "/temporary-grants/{grant_id}": lambda c, w, a: one_each(c, w, a, "grant", "/temporary-grants/{}", "grant_id"),
    "/statistics": lambda c, w, a: statistics(c, a),
    "/audit/proofs/inclusion": inclusion,
    "/audit/export": lambda c, w, a: export(c, a),
    "/audit/recusal-review": recusal_review,  # last: it registers a relative
    "/findings": findings,
    "/findings/{finding_id}": lambda c, w, a: one_each(c, w, a, "finding", "/findings/{}", "finding_id"),
}  # fmt: skip
# Reads that are no one's records: the service's health, and the log's signed checkpoints (the
# latest and those issued before) and consistency proofs (hashes of the whole log, which every
# auditor and witness may hold).
UNSCOPED = {"/health", "/audit/checkpoint", "/audit/checkpoints", "/audit/checkpoints/{tree_size}",
            "/audit/proofs/consistency"}  # fmt: skip


def test_every_read_keeps_a_special_auditor_to_its_period(client: TestClient, token: Any) -> None:
    """Each row of the table, for both auditors."""
    from tests.api.test_scope_table import READS_BY_POST

    assert app_routes(client, "get") - UNSCOPED | READS_BY_POST == set(READS), "a read has no row"
    world = build_world(client, token)
    who = auditors(token)
    failures = []
    for path, check in READS.items():
        try:
            check(client, world, who)
        except AssertionError as failure:
            failures.append(f"{path}: {failure}")
    assert not failures, "\n".join(failures)
