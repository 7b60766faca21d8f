"""Separation of duties (不相容岗位相互分离) and recusal (回避) through the API, on both backends.

Method: people are staff ids, each holding one or two tokens. For every maker/checker pair the
maker is refused the checking step (403 ``separation_of_duties`` naming the earlier step), with
a second token of the same person too, and the log does not move; a different person of the
right role then succeeds. An official registered as a member's relative (近亲属备案) is refused
every step on that case (403 ``recusal``).
"""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from ops.services.core import Services
from tests.api.conftest import TEKUN_APPLICATION_FIELDS, tekun_applied
from tests.api.test_grants_api import grant_body, setup
from tests.api.test_households_api import API, apply, assert_problem
from tests.api.test_rolls_api import county_with_cases
from tests.factories import approve_body, household_body, id_number, income_body

DOC = {"document_ref": "当民批〔2024〕9号"}
TERMINATE = {"reason": "death", "effective_date": "2024-05-01", **DOC}
REJECT = {"reason": "收入超标", "effective_date": "2024-02-01", **DOC}


def refused(client: TestClient, services: Services, path: str, body: dict[str, Any] | None,
            people: list[dict[str, str]], field: str, rule: str = "separation_of_duties") -> None:  # fmt: skip
    """Each of ``people`` (tokens) is refused ``path`` with 403 naming ``field`` and ``rule``,
    and nothing is recorded."""
    for headers in people:
        before = services.log_position()
        response = client.post(f"{API}{path}", json=body, headers=headers)
        assert_problem(response, 403, field, rule)
        assert response.json()["errors"][0]["rule"] == rule
        assert services.log_position() == before


def ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response


def test_a_case_is_not_decided_by_who_applied_for_it_or_checked_it(
    client: TestClient, token: Any, services: Services
) -> None:
    """Approver 王 applies for one case and 李 (an approver too) records its economic check: neither
    approves or rejects it, with either of their tokens; 张 does. Whoever reassessed the income
    of an active case does not terminate it; 张, who approved it, may."""
    wang, wang_again = token("approver", staff_id="wang"), token("approver", staff_id="wang")
    li, li_again = token("approver", staff_id="li"), token("approver", staff_id="li")
    zhang = token("approver", staff_id="zhang")
    case_id = apply(client, wang, seed=91)
    ok(client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(), headers=li))
    for action, body in (("approve", approve_body()), ("reject", REJECT)):
        path = f"/households/{case_id}/{action}"
        refused(client, services, path, body, [wang, wang_again], "applied_by")
        refused(client, services, path, body, [li, li_again], "checked_by")
    ok(client.post(f"{API}/households/{case_id}/approve", json=approve_body(), headers=zhang))
    trail = client.get(f"{API}/audit/cases/{case_id}", headers=token("auditor")).json()["items"]
    steps = {row["event_type"]: (row["prepared_by"], row["checked_by"], row["approved_by"])
             for row in trail}  # fmt: skip
    assert steps["HouseholdCase.Applied"] == ("wang", None, None)  # 经办人
    assert steps["HouseholdCase.EconomicCheckRecorded"] == (None, "li", None)  # 审核人
    assert steps["HouseholdCase.Approved"] == (None, None, "zhang")  # 审批人
    reassessed = income_body(90_000) | {"effective_date": "2024-04-01"}
    ok(client.post(f"{API}/households/{case_id}/income", json=reassessed, headers=li))
    refused(
        client, services, f"/households/{case_id}/terminate", TERMINATE, [li_again], "checked_by"
    )
    refused(client, services, f"/households/{case_id}/terminate", TERMINATE, [wang], "applied_by")
    ended = ok(client.post(f"{API}/households/{case_id}/terminate", json=TERMINATE, headers=zhang))
    assert ended.json()["status"] == "terminated"


