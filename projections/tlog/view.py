"""The sealed Merkle tree over the event log: the sealing follower and the proofs it answers.

Every stored event, in log order, becomes a leaf (``ops/tlog/verify.py`` defines the leaf), and
is sealed exactly once, in the transaction that moves the view's tracking position. The view
keeps each leaf with its position, and the head of every perfect subtree as it completes
((level, index) covers leaves [index·2^level, (index+1)·2^level)): the head of the tree at any
size, an inclusion proof or a consistency proof then reads O(log n) stored hashes. Sealed rows
are never changed; triggers refuse an update or delete of them.

The view reads the log through ``TreeReader``, which gives each event's SHA-256 of its state
rather than the state (PostgreSQL computes it where the state lies), and follows it with a
``Sealer`` of its own, not the projection runner: ``projections rebuild all`` must not reseal a
log that may have been tampered with, and an event the seal cannot take must stop it, never be
passed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ops.tlog.reader import Digested
from ops.tlog.verify import EMPTY_ROOT, entry_bytes, event_leaf, leaf_hash, node_hash
from projections.db import Cursor, Database
from projections.runner import Reader, Unread, View
from projections.tlog.tree import (
    Node,
    consistency_ranges,
    fold,
    inclusion_ranges,
    perfect_parts,
)

DDL = (
    """CREATE TABLE IF NOT EXISTS tlog_leaves (leaf_index BIGINT PRIMARY KEY,
        position BIGINT NOT NULL UNIQUE, hash BYTEA NOT NULL)""",
    # A subtree is keyed by the tree size at which it completed, (index + 1)·2^level, and its
    # level: the key's order is the order the subtrees complete in, which the verification
    # reads them in beside the leaves (``ops/tlog/audit.py``).
    """CREATE TABLE IF NOT EXISTS tlog_nodes (end_leaf BIGINT NOT NULL, level INTEGER NOT NULL,
        hash BYTEA NOT NULL, PRIMARY KEY (end_leaf, level))""",
    """CREATE TABLE IF NOT EXISTS tlog_head (id INTEGER PRIMARY KEY CHECK (id = 1),
        size BIGINT NOT NULL, position BIGINT NOT NULL, root BYTEA NOT NULL)""",
)
SQLITE_GUARDS = tuple(
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{action} BEFORE {action.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, 'a sealed tree is never changed'); END"""
    for table in ("tlog_leaves", "tlog_nodes")
    for action in ("update", "delete")
)
POSTGRES_GUARDS = (
    """CREATE OR REPLACE FUNCTION doudi_tlog_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'a sealed tree is never changed'; END $$""",
    *(
        statement
        for table in ("tlog_leaves", "tlog_nodes")
        for statement in (
            f"DROP TRIGGER IF EXISTS {table}_sealed ON {table}",
            f"""CREATE TRIGGER {table}_sealed BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION doudi_tlog_sealed()""",
        )
    ),
)


@dataclass(frozen=True)
class Head:
    size: int  # leaves sealed
    position: int  # the position of the last of them (0 if none)
    root: bytes


def notification_leaf(notification: Any) -> bytes:
    """The leaf of a notification read with its state, or with its state's digest only. One
    read without either (``Unread``) cannot be sealed: its leaf would be wrong for ever."""
    if isinstance(notification, Digested):
        entry = entry_bytes(notification.id, notification.originator_id,
                            notification.originator_version, notification.topic,
                            notification.state_sha256)  # fmt: skip
        return leaf_hash(entry)
    if isinstance(notification, Unread):
        raise ValueError(f"notification {notification.id} was read without its state")
    return event_leaf(notification.id, notification.originator_id,
                      notification.originator_version, notification.topic, notification.state)  # fmt: skip


