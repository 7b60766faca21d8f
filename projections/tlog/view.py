"""The sealed Merkle tree over the event log: the sealing follower and the proofs it answers.

Every stored event, in log order, becomes a leaf (``ledger/proof/verify.py`` defines the leaf), and
is sealed exactly once, in the transaction that moves the view's tracking position. The tree is
stored as tiles (``tiles.py``): each full tile of 2^8 hashes is one row, written once (with, at
level 0, the positions of its leaves), and the partial tile of each level is one row of
``tlog_edge``, rewritten as the tree grows. The head of the tree at any size, an inclusion proof
or a consistency proof then reads a tile or two per level. Full tiles are never changed:
triggers refuse an update or delete of them.

The view reads the log through ``TreeReader``, which gives each event's leaf (PostgreSQL hashes
the entry where the state lies) rather than the state, and follows it with a ``Sealer`` of its
own, not the projection runner: ``projections rebuild all`` must not reseal a log that may have
been tampered with, and an event the seal cannot take must stop it, never be passed over.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ledger.proof import tiles
from ledger.proof.reader import Digested, TreeReader
from ledger.proof.tiles import Builder, Tile
from ledger.proof.tree import Node, consistency_ranges, fold, inclusion_ranges, perfect_parts
from ledger.proof.verify import EMPTY_ROOT, HASH_SIZE, entry_bytes, event_leaf, leaf_hash
from ledger.store.db import Cursor, Database
from ledger.store.logreader import Unread
from projections.runner import View

DDL = (
    """CREATE TABLE IF NOT EXISTS tlog_tiles (level INTEGER NOT NULL, tile BIGINT NOT NULL,
        first_position BIGINT, positions BYTEA NOT NULL, hashes BYTEA NOT NULL,
        PRIMARY KEY (level, tile))""",
    "CREATE INDEX IF NOT EXISTS tlog_tiles_first_position ON tlog_tiles (first_position)",
    """CREATE TABLE IF NOT EXISTS tlog_edge (level INTEGER PRIMARY KEY, tile BIGINT NOT NULL,
        first_position BIGINT, positions BYTEA NOT NULL, hashes BYTEA NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tlog_head (id INTEGER PRIMARY KEY CHECK (id = 1),
        size BIGINT NOT NULL, position BIGINT NOT NULL, root BYTEA NOT NULL)""",
)
SQLITE_GUARDS = tuple(
    f"""CREATE TRIGGER IF NOT EXISTS tlog_tiles_no_{action} BEFORE {action.upper()} ON tlog_tiles
        BEGIN SELECT RAISE(ABORT, 'a sealed tree is never changed'); END"""
    for action in ("update", "delete")
)
POSTGRES_GUARDS = (
    """CREATE OR REPLACE FUNCTION doudi_tlog_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'a sealed tree is never changed'; END $$""",
    "DROP TRIGGER IF EXISTS tlog_tiles_sealed ON tlog_tiles",
    """CREATE TRIGGER tlog_tiles_sealed BEFORE UPDATE OR DELETE ON tlog_tiles
        FOR EACH ROW EXECUTE FUNCTION doudi_tlog_sealed()""",
)
TILE_COLUMNS = ("level", "tile", "first_position", "positions", "hashes")
FULL_TILES_KEPT = 4096  # full tiles above level 0 kept in memory: 32 MiB, a tree of 2^28 leaves


@dataclass(frozen=True)
class Head:
    size: int  # leaves sealed
    position: int  # the position of the last of them (0 if none)
    root: bytes


def notification_leaf(notification: Any) -> bytes:
    """The leaf of a notification read with its state's digest, or with its state. One read
    without either (``Unread``) cannot be sealed: its leaf would be wrong for ever."""
    if isinstance(notification, Digested):
        entry = entry_bytes(notification.id, notification.originator_id,
                            notification.originator_version, notification.topic,
                            notification.state_sha256)  # fmt: skip
        return leaf_hash(entry)
    if isinstance(notification, Unread):
        raise ValueError(f"notification {notification.id} was read without its state")
    return event_leaf(notification.id, notification.originator_id,
                      notification.originator_version, notification.topic, notification.state)  # fmt: skip


def pack_positions(positions: Sequence[int]) -> bytes:
    return struct.pack(f">{len(positions)}Q", *positions)


def unpack_positions(packed: bytes) -> tuple[int, ...]:
    return struct.unpack(f">{len(packed) // tiles.POSITION_SIZE}Q", packed)


def _row(tile: Tile) -> tuple[int, int, int | None, bytes, bytes]:
    first = unpack_positions(tile.positions[: tiles.POSITION_SIZE])[0] if tile.positions else None
    return tile.level, tile.number, first, tile.positions, tile.hashes


def _tile(row: Any) -> Tile:
    return Tile(int(row[0]), int(row[1]), bytes(row[2]), bytes(row[3]))


class SealView(View):
    name = "tlog"
    tables = ("tlog_tiles", "tlog_edge", "tlog_head")
    raw = True  # the notifications as stored, never decoded
    # Stays 1: the runner drops and rebuilds a view whose version changes, and a seal rebuilt
    # from the events as they are now would launder any tampering. A new leaf is a new log (a
    # new origin); after the first release, a new table layout is moved over from the sealed
    # rows, never rebuilt from the events.
    version = 1

    def __init__(self, db: Database) -> None:
        self.db = db
        self._full: dict[tuple[int, int], bytes] = {}  # full tiles above level 0, as read

    def create(self, cur: Cursor) -> None:
        for statement in (*DDL, *(SQLITE_GUARDS if cur.sqlite else POSTGRES_GUARDS)):
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        self.seal(cur, [position], notification_leaf(event))

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        leaves = b"".join([notification_leaf(event) for _, event in batch])
        self.seal(cur, [position for position, _ in batch], leaves)

    def seal(self, cur: Cursor, positions: Sequence[int], leaves: bytes) -> None:
        """Seal these leaves (concatenated) of these positions as the next leaves: the full
        tiles they complete, the partial tiles of the new right edge, and the new head."""
        if not positions:
            return
        head = self._head(cur)
        if positions[0] <= head.position or any(a >= b for a, b in itertools.pairwise(positions)):
            raise ValueError(f"positions {positions[0]}.. do not follow {head.position} in order")
        if len(leaves) != len(positions) * HASH_SIZE:
            raise ValueError("one 32-byte leaf per position")
        builder = Builder(head.size, self._edge(cur))
        done = builder.extend(leaves, pack_positions(positions))
        cur.insert_many("tlog_tiles", TILE_COLUMNS, [_row(tile) for tile in done])
        cur.execute("DELETE FROM tlog_edge")
        cur.insert_many("tlog_edge", TILE_COLUMNS, [_row(tile) for tile in builder.edge()])
        cur.execute(
            "INSERT INTO tlog_head (id, size, position, root) VALUES (1, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET size = excluded.size, position = excluded.position,"
            " root = excluded.root",
            (builder.size, positions[-1], builder.root()),
        )

    @staticmethod
    def _head(cur: Cursor) -> Head:
        row = cur.execute("SELECT size, position, root FROM tlog_head WHERE id = 1").fetchone()
        if row is None:
            return Head(0, 0, EMPTY_ROOT)
        return Head(int(row["size"]), int(row["position"]), bytes(row["root"]))

    @staticmethod
    def _edge(cur: Cursor) -> list[Tile]:
        rows = cur.execute("SELECT level, tile, positions, hashes FROM tlog_edge").fetchall()
        return [_tile((r["level"], r["tile"], r["positions"], r["hashes"])) for r in rows]

    # --- queries ----------------------------------------------------------------------------

    def head(self) -> Head:
        with self.db.transaction() as cur:
            return self._head(cur)

    @contextmanager
    def reading(self) -> Iterator[TreeRead]:
        """One read of the sealed tree (one transaction, its head read once), for an answer
        that needs several things of it: a leaf, a head and a proof."""
        with self.db.transaction() as cur:
            yield TreeRead(self, cur, self._head(cur))

    def root(self, size: int) -> bytes:
        """The tree head at ``size`` (at most the sealed size)."""
        with self.reading() as read:
            return read.root(size)

    def leaf(self, position: int) -> tuple[int, bytes] | None:
        """(leaf index, leaf hash) of the event sealed at ``position``, if one is."""
        with self.reading() as read:
            return read.leaf(position)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` (RFC 9162 PATH)."""
        with self.reading() as read:
            return read.heads(inclusion_ranges(index, size), size)[0]

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The consistency proof from the tree of ``first`` to the tree of ``second``."""
        with self.reading() as read:
            return read.heads(consistency_ranges(first, second), second)[0]

    def tiles_of(
        self, cur: Cursor, wanted: set[tuple[int, int]], size: int
    ) -> dict[tuple[int, int], bytes]:
        """The hashes of these tiles (level, index), at least what the tree of ``size`` has of
        them: full tiles above level 0 from memory once read (a full tile never changes, and
        every proof reads the few near the top), the rest in one statement."""
        kept = self._full  # shared by the requests' threads: read each entry once
        found = {key: hashes for key in wanted if (hashes := kept.get(key)) is not None}
        for key, tile in _read_tiles(cur, wanted - found.keys(), size).items():
            found[key] = tile.hashes
            if key[0] and len(tile.hashes) == tiles.width() * HASH_SIZE:
                if len(self._full) >= FULL_TILES_KEPT:
                    self._full.clear()
                self._full[key] = tile.hashes
        return found

    def sealed_tiles(self, size: int) -> Iterator[Tile]:
        """The level-0 tiles of the tree of ``size`` (at most the sealed size), in order, the
        last one cut to ``size``: the sealed leaves and their positions, as the verification
        reads them."""
        full, rest = tiles.tiles_needed(size, 0)
        for page in self.db.stream(
            "SELECT level, tile, positions, hashes FROM tlog_tiles WHERE level = 0 AND tile < %s"
            " ORDER BY tile",
            (full,),
            page=64,
            index_order=True,
        ):
            yield from map(_tile, page)
        if rest:
            with self.db.transaction() as cur:
                (tile,) = _read_tiles(cur, {(0, full)}, size).values()
            yield Tile(0, full, tile.positions[: rest * 8], tile.hashes[: rest * HASH_SIZE])

    def upper_tiles(self, size: int) -> dict[tuple[int, int], bytes]:
        """The hashes of every tile above level 0 in the tree of ``size``, each cut to ``size``."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT level, tile, hashes FROM tlog_tiles WHERE level > 0"
            ).fetchall()
            found = {(int(r["level"]), int(r["tile"])): bytes(r["hashes"]) for r in rows}
            wanted = set()
            for level in range(1, Builder.levels(size)):
                full, rest = tiles.tiles_needed(size, level)
                if rest:
                    wanted.add((level, full))
            partial = _read_tiles(cur, wanted, size)
        kept = {}
        for (level, index), hashes in found.items():
            if index < tiles.tiles_needed(size, level)[0]:
                kept[(level, index)] = hashes
        for key, tile in partial.items():
            kept[key] = tile.hashes[: tiles.tiles_needed(size, key[0])[1] * HASH_SIZE]
        return kept


