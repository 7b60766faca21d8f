"""``doudi audit replay``: the proof that the read models are what the log says."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli.tlog import audit_app
from ledger.store.settings import Settings
from ops.services.core import Services
from ops.services.replay import replay


@audit_app.command("replay")
def replay_command(
    diff: Annotated[
        bool, typer.Option(help="for each table that differs, show the first differing keys")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="differing keys shown per table")
    ] = 10,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="processes sharing the replay (PostgreSQL)")
    ] = 2,
) -> None:
    """Replay the whole log into a scratch database (a temporary SQLite file, or PostgreSQL
    schema) with the same projection code and compare every view table with the live one (an
    order-independent digest per table; with --diff, the differing rows by key). Prints a JSON
    report; exit status 1 if any table differs."""
    services = Services(Settings())
    try:
        report = replay(services, diff=diff, limit=limit, workers=workers)
    finally:
        services.close()
    typer.echo(json.dumps(report, indent=1, ensure_ascii=False))
    if not report["equal"]:
        raise typer.Exit(1)
