"""The locust users of ``ops.bench.api_bench`` (run by it, not alone): one class per mix.

The fixture (credentials, case and roll ids, the county) comes from the JSON file named by
``DOUDI_BENCH_FIXTURE``, which ``api_bench`` writes before it starts locust.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant

_PATH = os.environ.get("DOUDI_BENCH_FIXTURE")
FIXTURE: dict[str, Any] = json.loads(Path(_PATH).read_text(encoding="utf-8")) if _PATH else {}
SERIAL = itertools.count()


def _headers(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {FIXTURE['tokens'][role]}"}


def _id_number(number: int) -> str:
    """A valid 18-digit identity number in the fixture's county (GB 11643 check digit), unique
    for each ``number`` below 18,000,000."""
    born = date(1950, 1, 1) + timedelta(days=number % 18_000)
    body = f"{FIXTURE['county']}{born:%Y%m%d}{number // 18_000 % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def _get(user: FastHttpUser, path: str, role: str, name: str) -> None:
    user.client.get(path, headers=_headers(role), name=name)


def _post(user: FastHttpUser, path: str, role: str, name: str, body: dict[str, Any]) -> None:
    headers = {**_headers(role), "Idempotency-Key": str(uuid.uuid4())}
    user.client.post(path, json=body, headers=headers, name=name)


def household_page(user: FastHttpUser) -> None:
    path = f"/api/v1/households?region={FIXTURE['county']}&status=active&limit=50"
    _get(user, path, "case_worker", "GET /households (page)")


def one_case(user: FastHttpUser) -> None:
    path = f"/api/v1/households/{random.choice(FIXTURE['case_ids'])}"
    _get(user, path, "case_worker", "GET /households/{case_id}")


def timeline(user: FastHttpUser) -> None:
    path = f"/api/v1/households/{random.choice(FIXTURE['case_ids'])}/timeline"
    _get(user, path, "case_worker", "GET /households/{case_id}/timeline")


def statistics(user: FastHttpUser) -> None:
    path = f"/api/v1/statistics?from={FIXTURE['month']}&to={FIXTURE['month']}&level=county"
    _get(user, path, "auditor", "GET /statistics")


def balances(user: FastHttpUser) -> None:
    path = f"/api/v1/ledger/balances?region={FIXTURE['county']}"
    _get(user, path, "finance_officer", "GET /ledger/balances")


def roll_lines(user: FastHttpUser) -> None:
    path = f"/api/v1/rolls/{FIXTURE['roll_id']}/lines?limit=50"
    _get(user, path, "finance_officer", "GET /rolls/{roll_id}/lines")


def reconciliation(user: FastHttpUser) -> None:
    path = f"/api/v1/ledger/reconciliation/{FIXTURE['county']}/{FIXTURE['month']}"
    _get(user, path, "finance_officer", "GET /ledger/reconciliation/{county_code}/{month}")


def findings(user: FastHttpUser) -> None:
    path = f"/api/v1/findings?region={FIXTURE['county']}&limit=50"
    _get(user, path, "auditor", "GET /findings")


def application(user: FastHttpUser) -> None:
    """A new household's application (申请), one person, in the fixture's township."""
    number = (os.getpid() % 1000) * 30_000 + next(SERIAL)
    body = {
        "region_code": FIXTURE["township"], "programme": "dibao_urban", "address": "基准测试",
        "members": [{"id_number": _id_number(number), "name": "测试", "relation": "self"}],
        "effective_date": FIXTURE["today"], "document_ref": "bench",
    }  # fmt: skip
    _post(user, "/api/v1/households", "case_worker", "POST /households", body)


def posting(user: FastHttpUser) -> None:
    """An allocation of 1 yuan into the county's one dibao pool (every client the same pool)."""
    county = FIXTURE["county"]
    body = {
        "code": "allocate", "posting_date": FIXTURE["today"], "description": "bench",
        "document_ref": "bench",
        "lines": [{"account": f"pool:{county}:dibao", "debit_fen": 100, "source": "central"},
                  {"account": f"clearing:{county}:bank", "credit_fen": 100, "source": "central"}],
    }  # fmt: skip
    _post(user, "/api/v1/ledger/transactions", "finance_officer", "POST /ledger/transactions", body)


def decision(user: FastHttpUser) -> None:
    """An income reassessment (收入核定) of an existing case."""
    body = {
        "household_income_fen": random.randrange(0, 20_000), "excluded_income_fen": 0,
        "rigid_expenditure_fen": 0, "employment_cost_fen": 0, "assets_fen": 0,
        "deposits_fen": 0, "data_matches": [], "effective_date": FIXTURE["today"],
        "document_ref": "bench",
    }  # fmt: skip
    path = f"/api/v1/households/{random.choice(FIXTURE['case_ids'])}/income"
    _post(user, path, "case_worker", "POST /households/{case_id}/income", body)


READS = {household_page: 4, one_case: 4, timeline: 2, roll_lines: 2, statistics: 1, balances: 1,
         reconciliation: 1}  # fmt: skip
WRITES = {application: 2, posting: 2, decision: 1}
# 9 reads to 1 write, each mix keeping its own proportions.
MIXED = {
    **{f: 9 * w * sum(WRITES.values()) for f, w in READS.items()},
    **{f: 1 * w * sum(READS.values()) for f, w in WRITES.items()},
}


class Reads(FastHttpUser):
    """The read mix: a list page, one case, its timeline, a page of roll lines, statistics,
    balances and a reconciliation, as a county's staff and an auditor use them."""

    wait_time = constant(0)
    tasks = READS


class Writes(FastHttpUser):
    """The write mix: new applications, postings to one pool and income decisions."""

    wait_time = constant(0)
    tasks = WRITES


class Mixed(FastHttpUser):
    """90 % reads and 10 % writes, each mix in its own proportions."""

    wait_time = constant(0)
    tasks = MIXED


class Only(FastHttpUser):
    """The tasks named in ``DOUDI_BENCH_TASKS`` (``one_case,timeline``): one endpoint alone."""

    wait_time = constant(0)
    tasks = [globals()[name] for name in os.environ.get("DOUDI_BENCH_TASKS", "one_case").split(",")
             if name in globals()] or [one_case]  # fmt: skip