class Prover:
    """Inclusion proofs of many leaves against one tree size (an export's), each tile read
    once: the tiles above level 0 all at the start (a few per 65,536 leaves), those of level 0
    as the leaves asked for need them."""

    def __init__(self, view: SealView, size: int) -> None:
        self.view = view
        self.size = size
        self.tiles = view.upper_tiles(size)
        self.positions: dict[int, tuple[int, ...]] = {}  # level-0 tile → its positions
        self.levels: dict[tuple[int, int], tuple[tuple[bytes, ...], ...]] = {}
        self.above: dict[tuple[int, int], list[bytes]] = {}  # see _above
        self.leaf_levels: tuple[int, tuple[tuple[bytes, ...], ...]] = (-1, ())
        full, rest = tiles.tiles_needed(size, 0)
        with view.db.transaction() as cur:
            rows = cur.execute(
                "SELECT tile, first_position FROM tlog_tiles WHERE level = 0 AND tile < %s"
                " ORDER BY tile",
                (full,),
            ).fetchall()
        self.firsts = [int(row["first_position"]) for row in rows]  # of each level-0 tile
        if rest:
            self._load([full])
            self.firsts.append(self.positions[full][0])

    def load(self, positions: Iterable[int]) -> None:
        """Read the level-0 tiles holding these positions (a statement per thousand tiles)."""
        self._load(
            sorted({self._tile_of(position) for position in positions} - set(self.positions))
        )

    def _load(self, wanted: Sequence[int]) -> None:
        for start in range(0, len(wanted), 1000):
            with self.view.db.transaction() as cur:
                found = _read_tiles(cur, {(0, index) for index in wanted[start : start + 1000]},
                                    self.size)  # fmt: skip
            for (_, index), tile in found.items():
                count = min(self.size - (index << tiles.HEIGHT), tiles.width())
                self.tiles[(0, index)] = tile.hashes[: count * HASH_SIZE]
                self.positions[index] = unpack_positions(tile.positions[: count * 8])

    def _tile_of(self, position: int) -> int:
        return max(bisect.bisect_right(self.firsts, position) - 1, 0)

    def leaf_index(self, position: int) -> int | None:
        """The leaf index of the event sealed at ``position`` within the tree, if one is."""
        if not self.firsts:
            return None
        index = self._tile_of(position)
        if index not in self.positions:
            self._load([index])
        found = self.positions[index]
        at = bisect.bisect_left(found, position)
        if at == len(found) or found[at] != position:
            return None
        return (index << tiles.HEIGHT) + at

    def inclusion(self, index: int) -> list[bytes]:
        """The inclusion proof of leaf ``index``."""
        return self._above(0, index)

    def _above(self, level: int, index: int) -> list[bytes]:
        """The proof of the subtree of height HEIGHT·``level`` at ``index`` (a leaf at level 0):
        its siblings up to the root. Within a full tile they are read from the tile, and the
        rest is the tile's own proof, shared by all it holds (kept above level 0)."""
        kept = self.above.get((level, index)) if level else None
        if kept is not None:
            return kept
        tile, at = index >> tiles.HEIGHT, index & (tiles.width() - 1)
        if (tile + 1) << (tiles.HEIGHT * (level + 1)) > self.size:  # a partial tile at the edge
            height = tiles.HEIGHT * level
            proof = self._inclusion(index << height)[height:]
        else:
            levels = self._levels(level, tile)
            proof = [levels[height][(at >> height) ^ 1] for height in range(tiles.HEIGHT)]
            proof += self._above(level + 1, tile)
        if level:
            self.above[(level, index)] = proof
        return proof

    def _levels(self, level: int, tile: int) -> tuple[tuple[bytes, ...], ...]:
        if level == 0:  # the leaves' tiles, one after another in an export: the last one kept
            if self.leaf_levels[0] != tile:
                self.leaf_levels = (tile, tiles.tile_levels(self.tiles[(0, tile)]))
            return self.leaf_levels[1]
        levels = self.levels.get((level, tile))
        if levels is None:
            levels = self.levels[(level, tile)] = tiles.tile_levels(self.tiles[(level, tile)])
        return levels

    def _inclusion(self, index: int) -> list[bytes]:
        parts = [perfect_parts(start, end) for start, end in inclusion_ranges(index, self.size)]
        located = [[(node, tiles.locate(node)) for node in nodes] for nodes in parts]
        missing = {
            place[:2] for nodes in located for _, place in nodes if place[:2] not in self.tiles
        }
        if missing:
            with self.view.db.transaction() as cur:
                for key, tile in _read_tiles(cur, missing, self.size).items():
                    self.tiles[key] = tile.hashes
        return [fold([self._node(node, place) for node, place in nodes]) for nodes in located]

    def _node(self, node: Node, place: tuple[int, int, int, int]) -> bytes:
        level, number, first, count = place
        levels = (
            tiles.tile_levels(self.tiles[(0, number)])
            if level == 0
            else self._levels(level, number)
        )
        return tiles.node_in_levels(first, count, levels, node)


