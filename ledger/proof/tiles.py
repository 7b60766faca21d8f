"""The sealed tree stored as tiles (C2SP tlog-tiles, https://c2sp.org/tlog-tiles).

A tile of level L holds 2^HEIGHT consecutive hashes of subtrees of height HEIGHT·L: level 0
holds leaf hashes, level 1 the heads of 256-leaf subtrees, and so on. A full tile is written
once and never changed; the last, partial tile of each level (the right edge of the tree) is
kept apart and rewritten as the tree grows. Any perfect subtree lies within one tile, and its
head is recomputed from that tile's hashes (at most 2^HEIGHT − 1 node hashes): a row per 256
leaves instead of two rows per leaf, and a proof reads a tile or two per level.

Hashes and positions travel as concatenated bytes (32 bytes a hash, 8 bytes big-endian a
position), never as a Python object per leaf. Pure functions and an in-memory builder: the
view (``view.py``) stores what they make, the verification (``projections/tlog/audit.py``) rebuilds it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import NamedTuple

from ledger.proof.fast import subtree
from ledger.proof.tree import Node, fold, perfect_parts
from ledger.proof.verify import EMPTY_ROOT, HASH_SIZE

HEIGHT = 8  # hashes per tile: 2^HEIGHT (tests set a smaller height to have full tiles)
POSITION_SIZE = 8


def width() -> int:
    return 1 << HEIGHT


class Tile(NamedTuple):
    level: int
    number: int  # its index among the tiles of its level
    positions: bytes  # level 0: the positions of its leaves; empty above
    hashes: bytes


def locate(node: Node) -> tuple[int, int, int, int]:
    """(level, tile index, first hash within the tile, hash count) of the stored hashes a
    perfect subtree (height, index) is the head of."""
    height, index = node
    level, rest = divmod(height, HEIGHT)
    first = index << rest
    return level, first >> HEIGHT, first & ((1 << HEIGHT) - 1), 1 << rest


@functools.lru_cache(maxsize=256)
def tile_levels(hashes: bytes) -> tuple[tuple[bytes, ...], ...]:
    """A tile's hashes ([0]) and the heads of every complete aligned run of 2^k of them ([k]):
    all a proof reads of the tile. Cached by content (the tiles a proof reads near the top of
    the tree are the same for every proof)."""
    sha256 = hashlib.sha256
    row = [hashes[at : at + HASH_SIZE] for at in range(0, len(hashes), HASH_SIZE)]
    levels = [tuple(row)]
    while len(row) > 1:
        pairs = iter(row)  # an odd last hash has no complete parent yet
        row = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
        levels.append(tuple(row))
    return tuple(levels)


def node_from_tile(node: Node, hashes: bytes) -> bytes:
    _, _, first, count = locate(node)
    return node_in_levels(first, count, tile_levels(hashes), node)


def node_in_levels(
    first: int, count: int, levels: tuple[tuple[bytes, ...], ...], node: Node
) -> bytes:
    """The head of the ``count`` hashes from ``first`` of a tile, from its ``tile_levels``."""
    height = count.bit_length() - 1
    if height >= len(levels) or first >> height >= len(levels[height]):
        raise LookupError(f"the stored tile lacks the subtree {node}")
    return levels[height][first >> height]


def tiles_needed(size: int, level: int) -> tuple[int, int]:
    """(full tiles, hashes in the partial tile) of ``level`` in the tree of ``size`` leaves."""
    count = size >> (HEIGHT * level)
    return count >> HEIGHT, count & (width() - 1)


class Builder:
    """A tree being built a batch of leaves at a time, as tiles: the partial tile of each level
    in memory, and the full tiles handed out as they complete."""

    def __init__(self, size: int = 0, edge: Sequence[Tile] = ()) -> None:
        self.size = size
        # The concatenated hashes of each level's partial tile.
        self.partial: list[bytes] = [b""] * self.levels(size)
        self.positions = b""  # of the leaves in level 0's partial tile
        for tile in edge:
            if tile.level < len(self.partial):
                self.partial[tile.level] = tile.hashes
                if tile.level == 0:
                    self.positions = tile.positions
        for level, hashes in enumerate(self.partial):
            if len(hashes) != tiles_needed(size, level)[1] * HASH_SIZE:
                raise LookupError(f"the partial tile of level {level} does not fit size {size}")

    @staticmethod
    def levels(size: int) -> int:
        """How many levels hold a hash in the tree of ``size`` leaves."""
        levels = 0
        while size >> (HEIGHT * levels):
            levels += 1
        return levels

    def extend(self, leaves: bytes, positions: bytes) -> list[Tile]:
        """Append leaves (with their positions); return the tiles they complete."""
        span = width() * HASH_SIZE
        done: list[Tile] = []
        carry, level = leaves, 0
        all_positions = self.positions + positions
        while carry:
            if level == len(self.partial):
                self.partial.append(b"")
            first_tile = tiles_needed(self.size, level)[0]
            hashes = self.partial[level] + carry
            full = len(hashes) // span
            for number in range(full):
                tile = hashes[number * span : (number + 1) * span]
                step = width() * POSITION_SIZE
                placed = all_positions[number * step : (number + 1) * step]
                done.append(Tile(level, first_tile + number, placed if level == 0 else b"", tile))
            if level == 0:
                self.positions = all_positions[full * width() * POSITION_SIZE :]
            self.partial[level] = hashes[full * span :]
            carry = b"".join([subtree(tile.hashes) for tile in done if tile.level == level])
            level += 1
        self.size += len(leaves) // HASH_SIZE
        return done

    def edge(self) -> list[Tile]:
        """The partial tile of each level (those that hold a hash)."""
        tiles = []
        for level, hashes in enumerate(self.partial):
            if hashes:
                index = tiles_needed(self.size, level)[0]
                tiles.append(Tile(level, index, self.positions if level == 0 else b"", hashes))
        return tiles

    def root(self) -> bytes:
        """The tree head: the right edge's perfect subtrees, top level (leftmost) first."""
        if not self.size:
            return EMPTY_ROOT
        heads = []
        for hashes in reversed(self.partial):
            for height, index in perfect_parts(0, len(hashes) // HASH_SIZE):
                heads.append(
                    subtree(
                        hashes[(index << height) * HASH_SIZE : ((index + 1) << height) * HASH_SIZE]
                    )
                )
        return fold(heads)
