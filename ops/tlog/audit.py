"""Checkpoints and proofs of the live log, and ``doudi audit verify`` against its database.

The verification trusts nothing stored: it recomputes every leaf from the stored events (their
states hashed here, or by PostgreSQL if asked: ``TreeReader``), compares them with the sealed
leaves, recomputes every sealed subtree head, and the tree head at the size of every kept
checkpoint, from the events alone, in one pass. What it finds first is named: the
position where the log and its seal part, or — when the seal was rebuilt to match a rewritten
log — the kept checkpoints between which the rewrite lies.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidValue, NotFound
from ops.tlog.reader import StoredDigest, TreeReader
from ops.tlog.signing import SigningKey
from ops.tlog.verify import (
    Checkpoint,
    Discrepancy,
    VerifyError,
    entry_bytes,
    first_discrepancy,
    leaf_hash,
    moved_here,
    node_hash,
    verify_checkpoint,
)
from projections.db import Database
from projections.tlog.tree import fold
from projections.tlog.view import SealView


def checkpoint(tlog: SealView, origin: str) -> Checkpoint:
    """The checkpoint of the sealed tree's head."""
    head = tlog.head()
    return Checkpoint(origin, head.size, head.root)


def signed_checkpoint(tlog: SealView, origin: str, key: SigningKey) -> str:
    return key.sign_checkpoint(checkpoint(tlog, origin))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class KeptCheckpoint:
    """A checkpoint an auditor kept, and what the verification found of it."""

    name: str  # where it came from (a file name)
    note: str
    checkpoint: Checkpoint | None = None
    finding: str = ""  # empty when it holds


@dataclass
class Report:
    events: int = 0  # stored events read
    sealed: int = 0  # leaves sealed
    discrepancy: Discrepancy | None = None
    problems: list[str] = field(default_factory=list)
    checkpoints: list[KeptCheckpoint] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "sealed": self.sealed,
            "unsealed": max(0, self.events - self.sealed),
            "first_bad": None
            if self.discrepancy is None
            else {
                "kind": self.discrepancy.kind,
                "position": self.discrepancy.position,
                "leaf_index": self.discrepancy.index,
                "sealed_at": self.discrepancy.sealed_at,
            },
            "problems": self.problems,
            "checkpoints": [
                {
                    "name": kept.name,
                    "size": kept.checkpoint.size if kept.checkpoint else None,
                    "holds": not kept.finding,
                    "finding": kept.finding,
                }
                for kept in self.checkpoints
            ],
        }


class _Recomputed:
    """The stored log's (position, leaf) as they stream past, building the tree of the events
    alone: its head is noted at the sizes asked for, and each subtree it completes within the
    sealed size is compared with the stored one (``stored_nodes``: (end leaf, level, hash) in
    the order they complete)."""

    def __init__(
        self,
        events: Iterator[StoredDigest],
        sizes: Iterable[int],
        stored_nodes: Iterator[tuple[int, int, bytes]],
        sealed: int,
    ) -> None:
        self._events = events
        self._stored_nodes = stored_nodes
        self.sealed = sealed
        self.size = 0
        self.edge: list[bytes] = []  # heads of the perfect subtrees on the right edge
        self.wanted = set(sizes)
        self.roots: dict[int, bytes] = {0: fold([])} if 0 in self.wanted else {}
        self.bad_node: tuple[int, int] | None = None  # (level, index) of the first bad one
        self.last: StoredDigest | None = None  # the event read last

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        edge, wanted = self.edge, self.wanted
        for event in self._events:
            self.last = event
            position, originator_id, version, topic, digest = event
            leaf = hashed = leaf_hash(entry_bytes(position, originator_id, version, topic, digest))
            self.size += 1
            level = 0
            while not (self.size >> level) & 1:  # one subtree completes per trailing zero bit
                hashed, level = node_hash(edge.pop(), hashed), level + 1
                if self.bad_node is None and self.size <= self.sealed:
                    self._compare(level, hashed)
            edge.append(hashed)
            if self.size in wanted:
                self.roots[self.size] = fold(edge)
            yield position, leaf

    def _compare(self, level: int, hashed: bytes) -> None:
        if next(self._stored_nodes, None) != (self.size, level, hashed):
            self.bad_node = (level, (self.size >> level) - 1)

    def drain(self) -> None:
        """Read on to the log's end."""
        for _ in self:
            pass