def _read_tiles(
    cur: Cursor, wanted: set[tuple[int, int]], size: int
) -> dict[tuple[int, int], Tile]:
    """The stored tiles (level, index) — full ones, or the edge's partial one while it is
    partial — holding at least what the tree of ``size`` has of them."""
    if not wanted:
        return {}
    found: dict[tuple[int, int], Tile] = {}
    where = " OR ".join(["(level = %s AND tile = %s)"] * len(wanted))
    params = [value for key in sorted(wanted) for value in key]
    rows = cur.execute(  # a full tile, if the edge has filled it since
        f"SELECT 0 AS full, level, tile, positions, hashes FROM tlog_edge WHERE {where}"
        f" UNION ALL SELECT 1, level, tile, positions, hashes FROM tlog_tiles WHERE {where}",
        params * 2,
    ).fetchall()
    for row in sorted(rows, key=lambda row: int(row["full"])):
        tile = _tile((row["level"], row["tile"], row["positions"], row["hashes"]))
        found[(tile.level, tile.number)] = tile
    for level, index in wanted:
        stored = found.get((level, index))
        count = min(size >> (tiles.HEIGHT * level), (index + 1) << tiles.HEIGHT) - (
            index << tiles.HEIGHT
        )
        if stored is None or len(stored.hashes) < count * HASH_SIZE:
            raise LookupError(f"the sealed tree lacks the tile (level {level}, index {index})")
    return found