def test_a_grant_is_not_approved_by_its_requester_nor_paid_by_its_approver(
    client: TestClient, token: Any, services: Services
) -> None:
    """Admin 赵 requests a 2,500-yuan grant and cannot approve it; approver 钱 approves and cannot
    pay it, even as an admin with a second credential; finance officer 孙 pays."""
    zhao = token("admin", staff_id="zhao")
    setup(client, zhao)
    qian = token("approver", staff_id="qian")
    qian_admin = token("admin", staff_id="qian")
    grant = ok(client.post(f"{API}/temporary-grants", json=grant_body(250_000), headers=zhao))
    path = f"/temporary-grants/{grant.json()['grant_id']}"
    approval = {"paying_township": "420582001", "effective_date": "2024-03-02", **DOC}
    refused(client, services, f"{path}/approve", approval, [zhao, token("admin", staff_id="zhao")],
            "requested_by")  # fmt: skip
    ok(client.post(f"{API}{path}/approve", json=approval, headers=qian))
    payment = {"posting_date": "2024-03-03"}
    refused(client, services, f"{path}/pay", payment, [qian_admin], "approved_by")
    paid = ok(client.post(f"{API}{path}/pay", json=payment, headers=token("finance_officer")))
    assert paid.json()["status"] == "paid"


def test_a_roll_is_approved_by_another_officer_and_sent_by_a_third(
    client: TestClient, token: Any, services: Services
) -> None:
    """Finance officer 周 generates March's draft and cannot approve it (nor with a second token);
    吴 approves it and cannot take its bank file; 周 (who did not approve) sends it."""
    county_with_cases(client, token("admin"))
    zhou, zhou_again = (
        token("finance_officer", staff_id="zhou"),
        token("finance_officer", staff_id="zhou"),
    )
    wu = token("finance_officer", staff_id="wu")
    roll = ok(client.post(f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"},
                          headers=zhou)).json()["roll_id"]  # fmt: skip
    refused(client, services, f"/rolls/{roll}/approve", None, [zhou, zhou_again], "generated_by")
    ok(client.post(f"{API}/rolls/{roll}/approve", headers=wu))
    refused(client, services, f"/rolls/{roll}/bank-file", None, [wu], "approved_by")
    sent = ok(client.post(f"{API}/rolls/{roll}/bank-file", headers=zhou_again))
    assert sent.content.startswith(b"reference")


def test_a_roll_regenerated_by_another_officer_is_theirs_to_leave_alone(
    client: TestClient, token: Any, services: Services
) -> None:
    """The person who generated the *current* draft is the one who cannot approve: 周 generates,
    吴 regenerates, so 周 may approve and 吴 may not."""
    county_with_cases(client, token("admin"))
    zhou, wu = token("finance_officer", staff_id="zhou"), token("finance_officer", staff_id="wu")
    body = {"county_code": "420582", "month": "2024-03"}
    roll = ok(client.post(f"{API}/rolls", json=body, headers=zhou)).json()["roll_id"]
    ok(client.post(f"{API}/rolls", json=body, headers=wu))
    refused(client, services, f"/rolls/{roll}/approve", None, [wu], "generated_by")
    ok(client.post(f"{API}/rolls/{roll}/approve", headers=zhou))


def test_no_one_issues_a_credential_for_themselves(
    client: TestClient, token: Any, services: Services
) -> None:
    """Admin 郑 cannot issue a credential (of any role) naming their own staff id; a credential of
    a role that prepares or approves must name a staff id (422); 郑 issues one for 冯."""
    zheng = token("admin", staff_id="zheng")
    for role in ("admin", "finance_officer", "auditor"):
        body = {"role": role, "region_scope": "420582", "staff_id": "zheng"}
        refused(client, services, "/credentials", body, [zheng], "staff_id")
    before = services.log_position()
    missing = client.post(f"{API}/credentials", json={"role": "approver", "region_scope": "420582"},
                          headers=zheng)  # fmt: skip
    assert_problem(missing, 422, "staff_id", "staff_id_required")
    assert services.log_position() == before
    issued = ok(client.post(f"{API}/credentials", headers=zheng,
                            json={"role": "approver", "region_scope": "420582", "staff_id": "feng"}))  # fmt: skip
    assert issued.json()["staff_id"] == "feng"


