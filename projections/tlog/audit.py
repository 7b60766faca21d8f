"""``doudi audit verify``: the live log checked against its database.

The verification trusts nothing stored: it recomputes every leaf from the stored events (their
states hashed here, or by PostgreSQL if asked: ``TreeReader``), compares them with the sealed
leaves, recomputes every sealed subtree head, and the tree head at the size of every kept
checkpoint, from the events alone, in one pass. What it finds first is named: the
position where the log and its seal part, or — when the seal was rebuilt to match a rewritten
log — the kept checkpoints between which the rewrite lies.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.proof import tiles
from ledger.proof.reader import TreeReader
from ledger.proof.tiles import POSITION_SIZE, Builder, Tile
from ledger.proof.verify import (
    HASH_SIZE,
    Checkpoint,
    Discrepancy,
    VerifyError,
    first_discrepancy,
    moved_here,
    verify_checkpoint,
)
from ledger.store.db import Database
from projections.tlog.view import SealView, unpack_positions


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


def _pairs(positions: bytes, leaves: bytes) -> Iterator[tuple[int, bytes]]:
    """(position, leaf) of packed positions and concatenated leaves."""
    for at, position in enumerate(unpack_positions(positions)):
        yield position, leaves[at * HASH_SIZE : (at + 1) * HASH_SIZE]


class _Recomputed:
    """The tree of the stored events alone, built as their pages stream past (``pages``): its
    head is noted at the sizes asked for, and each tile above level 0 it completes within the
    sealed size, and the right edge at the sealed size, are compared with the stored ones
    (``upper``, from ``SealView.upper_tiles``)."""

    def __init__(
        self,
        pages: Iterator[tuple[bytes, bytes]],
        sizes: Iterable[int],
        upper: dict[tuple[int, int], bytes],
        sealed: int,
    ) -> None:
        self.builder = Builder()
        self.upper = upper
        self.sealed = sealed
        self.wanted = sorted(set(sizes))
        self.roots: dict[int, bytes] = {}
        self.bad_tile: tuple[int, int] | None = None  # (level, index) of the first bad one
        self.pages = self._pages(pages)

    @property
    def size(self) -> int:
        return self.builder.size

    def _pages(self, pages: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        wanted = iter(self.wanted)
        stop = next(wanted, None)
        if stop == 0:
            self._note()
            stop = next(wanted, None)
        for positions, leaves in pages:
            done, count = 0, len(positions) // POSITION_SIZE
            while done < count:  # split at each size asked for
                end = count if stop is None else min(count, done + stop - self.size)
                self._extend(positions[done * POSITION_SIZE : end * POSITION_SIZE],
                             leaves[done * HASH_SIZE : end * HASH_SIZE])  # fmt: skip
                done = end
                if self.size == stop:
                    self._note()
                    stop = next(wanted, None)
            yield positions, leaves

    def _extend(self, positions: bytes, leaves: bytes) -> None:
        for tile in self.builder.extend(leaves, positions):
            stored = self.upper.get((tile.level, tile.number))
            if tile.level and self.bad_tile is None and stored not in (None, tile.hashes):
                self.bad_tile = (tile.level, tile.number)

    def _note(self) -> None:
        self.roots[self.size] = self.builder.root()
        if self.size == self.sealed and self.bad_tile is None:
            for tile in self.builder.edge():
                if tile.level and self.upper.get((tile.level, tile.number)) != tile.hashes:
                    self.bad_tile = (tile.level, tile.number)
                    break

    def drain(self) -> None:
        """Read on to the log's end."""
        for _ in self.pages:
            pass

    def result(self) -> _Tree:
        return _Tree(self.size, self.sealed, self.roots, self.bad_tile)


def _first_discrepancy(
    stored: Iterator[tuple[bytes, bytes]], sealed: Iterator[Tile]
) -> Discrepancy | None:
    """The stored log's pages and the sealed level-0 tiles side by side, a tile at a time while
    they agree (compared as whole byte strings); from the first tile that differs, leaf by leaf
    (``verify.first_discrepancy``), to name where they part."""
    positions, leaves = b"", b""  # the stored log read but not yet compared
    matched = 0
    for tile in sealed:
        wanted = len(tile.positions)
        while len(positions) < wanted:
            page = next(stored, None)
            if page is None:
                break
            positions, leaves = positions + page[0], leaves + page[1]
        count = wanted // POSITION_SIZE
        if positions[:wanted] == tile.positions and leaves[: count * HASH_SIZE] == tile.hashes:
            positions, leaves = positions[wanted:], leaves[count * HASH_SIZE :]
            matched += count
            continue
        mine = itertools.chain(
            _pairs(positions, leaves), (pair for page in stored for pair in _pairs(*page))
        )
        theirs = itertools.chain(
            _pairs(tile.positions, tile.hashes),
            (pair for later in sealed for pair in _pairs(later.positions, later.hashes)),
        )
        found, _ = first_discrepancy(mine, theirs)
        if found is None:
            return None
        return Discrepancy(found.kind, found.position, matched + found.index)
    return None


