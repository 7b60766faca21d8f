"""The special-audit package (``doudi audit export``): a scope's events, provable offline.

For a region scope and a period of months, the package holds every stored event of the scope's
records (``scope_records``: cases, rolls, grants, registry records, ledger transactions, and the
policy in force) recorded in the period, each as stored — the state
in base64, as the tree sealed it — with its leaf index and its inclusion proof against the
signed checkpoint beside it, and its payload decrypted (``payload``: the JSON the event store
encrypted). A manifest signed by the log's key lists each file's SHA-256. ``verify.
verify_package`` checks it all with the verifier key alone. Beside them, the scope's read models
for the period as CSV (``roll_lines.csv``, ``reconciliation.csv``, ``findings.csv``), hashed in
the manifest like every file. Nothing outside the scope is read into it: the records are selected by region before
any event is.

The proofs bind each event as stored (encrypted); the payload beside it is bound by the signed
manifest, that is, by the log's key at export time. The payloads hold identity numbers and
accounts in full, as recorded: the package is as sensitive as the scope's records.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.cells import csv_row
from domain.dates import add_months
from domain.errors import Forbidden, InvalidValue
from domain.regions import in_scope, is_ancestor_or_self, scope_prefix
from ledger.proof.verify import MANIFEST_TITLE
from projections.tlog.proofs import b64
from projections.tlog.view import Prover


def _month(value: str, field: str) -> str:
    if len(value) != 7 or value[4] != "-" or not (value[:4] + value[5:]).isdigit():
        raise InvalidValue("a month is YYYY-MM", field=field, rule="month_format")
    if not 1 <= int(value[5:]) <= 12:
        raise InvalidValue("a month is YYYY-MM", field=field, rule="month_range")
    return value


def export_package(services: Any, scope: str, first: str, last: str, out: Path) -> dict[str, Any]:
    """Write the package of ``scope`` (a region code) for months ``first``..``last`` into the
    empty or new folder ``out``; return what it holds."""
    first, last = _month(first, "from"), _month(last, "to")
    if first > last:
        raise InvalidValue("from is after to", field="from", rule="at_most_to")
    if out.exists() and any(out.iterdir()):
        raise InvalidValue("the package folder must be new or empty", field="out", rule="empty")
    services.fresh()  # the read models up to date, and everything sealed
    head = services.tlog.head()
    note = services.issue_checkpoint(head)
    records = scope_records(services, scope)
    prover = Prover(services.tlog, head.size)
    ids = [UUID(record) for record in records]
    events = services.tree_reader.events_of_many(ids, head.position)
    prover.load(event[0] for event in events)
    lines = []
    for event in events:
        kind = records[str(event[1])]
        # The policy in force in the period may have been recorded before it.
        since = "0000-00" if kind == "policy" else first
        item = _item(services, prover, event, since, last)
        if item is not None:
            lines.append({"record": kind, **item})
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoint").write_text(note, encoding="utf-8")
    with (out / "events.jsonl").open("w", encoding="utf-8") as stream:
        for item in lines:
            stream.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
    _write_projections(services, scope, first, last, out)
    _sign_manifest(services, out, scope, first, last)
    kinds = sorted(set(records.values()))
    return {"scope": scope, "from": first, "to": last,
            "cases": sum(kind == "case" for kind in records.values()),
            "records": {kind: sum(k == kind for k in records.values()) for kind in kinds},
            "events": len(lines), "tree_size": head.size}  # fmt: skip


def scope_records(services: Any, scope: str) -> dict[str, str]:
    """{aggregate id: kind} of every record of the scope, chosen by region from the read models
    before any event is read: its cases, the rolls of its counties (with the chunks of their
    lines), its temporary grants and registry records, the policy of the scope, of the regions
    in it and of those it lies in, and the ledger transactions whose every account is of the
    scope or of a region it lies in (an allocation from the city to the county is the county's;
    a transfer between two counties is not either one's alone)."""
    prefix = scope_prefix(scope) + "%"
    found: dict[str, str] = {}
    with services.db.transaction() as cur:
        for kind, sql in (
            ("case", "SELECT case_id AS id FROM case_state WHERE region_code LIKE %s"),
            ("roll", "SELECT roll_id AS id FROM rolls WHERE county_code LIKE %s"),
            ("grant", "SELECT grant_id AS id FROM temporary_grants WHERE region_code LIKE %s"),
            ("registry", "SELECT record_id AS id FROM registry_records WHERE region_code LIKE %s"),
        ):
            found.update({str(row["id"]): kind for row in cur.execute(sql, (prefix,)).fetchall()})
        for row in cur.execute("SELECT policy_id, region_code FROM policy_regions").fetchall():
            if in_scope(scope, row["region_code"]) or is_ancestor_or_self(
                row["region_code"], scope
            ):
                found[str(row["policy_id"])] = "policy"
        regions: dict[str, set[str]] = {}
        for row in cur.execute(
            "SELECT txn_id, region_code FROM ledger_entries WHERE txn_id IN"
            " (SELECT txn_id FROM ledger_entries WHERE region_code LIKE %s)",
            (prefix,),
        ).fetchall():
            regions.setdefault(str(row["txn_id"]), set()).add(row["region_code"])
    for txn, codes in regions.items():
        if all(in_scope(scope, code) or is_ancestor_or_self(code, scope) for code in codes):
            found[txn] = "ledger"
    for roll in [record for record, kind in found.items() if kind == "roll"]:
        found.update({chunk: "roll_chunk" for chunk in services.rolls.chunk_ids(roll)})
    return found


def _write_projections(services: Any, scope: str, first: str, last: str, out: Path) -> None:
    """The scope's read models for the period as CSV: the roll lines of its counties' rolls of
    the period, and each county's accounts reconciled month by month."""
    prefix = scope_prefix(scope) + "%"
    with services.db.transaction() as cur:
        lines = cur.execute(
            f"SELECT {', '.join(ROLL_LINE_COLUMNS)} FROM rolls r JOIN roll_lines l ON l.gen = r.gen"
            " WHERE r.county_code LIKE %s AND r.month >= %s AND r.month <= %s"
            " AND l.region_code LIKE %s ORDER BY r.county_code, r.month, r.grp, l.line_no",
            (prefix, first, last, prefix),
        ).fetchall()
        counties = sorted(
            row["county_code"]
            for row in cur.execute(
                "SELECT county_code FROM ledger_entries WHERE county_code LIKE %s"
                " UNION SELECT county_code FROM rolls WHERE county_code LIKE %s",
                (prefix, prefix),
            ).fetchall()
        )
    _write_csv(out / "roll_lines.csv", [column.split(".")[1] for column in ROLL_LINE_COLUMNS],
               [[row[column.split(".")[1]] for column in ROLL_LINE_COLUMNS] for row in lines])  # fmt: skip
    reconciled = []
    for county in counties:
        month = first
        while month <= last:
            for row in services.reconciliation.accounts(county, month):
                reconciled.append([county, month, *(row[column] for column in ACCOUNT_COLUMNS)])
            month = add_months(month, 1)
    _write_csv(out / "reconciliation.csv", ["county_code", "month", *ACCOUNT_COLUMNS], reconciled)
    _write_findings(services, scope, first, last, out)


def _write_findings(services: Any, scope: str, first: str, last: str, out: Path) -> None:
    """The scope's misuse findings dated in the period (问题线索), with their status, money
    involved and evidence (JSON) as the findings view holds them."""
    last_day = date.fromisoformat(f"{add_months(last, 1)}-01") - timedelta(days=1)
    period = (f"{first}-01", last_day.isoformat())
    rows: list[list[Any]] = []
    after = None
    while True:
        _total, _money, page, _rules, after = services.findings.search(
            scope_prefix=scope_prefix(scope), rule=None, status=None, period=period,
            staff_id=None, limit=FINDINGS_PAGE, after=after,
        )  # fmt: skip
        rows += [[row[column] if column != "evidence" else json.dumps(row[column], ensure_ascii=False)
                  for column in FINDING_COLUMNS] for row in page]  # fmt: skip
        if after is None:
            break
    _write_csv(out / "findings.csv", FINDING_COLUMNS, rows)


FINDINGS_PAGE = 1_000
FINDING_COLUMNS = (
    "finding_id", "rule", "severity", "region_code", "status", "case_id", "id_masked",
    "record_id", "grant_id", "roll_id", "amount_fen", "dated", "evidence", "detected_position",
    "detected_at", "outcome", "reviewed_by", "reviewed_at",
)  # fmt: skip


ROLL_LINE_COLUMNS = (
    "r.county_code", "r.month", "r.grp", "r.roll_id", "r.status", "l.line_no", "l.case_id",
    "l.programme", "l.region_code", "l.covered_members", "l.total_fen", "l.receivable_fen",
    "l.months", "l.bank_status",
)  # fmt: skip
ACCOUNT_COLUMNS = ("account", "kind", "opening_fen", "debit_fen", "credit_fen", "closing_fen")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(csv_row(row) for row in rows)


def _item(
    services: Any, prover: Prover, event: tuple[int, UUID, int, str, bytes], first: str, last: str
) -> dict[str, Any] | None:
    """The package line of one stored event, or None if it was recorded outside the period."""
    position, originator_id, version, topic, state = event
    mapper = services.app.mapper
    payload = mapper.cipher.decrypt(state) if mapper.cipher else state
    payload = mapper.compressor.decompress(payload) if mapper.compressor else payload
    recorded = json.loads(payload).get("timestamp", {})
    month = str(recorded.get("_data_", recorded) if isinstance(recorded, dict) else recorded)[:7]
    if not first <= month <= last:
        return None
    index = prover.leaf_index(position)
    if index is None:
        raise LookupError(f"position {position} is not sealed")
    return {
        "position": position,
        "leaf_index": index,
        "originator_id": str(originator_id),
        "originator_version": version,
        "topic": topic,
        "recorded_month": month,
        "state": base64.b64encode(state).decode(),
        "proof": [b64(hashed) for hashed in prover.inclusion(index)],
        "payload": payload.decode("utf-8"),
    }


def _sign_manifest(services: Any, out: Path, scope: str, first: str, last: str) -> None:
    files = sorted(path.name for path in out.iterdir())
    text = "\n".join(
        [MANIFEST_TITLE, services.settings.log_origin, f"scope {scope}", f"period {first} {last}"]
        + [f"{hashlib.sha256((out / name).read_bytes()).hexdigest()} {name}" for name in files]
    )
    (out / "manifest").write_text(services.log_key.sign_note(text + "\n"), encoding="utf-8")


def package_zip(services: Any, principal: Any, first: str, last: str) -> bytes:
    """The package of the caller's own scope for ``first``..``last``, as a zip file: a
    credential bound to an audit period (a special auditor's) gets nothing outside it."""
    principal.require("read.audit")
    first, last = _month(first, "from"), _month(last, "to")
    since = getattr(principal, "period_from", None)
    until = getattr(principal, "period_to", None)
    if since and first < str(since)[:7]:
        raise Forbidden("the period starts before this credential's audit period",
                        field="from", rule="audit_period")  # fmt: skip
    if until and last > str(until)[:7]:
        raise Forbidden("the period ends after this credential's audit period",
                        field="to", rule="audit_period")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "package"
        export_package(services, principal.region_scope, first, last, out)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.iterdir()):
                archive.write(path, path.name)
    return buffer.getvalue()
