"""Loading the demo county (``doudi demo``, ``make run``): its people, policy, households,
特困 persons, later decisions, rolls, ledger and a grant, every write through ``Services.execute``.
The county's data itself comes from ``ops/demo.py``."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

from domain.access import Principal
from domain.household import HouseholdCase
from ops.demo import COUNTY, TOWNSHIPS, demo_id_number, demo_name, policy_facts, roster_csv
from ops.services.access import RecordRegistryEntry
from ops.services.cases import HOUSEHOLD_DECISIONS, ApplyTekun, ApproveTekun
from ops.services.core import Command, Services
from ops.services.importer import import_households
from ops.services.policy import SetPolicy

DEMO_PEOPLE = {
    "admin": "admin",
    "case_worker": "case_worker",
    "approver": "approver",
    "finance_officer": "finance_officer",
    "finance_officer_2": "finance_officer",
    "auditor": "auditor",
}


def load_demo(
    services: Services,
    households: int = 300,
    tekun: int = 40,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Load the demo county; returns tokens for each role (shown to the person running ``make run``)."""
    rng = random.Random(7)
    # One person per role (staff id ``demo-<role>``), and a second finance officer who approves
    # the rolls the first generates (separation of duties).
    tokens = {
        name: services.issue_credential(
            "demo", role=role, region_scope=COUNTY, label=f"demo {name}", staff_id=f"demo-{name}"
        )
        for name, role in DEMO_PEOPLE.items()
    }
    people = {name: Principal(tokens[name][0], role, COUNTY, staff_id=f"demo-{name}")
              for name, role in DEMO_PEOPLE.items()}  # fmt: skip
    admin = people["admin"]
    for kind, fields in policy_facts():
        _execute(services, admin, SetPolicy(region_code=COUNTY, kind=kind, fields=fields))
    report = import_households(
        services, io.StringIO(roster_csv(households)), admin.credential_id, progress
    )
    _later_decisions(services, admin, rng)
    for number in range(tekun):
        mode = "centralized" if number % 3 == 0 else "dispersed"
        fields = {
            "region_code": rng.choice(TOWNSHIPS),
            "id_number": demo_id_number(rng),
            "name": demo_name(rng),
            "mode": mode,
            "care_level": rng.choice(["full_self_care", "partial", "none"]),
            "institution": {"name": "当阳市社会福利院", "account_number": "4200123456789012"}
            if mode == "centralized"
            else None,
            "payee_account": None
            if mode == "centralized"
            else f"62170033{rng.randint(10**10, 10**11 - 1)}",
            "payee_name": None if mode == "centralized" else "本人",
            "start_month": "2022-05",
            "effective_date": "2022-04-20",
            "document_ref": f"当特批〔2022〕{number}号",
        }
        applied = {name: fields[name] for name in ("region_code", "id_number", "name",
                                                   "effective_date", "document_ref")}  # fmt: skip
        application = _execute(services, people["case_worker"], ApplyTekun(**applied))
        _execute(
            services, admin, ApproveTekun(**fields, application_id=application["application_id"])
        )
    _demo_rolls(services, people)
    services.projections.catch_up()
    return {
        "households": report.households,
        "events": services.log_position(),
        "tokens": {role: token for role, (_cid, token) in tokens.items()},
    }


def _execute(services: Services, principal: Principal, command: Command) -> dict[str, Any]:
    """Run a command as the API and the command line do (``Services.execute``, no key)."""
    return services.execute(principal, None, "", command).response


def _later_decisions(services: Services, admin: Principal, rng: random.Random) -> None:
    """Suspensions, gradual exits, terminations and a late death record on some demo cases."""
    services.projections.catch_up()
    cases, _next = services.case_state.search(
        scope_prefix=COUNTY,
        kind="household",
        region_prefix=None,
        status="active",
        programme=None,
        limit=60,
    )
    for index, case in enumerate(cases[:30]):
        action, fields = [
            (
                "suspend",
                {
                    "reason": "未按期复核",
                    "effective_date": "2022-09-01",
                    "document_ref": "当民停〔2022〕1号",
                },
            ),
            (
                "gradual-exit",
                {"months": 6, "effective_date": "2022-10-01", "document_ref": "当民退〔2022〕2号"},
            ),
            (
                "terminate",
                {
                    "reason": "income_above_standard",
                    "effective_date": "2022-11-01",
                    "document_ref": "当民停〔2022〕3号",
                },
            ),
        ][index % 3]
        _execute(services, admin, HOUSEHOLD_DECISIONS[action](case_id=case["case_id"], **fields))
    dead = services.load(HouseholdCase, cases[-1]["case_id"])
    death = RecordRegistryEntry(
        kind="death",
        source="公安户籍",
        source_ref=f"D-2022-{rng.randint(1000, 9999)}",
        id_number=dead.head_id_number,
        region_code=dead.region_code,
        effective_date="2022-08-03",
        details={"note": "死亡注销户口"},
    )
    _execute(services, admin, death)