def verify_database(
    db: Database,
    reader: TreeReader,
    tlog: SealView,
    kept: Sequence[tuple[str, str]] = (),
    vkeys: Sequence[str] = (),
    origin: str | None = None,
    *,
    server_digests: bool = False,
    builder_process: bool = False,
) -> Report:
    """Verify the live log against its sealed tree and against kept checkpoints, each given as
    (name, signed note) and checked first under ``vkeys`` (the log's keys, current and
    earlier). The states are hashed here unless ``server_digests`` lets PostgreSQL hash them
    (less to read, and trusts the server's hashing). ``builder_process``: the tree of the stored
    events is built by a child process from the leaves this one computes, the two working at
    once (for a machine with a core to spare beside the database server's)."""
    report = Report(checkpoints=[KeptCheckpoint(name, note) for name, note in kept])
    _open_checkpoints(report, vkeys, origin)
    head = tlog.head()
    report.sealed = head.size
    sizes = {kept.checkpoint.size for kept in report.checkpoints if kept.checkpoint}
    wanted, upper = sizes | {head.size}, tlog.upper_tiles(head.size)
    pages = reader.leaf_pages(local=not server_digests)
    if builder_process:
        found, tree = _compare_beside_a_builder(pages, tlog, head.size, wanted, upper)
    else:
        recomputed = _Recomputed(pages, wanted, upper, head.size)
        found = _first_discrepancy(recomputed.pages, tlog.sealed_tiles(head.size))
        recomputed.drain()
        tree = recomputed.result()
    if found is not None and found.kind == "altered":
        found = _moved_in_log(found, reader, tlog, head.size)
    report.discrepancy = found
    if found is not None:
        report.problems.append(f"the log and its seal part at {found}")
    report.events = tree.size
    if found is None:
        _check_seal(head.root, tree, report)
    _check_kept(report, tree)
    return report


@dataclass(frozen=True)
class _Tree:
    """What the tree of the stored events came to: its size, its head at the sizes asked
    for, and the first stored tile above level 0 found to differ from it."""

    size: int
    sealed: int
    roots: dict[int, bytes]
    bad_tile: tuple[int, int] | None


def _compare_beside_a_builder(
    pages: Iterator[tuple[bytes, bytes]],
    tlog: SealView,
    sealed: int,
    wanted: set[int],
    upper: dict[tuple[int, int], bytes],
) -> tuple[Discrepancy | None, _Tree]:
    """Compare the stored log's pages with the seal here while a child process builds their
    tree (``_build_from``): each page is sent to it as it passes."""
    context = multiprocessing.get_context("fork")  # the child needs nothing of this one's state
    here, there = context.Pipe()
    child = context.Process(target=_build_from, args=(there, wanted, upper, sealed), daemon=True)
    child.start()
    there.close()
    try:

        def sent(pages: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
            for page in pages:
                here.send(page)
                yield page

        stream = sent(pages)
        found = _first_discrepancy(stream, tlog.sealed_tiles(sealed))
        for _ in stream:  # the rest of the log, to the builder
            pass
        here.send(None)
        tree: _Tree = here.recv()
    finally:
        here.close()
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    return found, tree


def _build_from(connection: Any, wanted: set[int], upper: dict[tuple[int, int], bytes],
                sealed: int) -> None:  # fmt: skip
    """In the child: build the tree of the pages received until None, send back its ``_Tree``."""
    recomputed = _Recomputed(iter(connection.recv, None), wanted, upper, sealed)
    recomputed.drain()
    connection.send(recomputed.result())
    connection.close()


def _moved_in_log(found: Discrepancy, reader: TreeReader, tlog: SealView, size: int) -> Discrepancy:
    """An altered position whose stored event is, unchanged, one sealed at a later position
    (``verify.moved_here``): named as reordered."""
    event = reader.digests(found.position, found.position, 1, local=True)
    if not event:
        return found
    later = (
        pair
        for tile in tlog.sealed_tiles(size)
        if (tile.number + 1) << tiles.HEIGHT > found.index
        for pair in _pairs(tile.positions, tile.hashes)
        if pair[0] > found.position
    )
    moved_from = moved_here(event[0], later)
    if moved_from is None:
        return found
    return Discrepancy("reordered", found.position, found.index, moved_from)


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


def _check_seal(root: bytes, recomputed: _Tree, report: Report) -> None:
    """The sealed heads of subtrees and of the tree are those of the sealed leaves (which
    matched the events, so the recomputed tree is the tree of them). Everything sealed is read
    as of the head taken at the start: sealing may go on meanwhile."""
    if recomputed.roots.get(recomputed.sealed) != root:
        report.problems.append("the sealed tree head is not the head of the sealed leaves")
    if recomputed.bad_tile is not None:
        level, index = recomputed.bad_tile
        report.problems.append(
            f"the sealed tile (level {level}, index {index}) is not the tile of its leaves"
        )


def _check_kept(report: Report, recomputed: _Tree) -> None:
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
