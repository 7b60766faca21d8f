"""The ``doudi`` command: serve, token issue, projections, import, demo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.cli.findings import findings_app
from api.cli.replay import replay_command  # noqa: F401 - registers `doudi audit replay`
from api.cli.tlog import audit_app
from domain.access import Principal
from ledger.store.runtime import tune_gc
from ledger.store.settings import Settings
from ops.services.core import Command, Services
from ops.services.rebuild import rebuild

app = typer.Typer(
    help="doudi (兜底): social-assistance payments and fund ledger", no_args_is_help=True
)
token_app = typer.Typer(help="Bearer credentials", no_args_is_help=True)
projections_app = typer.Typer(help="Read models", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports", no_args_is_help=True)
roll_app = typer.Typer(help="Monthly payment rolls (发放名册)", no_args_is_help=True)
ledger_app = typer.Typer(help="The fund ledger", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(roll_app, name="roll")
app.add_typer(token_app, name="token")
app.add_typer(projections_app, name="projections")
app.add_typer(import_app, name="import")
app.add_typer(audit_app, name="audit")
app.add_typer(findings_app, name="findings")
console = Console(stderr=True)


def _services() -> Services:
    return Services(Settings())


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="API processes (PostgreSQL only); run `doudi projections run` beside them",
        ),
    ] = 1,
) -> None:
    """Start the HTTP API (docs at /docs, no CDN needed)."""
    import uvicorn

    settings = Settings()
    address = {"host": host or settings.host, "port": port or settings.port, "log_config": None}
    if workers > 1 and settings.database.kind != "postgres":
        console.print(
            "--workers above 1 needs PostgreSQL (DOUDI_DATABASE_URL): SQLite is one process"
        )
        raise typer.Exit(2)
    if workers > 1 and settings.projections == "thread":
        console.print(
            "note: each of the workers follows the log itself (DOUDI_PROJECTIONS=thread); the"
            " production shape is DOUDI_PROJECTIONS=worker beside `doudi projections run`"
        )
    _share_metrics(workers)
    if workers == 1:
        from api.http.app import create_app

        uvicorn.run(create_app(settings), **address)
        return
    # Each worker builds its own app from the environment (uvicorn's factory).
    uvicorn.run("api.http.app:create_app", factory=True, workers=workers, **address)


METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _share_metrics(workers: int) -> None:
    """Several workers count into one directory that any worker's ``/metrics`` sums
    (prometheus-client's multiprocess mode), emptied at start as the library requires; set up
    before the app is imported, since its counters open their files then."""
    import os
    import tempfile

    folder = os.environ.get(METRICS_DIR) or (
        tempfile.mkdtemp(prefix="doudi-metrics-") if workers > 1 else None
    )
    if folder is None:
        return
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    os.environ[METRICS_DIR] = folder


@token_app.command("issue")
def token_issue(
    role: Annotated[
        str,
        typer.Option(
            help="case_worker, approver, finance_officer, auditor, special_auditor, admin"
        ),
    ],
    region: Annotated[
        str,
        typer.Option(
            help="scope: township (9 digits), county, city (XXXX00), province (XX0000), 000000"
        ),
    ],
    label: Annotated[str, typer.Option()] = "",
    expires_at: Annotated[
        str | None, typer.Option(help="ISO timestamp, e.g. 2025-12-31T00:00:00+00:00")
    ] = None,
    period_from: Annotated[str | None, typer.Option()] = None,
    period_to: Annotated[str | None, typer.Option()] = None,
    staff_id: Annotated[
        str | None,
        typer.Option(help="the holder's staff id; required for all but the auditor roles"),
    ] = None,
) -> None:
    """Issue a credential; the token is printed once and stored only as a hash."""
    from domain.errors import DomainError

    services = _services()
    try:
        credential_id, token = services.issue_credential(
            "cli",
            role=role,
            region_scope=region,
            label=label,
            expires_at=expires_at,
            period_from=period_from,
            period_to=period_to,
            staff_id=staff_id,
        )
    except DomainError as error:
        console.print(f"[red]{error.field}: {error.detail}[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()
    typer.echo(
        json.dumps(
            {
                "credential_id": credential_id,
                "token": token,
                "role": role,
                "region_scope": region,
                "staff_id": staff_id,
            }
        )
    )


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help="a view name, or 'all'")],
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="processes sharing the replay (PostgreSQL; views keyed by aggregate:"
            " case_state, audit_trail). While they run, catch-ups leave the view alone.",
        ),
    ] = 1,
) -> None:
    """Drop a read model and replay the whole log into it."""
    services = _services()
    names = list(services.projections.views) if name == "all" else [name]
    unknown = [n for n in names if n not in services.projections.views]
    if unknown:
        console.print(
            f"[red]unknown projection {unknown}; known: {sorted(services.projections.views)}[/red]"
        )
        raise typer.Exit(2)
    total = services.log_position()
    with _progress() as progress:
        for view in names:
            task = progress.add_task(f"rebuild {view}", total=total)
            count = rebuild(services, view, workers, lambda n, t=task: progress.advance(t, n))
            console.print(f"{view}: {count} events replayed")
    services.close()


@projections_app.command("run")
def projections_run(
    interval: Annotated[
        float, typer.Option(min=0.05, help="seconds between looks at the log without a wake-up")
    ] = 5.0,
    once: Annotated[bool, typer.Option(help="catch up once and stop")] = False,
) -> None:
    """The projection worker: keep every read model and the log's seal current, woken by each
    commit (PostgreSQL LISTEN/NOTIFY; polled every INTERVAL on SQLite), and announce how far
    they came to the API processes, whose reads wait for a Doudi-Log-Position on it."""
    services = _services()
    services.follower.poll_s = interval
    try:
        if once:
            count = services.follower.step()
            if count:
                console.print(f"applied {count} events")
            return
        services.follower.run(report=lambda count: console.print(f"applied {count} events"))
    except KeyboardInterrupt:
        pass
    finally:
        services.close()


@projections_app.command("status")
def projections_status() -> None:
    """Each view's position, the events a view could not apply (open failures), and the
    verifiable log's seal: its position and lag behind the log (events and seconds)."""
    services = _services()
    typer.echo(
        json.dumps(
            {
                "log_position": services.log_position(),
                "projections": services.projections.positions(),
                "failures": services.projections.failures(),
                "seal": services.seal_lag().as_dict(),
            },
            ensure_ascii=False,
        )
    )
    services.close()


@projections_app.command("retry")
def projections_retry(
    name: Annotated[
        str | None, typer.Argument(help="a view name; by default every view with open failures")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="as for rebuild")] = 1,
) -> None:
    """Replay the views with events they could not apply (after a fix): failures that no
    longer fail are closed. Exits 1 if some still fail."""
    services = _services()
    try:
        if name is not None and name not in services.projections.views:
            console.print(
                f"[red]unknown projection {name}; known: {sorted(services.projections.views)}[/red]"
            )
            raise typer.Exit(2)
        failed = services.projections.failures(name)
        names = sorted({f["view"] for f in failed} | ({name} if name is not None else set()))
        for view in names:
            rebuild(services, view, workers)
        still = [f for f in services.projections.failures(name) if f["view"] in names]
        closed = {(f["view"], f["position"]) for f in failed} - {
            (f["view"], f["position"]) for f in still
        }
        typer.echo(
            json.dumps(
                {"rebuilt": names, "closed": len(closed), "failures": still}, ensure_ascii=False
            )
        )
    finally:
        services.close()
    if still:
        raise typer.Exit(1)