class SealView(View):
    name = "tlog"
    tables = ("tlog_leaves", "tlog_nodes", "tlog_head")
    raw = True  # the notifications as stored, never decoded
    # Stays 1: the runner drops and rebuilds a view whose version changes, and a seal rebuilt
    # from the events as they are now would launder any tampering. A new leaf or table layout
    # is a new log (a new origin), migrated deliberately.
    version = 1

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, cur: Cursor) -> None:
        for statement in (*DDL, *(SQLITE_GUARDS if cur.sqlite else POSTGRES_GUARDS)):
            cur.execute(statement)

    def process(self, cur: Cursor, position: int, event: Any) -> None:
        self.process_batch(cur, [(position, event)])

    def process_batch(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        """Seal these notifications as the next leaves, and the subtrees they complete."""
        head = self._head(cur)
        # The right edge of the tree: the heads of its perfect subtrees, largest first.
        edge = _hashes(cur, perfect_parts(0, head.size))
        leaves: list[tuple[int, int, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        size, last = head.size, head.position
        for position, notification in batch:
            if position <= last:
                raise ValueError(f"position {position} comes after {last}: the log is not in order")
            hashed = notification_leaf(notification)
            leaves.append((size, position, hashed))
            # Leaf number size + 1 completes one perfect subtree per trailing zero bit of it.
            index, level, size = size, 0, size + 1
            while not (size >> level) & 1:
                hashed, level, index = node_hash(edge.pop(), hashed), level + 1, index >> 1
                nodes.append(((index + 1) << level, level, hashed))
            edge.append(hashed)
            last = position
        cur.insert_many("tlog_leaves", ("leaf_index", "position", "hash"), leaves)
        cur.insert_many("tlog_nodes", ("end_leaf", "level", "hash"), nodes)
        cur.execute(
            "INSERT INTO tlog_head (id, size, position, root) VALUES (1, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET size = excluded.size, position = excluded.position,"
            " root = excluded.root",
            (size, last, fold(edge)),
        )

    @staticmethod
    def _head(cur: Cursor) -> Head:
        row = cur.execute("SELECT size, position, root FROM tlog_head WHERE id = 1").fetchone()
        if row is None:
            return Head(0, 0, EMPTY_ROOT)
        return Head(int(row["size"]), int(row["position"]), bytes(row["root"]))

    # --- queries ----------------------------------------------------------------------------

    def head(self) -> Head:
        with self.db.transaction() as cur:
            return self._head(cur)

    def root(self, size: int) -> bytes:
        """The tree head at ``size`` (at most the sealed size)."""
        with self.db.transaction() as cur:
            self._check_size(cur, size)
            return fold(_hashes(cur, perfect_parts(0, size)))

    def leaf(self, position: int) -> tuple[int, bytes] | None:
        """(leaf index, leaf hash) of the event sealed at ``position``, if one is."""
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT leaf_index, hash FROM tlog_leaves WHERE position = %s", (position,)
            ).fetchone()
        return None if row is None else (int(row["leaf_index"]), bytes(row["hash"]))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` (RFC 9162 PATH)."""
        with self.db.transaction() as cur:
            self._check_size(cur, size)
            return _range_hashes(cur, inclusion_ranges(index, size))

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The consistency proof from the tree of ``first`` to the tree of ``second``."""
        with self.db.transaction() as cur:
            self._check_size(cur, second)
            return _range_hashes(cur, consistency_ranges(first, second))

    def _check_size(self, cur: Cursor, size: int) -> None:
        sealed = self._head(cur).size
        if not 0 <= size <= sealed:
            raise ValueError(f"tree size {size} is beyond the {sealed} leaves sealed")


def _read_nodes(cur: Cursor, wanted: Sequence[Node]) -> dict[Node, bytes]:
    """The stored heads of these perfect subtrees (leaves at level 0), in at most two reads."""
    found: dict[Node, bytes] = {}
    leaves = sorted({index for level, index in wanted if level == 0})
    inner = sorted({(level, index) for level, index in wanted if level > 0})
    if leaves:
        marks = ", ".join(["%s"] * len(leaves))
        for row in cur.execute(
            f"SELECT leaf_index, hash FROM tlog_leaves WHERE leaf_index IN ({marks})", leaves
        ).fetchall():
            found[(0, int(row["leaf_index"]))] = bytes(row["hash"])
    if inner:
        where = " OR ".join(["(end_leaf = %s AND level = %s)"] * len(inner))
        params = [value for level, index in inner for value in ((index + 1) << level, level)]
        for row in cur.execute(
            f"SELECT end_leaf, level, hash FROM tlog_nodes WHERE {where}", params
        ).fetchall():
            level = int(row["level"])
            found[(level, (int(row["end_leaf"]) >> level) - 1)] = bytes(row["hash"])
    missing = [node for node in wanted if node not in found]
    if missing:
        raise LookupError(f"the sealed tree lacks the subtrees {missing}")
    return found


def _hashes(cur: Cursor, nodes: Sequence[Node]) -> list[bytes]:
    found = _read_nodes(cur, nodes)
    return [found[node] for node in nodes]


def _range_hashes(cur: Cursor, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The heads of leaf ranges, from the perfect subtrees that make them up (one read)."""
    parts = [perfect_parts(start, end) for start, end in ranges]
    found = _read_nodes(cur, [node for nodes in parts for node in nodes])
    return [fold([found[node] for node in nodes]) for nodes in parts]


class Sealer:
    """Follows the log and seals it, exactly once: the projection runner's tracking (a row of
    ``projection_tracking``, moved in the transaction that writes the leaves, locked on
    PostgreSQL), without what suits a read model but not a seal. An event that cannot be
    sealed stops the sealing (raises) rather than being passed over, which would leave a hole
    in the tree for ever; a changed view version never drops the seal; no rebuild reseals it."""

    BATCH_SIZE = 5000

    def __init__(self, db: Database, reader: Reader, view: SealView) -> None:
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
        The batch is read outside the write transaction (an SQLite writer blocks the event
        store), then the position is read again under the lock and only what lies after it is
        sealed: two processes sealing at once seal each event once."""
        moved = 0
        while True:
            with self.db.transaction() as cur:
                start = self.position(cur)
            notifications, covered = self.reader(start + 1, self.BATCH_SIZE, (), ())
            if covered <= start:
                return moved
            with self.db.transaction(write=True) as cur:
                current = self.position(cur, lock=True)
                if covered > current:
                    todo = [(n.id, n) for n in notifications if n.id > current]
                    if todo:
                        self.view.process_batch(cur, todo)
                    cur.execute(
                        "UPDATE projection_tracking SET position = %s WHERE name = %s",
                        (covered, self.view.name),
                    )
            moved += covered - start
