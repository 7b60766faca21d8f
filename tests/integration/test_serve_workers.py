"""``doudi serve --workers N``: N API processes on one PostgreSQL database whose ``/metrics``
sums every worker's counts; SQLite (one process by design) refuses more than one worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.services.core import Services
from tests.conftest import make_settings
from tests.integration.test_contention import free_port

ROOT = Path(__file__).resolve().parents[2]
DOUDI = [sys.executable, "-c", "from api.cli.main import main; main()"]


def environment(database_url: str, metrics_dir: Path) -> dict[str, str]:
    return os.environ | {"DOUDI_DATABASE_URL": database_url, "DOUDI_SECRET": "test-secret",
                         "DOUDI_ENVIRONMENT": "test", "PYTHONPATH": str(ROOT),
                         "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}  # fmt: skip


def counted(text: str, route: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "doudi_http_requests_total" and sample.labels.get("route") == route
    )


@pytest.mark.postgres
def test_two_workers_answer_and_count_together(postgres_url: str, tmp_path: Path) -> None:
    Services(make_settings(postgres_url)).close()  # the tables, before two processes race for them
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*DOUDI, "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=environment(postgres_url, tmp_path / "metrics"),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start in 60 s"
            time.sleep(0.3)
        for _ in range(40):
            assert httpx.get(f"{base}/api/v1/health").status_code == 200
        text = httpx.get(f"{base}/metrics").text
        assert counted(text, "/api/v1/health") >= 41  # whichever worker answered each
        starts = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                  if s.name == "doudi_api_starts_total"]  # fmt: skip
        assert starts == [2.0], log_path.read_text()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def test_sqlite_refuses_more_than_one_worker(tmp_path: Path) -> None:
    answer = subprocess.run(
        [*DOUDI, "serve", "--workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=environment(f"sqlite:///{tmp_path}/doudi.sqlite3", tmp_path / "metrics"),
    )  # fmt: skip
    assert answer.returncode == 2
    assert "--workers above 1 needs PostgreSQL" in answer.stderr