@import_app.command("households")
def import_households_command(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    actor: Annotated[str, typer.Option(help="who is importing")] = "import",
    workers: Annotated[
        int, typer.Option(min=1, help="processes deciding and encoding households")
    ] = 1,
) -> None:
    """Import a roster CSV (see ops/services/importer.py for the columns)."""
    from domain.errors import DomainError
    from domain.text import clean_text
    from ops.services.importer import import_households

    try:
        actor = clean_text(actor, "actor")
        with path.open(encoding="utf-8-sig") as count_stream:
            households = len({line.split(",", 1)[0] for line in count_stream}) - 1
    except (DomainError, UnicodeDecodeError) as error:
        console.print(f"[red]roster: {error}[/red]")
        raise typer.Exit(2) from None
    services = _services()
    with _progress() as progress, path.open(encoding="utf-8-sig", newline="") as stream:
        task = progress.add_task("import households", total=households)
        try:
            report = import_households(
                services, stream, actor, lambda n: progress.advance(task, n), workers
            )
        except DomainError as error:  # the file itself: its line is named; earlier rows stay
            console.print(f"[red]{error.field}: {error.detail} ({error.rule})[/red]")
            services.close()
            raise typer.Exit(2) from None
    services.projections.catch_up()
    services.close()
    typer.echo(
        json.dumps(
            {
                "households": report.households,
                "skipped_existing": report.skipped_existing,
                "events": report.events,
                "errors": report.errors[:50],
                "error_count": len(report.errors),
            },
            ensure_ascii=False,
        )
    )
    if report.errors:
        raise typer.Exit(1)