@dataclass
class TreeRead:
    """The sealed tree as one transaction sees it (``SealView.reading``)."""

    view: SealView
    cur: Cursor
    head: Head
    read: dict[tuple[int, int], bytes] = field(default_factory=dict)  # tiles read by ``leaf``

    def check(self, size: int) -> None:
        if not 0 <= size <= self.head.size:
            raise ValueError(f"tree size {size} is beyond the {self.head.size} leaves sealed")

    def root(self, size: int) -> bytes:
        return self.heads([], size)[1]

    def heads(self, ranges: Sequence[tuple[int, int]], size: int) -> tuple[list[bytes], bytes]:
        """(the heads of these leaf ranges, the tree head at ``size``), from the perfect
        subtrees that make them up, their tiles read at once."""
        self.check(size)
        parts = [perfect_parts(start, end) for start, end in ranges] + [perfect_parts(0, size)]
        nodes = [node for nodes in parts for node in nodes]
        wanted = {tiles.locate(node)[:2] for node in nodes}
        found = {key: self.read[key] for key in wanted & self.read.keys()}
        found |= self.view.tiles_of(self.cur, wanted - found.keys(), size)
        hashes = iter([tiles.node_from_tile(node, found[tiles.locate(node)[:2]]) for node in nodes])
        heads = [fold([next(hashes) for _ in nodes]) for nodes in parts]
        return heads[:-1], heads[-1]

    def leaf(self, position: int) -> tuple[int, bytes] | None:
        """(leaf index, leaf hash) of the event sealed at ``position``, if one is."""
        if not 1 <= position <= self.head.position:
            return None
        # The level-0 tile that starts last at or before it, full or the edge's, in one
        # statement (one snapshot: a tile the edge fills meanwhile is seen in one place).
        row = self.cur.execute(
            "SELECT tile, positions, hashes FROM (SELECT tile, first_position, positions, hashes"
            " FROM tlog_edge WHERE level = 0 AND first_position <= %s UNION ALL SELECT * FROM"
            " (SELECT tile, first_position, positions, hashes FROM tlog_tiles WHERE level = 0"
            " AND first_position <= %s ORDER BY first_position DESC LIMIT 1) AS full_tile)"
            " AS found ORDER BY first_position DESC LIMIT 1",
            (position, position),
        ).fetchone()
        if row is None:
            return None
        positions = unpack_positions(bytes(row["positions"]))
        at = bisect.bisect_left(positions, position)
        if at == len(positions) or positions[at] != position:
            return None
        hashes = bytes(row["hashes"])
        self.read[(0, int(row["tile"]))] = hashes  # its proof needs it again: not read twice
        index = (int(row["tile"]) << tiles.HEIGHT) + at
        return index, hashes[at * HASH_SIZE : (at + 1) * HASH_SIZE]


