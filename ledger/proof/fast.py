"""The log's hashing on its hot paths (sealing, verification): the C accelerator ``accel.c``
where ``make native`` built it, otherwise the readable reference of ``verify.py``.

The accelerator computes the same bytes (``tests/property/test_accel.py`` holds the two equal)
with OpenSSL's SHA-256 and the GIL released, so that a page is hashed while the next is read.
``DOUDI_PURE_PYTHON=1`` turns it off, as it does the compiled modules (``ops/native.py``).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ledger.proof.verify import HASH_SIZE, entry_bytes, leaf_hash


def _accelerator() -> ModuleType | None:
    if os.environ.get("DOUDI_PURE_PYTHON") == "1":
        return None
    try:
        from ledger.proof import accel
    except ImportError:  # not built: no C compiler, or `make NATIVE=0`
        return None
    return accel


ACCEL = _accelerator()


def python_leaves(rows: Sequence[Sequence[Any]], hashed: bool = False) -> tuple[bytes, bytes]:
    """``leaves`` by the reference: each entry written by ``verify.entry_bytes``."""
    sha256 = hashlib.sha256
    positions = struct.pack(f">{len(rows)}Q", *[row[0] for row in rows])
    hashes = [
        leaf_hash(entry_bytes(p, i, v, t or "", s if hashed else sha256(s or b"").digest()))
        for p, i, v, t, s in rows
    ]
    return positions, b"".join(hashes)


def leaves(rows: Sequence[Sequence[Any]], hashed: bool = False) -> tuple[bytes, bytes]:
    """(positions, 8 bytes big-endian each; leaf hashes, concatenated) of stored events given
    as rows (position, originator id as a UUID or its 16 bytes, version, topic, state as
    stored; ``hashed``: the state's SHA-256 in its place). A topic or state that is None (a
    NULL written by hand) counts as empty: the leaf differs from the one sealed."""
    if ACCEL is not None:
        found: tuple[bytes, bytes] = ACCEL.leaves(rows, hashed)
        return found
    return python_leaves(rows, hashed)


def python_subtree(hashes: bytes) -> bytes:
    """``subtree`` by the reference: a row of node hashes at a time."""
    if len(hashes) == HASH_SIZE:
        return hashes
    sha256 = hashlib.sha256
    row = [sha256(b"\x01" + hashes[at : at + 64]).digest() for at in range(0, len(hashes), 64)]
    while len(row) > 1:
        pairs = iter(row)
        row = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(pairs, pairs, strict=True)
        ]
    return row[0]


def subtree(hashes: bytes) -> bytes:
    """The head of a perfect subtree from its 2^k concatenated bottom hashes (k ≥ 0)."""
    if ACCEL is not None:
        head: bytes = ACCEL.subtree(hashes)
        return head
    return python_subtree(hashes)