@import_app.command("history")
def import_history_command(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    document_ref: Annotated[
        str, typer.Option(help="the migration's document (文号), named on every migrated line")
    ],
    actor: Annotated[str, typer.Option(help="who is importing")] = "import",
) -> None:
    """Import the months the previous system paid, as migrated rolls (columns in
    ops/services/history.py); the roster's households first (`doudi import households`)."""
    from domain.errors import DomainError
    from domain.text import clean_text
    from ops.services.history import import_history

    services = _services()
    services.projections.catch_up()  # the roster's households, as the case-state view has them
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            report = import_history(services, stream, clean_text(actor, "actor"), document_ref)
    except (DomainError, UnicodeDecodeError) as error:  # the file itself: nothing recorded
        console.print(f"[red]history: {error}[/red]")
        services.close()
        raise typer.Exit(2) from None
    services.projections.catch_up()
    services.close()
    typer.echo(json.dumps({"rolls": report.rolls, "lines": report.lines,
                           "total_fen": report.total_fen, "skipped_months": report.skipped_months,
                           "errors": report.errors[:50], "error_count": len(report.errors)},
                          ensure_ascii=False))  # fmt: skip
    if report.errors:
        raise typer.Exit(1)


TokenOption = Annotated[
    str | None,
    typer.Option(
        envvar="DOUDI_TOKEN", help="the credential of the person taking this step (required)"
    ),
]


def _principal(services: Services, token: str | None) -> Principal:
    """The credential a command acts as; without a token, the local operator (national admin)."""
    if token is None:
        return Principal("cli", "admin", "000000")
    found = services.authenticate(token)
    if found is None:
        console.print("[red]unknown, expired or revoked token[/red]")
        raise typer.Exit(2)
    return found


def _run(
    action: Callable[[Services, Principal], Any], token: str | None, *, personal: bool = False
) -> Any:
    """Run one command against the services, printing a domain refusal as field: detail. A
    ``personal`` command prepares, approves or pays: it acts as the person of a credential
    (``--token``), never as the local operator, so separation of duties sees who took it."""
    from domain.errors import DomainError

    if personal and token is None:
        console.print(
            "[red]token: this step is taken by a person — give the officer's --token"
            " (or DOUDI_TOKEN) (credential_required)[/red]"
        )
        raise typer.Exit(2)
    services = _services()
    try:
        return action(services, _principal(services, token))
    except DomainError as error:
        console.print(f"[red]{error.field}: {error.detail} ({error.rule})[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()


def _execute(services: Services, principal: Principal, command: Command) -> dict[str, Any]:
    """Run a command as the API runs one (``Services.execute``), without an idempotency key: a
    command line that is run again is a new request."""
    return services.execute(principal, None, "", command).response


def _submit(command: Command, token: str | None) -> dict[str, Any]:
    """Run one personal command with the token's principal (``_run``, ``_execute``)."""
    result: dict[str, Any] = _run(lambda s, p: _execute(s, p, command), token, personal=True)
    return result


@roll_app.command("generate")
def roll_generate(
    county: Annotated[str, typer.Option(help="6-digit county code")],
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    group: Annotated[str, typer.Option(help="all, dibao, marginal, tekun")] = "all",
    token: TokenOption = None,
) -> None:
    """Generate (or regenerate) a county's draft roll for a month, as known now."""
    from ops.services.roll_commands import GenerateRoll

    def action(services: Services, principal: Principal) -> dict[str, Any]:
        with _progress() as progress:
            task = progress.add_task(f"roll {county} {month}", total=None)
            command = GenerateRoll(county_code=county, month=month, group=group,
                                   progress=lambda n: progress.advance(task, n))  # fmt: skip
            return _execute(services, principal, command)

    typer.echo(json.dumps(_run(action, token, personal=True), ensure_ascii=False))


@roll_app.command("approve")
def roll_approve(
    roll: Annotated[str, typer.Argument(help="roll id")], token: TokenOption = None
) -> None:
    """Approve a draft roll (a finance officer of the roll's county: pass its --token)."""
    from ops.services.roll_commands import ApproveRoll

    command = ApproveRoll(roll_id=roll)
    typer.echo(json.dumps(_submit(command, token), ensure_ascii=False))


@roll_app.command("bank-file")
def roll_bank_file(
    roll: Annotated[str, typer.Argument(help="roll id")],
    out: Annotated[Path, typer.Option(help="where to write the CSV")],
    encoding: Annotated[str, typer.Option(help="utf-8 or gbk")] = "utf-8",
    token: TokenOption = None,
) -> None:
    """Write the bank payment file of an approved roll (marks it sent)."""
    from ops.services.bank import SendBankFile

    command = SendBankFile(roll_id=roll, encoding=encoding)
    data: bytes = _submit(command, token)["file"]
    out.write_bytes(data)
    console.print(f"wrote {out} ({len(data)} bytes, {encoding})")


@roll_app.command("bank-results")
def roll_bank_results(
    roll: Annotated[str, typer.Argument(help="roll id")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    token: TokenOption = None,
) -> None:
    """Import the bank's result file (reference, amount_fen, status, reason); twice changes nothing."""
    from ops.services.bank import ImportBankResults

    command = ImportBankResults(roll_id=roll, data=path.read_bytes())
    typer.echo(json.dumps(_submit(command, token), ensure_ascii=False))


@roll_app.command("xlsx")
def roll_xlsx(
    roll: Annotated[str, typer.Argument(help="roll id")],
    out: Annotated[Path, typer.Option(help="where to write the XLSX")],
) -> None:
    """Write the officers' XLSX of a roll."""
    from api.outputs.rolls import roll_xlsx as build

    def action(services: Services, principal: Principal) -> bytes:
        found = services.fresh().rolls.get(roll)
        if found is None:
            console.print("[red]no such roll[/red]")
            raise typer.Exit(2)
        return build(services, found)

    out.write_bytes(_run(action, None))
    console.print(f"wrote {out}")


@ledger_app.command("post")
def ledger_post(
    path: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="JSON: code, posting_date, lines, document_ref"
        ),
    ],
    key: Annotated[str, typer.Option(help="the transaction key (idempotency key)")],
    token: TokenOption = None,
) -> None:
    """Post a journal transaction from a JSON file; the same key and content again changes nothing."""
    from domain.text import clean_tree
    from ops.services.ledger import PostTransaction

    raw = json.loads(path.read_text(encoding="utf-8"))

    def action(services: Services, principal: Principal) -> dict[str, Any]:
        return _execute(services, principal, PostTransaction(key=key, **clean_tree(raw, "file")))

    typer.echo(json.dumps(_run(action, token, personal=True), ensure_ascii=False))


