"""The special-audit package (``doudi audit export``): a scope's events, provable offline.

For a region scope and a period of months, the package holds every stored event of the cases
(households and 特困 persons) of the scope recorded in the period, each as stored — the state
in base64, as the tree sealed it — with its leaf index and its inclusion proof against the
signed checkpoint beside it, and its payload decrypted (``payload``: the JSON the event store
encrypted). A manifest signed by the log's key lists each file's SHA-256. ``verify.
verify_package`` checks it all with the verifier key alone. Nothing outside the scope is read
into it: the cases are selected by region before any event is.

The proofs bind each event as stored (encrypted); the payload beside it is bound by the signed
manifest, that is, by the log's key at export time. The payloads hold identity numbers and
accounts in full, as recorded: the package is as sensitive as the scope's records.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.errors import Forbidden, InvalidValue
from domain.regions import scope_prefix
from ops.tlog.audit import b64, signed_checkpoint
from ops.tlog.verify import MANIFEST_TITLE
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
    services.fresh()  # the case regions up to date, and everything sealed
    head = services.tlog.head()
    note = signed_checkpoint(services.tlog, services.settings.log_origin, services.log_key)
    with services.db.transaction() as cur:
        cases = [
            row["case_id"]
            for row in cur.execute(
                "SELECT case_id FROM case_state WHERE region_code LIKE %s ORDER BY case_id",
                (scope_prefix(scope) + "%",),
            ).fetchall()
        ]
    prover = Prover(services.tlog, head.size)
    events = services.tree_reader.events_of_many([UUID(case) for case in cases], head.position)
    prover.load(event[0] for event in events)
    lines = []
    for event in events:
        item = _item(services, prover, event, first, last)
        if item is not None:
            lines.append(item)
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoint").write_text(note, encoding="utf-8")
    with (out / "events.jsonl").open("w", encoding="utf-8") as stream:
        for item in lines:
            stream.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
    _sign_manifest(services, out, scope, first, last)
    return {"scope": scope, "from": first, "to": last, "cases": len(cases), "events": len(lines),
            "tree_size": head.size}  # fmt: skip


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