def relative_of(official: str, id_number: str) -> dict[str, Any]:
    return {"kind": "cadre_relative", "source": "纪委近亲属备案", "source_ref": f"R-{official}",
            "id_number": id_number, "region_code": "420582001000", "effective_date": "2024-01-01",
            "details": {"staff_id": official, "relation": "兄弟"}}  # fmt: skip


def test_an_official_related_to_a_member_recuses_from_the_case(
    client: TestClient, token: Any, services: Services
) -> None:
    """Case worker 陈 is registered as a relative of the second member of a household: 陈 cannot
    apply for it, record its check or (as an approver too) decide on it — any of 陈's tokens — and
    a grant to that member is neither requested nor approved by 陈; 褚 and 魏, unrelated, do."""
    body = household_body("420582001000", members=3, seed=93)
    relative = body["members"][1]["id_number"]
    admin = token("admin", staff_id="admin-1")
    ok(client.post(f"{API}/registry/records", json=relative_of("chen", relative), headers=admin))
    chen, chen_approver = token("case_worker", staff_id="chen"), token("approver", staff_id="chen")
    chu, wei = token("case_worker", staff_id="chu"), token("approver", staff_id="wei")
    refused(client, services, "/households", body, [chen, chen_approver], "staff_id", "recusal")
    case_id = ok(client.post(f"{API}/households", json=body, headers=chu)).json()["case_id"]
    check = f"/households/{case_id}/economic-checks"
    refused(client, services, check, income_body(), [chen], "staff_id", "recusal")
    ok(client.post(f"{API}{check}", json=income_body(), headers=token("case_worker")))
    refused(client, services, f"/households/{case_id}/approve", approve_body(), [chen_approver],
            "staff_id", "recusal")  # fmt: skip
    ok(client.post(f"{API}/households/{case_id}/approve", json=approve_body(), headers=wei))
    setup(client, admin)
    grant = grant_body(100_000, id_number=relative, region_code="420582001000")
    refused(client, services, "/temporary-grants", grant, [chen], "staff_id", "recusal")
    grant_id = ok(client.post(f"{API}/temporary-grants", json=grant, headers=chu)).json()[
        "grant_id"
    ]
    approval = {"paying_township": "420582001", "effective_date": "2024-03-02", **DOC}
    refused(client, services, f"/temporary-grants/{grant_id}/approve", approval, [chen_approver],
            "staff_id", "recusal")  # fmt: skip


def test_a_relatives_record_names_the_official(
    client: TestClient, token: Any, services: Services
) -> None:
    """A cadre_relative record without ``details.staff_id`` says nothing recusal can use: 422."""
    record = relative_of("x", household_body(seed=94)["members"][0]["id_number"])
    record["details"] = {"relation": "兄弟"}
    admin = token("admin")
    before = services.log_position()
    response = client.post(f"{API}/registry/records", json=record, headers=admin)
    assert_problem(response, 422, "details.staff_id", "official_staff_id")
    assert services.log_position() == before