def _demo_rolls(services: Services, people: dict[str, Principal]) -> None:
    """June 2022 approved, July 2022 as a draft: the roll screens have something to show. The
    county's pools are funded for what June's draft pays, whatever the demo's size."""
    from ops.services.roll_commands import ApproveRoll, GenerateRoll

    finance = people["finance_officer"]
    june = _execute(services, finance, GenerateRoll(county_code=COUNTY, month="2022-06"))
    _demo_ledger(services, finance, people["finance_officer_2"],
                 _pool_needs(services, june["roll_id"]))  # fmt: skip
    _demo_grant(services, people)
    _execute(services, people["finance_officer_2"], ApproveRoll(roll_id=june["roll_id"]))
    _execute(services, finance, GenerateRoll(county_code=COUNTY, month="2022-07"))


def _pool_needs(services: Services, roll_id: str) -> dict[str, int]:
    """What a roll's approval reserves from each of the county's pools, in fen."""
    from domain.roll import PaymentRoll
    from ops.services.ledger import pool_group

    roll = services.load(PaymentRoll, roll_id)
    needs: dict[str, int] = {}
    for programme, bucket in roll.totals.get("by_programme", {}).items():
        needs[pool_group(programme)] = needs.get(pool_group(programme), 0) + bucket["amount_fen"]
    return needs


def funded(need_fen: int, floor_fen: int) -> int:
    """An allocation covering ``need_fen`` with a fifth to spare, in whole 10,000 yuan, never
    below the demo's usual figure (so a small demo's books read as they always have)."""
    step = 1_000_000
    return max(floor_fen, -(-(need_fen * 6 // 5) // step) * step)


def _demo_ledger(
    services: Services, finance: Principal, checker: Principal, needs: dict[str, int]
) -> None:
    """Central, provincial and county funds raised and allocated to the county's pools (rolls
    reserve from them); each keeps its funding source down to the payments. A posting above the
    confirmation threshold (a large demo's) is proposed by one officer and confirmed by the
    other."""
    from ops.services.ledger import ConfirmPosting, PostTransaction

    def line(account: str, debit: int, credit: int, source: str) -> dict[str, Any]:
        return {"account": account, "debit_fen": debit, "credit_fen": credit, "source": source}

    dibao = funded(needs.get("dibao", 0), 300_000_000)
    tekun = funded(needs.get("tekun", 0), 150_000_000)
    central = dibao + 100_000_000
    meta = {"document_ref": "当财社〔2022〕8号", "description": "demo"}
    postings = [
        ("demo-raise-central", "raise", "2022-05-10", [line(f"clearing:{COUNTY}:bank", central, 0, "central"),
                                                       line(f"source:{COUNTY}:central", 0, central, "central")]),
        ("demo-raise-province", "raise", "2022-05-12", [line(f"clearing:{COUNTY}:bank", tekun, 0, "provincial"),
                                                        line(f"source:{COUNTY}:provincial", 0, tekun, "provincial")]),
        ("demo-raise-county", "raise", "2022-05-12", [line(f"clearing:{COUNTY}:bank", 20_000_000, 0, "county"),
                                                      line(f"source:{COUNTY}:county", 0, 20_000_000, "county")]),
        ("demo-allocate-dibao", "allocate", "2022-05-20", [line(f"pool:{COUNTY}:dibao", dibao, 0, "central"),
                                                           line(f"clearing:{COUNTY}:bank", 0, dibao, "central")]),
        ("demo-allocate-temporary", "allocate", "2022-05-20", [line(f"pool:{COUNTY}:temporary", 20_000_000, 0, "county"),
                                                               line(f"clearing:{COUNTY}:bank", 0, 20_000_000, "county")]),
        ("demo-advance-yuyang", "advance", "2022-05-25", [line(f"reserve:{COUNTY}001:temporary", 5_000_000, 0, "county"),
                                                          line(f"pool:{COUNTY}:temporary", 0, 5_000_000, "county")]),
        ("demo-allocate-tekun", "allocate", "2022-05-20", [line(f"pool:{COUNTY}:tekun", tekun, 0, "provincial"),
                                                           line(f"clearing:{COUNTY}:bank", 0, tekun, "provincial")]),
    ]  # fmt: skip
    for key, code, day, lines in postings:
        posting = PostTransaction(key=key, code=code, posting_date=day, lines=lines, **meta)
        if _execute(services, finance, posting).get("status") == "proposed":
            _execute(services, checker, ConfirmPosting(key=key))


def _demo_grant(services: Services, people: dict[str, Principal]) -> None:
    """An urgent grant (急难型) requested by the case worker, approved by the approver and paid
    by the finance officer from the township's reserve."""
    from ops.services.grants import ApproveGrant, PayGrant, RequestGrant

    rng = random.Random(11)
    request = RequestGrant(
        region_code=f"{COUNTY}002000", occurred_in=f"{COUNTY}001000", id_number=demo_id_number(rng),
        name=demo_name(rng), grant_type="urgent", amount_fen=200_000, reason="火灾后基本生活",
        effective_date="2022-06-10", document_ref="当民临〔2022〕7号")  # fmt: skip
    grant_id = _execute(services, people["case_worker"], request)["grant_id"]
    approval = ApproveGrant(grant_id=grant_id, paying_township=f"{COUNTY}001",
                            effective_date="2022-06-10", document_ref="玉阳临审〔2022〕3号")  # fmt: skip
    _execute(services, people["approver"], approval)
    _execute(
        services, people["finance_officer"], PayGrant(grant_id=grant_id, posting_date="2022-06-11")
    )
