"""The checkpoints the service has issued: every signed checkpoint it serves is kept, so that an
auditor who did not keep one can fetch a past one, verify its signature, and check that a later
one extends it (a consistency proof).

The history is a convenience, not a trust anchor: a database administrator can delete its rows
(never forge one without the key), so an auditor still keeps the checkpoints that matter to them.
A kept row is never changed: a checkpoint is issued once per tree size and signing key (Ed25519
signatures are deterministic: signing it again gives the same note).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.proof.signing import SigningKey
from ledger.proof.verify import Checkpoint
from ledger.store.db import Database
from projections.runner import utc_text
from projections.tlog.proofs import b64
from projections.tlog.view import Head, SealView

DDL = """CREATE TABLE IF NOT EXISTS tlog_checkpoints (tree_size BIGINT NOT NULL,
    key TEXT NOT NULL, root BYTEA NOT NULL, note TEXT NOT NULL, issued_at TEXT NOT NULL,
    PRIMARY KEY (tree_size, key))"""


class IssuedCheckpoints:
    def __init__(self, db: Database) -> None:
        self.db = db

    def setup(self) -> None:
        with self.db.transaction(write=True) as cur:
            cur.execute(DDL)

    def issue(self, tlog: SealView, origin: str, key: SigningKey, head: Head | None = None) -> str:
        """The signed checkpoint of the sealed tree's head (or of ``head``, one read before),
        kept (once) in the history."""
        head = tlog.head() if head is None else head
        note = key.sign_checkpoint(Checkpoint(origin, head.size, head.root))
        with self.db.transaction(write=True) as cur:
            cur.execute(
                "INSERT INTO tlog_checkpoints (tree_size, key, root, note, issued_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tree_size, key) DO NOTHING",
                (head.size, key_name(key), head.root, note, utc_text(datetime.now(UTC))),
            )
        return note

    def page(self, limit: int, offset: int) -> dict[str, Any]:
        """The issued checkpoints, oldest (smallest tree) first: tree size, root, signing key
        and when each was first issued."""
        with self.db.transaction() as cur:
            total = cur.execute("SELECT count(*) AS n FROM tlog_checkpoints").fetchone()
            rows = cur.execute(
                "SELECT tree_size, key, root, issued_at FROM tlog_checkpoints"
                " ORDER BY tree_size, issued_at, key LIMIT %s OFFSET %s",
                (limit, offset),
            ).fetchall()
        items = [
            {
                "tree_size": int(row["tree_size"]),
                "root_hash": b64(bytes(row["root"])),
                "key": row["key"],
                "issued_at": row["issued_at"],
            }
            for row in rows
        ]
        return {"total": int(total["n"]) if total else 0, "limit": limit, "offset": offset,
                "items": items}  # fmt: skip

    def note(self, tree_size: int) -> str | None:
        """The signed note of the checkpoint issued at this tree size (the latest-issued, if
        several keys signed one), or None if none was."""
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT note FROM tlog_checkpoints WHERE tree_size = %s"
                " ORDER BY issued_at DESC, key LIMIT 1",
                (tree_size,),
            ).fetchone()
        return None if row is None else str(row["note"])

    def notes(self) -> list[tuple[str, str]]:
        """Every issued checkpoint as (name, signed note), for a verification to check."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT tree_size, key, note FROM tlog_checkpoints ORDER BY tree_size, key"
            ).fetchall()
        return [(f"issued {row['tree_size']} ({row['key']})", str(row["note"])) for row in rows]


def key_name(key: SigningKey) -> str:
    """How the history names a signing key: its name and id, as its verifier key begins."""
    return f"{key.name}+{key.key_id.hex()}"
