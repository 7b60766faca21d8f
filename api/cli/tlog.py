"""``doudi audit``: the log's signing key, its checkpoint, proofs, and verification."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledger.proof.signing import SigningKey
from ledger.store.settings import Settings
from ops.services.core import Services
from projections.tlog.audit import verify_database
from projections.tlog.proofs import consistency_proof, inclusion_proof

audit_app = typer.Typer(
    help="The verifiable log (Merkle tree, signed checkpoints)", no_args_is_help=True
)
console = Console(stderr=True)


def _services() -> Services:
    return Services(Settings())


@audit_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option(help="where to write the private key (must not exist)")],
    name: Annotated[
        str | None, typer.Option(help="key name; by convention the log's origin (DOUDI_LOG_ORIGIN)")
    ] = None,
) -> None:
    """Write a new Ed25519 signing key (mode 0600) and print its verifier key, to publish.

    Point DOUDI_LOG_SIGNING_KEY at the file. To rotate: generate a new key, publish its
    verifier key beside the old one, switch the setting; checkpoints signed before stay
    verifiable with the old verifier key."""
    key = SigningKey.generate(name or Settings().log_origin)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(key.text() + "\n")
    console.print(f"wrote the private key to {out}; keep it outside the database")
    typer.echo(key.vkey)


@audit_app.command("vkey")
def vkey() -> None:
    """Print the verifier key of the configured signing key (what auditors verify with)."""
    services = _services()
    try:
        typer.echo(services.log_key.vkey)
    finally:
        services.close()


@audit_app.command("status")
def status() -> None:
    """How far the seal has come: the log's head beside the sealed size and position, and how
    far behind it is (events, and the oldest unsealed event's wait in seconds)."""
    services = _services()
    try:
        head, lag = services.tlog.head(), services.seal_lag()
        typer.echo(json.dumps({
            "log_position": services.log_position(),
            "sealed_position": head.position,
            "sealed_size": head.size,
            "root_hash": base64.b64encode(head.root).decode(),
            "events_behind": lag.events,
            "seconds_behind": lag.seconds,
        }))  # fmt: skip
    finally:
        services.close()


@audit_app.command("checkpoint")
def checkpoint(
    size: Annotated[
        int | None, typer.Option(min=0, help="print the one issued at this tree size instead")
    ] = None,
) -> None:
    """Seal what is not sealed yet and print the signed checkpoint of the tree (a C2SP
    tlog-checkpoint signed note, kept in the history of issued checkpoints): keep it, to verify
    the log against later. With --size: print the checkpoint issued at that size before."""
    services = _services()
    try:
        if size is None:
            services.seal()
            note = services.issue_checkpoint()
        else:
            found = services.issued.note(size)
            if found is None:
                console.print(f"[red]size: no checkpoint was issued at tree size {size}[/red]")
                raise typer.Exit(2)
            note = found
    finally:
        services.close()
    typer.echo(note, nl=False)


@audit_app.command("checkpoints")
def checkpoints(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List the checkpoints issued so far (tree size, root, signing key, when), smallest first."""
    services = _services()
    try:
        typer.echo(json.dumps(services.issued.page(limit, offset)))
    finally:
        services.close()


@audit_app.command("prove")
def prove(
    position: Annotated[int | None, typer.Option(min=1, help="inclusion of this event")] = None,
    first: Annotated[
        int | None, typer.Option("--from", min=1, help="consistency from this size")
    ] = None,
    tree_size: Annotated[
        int | None, typer.Option("--tree-size", min=1, help="default: the sealed size")
    ] = None,
) -> None:
    """Print an inclusion proof (--position) or a consistency proof (--from) as JSON."""
    from domain.errors import DomainError

    if (position is None) == (first is None):
        console.print("[red]give --position or --from[/red]")
        raise typer.Exit(2)
    services = _services()
    try:
        services.seal()
        if position is not None:
            found = inclusion_proof(services.tlog, position, tree_size)
        else:
            found = consistency_proof(services.tlog, first or 0, tree_size)
    except DomainError as error:
        console.print(f"[red]{error.field}: {error.detail} ({error.rule})[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()
    typer.echo(json.dumps(found, indent=1))


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint", exists=True, dir_okay=False, help="a kept checkpoint (repeat)"
        ),
    ] = None,
    vkey: Annotated[
        list[str] | None,
        typer.Option(
            help="the published verifier key, or a file holding it (repeat: earlier keys too)"
        ),
    ] = None,
    seal: Annotated[
        bool, typer.Option(help="seal new events first (off: verify only what is sealed)")
    ] = False,
    server_digests: Annotated[
        bool,
        typer.Option(help="let PostgreSQL hash the stored states (trusts the database server)"),
    ] = False,
    issued: Annotated[
        bool, typer.Option(help="also check every checkpoint the service has issued (its history)")
    ] = False,
) -> None:
    """Verify the live log: recompute every leaf from the stored events, compare with the
    sealed tree, and check each kept checkpoint (signature, then truncation or rewrite).
    Prints a JSON report naming the first bad position; exit status 1 if anything is wrong."""
    kept = [(str(path), path.read_text(encoding="utf-8")) for path in checkpoint or []]
    vkeys = [
        Path(key).read_text(encoding="utf-8").strip() if Path(key).is_file() else key
        for key in vkey or []
    ]
    services = _services()
    try:
        if seal:
            services.seal()
        if issued:
            kept += services.issued.notes()
        report = verify_database(
            services.db, services.tree_reader, services.tlog, kept, vkeys,
            services.settings.log_origin, server_digests=server_digests,
        )  # fmt: skip
    finally:
        services.close()
    typer.echo(json.dumps(report.as_dict(), indent=1, ensure_ascii=False))
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    scope: Annotated[str, typer.Option(help="6-digit region scope: county, city or province")],
    first: Annotated[str, typer.Option("--from", help="first month, YYYY-MM")],
    last: Annotated[str, typer.Option("--to", help="last month, YYYY-MM")],
    out: Annotated[Path, typer.Option(help="a new or empty folder for the package")],
) -> None:
    """Write the special-audit package of a scope and period: its cases' events as stored, with
    inclusion proofs, the checkpoint, and a signed manifest (check it with verify-package)."""
    from domain.errors import DomainError
    from ops.services.export import export_package

    services = _services()
    try:
        typer.echo(json.dumps(export_package(services, scope, first, last, out)))
    except DomainError as error:
        console.print(f"[red]{error.field}: {error.detail} ({error.rule})[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()


@audit_app.command("verify-package")
def verify_package_command(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    vkey: Annotated[list[str], typer.Option(help="the log's verifier key, or a file holding it")],
) -> None:
    """Check a special-audit package offline (no database, no server): exit status 1 if any
    signature, hash or proof fails."""
    from ledger.proof.verify import VerifyError, verify_package

    vkeys = [Path(k).read_text(encoding="utf-8").strip() if Path(k).is_file() else k for k in vkey]
    try:
        count = verify_package(folder, vkeys)
    except (VerifyError, ValueError, KeyError, OSError) as error:
        typer.echo(json.dumps({"ok": False, "problem": str(error)}, ensure_ascii=False))
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"ok": True, "events": count}))