def verify_database(
    db: Database,
    reader: TreeReader,
    tlog: SealView,
    kept: Sequence[tuple[str, str]] = (),
    vkeys: Sequence[str] = (),
    origin: str | None = None,
    *,
    server_digests: bool = False,
) -> Report:
    """Verify the live log against its sealed tree and against kept checkpoints, each given as
    (name, signed note) and checked first under ``vkeys`` (the log's keys, current and
    earlier). The states are hashed here unless ``server_digests`` lets PostgreSQL hash them
    (faster, and trusts the server's hashing)."""
    report = Report(checkpoints=[KeptCheckpoint(name, note) for name, note in kept])
    _open_checkpoints(report, vkeys, origin)
    head = tlog.head()
    report.sealed = head.size
    sizes = {kept.checkpoint.size for kept in report.checkpoints if kept.checkpoint}
    stored_nodes = (
        (int(row[0]), int(row[1]), bytes(row[2]))
        for page in db.stream(
            "SELECT end_leaf, level, hash FROM tlog_nodes WHERE end_leaf <= %s"
            " ORDER BY end_leaf, level",
            (head.size,),
        )
        for row in page
    )
    recomputed = _Recomputed(
        reader.every(local=not server_digests), sizes | {head.size}, stored_nodes, head.size
    )
    sealed = (
        (int(row[0]), bytes(row[1]))
        for page in db.stream(
            "SELECT position, hash FROM tlog_leaves WHERE leaf_index < %s ORDER BY leaf_index",
            (head.size,),
        )
        for row in page
    )
    found, _ = first_discrepancy(recomputed, sealed)
    if found is not None and found.kind == "altered" and recomputed.last is not None:
        moved_from = moved_here(recomputed.last, sealed)
        if moved_from is not None:
            found = Discrepancy("reordered", found.position, found.index, moved_from)
    report.discrepancy = found
    if found is not None:
        report.problems.append(f"the log and its seal part at {found}")
    recomputed.drain()
    report.events = recomputed.size
    if found is None:
        _check_seal(head.root, recomputed, report)
    _check_kept(report, recomputed)
    return report


def _open_checkpoints(report: Report, vkeys: Sequence[str], origin: str | None) -> None:
    for kept in report.checkpoints:
        if not vkeys:
            kept.finding = "no verifier key given: a checkpoint is trusted only once verified"
        else:
            try:
                kept.checkpoint = verify_checkpoint(kept.note, vkeys, origin)
            except VerifyError as error:
                kept.finding = f"rejected: {error}"
        if kept.finding:
            report.problems.append(f"checkpoint {kept.name}: {kept.finding}")


def _check_seal(root: bytes, recomputed: _Recomputed, report: Report) -> None:
    """The sealed heads of subtrees and of the tree are those of the sealed leaves (which
    matched the events, so the recomputed tree is the tree of them). Everything sealed is read
    as of the head taken at the start: sealing may go on meanwhile."""
    if recomputed.roots.get(recomputed.sealed) != root:
        report.problems.append("the sealed tree head is not the head of the sealed leaves")
    if recomputed.bad_node is not None:
        level, index = recomputed.bad_node
        report.problems.append(
            f"the sealed subtree (level {level}, index {index}) is not the head of its leaves"
        )


def _check_kept(report: Report, recomputed: _Recomputed) -> None:
    """Each kept checkpoint against the tree of the stored events at its size: truncation if
    the log is shorter, a rewrite if the head differs (located between the largest checkpoint
    that still holds and this one)."""
    holding = sorted(
        kept.checkpoint.size
        for kept in report.checkpoints
        if kept.checkpoint and recomputed.roots.get(kept.checkpoint.size) == kept.checkpoint.root
    )
    for kept in report.checkpoints:
        if kept.checkpoint is None:
            continue
        size = kept.checkpoint.size
        if size > recomputed.size:
            kept.finding = (
                f"the log holds {recomputed.size} events, fewer than the {size} this"
                " checkpoint signed: truncated or deleted"
            )
        elif recomputed.roots.get(size) != kept.checkpoint.root:
            after = max((s for s in holding if s < size), default=0)
            kept.finding = (
                f"the first {size} events are not those this checkpoint signed: rewritten"
                f" between leaf {after} and leaf {size - 1}"
            )
        else:
            continue
        report.problems.append(f"checkpoint {kept.name}: {kept.finding}")


# --- proofs as the API and the CLI give them ------------------------------------------------


def _tree_size(tlog: SealView, tree_size: int | None, field: str) -> int:
    sealed = tlog.head().size
    if tree_size is None:
        return sealed
    if not 1 <= tree_size <= sealed:
        raise InvalidValue(
            f"{field} must be between 1 and the {sealed} events sealed so far",
            field=field,
            rule="within_sealed_tree",
        )
    return tree_size


def inclusion_proof(tlog: SealView, position: int, tree_size: int | None = None) -> dict[str, Any]:
    """The inclusion proof of the event at ``position`` in the tree of ``tree_size`` (the
    sealed head if none): hashes in base64, from the leaf's sibling upwards."""
    found = tlog.leaf(position)
    if found is None:
        raise NotFound("no event is sealed at this position", field="position", rule="sealed")
    index, leaf = found
    size = _tree_size(tlog, tree_size, "tree_size")
    if index >= size:
        raise InvalidValue(
            f"the event at this position is leaf {index}: a tree of {size} leaves does not hold it",
            field="tree_size",
            rule="includes_position",
        )
    return {
        "position": position,
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": b64(leaf),
        "root_hash": b64(tlog.root(size)),
        "proof": [b64(hashed) for hashed in tlog.inclusion(index, size)],
    }


def consistency_proof(tlog: SealView, first: int, second: int | None = None) -> dict[str, Any]:
    """The consistency proof from the tree of ``first`` leaves to that of ``second`` (the
    sealed head if none)."""
    size = _tree_size(tlog, second, "to")
    if not 1 <= first <= size:
        raise InvalidValue(
            f"from must be between 1 and to ({size})", field="from", rule="at_most_to"
        )
    return {
        "from": first,
        "to": size,
        "from_root_hash": b64(tlog.root(first)),
        "to_root_hash": b64(tlog.root(size)),
        "proof": [b64(hashed) for hashed in tlog.consistency(first, size)],
    }
