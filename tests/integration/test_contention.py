"""Concurrent postings to one pool: through two API processes on one PostgreSQL database, and
through the service in one process on each backend.

The case file: 当阳市 funds its dibao pool with exactly enough for fifty 100-yuan roll
reservations; fifty finance-officer requests, split across two server processes, reserve at
once. Every one is fundable, so at least 95 % must succeed (a loser of a version race is decided
again after a jittered pause), the pool and the reservations must add up to the fen, neither
ever negative, and a reservation beyond what is left is still refused.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from domain.access import Principal
from domain.errors import DomainError
from ops.services.core import Services
from ops.services.ledger import PostTransaction, post_transaction
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 50
EACH_FEN = 10_000
DOC = {"document_ref": "当财社〔2024〕7号"}


def posting(code: str, debit: str, credit: str, fen: int) -> dict[str, Any]:
    return {"code": code, "posting_date": "2024-03-05", **DOC, "lines": [
        {"account": debit, "debit_fen": fen, "source": "central"},
        {"account": credit, "credit_fen": fen, "source": "central"}]}  # fmt: skip


def reservation(fen: int) -> dict[str, Any]:
    return posting("reserve_roll", "reserved:420582:dibao", "pool:420582:dibao", fen)


def fund_pool(services: Services) -> tuple[Principal, str]:
    """A finance officer of 当阳市 (and its token), its dibao pool funded with exactly enough
    for ``REQUESTS`` reservations."""
    credential, secret = services.issue_credential(
        "test", role="finance_officer", region_scope="420582", staff_id="test-officer"
    )
    finance = Principal(credential, "finance_officer", "420582")
    total = REQUESTS * EACH_FEN
    for key, body in (
        ("raise", posting("raise", "clearing:420582:bank", "source:420582:central", total)),
        ("allocate", posting("allocate", "pool:420582:dibao", "clearing:420582:bank", total)),
    ):
        services.execute(
            finance, None, key, lambda k=key, b=body: post_transaction(services, finance, k, b)
        )
    return finance, secret


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def servers(postgres_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two uvicorn processes of ``api.http.app:create_app`` on free loopback ports, one database."""
    env = os.environ | {"DOUDI_DATABASE_URL": postgres_url, "DOUDI_SECRET": "test-secret",
                        "DOUDI_ENVIRONMENT": "test", "DOUDI_LOG_JSON": "true", "PYTHONPATH": str(ROOT),
                        "DOUDI_READ_WAIT_S": "30"}  # fmt: skip
    Services(make_settings(postgres_url)).close()  # the tables, before two processes race for them
    processes, urls, logs = [], [], [tmp_path / f"server-{number}.log" for number in range(2)]
    for number in range(2):
        port = free_port()
        with logs[number].open("wb") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "api.http.app:create_app", "--host", "127.0.0.1",
                 "--port", str(port), "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        urls.append(f"http://127.0.0.1:{port}/api/v1")
    try:
        deadline = time.monotonic() + 30
        for url, process, log_path in zip(urls, processes, logs, strict=True):
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the servers did not start in 30 s"
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.postgres
def test_fifty_fundable_postings_across_two_processes(
    servers: list[str], postgres_url: str
) -> None:
    """Fund the pool for exactly fifty reservations, fire them at once over both servers from
    fifty threads: ≥ 95 % are 201, the rest 409 on contention only, balances exact and never
    negative; one more reservation than the pool holds is refused."""
    services = Services(make_settings(postgres_url))
    try:
        _finance, secret = fund_pool(services)
    finally:
        services.close()
    total = REQUESTS * EACH_FEN
    headers = {"Authorization": f"Bearer {secret}"}
    released: list[float] = []
    answered: list[float] = []
    barrier = threading.Barrier(REQUESTS, action=lambda: released.append(time.monotonic()))
    answers: list[tuple[int, str]] = []
    positions: list[int] = []  # of the postings recorded: the balances read waits for them

    def worker(number: int) -> None:
        with httpx.Client(base_url=servers[number % 2], headers=headers, timeout=30) as http:
            http.get("/ledger/balances")  # connected and authenticated before the race starts
            barrier.wait(timeout=30)
            response = http.post("/ledger/transactions", json=reservation(EACH_FEN),
                                 headers={"Idempotency-Key": f"reserve-{number}"})  # fmt: skip
            rules = [e.get("rule", "") for e in response.json().get("errors", [])]
            answers.append((response.status_code, ",".join(rules)))
            positions.append(int(response.headers.get("Doudi-Log-Position", 0)))
            answered.append(time.monotonic() - released[0])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=45)
    created = sum(1 for status, _rule in answers if status == 201)
    assert len(answers) == REQUESTS, answers
    assert created >= 0.95 * REQUESTS, (created, max(answered), answers)
    assert max(answered) < 10, answered  # retries stop within their budget
    assert all(status == 201 or rule == "concurrent_decision" for status, rule in answers), answers
    with httpx.Client(base_url=servers[0], headers=headers, timeout=30) as http:
        seen = {"Doudi-Log-Position": str(max(positions))}
        items = http.get("/ledger/balances", headers=seen).json()["items"]
        held = {item["account"]: int(item["balance_fen"]) for item in items}
        assert held["reserved:420582:dibao"] == created * EACH_FEN
        assert held["pool:420582:dibao"] == total - created * EACH_FEN >= 0
        overdraft = http.post("/ledger/transactions", json=reservation(total - created * EACH_FEN + 1),
                              headers={"Idempotency-Key": "too-much"})  # fmt: skip
        assert overdraft.status_code == 422, overdraft.text
        assert "never_negative" in {e["rule"] for e in overdraft.json()["errors"]}