def test_an_official_related_to_a_tekun_person_recuses_from_their_case(
    client: TestClient, token: Any, services: Services
) -> None:
    """Approver 蒋 is registered as a relative of 赵老: 蒋 neither approves 赵老 as a 特困 person
    nor, once 沈 has, reassesses or terminates the case."""
    admin = token("admin", staff_id="admin-2")
    county_with_cases(client, admin)
    person = id_number(sequence=731)
    ok(client.post(f"{API}/registry/records", json=relative_of("jiang", person), headers=admin))
    jiang, shen = token("approver", staff_id="jiang"), token("approver", staff_id="shen")
    body = {"region_code": "420582101000", "id_number": person, "name": "赵老", "mode": "dispersed",
            "care_level": "partial", "payee_account": "6217003312345678", "payee_name": "赵老",
            "start_month": "2024-01", "effective_date": "2023-12-20", **DOC}  # fmt: skip
    body = tekun_applied(client, admin, body)
    refused(client, services, "/tekun", body, [jiang], "staff_id", "recusal")
    case_id = ok(client.post(f"{API}/tekun", json=body, headers=shen)).json()["case_id"]
    care = {"care_level": "none", "effective_date": "2024-02-01", **DOC}
    refused(client, services, f"/tekun/{case_id}/care-level", care, [jiang], "staff_id", "recusal")
    refused(
        client, services, f"/tekun/{case_id}/terminate", TERMINATE, [jiang], "staff_id", "recusal"
    )
    ok(client.post(f"{API}/tekun/{case_id}/terminate", json=TERMINATE, headers=shen))


def test_a_tekun_person_is_not_approved_or_terminated_by_who_applied(
    client: TestClient, token: Any, services: Services
) -> None:
    """Approver 王 records 赵老's 特困 application and cannot approve it (either token) nor, once
    李 has approved it, terminate the support; 李 does both. The approval names the application,
    which is approved once."""
    wang, wang_again = token("approver", staff_id="wang"), token("approver", staff_id="wang")
    li = token("approver", staff_id="li")
    body = {"region_code": "420582101000", "id_number": id_number(sequence=741), "name": "赵老",
            "mode": "dispersed", "care_level": "partial", "payee_account": "6217003312345678",
            "payee_name": "赵老", "start_month": "2024-01", "effective_date": "2023-12-20", **DOC}  # fmt: skip
    fields = {name: body[name] for name in TEKUN_APPLICATION_FIELDS}
    applied = ok(client.post(f"{API}/tekun/applications", json=fields, headers=wang))
    approval = body | {"application_id": applied.json()["application_id"]}
    refused(client, services, "/tekun", approval, [wang, wang_again], "applied_by")
    other = body | {"id_number": id_number(sequence=742)} | approval
    assert_problem(client.post(f"{API}/tekun", json=other | {"id_number": id_number(sequence=742)},
                               headers=li), 422, "application_id", "application_mismatch")  # fmt: skip
    case_id = ok(client.post(f"{API}/tekun", json=approval, headers=li)).json()["case_id"]
    refused(client, services, f"/tekun/{case_id}/terminate", TERMINATE, [wang_again], "applied_by")
    ended = ok(client.post(f"{API}/tekun/{case_id}/terminate", json=TERMINATE, headers=li))
    assert ended.json()["status"] == "terminated"


def test_an_officer_related_to_a_payee_recuses_from_the_roll(
    client: TestClient, token: Any, services: Services
) -> None:
    """Finance officer 秦 is registered as a relative of 赵老, a 特困 person on March's roll: 秦
    neither approves the roll nor takes its bank file (403 ``recusal`` naming 赵老's line); 吴
    approves and 周, who generated it, sends it."""
    admin = token("admin", staff_id="admin-3")
    cases = county_with_cases(client, admin)
    ok(client.post(f"{API}/registry/records", json=relative_of("qin", id_number(sequence=700)),
                   headers=admin))  # fmt: skip
    zhou, wu = token("finance_officer", staff_id="zhou"), token("finance_officer", staff_id="wu")
    qin = token("finance_officer", staff_id="qin")
    roll = ok(client.post(f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"},
                          headers=zhou)).json()["roll_id"]  # fmt: skip
    lines = client.get(f"{API}/rolls/{roll}/lines", headers=wu).json()["items"]
    (line,) = [item["line_no"] for item in lines if item["case_id"] == cases["t"]]
    refused(client, services, f"/rolls/{roll}/approve", None, [qin], f"lines[{line}].case_id",
            "recusal")  # fmt: skip
    ok(client.post(f"{API}/rolls/{roll}/approve", headers=wu))
    refused(client, services, f"/rolls/{roll}/bank-file", None, [qin], f"lines[{line}].case_id",
            "recusal")  # fmt: skip
    ok(client.post(f"{API}/rolls/{roll}/bank-file", headers=zhou))


