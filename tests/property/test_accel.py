"""The log's C accelerator (``ledger/proof/accel.c``) gives what the auditor's reference gives
(``ledger/proof/verify.py``, through ``ledger/proof/fast.py``'s pure-Python paths): leaf hashes of
random rows, tree heads of random sizes, and the first bad position of a tampered log. Runs
where ``make native`` built it (the compiled pass of ``make test``)."""

from __future__ import annotations

import hashlib
import os
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.proof import fast, tiles
from ledger.proof import verify as v
from ops import native

try:
    from ledger.proof import accel
except ImportError:  # not built
    accel = None  # type: ignore[assignment]

needs_accel = pytest.mark.skipif(accel is None, reason="not built (python -m ops.native build)")

u64 = st.integers(min_value=0, max_value=2**64 - 1)
topics = st.text(max_size=40)  # any text, non-ASCII too: the entry holds its UTF-8
states = st.binary(max_size=600)
ids = st.binary(min_size=16, max_size=16)
rows = st.lists(st.tuples(u64, ids, u64, topics, states), max_size=60)


def test_the_hot_paths_run_the_accelerator_when_built() -> None:
    """On the compiled pass, a current build is what sealing and verification hash with; on
    the pure-Python pass (DOUDI_PURE_PYTHON=1), the reference is."""
    if os.environ.get("DOUDI_PURE_PYTHON") == "1":
        assert fast.ACCEL is None
        return
    if native.status()["ledger/proof/accel.c"] != "current":
        pytest.skip("not built (python -m ops.native build)")
    assert fast.ACCEL is accel and tiles.subtree is fast.subtree


@needs_accel
@settings(max_examples=300, deadline=None)
@given(rows, st.booleans())
def test_leaves_are_the_references(found: list[tuple[Any, ...]], as_uuid: bool) -> None:
    """Each leaf is SHA-256(0x00 ‖ entry) of ``verify.entry_bytes``, from the state or from its
    digest, the originator id given as bytes or as a UUID."""
    if as_uuid:
        found = [(p, UUID(bytes=i), ver, t, s) for p, i, ver, t, s in found]
    wanted = fast.python_leaves(found)
    assert accel.leaves(found) == wanted
    digested = [(p, i, ver, t, hashlib.sha256(s).digest()) for p, i, ver, t, s in found]
    assert accel.leaves(digested, hashed=True) == wanted
    assert wanted[1] == b"".join(
        v.event_leaf(p, i if isinstance(i, UUID) else UUID(bytes=i), ver, t, s)
        for p, i, ver, t, s in found
    )


@needs_accel
@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=9), st.binary(min_size=1, max_size=8))
def test_subtree_heads_are_the_references(height: int, seed: bytes) -> None:
    hashes = b"".join(
        hashlib.sha256(seed + n.to_bytes(4, "big")).digest() for n in range(1 << height)
    )
    assert accel.subtree(hashes) == fast.python_subtree(hashes)
    assert accel.subtree(hashes) == v.tree_head(
        [hashes[at : at + 32] for at in range(0, len(hashes), 32)]
    )


@needs_accel
@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=700), st.integers(min_value=1, max_value=3), st.data())
def test_tree_heads_built_from_accelerated_leaves_are_the_references(
    size: int, height: int, data: st.DataObject
) -> None:
    """The tiles' builder on the accelerator's leaves and subtree heads, in random batches, has
    the head ``verify.tree_head`` computes from the reference's leaves, at every batch."""
    found = [(n + 1, n.to_bytes(16, "big"), 1, "t:T.E", n.to_bytes(3, "big")) for n in range(size)]
    positions, leaves = accel.leaves(found)
    wanted = fast.python_leaves(found)[1]
    assert leaves == wanted
    saved = tiles.HEIGHT
    tiles.HEIGHT = height  # small tiles: many complete ones
    try:
        builder, done = tiles.Builder(), 0
        while done < size:
            step = data.draw(st.integers(min_value=1, max_value=size - done))
            builder.extend(
                leaves[done * 32 : (done + step) * 32], positions[done * 8 : (done + step) * 8]
            )
            done += step
            assert builder.root() == v.tree_head(
                [wanted[at : at + 32] for at in range(0, done * 32, 32)]
            )
    finally:
        tiles.HEIGHT = saved
    assert size or builder.root() == v.EMPTY_ROOT