@ledger_app.command("statement")
def ledger_statement(
    county: Annotated[str, typer.Argument(help="6-digit county code")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    token: TokenOption = None,
) -> None:
    """Import the county's bank statement (CSV: reference, amount_fen, booked_on, description)."""
    from ops.services.ledger import ImportStatement

    command = ImportStatement(county_code=county, data=path.read_bytes())
    typer.echo(json.dumps(_submit(command, token), ensure_ascii=False))


@ledger_app.command("carry-over")
def ledger_carry_over(
    county: Annotated[str, typer.Argument(help="6-digit county code")],
    year: Annotated[int, typer.Argument(help="the year to close, e.g. 2024")],
    document_ref: Annotated[str, typer.Option(help="the closing document (文号)")],
    token: TokenOption = None,
) -> None:
    """Year-end carry-over (结转): close the year's months and record its closing balances."""
    from ops.services.ledger import CarryOverYear

    command = CarryOverYear(county_code=county, year=year, document_ref=document_ref)
    typer.echo(json.dumps(_submit(command, token), ensure_ascii=False))


@ledger_app.command("confirm")
def ledger_confirm(
    key: Annotated[str, typer.Argument(help="the key of the proposed posting or reversal")],
    token: TokenOption = None,
) -> None:
    """Confirm (复核) a posting or reversal proposed above the confirmation threshold; a second
    finance officer, not its proposer."""
    from ops.services.ledger import ConfirmPosting

    typer.echo(json.dumps(_submit(ConfirmPosting(key=key), token), ensure_ascii=False))


@ledger_app.command("confirm-carry-over")
def ledger_confirm_carry_over(
    county: Annotated[str, typer.Argument(help="6-digit county code")],
    year: Annotated[int, typer.Argument(help="the year proposed for carry-over")],
    token: TokenOption = None,
) -> None:
    """Confirm a year-end carry-over proposed above the confirmation threshold."""
    from ops.services.ledger import ConfirmCarryOver

    command = ConfirmCarryOver(county_code=county, year=year)
    typer.echo(json.dumps(_submit(command, token), ensure_ascii=False))


@audit_app.command("recusal-review")
def audit_recusal_review(token: TokenOption = None) -> None:
    """Decisions officials took on their relatives' cases before the relation was registered
    (近亲属备案), in the credential's scope (the operator's: everywhere)."""
    from ops.services.core import now_utc
    from projections.runner import utc_text

    def action(services: Services, principal: Principal) -> list[dict[str, Any]]:
        principal.require("read.audit")
        known_at = utc_text(now_utc())
        if principal.period_to:
            known_at = min(known_at, f"{principal.period_to}T23:59:59.999999Z")
        return services.fresh().audit.recusal_review(principal.prefix, as_of=known_at,
                                                     period=principal.period)  # fmt: skip

    typer.echo(json.dumps(_run(action, token), ensure_ascii=False, default=str))


@ledger_app.command("reconcile")
def ledger_reconcile(
    county: Annotated[str, typer.Argument(help="6-digit county code")],
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    idle_days: Annotated[
        int, typer.Option(help="allocations unused longer than this are idle (滞留)")
    ] = 90,
    xlsx: Annotated[Path | None, typer.Option(help="also write the report as XLSX")] = None,
    as_known_at: Annotated[
        str | None, typer.Option(help="as known at this UTC time, e.g. 2024-05-01T00:00:00Z")
    ] = None,
    as_of_position: Annotated[
        int | None, typer.Option(min=0, help="as known at this log position")
    ] = None,
) -> None:
    """The three-way reconciliation of a county's month, as JSON (and XLSX); with a time or
    position, as known then, naming the facts recorded since."""
    from api.outputs.reconciliation import reconciliation_xlsx
    from ops.services.known_at import reconciliation, resolve

    def report_of(services: Services, principal: Principal) -> Any:
        services.fresh()
        known = resolve(services, principal, as_known_at, as_of_position)
        return reconciliation(services, known, county, month, idle_days)

    report = _run(report_of, None)
    if xlsx is not None:
        xlsx.write_bytes(reconciliation_xlsx(report))
    typer.echo(json.dumps(report, ensure_ascii=False, indent=1))


@app.command()
def stats(
    first: Annotated[str, typer.Option("--from", help="YYYY-MM")],
    last: Annotated[str, typer.Option("--to", help="YYYY-MM")],
    level: Annotated[str, typer.Option(help="county, city, province")] = "county",
    period: Annotated[str, typer.Option(help="month, quarter, year")] = "month",
    region: Annotated[str, typer.Option(help="scope prefix, e.g. 42 or 4205")] = "",
    as_known_at: Annotated[
        str | None, typer.Option(help="as known at this UTC time, e.g. 2024-05-01T00:00:00Z")
    ] = None,
    as_of_position: Annotated[
        int | None, typer.Option(min=0, help="as known at this log position")
    ] = None,
) -> None:
    """Statistics from approved rolls (households, persons, person-times, amount, average
    level); with a time or position, as known then, beside the rolls approved since."""
    from ops.services.known_at import resolve

    def report(services: Services, principal: Principal) -> Any:
        services.fresh()
        known = resolve(services, principal, as_known_at, as_of_position)
        items = services.statistics.report(
            scope_prefix=region, level=level, period=period, first=first, last=last,
            programme=None, known_at=None if known is None else known.position,
        )  # fmt: skip
        if known is None:
            return items
        later = services.statistics.approved_after(known.position, region, first, last)
        return {"known_at": known.as_dict() | {"recorded_after": later}, "items": items}

    typer.echo(json.dumps(_run(report, None), ensure_ascii=False, indent=1))


@app.command()
def demo(
    if_empty: Annotated[
        bool, typer.Option(help="do nothing if the database already has events")
    ] = False,
    households: Annotated[int, typer.Option()] = 300,
) -> None:
    """Load the deterministic demo county (当阳市) and print tokens for each role."""
    from api.cli.demo import load_demo

    settings = Settings()
    services = Services(settings)
    tokens_file = Path("var/demo-tokens.json")
    if if_empty and services.log_position() > 0:
        console.print(f"database already has events; demo tokens are in {tokens_file}")
        services.close()
        return
    with _progress() as progress:
        task = progress.add_task("demo households", total=households)
        result = load_demo(
            services, households=households, progress=lambda n: progress.advance(task, n)
        )
    services.close()
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps(result["tokens"], indent=2))
    console.print(
        f"demo county 当阳市 (420582): {result['households']} households, {result['events']} events"
    )
    console.print(f"tokens for each role written to {tokens_file}:")
    for role, token in result["tokens"].items():
        console.print(f"  {role:16} {token}")


def main() -> None:
    tune_gc()
    app()
