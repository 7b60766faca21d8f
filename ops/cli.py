"""The ``doudi`` command: serve, token issue, projections, import, demo."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ops.services import Services
from ops.settings import Settings

app = typer.Typer(
    help="doudi (兜底): social-assistance payments and fund ledger", no_args_is_help=True
)
token_app = typer.Typer(help="Bearer credentials", no_args_is_help=True)
projections_app = typer.Typer(help="Read models", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports", no_args_is_help=True)
roll_app = typer.Typer(help="Monthly payment rolls (发放名册)", no_args_is_help=True)
app.add_typer(roll_app, name="roll")
app.add_typer(token_app, name="token")
app.add_typer(projections_app, name="projections")
app.add_typer(import_app, name="import")
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
) -> None:
    """Start the HTTP API (docs at /docs, no CDN needed)."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
    )


@token_app.command("issue")
def token_issue(
    role: Annotated[
        str,
        typer.Option(
            help="case_worker, approver, finance_officer, auditor, special_auditor, admin"
        ),
    ],
    region: Annotated[
        str, typer.Option(help="6-digit scope: county, city (XXXX00), province (XX0000), 000000")
    ],
    label: Annotated[str, typer.Option()] = "",
    expires_at: Annotated[
        str | None, typer.Option(help="ISO timestamp, e.g. 2025-12-31T00:00:00+00:00")
    ] = None,
    period_from: Annotated[str | None, typer.Option()] = None,
    period_to: Annotated[str | None, typer.Option()] = None,
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
        )
    except DomainError as error:
        console.print(f"[red]{error.field}: {error.detail}[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()
    typer.echo(
        json.dumps(
            {"credential_id": credential_id, "token": token, "role": role, "region_scope": region}
        )
    )


@projections_app.command("rebuild")
def projections_rebuild(name: Annotated[str, typer.Argument(help="a view name, or 'all'")]) -> None:
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
            count = services.projections.rebuild(view, lambda n, t=task: progress.advance(t, n))
            console.print(f"{view}: {count} events replayed")
    services.close()


@projections_app.command("run")
def projections_run(
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 0.5,
    once: Annotated[bool, typer.Option(help="catch up once and stop")] = False,
) -> None:
    """A projection worker: follow the log and keep every read model up to date."""
    services = _services()
    try:
        while True:
            count = services.projections.catch_up()
            if count:
                console.print(f"applied {count} events")
            if once:
                break
            time.sleep(interval)
    finally:
        services.close()


@projections_app.command("status")
def projections_status() -> None:
    services = _services()
    typer.echo(
        json.dumps(
            {
                "log_position": services.log_position(),
                "projections": services.projections.positions(),
            }
        )
    )
    services.close()


@import_app.command("households")
def import_households_command(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    actor: Annotated[str, typer.Option(help="who is importing")] = "import",
) -> None:
    """Import a roster CSV (see ops/importer.py for the columns)."""
    from ops.importer import import_households

    services = _services()
    with path.open(encoding="utf-8-sig") as count_stream:
        households = len({line.split(",", 1)[0] for line in count_stream}) - 1
    with _progress() as progress, path.open(encoding="utf-8-sig", newline="") as stream:
        task = progress.add_task("import households", total=households)
        report = import_households(services, stream, actor, lambda n: progress.advance(task, n))
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


@roll_app.command("generate")
def roll_generate(
    county: Annotated[str, typer.Option(help="6-digit county code")],
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    group: Annotated[str, typer.Option(help="all, dibao, marginal, tekun")] = "all",
) -> None:
    """Generate (or regenerate) a county's draft roll for a month, as known now."""
    from domain.access import Principal
    from domain.errors import DomainError
    from ops.rolls import generate_roll

    services = _services()
    operator = Principal("cli", "admin", "000000")
    try:
        with _progress() as progress:
            task = progress.add_task(f"roll {county} {month}", total=None)
            outcome = generate_roll(
                services, operator, county, month, group, lambda n: progress.advance(task, n)
            )
            services.app.save(*outcome.aggregates)
    except DomainError as error:
        console.print(f"[red]{error.field}: {error.detail}[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()
    typer.echo(json.dumps(outcome.response, ensure_ascii=False))


@app.command()
def demo(
    if_empty: Annotated[
        bool, typer.Option(help="do nothing if the database already has events")
    ] = False,
    households: Annotated[int, typer.Option()] = 300,
) -> None:
    """Load the deterministic demo county (当阳市) and print tokens for each role."""
    from ops.demo import load_demo

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
    app()