def races_lost() -> float:
    """Version races lost by postings in this process so far (``/metrics``' counter)."""
    found = REGISTRY.get_sample_value(
        "doudi_command_races_lost_total", {"command": "PostTransaction"}
    )
    return found or 0.0


def test_fifty_fundable_postings_in_one_process(services: Services) -> None:
    """The same burst on each backend, fifty-five threads posting as the API does (grouped into
    batches, ``ops/services/grouped.py``) where only fifty are fundable: exactly fifty succeed,
    the other five are refused for want of money, and the pool holds exactly what is left."""
    finance, _secret = fund_pool(services)
    total = REQUESTS * EACH_FEN
    races_before = races_lost()
    barrier = threading.Barrier(REQUESTS + 5)
    outcomes: list[str] = []

    def worker(number: int) -> None:
        key = f"reserve-{number}"
        command = PostTransaction(key=key, **reservation(EACH_FEN))
        barrier.wait(timeout=30)
        try:
            services.execute(finance, key, "", command)
            outcomes.append("created")
        except DomainError as error:
            outcomes.append(error.rule)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(REQUESTS + 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=45)
    assert sorted(outcomes) == ["created"] * REQUESTS + ["never_negative"] * 5, outcomes
    assert races_lost() == races_before  # decided in turn within batches, never raced
    held = {i["account"]: int(i["balance_fen"]) for i in services.fresh().ledger.balances("420582")}
    assert held["pool:420582:dibao"] == 0
    assert held["reserved:420582:dibao"] == total


def test_one_key_sent_at_once_is_posted_once(services: Services) -> None:
    """Ten threads send the same posting under one key at once (a client's retries racing):
    one transaction is recorded and every answer is its answer."""
    finance, _secret = fund_pool(services)
    barrier = threading.Barrier(10)
    answers: list[tuple[int, str]] = []

    def worker() -> None:
        command = PostTransaction(key="same", **reservation(EACH_FEN))
        barrier.wait(timeout=30)
        served = services.execute(finance, "same", "one body", command)
        answers.append((served.status_code, served.response["transaction_id"]))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=45)
    assert len(answers) == 10 and len(set(answers)) == 1 and answers[0][0] == 201, answers
    held = {i["account"]: int(i["balance_fen"]) for i in services.fresh().ledger.balances("420582")}
    assert held["reserved:420582:dibao"] == EACH_FEN
