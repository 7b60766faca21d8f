"""The sealed log's checkpoint and its inclusion and consistency proofs, as the API and the CLI
give them (RFC 9162 §2.1.3-2.1.4; hashes in base64)."""

from __future__ import annotations

import base64
from typing import Any

from domain.errors import InvalidValue, NotFound
from ledger.proof.verify import Checkpoint
from projections.tlog.view import SealView


def checkpoint(tlog: SealView, origin: str) -> Checkpoint:
    """The checkpoint of the sealed tree's head."""
    head = tlog.head()
    return Checkpoint(origin, head.size, head.root)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


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
