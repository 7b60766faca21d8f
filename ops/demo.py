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
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from stdnum.cn import ric

from ops.services.importer import COLUMNS

COUNTY = "420582"
TOWNSHIPS = [f"{COUNTY}{n:03d}000" for n in (1, 2, 3, 100, 101, 102, 103, 104)]
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
POLICY_DOC = "当民发〔2022〕12号"


def demo_id_number(rng: random.Random) -> str:
    body = f"{COUNTY}{rng.randint(1993, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + ric.calc_check_digit(body + "0")


def demo_name(rng: random.Random) -> str:
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
        names = [demo_name(rng) for _ in range(size)]
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