def test_a_county_with_one_finance_officer_names_a_deputy_in_policy(
    client: TestClient, token: Any, services: Services
) -> None:
    """当阳 has one finance officer, 周, who generates the roll. The county approver 冯 may not
    approve it until a ``roll_deputy`` fact names 冯; then 冯's approval records that fact, and
    周 (not the approver) sends the bank file. An approver not named stays refused."""
    admin = token("admin", staff_id="admin-4")
    county_with_cases(client, admin)
    zhou = token("finance_officer", staff_id="zhou")
    feng, wei = token("approver", staff_id="feng"), token("approver", staff_id="wei")
    roll = ok(client.post(f"{API}/rolls", json={"county_code": "420582", "month": "2024-03"},
                          headers=zhou)).json()["roll_id"]  # fmt: skip
    refused(client, services, f"/rolls/{roll}/approve", None, [feng], "role",
            "permission:roll.approve")  # fmt: skip
    deputy = {"staff_id": "feng", "effective_date": "2024-01-01", **DOC}
    ok(client.post(f"{API}/policy/420582/roll-deputies", json=deputy, headers=admin))
    refused(client, services, f"/rolls/{roll}/approve", None, [wei], "role",
            "permission:roll.approve")  # fmt: skip
    approved = ok(client.post(f"{API}/rolls/{roll}/approve", headers=feng)).json()
    assert approved["status"] == "approved"
    assert approved["deputy_policy"].startswith("RegionPolicy.RollDeputySet#")
    ok(client.post(f"{API}/rolls/{roll}/bank-file", headers=zhou))
    xlsx = ok(client.get(f"{API}/rolls/{roll}/xlsx", headers=zhou))
    summary = load_workbook(io.BytesIO(xlsx.content), read_only=True)["汇总 summary"]
    people = {row[0]: row[1] for row in summary.iter_rows(values_only=True) if row and row[0]}
    assert people["经办人 prepared by"] == "zhou"
    assert people["审批人 approved by"] == f"feng (deputy: {approved['deputy_policy']})"
    assert people["发放经办人 bank file sent by"] == "zhou"


def test_decisions_taken_before_a_relation_was_registered_are_listed_for_review(
    client: TestClient, token: Any, services: Services
) -> None:
    """Approver 陶 approved a household in March; in June 陶 is registered as a relative of its
    second member. The review list names 陶's approval and the record (and not the application,
    which 柏 prepared); another county's auditor sees nothing of it."""
    bai, tao = token("approver", staff_id="bai"), token("approver", staff_id="tao")
    body = household_body("420582001000", members=3, seed=95)
    case_id = ok(client.post(f"{API}/households", json=body, headers=bai)).json()["case_id"]
    ok(client.post(f"{API}/households/{case_id}/economic-checks", json=income_body(), headers=bai))
    ok(client.post(f"{API}/households/{case_id}/approve", json=approve_body(), headers=tao))
    auditor = token("auditor")
    assert client.get(f"{API}/audit/recusal-review", headers=auditor).json()["items"] == []
    record = ok(client.post(f"{API}/registry/records", headers=token("admin"),
                            json=relative_of("tao", body["members"][1]["id_number"])))  # fmt: skip
    items = client.get(f"{API}/audit/recusal-review", headers=auditor).json()["items"]
    assert [(i["event_type"], i["official_staff_id"], i["approved_by"], i["originator_id"],
             i["record_id"]) for i in items] == [
        ("HouseholdCase.Approved", "tao", "tao", case_id, record.json()["record_id"])]  # fmt: skip
    elsewhere = token("auditor", "420581")
    assert client.get(f"{API}/audit/recusal-review", headers=elsewhere).json()["items"] == []
