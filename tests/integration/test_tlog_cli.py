"""``doudi audit`` on SQLite: a key from keygen, checkpoints kept as files, verify before and after
tampering, and production refusing to start without a signing key."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from api.cli.main import app
from ledger.proof import verify as v
from ledger.proof import verify as verify_module
from ledger.store.settings import Settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOUDI_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("DOUDI_SECRET", "cli-test-secret")
    monkeypatch.setenv("DOUDI_ENVIRONMENT", "test")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_keygen_checkpoint_and_verify_catch_a_changed_event(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generate a key and run the log with it; keep a checkpoint; verify passes; change one
    stored byte; verify fails naming the position, and the kept checkpoint no longer holds."""
    runner = CliRunner()
    made = runner.invoke(app, ["audit", "keygen", "--out", "log.key", "--name", "test.example/log"])
    assert made.exit_code == 0, made.output
    vkey = made.stdout.strip()
    assert v.parse_vkey(vkey).name == "test.example/log"
    assert (env / "log.key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert runner.invoke(app, ["audit", "keygen", "--out", "log.key"]).exit_code != 0  # kept
    monkeypatch.setenv("DOUDI_LOG_SIGNING_KEY", str(env / "log.key"))
    monkeypatch.setenv("DOUDI_LOG_ORIGIN", "test.example/log")
    assert runner.invoke(app, ["audit", "vkey"]).stdout.strip() == vkey
    assert runner.invoke(app, ["demo", "--households", "5"]).exit_code == 0
    before = json.loads(runner.invoke(app, ["audit", "status"]).stdout)
    note = runner.invoke(app, ["audit", "checkpoint"]).stdout
    after = json.loads(runner.invoke(app, ["audit", "status"]).stdout)
    assert after["sealed_position"] == after["log_position"] == before["log_position"]
    assert (after["events_behind"], after["seconds_behind"]) == (0, 0.0)
    assert before["events_behind"] == before["log_position"] - before["sealed_position"] > 0
    kept = v.verify_checkpoint(note, vkey, "test.example/log")
    issued = json.loads(runner.invoke(app, ["audit", "checkpoints"]).stdout)["items"]
    assert [item["tree_size"] for item in issued] == [kept.size]
    assert runner.invoke(app, ["audit", "checkpoint", "--size", str(kept.size)]).stdout == note
    assert runner.invoke(app, ["audit", "checkpoint", "--size", str(kept.size + 1)]).exit_code == 2
    seal = json.loads(runner.invoke(app, ["projections", "status"]).stdout)["seal"]
    assert seal["events_behind"] == 0 and seal["position"] == after["log_position"]
    (env / "kept.checkpoint").write_text(note, encoding="utf-8")
    args = ["audit", "verify", "--checkpoint", "kept.checkpoint", "--vkey", vkey]
    good = runner.invoke(app, args)
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["sealed"] == kept.size
    with sqlite3.connect(env / "cli.sqlite3") as conn:
        conn.execute("UPDATE stored_events SET state = state || x'00' WHERE rowid = 7")
    bad = runner.invoke(app, args)
    assert bad.exit_code == 1, (bad.output, bad.exception)
    report = json.loads(bad.stdout)
    assert report["first_bad"] == {
        "kind": "altered",
        "position": 7,
        "leaf_index": 6,
        "sealed_at": None,
    }
    assert not report["checkpoints"][0]["holds"]
    history = runner.invoke(app, ["audit", "verify", "--issued", "--vkey", vkey])
    assert history.exit_code == 1 and not json.loads(history.stdout)["checkpoints"][0]["holds"]


def test_production_refuses_to_start_without_a_signing_key() -> None:
    """Production with every other secret set still refuses without DOUDI_LOG_SIGNING_KEY."""
    fields = {"environment": "production", "secret": "s" * 40, "cipher_key": "k" * 44}
    with pytest.raises(ValidationError, match="DOUDI_LOG_SIGNING_KEY"):
        Settings(**fields)
    assert Settings(**fields, log_signing_key="/etc/doudi/log.key").log_signing_key
    for origin in (
        "",
        "doudi example",
        "doudi+42",
    ):  # not a checkpoint's origin line, nor a key name
        with pytest.raises(ValidationError, match="DOUDI_LOG_ORIGIN"):
            Settings(log_origin=origin)


def test_export_and_verify_a_package_with_the_verifier_module_alone(env: Path) -> None:
    """Export the demo county's package with the CLI; verify it with `doudi audit
    verify-package`, and with ledger/proof/verify.py copied alone into an empty folder and run by
    a Python that sees nothing of doudi (what an auditor does)."""
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--households", "5"]).exit_code == 0
    vkey = runner.invoke(app, ["audit", "vkey"]).stdout.strip()
    month = datetime.now(UTC).strftime("%Y-%m")
    made = runner.invoke(app, ["audit", "export", "--scope", "420582", "--from", month,
                               "--to", month, "--out", "pkg"])  # fmt: skip
    assert made.exit_code == 0, made.output
    events = json.loads(made.stdout)["events"]
    checked = runner.invoke(app, ["audit", "verify-package", "pkg", "--vkey", vkey])
    assert checked.exit_code == 0 and json.loads(checked.stdout) == {"ok": True, "events": events}
    alone = env / "auditor"
    alone.mkdir()
    shutil.copy(Path(verify_module.__file__), alone / "verify.py")
    done = subprocess.run(
        [sys.executable, "-I", "verify.py", str(env / "pkg"), vkey],
        cwd=alone, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == f"ok: {events} events proven", done
    (env / "pkg" / "events.jsonl").write_bytes(b" " + (env / "pkg" / "events.jsonl").read_bytes())
    failed = subprocess.run([sys.executable, "-I", "verify.py", str(env / "pkg"), vkey],
                            cwd=alone, capture_output=True, text=True, check=False)  # fmt: skip
    assert failed.returncode == 1 and "events.jsonl" in failed.stderr