@dataclass(frozen=True)
class Lag:
    """How far the seal is behind the log's head: the log position sealed through, the
    positions after it up to the head (an event each; a rolled-back write leaves a gap), and
    how long the oldest of them has waited, in seconds (0 when none waits; None when its
    recorded time cannot be read)."""

    position: int
    events: int
    seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "events_behind": self.events,
                "seconds_behind": self.seconds}  # fmt: skip


class Sealer:
    """Follows the log and seals it, exactly once: the projection runner's tracking (a row of
    ``projection_tracking``, moved in the transaction that writes the tiles, locked on
    PostgreSQL), without what suits a read model but not a seal. An event that cannot be
    sealed stops the sealing (raises) rather than being passed over, which would leave a hole
    in the tree for ever; a changed view version never drops the seal; no rebuild reseals it."""

    BATCH_SIZE = 20_000

    def __init__(self, db: Database, reader: TreeReader, view: SealView) -> None:
        self.db = db
        self.reader = reader
        self.view = view

    def setup(self) -> None:
        with self.db.transaction(write=True) as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS projection_tracking (name TEXT PRIMARY KEY,"
                " position BIGINT NOT NULL, view_version INTEGER NOT NULL DEFAULT 1)"
            )
            self.view.create(cur)
            cur.execute(
                "INSERT INTO projection_tracking (name, position, view_version) VALUES (%s, 0, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (self.view.name, self.view.version),
            )

    def position(self, cur: Cursor, *, lock: bool = False) -> int:
        """The log position sealed through (locked, on PostgreSQL, until the transaction ends)."""
        suffix = " FOR UPDATE" if lock and not self.db.is_sqlite else ""
        row = cur.execute(
            f"SELECT position FROM projection_tracking WHERE name = %s{suffix}", (self.view.name,)
        ).fetchone()
        return int(row["position"]) if row else 0

    def catch_up(self) -> int:
        """Seal every stored event after the sealed position; return how many positions moved.
        A batch is read outside the write transaction (an SQLite writer blocks the event
        store), then the position is read again under the lock and only what lies after it is
        sealed: two processes sealing at once seal each event once. On PostgreSQL the next
        batch is read (the server hashing its leaves) while this one is written."""
        with self.db.transaction() as cur:
            start = self.position(cur)
        batch = self.reader.leaves(start + 1, self.BATCH_SIZE)
        moved = 0
        with ThreadPoolExecutor(1) as ahead:
            while True:
                positions, leaves, covered = batch
                if covered <= start:
                    return moved
                upcoming = (
                    ahead.submit(self.reader.leaves, covered + 1, self.BATCH_SIZE)
                    if not self.db.is_sqlite
                    else None
                )
                with self.db.transaction(write=True) as cur:
                    current = self.position(cur, lock=True)
                    if covered > current:
                        skip = bisect.bisect_right(positions, current)
                        if skip < len(positions):
                            self.view.seal(cur, positions[skip:], leaves[skip * HASH_SIZE :])
                        cur.execute(
                            "UPDATE projection_tracking SET position = %s WHERE name = %s",
                            (covered, self.view.name),
                        )
                moved += covered - start
                start = covered
                batch = (
                    upcoming.result()
                    if upcoming is not None
                    else self.reader.leaves(start + 1, self.BATCH_SIZE)
                )
