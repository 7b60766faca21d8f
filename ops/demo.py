"""A deterministic demo county: 当阳市 (420582), with standards like those in the seeds.

Urban dibao 630 → 670 yuan per person per month and rural 5,280 → 6,000 yuan per year from
1 April 2022; 特困 at 2 × the dibao standard; care allowances at 10 / 15 / 25 % of the minimum
wage (as Hanzhong sets them). A few hundred households go through the same decisions as the
API records (some suspended, exiting, terminated), plus 特困 persons and a death record.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from stdnum.cn import ric

from domain.access import Principal
from domain.household import HouseholdCase
from ops.services.access import RecordRegistryEntry
from ops.services.cases import HOUSEHOLD_DECISIONS, ApproveTekun
from ops.services.core import Command, Services
from ops.services.importer import COLUMNS, import_households
from ops.services.policy import SetPolicy

COUNTY = "420582"
TOWNSHIPS = [f"{COUNTY}{n:03d}000" for n in (1, 2, 3, 100, 101, 102, 103, 104)]
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
POLICY_DOC = "当民发〔2022〕12号"


def demo_id_number(rng: random.Random) -> str:
    body = f"{COUNTY}{rng.randint(1993, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + ric.calc_check_digit(body + "0")


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def policy_facts() -> list[tuple[str, dict[str, Any]]]:
    meta = {"document_ref": POLICY_DOC}
    return [
        ("rounding", {"unit": "fen", "mode": "half_up", "effective_date": "2021-01-01", **meta}),
        (
            "standard",
            {
                "programme": "dibao_urban",
                "amount_fen": 63_000,
                "period": "month",
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
        (
            "standard",
            {
                "programme": "dibao_rural",
                "amount_fen": 528_000,
                "period": "year",
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
        (
            "standard",
            {
                "programme": "marginal",
                "amount_fen": 63_000,
                "period": "month",
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
        (
            "standard",
            {
                "programme": "dibao_urban",
                "amount_fen": 67_000,
                "period": "month",
                "effective_date": "2022-04-01",
                **meta,
            },
        ),
        (
            "standard",
            {
                "programme": "dibao_rural",
                "amount_fen": 600_000,
                "period": "year",
                "effective_date": "2022-04-01",
                **meta,
            },
        ),
        (
            "tiers",
            {
                "programme": "dibao_rural",
                "tiers": {"A": 50_000, "B": 35_000, "C": 21_000},
                "effective_date": "2022-04-01",
                **meta,
            },
        ),
        (
            "tekun_rule",
            {
                "multiplier_percent": 200,
                "explicit_amount_fen": None,
                "effective_date": "2022-04-01",
                **meta,
            },
        ),
        ("minimum_wage", {"amount_fen": 180_000, "effective_date": "2021-01-01", **meta}),
        (
            "care_standard",
            {
                "level": "full_self_care",
                "amount_fen": None,
                "percent_of_minimum_wage": 10,
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
        (
            "care_standard",
            {
                "level": "partial",
                "amount_fen": None,
                "percent_of_minimum_wage": 15,
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
        (
            "care_standard",
            {
                "level": "none",
                "amount_fen": None,
                "percent_of_minimum_wage": 25,
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
        (
            "approval_limits",
            {
                "township_limit_fen": 300_000,
                "committee_limit_fen": 2_000_000,
                "effective_date": "2021-01-01",
                **meta,
            },
        ),
    ]


def roster_rows(
    households: int, seed: int = 2022, counties: Sequence[str] = ()
) -> Iterator[dict[str, Any]]:
    """Roster rows in the import format: deterministic for a seed, each person listed once.
    With ``counties``, households are dealt round-robin to those counties (same townships)."""
    rng = random.Random(seed)
    used: set[str] = set()

    def unique_id() -> str:
        while (number := demo_id_number(rng)) in used:
            pass
        used.add(number)
        return number

    for number in range(1, households + 1):
        programme = rng.choices(["dibao_urban", "dibao_rural", "marginal"], weights=[4, 5, 1])[0]
        tier = rng.choice("ABC") if programme == "dibao_rural" else ""
        size = rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 20, 15, 5])[0]
        names = [_name(rng) for _ in range(size)]
        region = rng.choice(TOWNSHIPS)
        if counties:
            region = counties[number % len(counties)] + region[6:]
        start_month = f"2022-{rng.randint(1, 12):02d}"
        income_fen = rng.randrange(0, 40_000 * size, 100)
        account = f"62170033{rng.randint(10**10, 10**11 - 1)}"
        for index in range(size):
            yield {
                "household_ref": f"H{number:06d}", "region_code": region, "programme": programme,
                "id_number": unique_id(), "name": names[index],
                "relation": "self" if index == 0 else "member", "method": "tier" if tier else "top_up",
                "tier_code": tier, "start_month": start_month, "household_income_fen": income_fen,
                "payee_account": account, "payee_name": names[0], "approved_on": "2022-01-15",
                "document_ref": f"当民批〔2022〕{number}号",
            }  # fmt: skip


def write_roster(
    stream: TextIO, households: int, seed: int = 2022, counties: Sequence[str] = ()
) -> None:
    writer = csv.DictWriter(stream, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(roster_rows(households, seed, counties))


def roster_csv(households: int, seed: int = 2022) -> str:
    out = io.StringIO()
    write_roster(out, households, seed)
    return out.getvalue()


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
    admin = Principal(tokens["admin"][0], "admin", COUNTY, staff_id="demo-admin")
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
            "name": _name(rng),
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
        _execute(services, admin, ApproveTekun(**fields))
    people = {name: Principal(tokens[name][0], role, COUNTY, staff_id=f"demo-{name}")
              for name, role in DEMO_PEOPLE.items()}  # fmt: skip
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
    _total, cases = services.case_state.search(
        scope_prefix=COUNTY,
        kind="household",
        region_prefix=None,
        status="active",
        programme=None,
        limit=60,
        offset=0,
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
    """June 2022 approved, July 2022 as a draft: the roll screens have something to show."""
    from ops.services.roll_commands import ApproveRoll, GenerateRoll

    finance = people["finance_officer"]
    _demo_ledger(services, finance)
    _demo_grant(services, people)
    june = _execute(services, finance, GenerateRoll(county_code=COUNTY, month="2022-06"))
    _execute(services, people["finance_officer_2"], ApproveRoll(roll_id=june["roll_id"]))
    _execute(services, finance, GenerateRoll(county_code=COUNTY, month="2022-07"))


def _demo_ledger(services: Services, finance: Principal) -> None:
    """Central, provincial and county funds raised and allocated to the county's pools (rolls
    reserve from them); each keeps its funding source down to the payments."""
    from ops.services.ledger import PostTransaction

    def line(account: str, debit: int, credit: int, source: str) -> dict[str, Any]:
        return {"account": account, "debit_fen": debit, "credit_fen": credit, "source": source}

    meta = {"document_ref": "当财社〔2022〕8号", "description": "demo"}
    postings = [
        ("demo-raise-central", "raise", "2022-05-10", [line(f"clearing:{COUNTY}:bank", 400_000_000, 0, "central"),
                                                       line(f"source:{COUNTY}:central", 0, 400_000_000, "central")]),
        ("demo-raise-province", "raise", "2022-05-12", [line(f"clearing:{COUNTY}:bank", 150_000_000, 0, "provincial"),
                                                        line(f"source:{COUNTY}:provincial", 0, 150_000_000, "provincial")]),
        ("demo-raise-county", "raise", "2022-05-12", [line(f"clearing:{COUNTY}:bank", 20_000_000, 0, "county"),
                                                      line(f"source:{COUNTY}:county", 0, 20_000_000, "county")]),
        ("demo-allocate-dibao", "allocate", "2022-05-20", [line(f"pool:{COUNTY}:dibao", 300_000_000, 0, "central"),
                                                           line(f"clearing:{COUNTY}:bank", 0, 300_000_000, "central")]),
        ("demo-allocate-temporary", "allocate", "2022-05-20", [line(f"pool:{COUNTY}:temporary", 20_000_000, 0, "county"),
                                                               line(f"clearing:{COUNTY}:bank", 0, 20_000_000, "county")]),
        ("demo-advance-yuyang", "advance", "2022-05-25", [line(f"reserve:{COUNTY}001:temporary", 5_000_000, 0, "county"),
                                                          line(f"pool:{COUNTY}:temporary", 0, 5_000_000, "county")]),
        ("demo-allocate-tekun", "allocate", "2022-05-20", [line(f"pool:{COUNTY}:tekun", 150_000_000, 0, "provincial"),
                                                           line(f"clearing:{COUNTY}:bank", 0, 150_000_000, "provincial")]),
    ]  # fmt: skip
    for key, code, day, lines in postings:
        posting = PostTransaction(key=key, code=code, posting_date=day, lines=lines, **meta)
        _execute(services, finance, posting)


def _demo_grant(services: Services, people: dict[str, Principal]) -> None:
    """An urgent grant (急难型) requested by the case worker, approved by the approver and paid
    by the finance officer from the township's reserve."""
    from ops.services.grants import ApproveGrant, PayGrant, RequestGrant

    rng = random.Random(11)
    request = RequestGrant(
        region_code=f"{COUNTY}002000", occurred_in=f"{COUNTY}001000", id_number=demo_id_number(rng),
        name=_name(rng), grant_type="urgent", amount_fen=200_000, reason="火灾后基本生活",
        effective_date="2022-06-10", document_ref="当民临〔2022〕7号")  # fmt: skip
    grant_id = _execute(services, people["case_worker"], request)["grant_id"]
    approval = ApproveGrant(grant_id=grant_id, paying_township=f"{COUNTY}001",
                            effective_date="2022-06-10", document_ref="玉阳临审〔2022〕3号")  # fmt: skip
    _execute(services, people["approver"], approval)
    _execute(
        services, people["finance_officer"], PayGrant(grant_id=grant_id, posting_date="2022-06-11")
    )
