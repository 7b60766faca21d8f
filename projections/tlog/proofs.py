"""The sealed log's checkpoint and its inclusion and consistency proofs, as the API and the CLI
give them (RFC 9162 §2.1.3-2.1.4; hashes in base64)."""

from __future__ import annotations

import base64
from typing import Any

from domain.errors import InvalidValue, NotFound
from ledger.proof.tree import consistency_ranges, inclusion_ranges
from ledger.proof.verify import Checkpoint
from projections.tlog.view import SealView


def checkpoint(tlog: SealView, origin: str) -> Checkpoint:
    """The checkpoint of the sealed tree's head."""
    head = tlog.head()
    return Checkpoint(origin, head.size, head.root)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _tree_size(sealed: int, tree_size: int | None, field: str) -> int:
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
    sealed head if none): hashes in base64, from the leaf's sibling upwards. One read of the
    tree: its head, the leaf's tile, and the tiles of the proof and of the tree head at once."""
    with tlog.reading() as read:
        found = read.leaf(position)
        if found is None:
            raise NotFound("no event is sealed at this position", field="position", rule="sealed")
        index, leaf = found
        size = _tree_size(read.head.size, tree_size, "tree_size")
        if index >= size:
            raise InvalidValue(
                f"the event at this position is leaf {index}: a tree of {size} leaves does not"
                " hold it",
                field="tree_size",
                rule="includes_position",
            )
        proof, root = read.heads(inclusion_ranges(index, size), size)
    return {
        "position": position,
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": b64(leaf),
        "root_hash": b64(root),
        "proof": [b64(hashed) for hashed in proof],
    }


def consistency_proof(tlog: SealView, first: int, second: int | None = None) -> dict[str, Any]:
    """The consistency proof from the tree of ``first`` leaves to that of ``second`` (the
    sealed head if none), in one read of the tree."""
    with tlog.reading() as read:
        size = _tree_size(read.head.size, second, "to")
        if not 1 <= first <= size:
            raise InvalidValue(
                f"from must be between 1 and to ({size})", field="from", rule="at_most_to"
            )
        # The head of the first tree is the head of its leaves' range: read with the proof's.
        heads, root = read.heads([*consistency_ranges(first, size), (0, first)], size)
        proof, first_root = heads[:-1], heads[-1]
    return {
        "from": first,
        "to": size,
        "from_root_hash": b64(first_root),
        "to_root_hash": b64(root),
        "proof": [b64(hashed) for hashed in proof],
    }