@needs_accel
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(ids, topics, states), min_size=1, max_size=40),
    st.data(),
    st.sampled_from(["byte", "delete", "swap", "insert", "truncate"]),
)
def test_the_first_bad_position_of_a_tampered_log_is_the_references(
    events: list[tuple[bytes, str, bytes]], data: st.DataObject, tamper: str
) -> None:
    """A log sealed by the reference, then tampered with (a flipped state byte, a deleted row,
    two rows' contents swapped, a forged row, the tail cut): the accelerator's leaves part from
    the seal where the reference's do, and both name it."""
    stored = [(2 * n + 1, i, 1, t, s) for n, (i, t, s) in enumerate(events)]
    sealed = list(v.leaves_of((p, UUID(bytes=i), ver, t, hashlib.sha256(s).digest())
                              for p, i, ver, t, s in stored))  # fmt: skip
    at = data.draw(st.integers(min_value=0, max_value=len(stored) - 1))
    unchanged, other = False, at
    if tamper == "byte":
        p, i, ver, t, s = stored[at]
        flip = data.draw(st.integers(min_value=0, max_value=len(s))) if s else 0
        s = s[:flip] + bytes([(s[flip] ^ 1) if flip < len(s) else 0]) + s[flip + 1 :]
        stored[at] = (p, i, ver, t, s)
    elif tamper == "delete":
        del stored[at]
    elif tamper == "swap":
        other = data.draw(st.integers(min_value=0, max_value=len(stored) - 1))
        (p, *a), (q, *b) = stored[at], stored[other]
        unchanged = a == b  # the same row, or two rows of the same content
        stored[at], stored[other] = (p, *b), (q, *a)
    elif tamper == "insert":
        stored.insert(at, (stored[at][0] - 1, bytes(16), 1, "forged:F.E", b"forged"))
    else:
        del stored[at:]

    def pairs(positions: bytes, leaves: bytes) -> list[tuple[int, bytes]]:
        return [(int.from_bytes(positions[n * 8 : n * 8 + 8], "big"), leaves[n * 32 : n * 32 + 32])
                for n in range(len(positions) // 8)]  # fmt: skip

    mine = v.first_discrepancy(pairs(*accel.leaves(stored)), sealed)
    assert mine == v.first_discrepancy(pairs(*fast.python_leaves(stored)), sealed)
    assert (mine[0] is None) == unchanged
    if not unchanged:  # the first row that differs from what was sealed is named
        assert mine[0] is not None and mine[0].index == min(at, other)


@needs_accel
def test_malformed_rows_are_refused() -> None:
    good = (1, bytes(16), 1, "t", b"s")
    with pytest.raises(TypeError):
        accel.leaves([(1, 2)])
    with pytest.raises(ValueError):
        accel.leaves([(1, bytes(15), 1, "t", b"s")])
    with pytest.raises(ValueError):
        accel.leaves([(-1, bytes(16), 1, "t", b"s")])
    with pytest.raises(ValueError):
        accel.leaves([good, (2**64, bytes(16), 1, "t", b"s")])
    with pytest.raises(ValueError):
        accel.leaves([good], hashed=True)  # a digest is 32 bytes
    with pytest.raises(TypeError):
        accel.leaves([(1, bytes(16), 1, "t", "not bytes")])
    with pytest.raises(ValueError):
        accel.subtree(bytes(96))  # three hashes: no perfect subtree
    assert accel.leaves([]) == (b"", b"")


@needs_accel
def test_a_null_topic_or_state_counts_as_empty_as_in_the_reference() -> None:
    """A NULL written by hand into the event table reads as None: hashed as empty (so the leaf
    differs from the one sealed), never a crash of the verification."""
    nulls = [
        (1, bytes(16), 1, None, None),
        (2, bytes(16), 1, "t", None),
        (3, bytes(16), 1, None, b"s"),
    ]
    empty = [(1, bytes(16), 1, "", b""), (2, bytes(16), 1, "t", b""), (3, bytes(16), 1, "", b"s")]
    assert accel.leaves(nulls) == fast.python_leaves(nulls) == fast.python_leaves(empty)
