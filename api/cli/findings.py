"""``doudi findings``: list misuse findings (and write the audit team's XLSX), show one, and
the auditors' review steps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

findings_app = typer.Typer(help="Misuse findings (SPEC §8)", no_args_is_help=True)
PAGE = 500
Token = Annotated[
    str | None, typer.Option(envvar="DOUDI_TOKEN", help="act as this credential")
]  # fmt: skip


@findings_app.command("list")
def findings_list(
    rule: Annotated[str | None, typer.Option(help="one rule, e.g. paid_after_death")] = None,
    region: Annotated[str | None, typer.Option(help="a region within the scope")] = None,
    status: Annotated[str | None, typer.Option(help="open, explained, confirmed")] = None,
    first: Annotated[str | None, typer.Option("--from", help="dated from YYYY-MM-DD")] = None,
    last: Annotated[str | None, typer.Option("--to", help="dated to YYYY-MM-DD")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="write every finding as XLSX here")] = None,
    token: Token = None,
) -> None:
    """Findings the credential sees, with totals per rule (as JSON; all of them as XLSX)."""
    from api.cli.main import _run
    from api.outputs.findings import findings_xlsx
    from ops.services.findings import search_findings

    def action(services: Any, principal: Any) -> tuple[dict[str, Any], bytes | None]:
        services.fresh()

        def page(cursor: str | None) -> dict[str, Any]:
            return search_findings(
                services, principal, rule=rule, region=region, status=status, first=first,
                last=last, limit=PAGE, cursor=cursor,
            )  # fmt: skip

        first_page = page(None)

        def every() -> Iterator[dict[str, Any]]:
            found = first_page
            while True:
                yield from found["items"]
                if found["next"] is None:
                    return
                found = page(found["next"])

        sheet = findings_xlsx(every(), first_page) if xlsx is not None else None
        return first_page, sheet

    found, sheet = _run(action, token)
    if xlsx is not None and sheet is not None:
        xlsx.write_bytes(sheet)
    typer.echo(json.dumps(found, ensure_ascii=False, indent=1))


@findings_app.command("show")
def findings_show(
    finding: Annotated[str, typer.Argument(help="finding id")], token: Token = None
) -> None:
    """One finding with its evidence and review steps."""
    from api.cli.main import _run
    from ops.services.findings import visible_finding

    found = _run(lambda s, p: visible_finding(s.fresh(), p, finding), token)
    typer.echo(json.dumps(found, ensure_ascii=False, indent=1))


@findings_app.command("explain")
def findings_explain(
    finding: Annotated[str, typer.Argument(help="finding id")],
    note: Annotated[str, typer.Option(help="the explanation")],
    document_ref: Annotated[str, typer.Option(help="the document that bears it out")],
    token: Token = None,
) -> None:
    """Record the explanation that clears an open finding (an auditor's --token)."""
    from api.cli.main import _submit
    from ops.services.findings import ReviewFinding

    command = ReviewFinding(finding_id=finding, step="explained", note=note,
                            document_ref=document_ref)  # fmt: skip
    typer.echo(json.dumps(_submit(command, token), ensure_ascii=False))


@findings_app.command("confirm")
def findings_confirm(
    finding: Annotated[str, typer.Argument(help="finding id")],
    outcome: Annotated[str, typer.Option(help="recovery or referral")],
    note: Annotated[str, typer.Option(help="what was found")],
    document_ref: Annotated[str, typer.Option(help="the decision document")],
    token: Token = None,
) -> None:
    """Confirm an open finding: recovery (追回) or referral (移送) (an auditor's --token)."""
    from api.cli.main import _submit
    from ops.services.findings import ReviewFinding

    command = ReviewFinding(finding_id=finding, step="confirmed", outcome=outcome, note=note,
                            document_ref=document_ref)  # fmt: skip
    typer.echo(json.dumps(_submit(command, token), ensure_ascii=False))
