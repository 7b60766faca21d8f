"""``doudi projections run``, the worker that keeps the views current: once, and (PostgreSQL)
as the process beside an API process whose reads wait on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.main import app
from api.http.app import create_app
from ledger.store.settings import Settings
from ops.services.core import Services
from tests.conftest import make_settings
from tests.factories import household_body

ROOT = Path(__file__).resolve().parents[2]


def test_run_once_applies_what_was_recorded(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOUDI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DOUDI_SECRET", settings.secret)
    services.fresh()
    services.issue_credential("test", role="admin", region_scope="420582", staff_id="a-1")
    assert services.projections.reached() < services.log_position()
    result = CliRunner().invoke(app, ["projections", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "applied" in result.output
    assert services.projections.reached() == services.log_position()
    again = CliRunner().invoke(app, ["projections", "run", "--once"])
    assert again.exit_code == 0 and "applied" not in again.output  # nothing new


@pytest.mark.postgres
def test_the_worker_process_wakes_on_each_commit(postgres_url: str) -> None:
    """The worker polls only every 60 s here: a token read that is answered within seconds
    was woken by the commit's NOTIFY, through the worker's own announcement."""
    settings = make_settings(postgres_url).model_copy(
        update={"projections": "worker", "read_wait_s": 20.0}
    )
    api = Services(settings)
    env = os.environ | {"DOUDI_DATABASE_URL": postgres_url, "DOUDI_SECRET": settings.secret,
                        "DOUDI_ENVIRONMENT": "test", "PYTHONPATH": str(ROOT)}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-c", "from api.cli.main import main; main()", "projections", "run",
         "--interval", "60"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _id, secret = api.issue_credential("test", role="admin", region_scope="420582",
                                           staff_id="a-1")  # fmt: skip
        headers = {"Authorization": f"Bearer {secret}"}
        with TestClient(create_app(settings, api)) as client:
            deadline = time.monotonic() + 60  # the worker's start-up, on a busy machine
            while client.get("/api/v1/households", headers=headers).status_code == 401:
                assert time.monotonic() < deadline, "the worker never applied the credential"
                time.sleep(0.2)
            for seed in (1, 2):
                made = client.post("/api/v1/households", json=household_body(seed=seed),
                                   headers=headers)  # fmt: skip
                assert made.status_code == 201, made.text
                began = time.monotonic()
                read = client.get(f"/api/v1/households/{made.json()['case_id']}", headers=headers
                                  | {"Doudi-Log-Position": made.headers["Doudi-Log-Position"]})  # fmt: skip
                assert read.status_code == 200, read.text
                assert time.monotonic() - began < 15  # far below the 60 s poll
    finally:
        worker.send_signal(signal.SIGINT)  # stops cleanly (Ctrl-C)
        output, _ = worker.communicate(timeout=30)
        api.close()
    assert worker.returncode == 0, output
    assert "applied" in output
