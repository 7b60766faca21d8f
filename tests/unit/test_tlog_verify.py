"""The auditor's verifying module (ledger/proof/verify.py) and the proof layouts (ledger/proof/tree.py),
against published vectors and an independent implementation (pymerkle)."""

from __future__ import annotations

import ast
import base64
import struct
import sys
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from ledger.proof import tiles, tree
from ledger.proof import verify as v
from ledger.proof.signing import SigningKey

h = bytes.fromhex
# RFC 6962's test vectors, as certificate-transparency and Go's tlog test against them.
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
          "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# golang.org/x/mod/sumdb/note's documented example key and note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def memory_leaves(count: int) -> list[bytes]:
    return [v.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


def proof_from(leaves: list[bytes], ranges: list[tuple[int, int]]) -> list[bytes]:
    return [v.tree_head(leaves[start:end]) for start, end in ranges]


def test_rfc6962_vectors() -> None:
    """Tree heads, an inclusion and a consistency proof of the published vectors verify, and
    the proof layouts produce exactly the published proofs."""
    leaves = [v.leaf_hash(h(x)) for x in LEAVES]
    for size in range(1, 9):
        assert v.tree_head(leaves[:size]).hex() == ROOTS[size - 1]
    proof = proof_from(leaves, tree.inclusion_ranges(5, 8))
    assert [p.hex() for p in proof] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    v.verify_inclusion(5, 8, leaves[5], proof, h(ROOTS[7]))
    with pytest.raises(v.VerifyError):
        v.verify_inclusion(4, 8, leaves[5], proof, h(ROOTS[7]))
    consistency = proof_from(leaves, tree.consistency_ranges(6, 8))
    assert [p.hex() for p in consistency] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    v.verify_consistency(6, 8, h(ROOTS[5]), h(ROOTS[7]), consistency)
    with pytest.raises(v.VerifyError):
        v.verify_consistency(6, 8, h(ROOTS[4]), h(ROOTS[7]), consistency)
    assert v.tree_head([]) == v.EMPTY_ROOT


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_matches_pymerkle(size: int, data: st.DataObject) -> None:
    """For random sizes, our tree heads equal pymerkle's (an independent RFC 9162 tree), and our
    inclusion and consistency proofs verify against pymerkle's heads and carry pymerkle's
    hashes; a proof for another leaf or a changed head does not verify."""
    entries = [f"entry {i}".encode() for i in range(size)]
    other = InmemoryTree(algorithm="sha256")
    for entry in entries:
        other.append_entry(entry)
    leaves = [v.leaf_hash(entry) for entry in entries]
    assert v.tree_head(leaves) == other.get_root(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    first = data.draw(st.integers(min_value=1, max_value=size))
    root = other.get_root(size)
    proof = proof_from(leaves, tree.inclusion_ranges(index, size))
    v.verify_inclusion(index, size, leaves[index], proof, root)
    theirs = other.prove_inclusion(index + 1, size).serialize()["path"]
    assert sorted(p.hex() for p in proof) == sorted(theirs[1:] if size > 1 else [])
    if size > 1:
        with pytest.raises(v.VerifyError):
            v.verify_inclusion((index + 1) % size, size, leaves[index], proof, root)
    consistency = proof_from(leaves, tree.consistency_ranges(first, size))
    v.verify_consistency(first, size, other.get_root(first), root, consistency)
    if first < size:
        with pytest.raises(v.VerifyError):
            v.verify_consistency(first, size, v.node_hash(root, root), root, consistency)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000))
def test_perfect_parts_cover_a_range(start: int, length: int) -> None:
    """The perfect subtrees of any range are aligned, in order, and cover it exactly."""
    position = start
    for level, index in tree.perfect_parts(start, start + length):
        assert index << level == position
        position += 1 << level
    assert position == start + length


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=3), st.lists(st.integers(1, 40), max_size=25))
def test_tiles_built_batch_by_batch_hold_the_tree(height: int, batches: list[int]) -> None:
    """Build the tiles of a tree a batch at a time, each batch from the previous edge alone (as
    the sealing does): the head at every batch is the RFC 9162 head of the leaves so far, each
    full tile holds the leaves or subtree heads it stands for, and every perfect subtree read
    back from the tiles (``locate``) is the head of its leaves."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiles, "HEIGHT", height)
        leaves: list[bytes] = []
        stored: dict[tuple[int, int], bytes] = {}
        builder = tiles.Builder()
        for count in batches:
            new = [v.leaf_hash(str(len(leaves) + i).encode()) for i in range(count)]
            positions = struct.pack(f">{count}Q", *range(len(leaves) + 1, len(leaves) + count + 1))
            builder = tiles.Builder(builder.size, builder.edge())
            for tile in builder.extend(b"".join(new), positions):
                stored[(tile.level, tile.number)] = tile.hashes
            leaves += new
            assert builder.root() == v.tree_head(leaves)
        stored.update({(tile.level, tile.number): tile.hashes for tile in builder.edge()})
        for height_, index in tree.perfect_parts(0, len(leaves)):
            for level in range(height_ + 1):  # every subtree on the way down to the leaves
                for part in range(index << level, (index + 1) << level):
                    node = (height_ - level, part)
                    low = part << (height_ - level)
                    wanted = v.tree_head(leaves[low : low + (1 << (height_ - level))])
                    assert tiles.node_from_tile(node, stored[tiles.locate(node)[:2]]) == wanted


def test_entry_encoding_is_length_prefixed() -> None:
    """The canonical entry is five length-prefixed fields, so moving bytes between the topic
    and the state changes the leaf."""
    uid = UUID(int=7)
    digest = bytes(32)
    entry = v.entry_bytes(3, uid, 1, "a:B.C", digest)
    assert entry == (
        b"\x00\x00\x00\x08" + (3).to_bytes(8, "big") + b"\x00\x00\x00\x10" + uid.bytes
        + b"\x00\x00\x00\x08" + (1).to_bytes(8, "big") + b"\x00\x00\x00\x05a:B.C"
        + b"\x00\x00\x00\x20" + digest
    )  # fmt: skip
    assert v.event_leaf(3, uid, 1, "a:B.", b"Cx") != v.event_leaf(3, uid, 1, "a:B.C", b"x")


def test_go_note_vector() -> None:
    """The reference note of Go's sumdb/note opens with its key, and our signer reproduces its
    signature byte for byte (Ed25519 is deterministic); a changed text does not open."""
    assert v.open_note(GO_NOTE, GO_VKEY) == GO_TEXT
    key = SigningKey.parse(GO_SKEY)
    assert key.vkey == GO_VKEY
    assert key.sign_note(GO_TEXT) == GO_NOTE
    with pytest.raises(v.VerifyError):
        v.open_note(GO_NOTE.replace("cryptography", "cryptographY"), GO_VKEY)


def test_checkpoint_round_trip_and_refusals() -> None:
    """A signed checkpoint parses back; a wrong key, a forged signature, an unsigned note, a
    malformed text or vkey are refused."""
    key = SigningKey.generate("doudi.example/log")
    checkpoint = v.Checkpoint("doudi.example/log", 8, h(ROOTS[7]))
    note = key.sign_note(checkpoint.text())
    assert v.verify_checkpoint(note, key.vkey, "doudi.example/log") == checkpoint
    with pytest.raises(v.VerifyError, match="not of"):
        v.verify_checkpoint(note, key.vkey, "other.example/log")
    impostor = SigningKey.generate("doudi.example/log")
    with pytest.raises(v.VerifyError):  # same name, another key id: not by our key
        v.verify_checkpoint(impostor.sign_note(checkpoint.text()), key.vkey)
    forged = note.replace(
        base64.b64encode(h(ROOTS[7])).decode(), base64.b64encode(bytes(32)).decode()
    )
    with pytest.raises(v.VerifyError, match="does not verify"):
        v.verify_checkpoint(forged, key.vkey)
    for text in ("o\n8\n", "o\n08\n" + base64.b64encode(bytes(32)).decode() + "\n",
                 "o\n8\n" + base64.b64encode(bytes(31)).decode() + "\n"):  # fmt: skip
        with pytest.raises(v.VerifyError):
            v.parse_checkpoint(text)
    for vkey in (
        key.vkey[:-2],
        key.vkey.replace("+", "-", 1),
        "x+00000000+" + key.vkey.split("+")[2],
    ):
        with pytest.raises(v.VerifyError):
            v.parse_vkey(vkey)
    signer = Ed25519PrivateKey.generate()
    assert v.parse_vkey(v.format_vkey("n", signer.public_key().public_bytes_raw())).name == "n"


def test_first_discrepancy_names_the_first_bad_position() -> None:
    """Comparing the stored log with the sealed leaves names the first altered, missing or
    inserted position; a longer log is only unsealed."""
    sealed = [(1, b"a"), (2, b"b"), (4, b"c"), (5, b"d")]
    assert v.first_discrepancy([*sealed, (6, b"e")], sealed) == (None, 4)
    found, _ = v.first_discrepancy([(1, b"a"), (2, b"x"), (4, b"c"), (5, b"y")], sealed)
    assert (found.kind, found.position) == ("altered", 2)
    found, _ = v.first_discrepancy([(1, b"a"), (4, b"c"), (5, b"d")], sealed)
    assert (found.kind, found.position) == ("missing", 2)
    found, _ = v.first_discrepancy([(1, b"a"), (2, b"b"), (3, b"z"), (4, b"c")], sealed)
    assert (found.kind, found.position) == ("inserted", 3)
    found, matched = v.first_discrepancy(sealed[:2], sealed)
    assert (found.kind, found.position, matched) == ("missing", 4, 2)


def test_an_event_is_verified_against_a_signed_checkpoint_by_its_stored_bytes() -> None:
    """An event with its stored bytes and proof verifies against a signed checkpoint; the same
    event with one byte of its state changed, or claimed at another position, does not."""
    events = [(i + 1, UUID(int=i), 1, "domain.x:Case.Applied", bytes([i]) * 40) for i in range(11)]
    leaves = [v.event_leaf(*event) for event in events]
    key = SigningKey.generate("doudi.example/log")
    note = key.sign_note(v.Checkpoint("doudi.example/log", 11, v.tree_head(leaves)).text())
    checkpoint = v.verify_checkpoint(note, key.vkey)
    proof = proof_from(leaves, tree.inclusion_ranges(6, 11))
    v.verify_event(events[6], 6, proof, checkpoint)
    position, originator, version, topic, state = events[6]
    for forged in (
        (position, originator, version, topic, state[:-1] + b"\xff"),
        (position + 1, originator, version, topic, state),
    ):
        with pytest.raises(v.VerifyError):
            v.verify_event(forged, 6, proof, checkpoint)


def test_rotated_keys_and_cosignatures() -> None:
    """After a rotation, a checkpoint signed by the earlier key opens with [new, old]; a
    witness's cosignature (an unknown key) is passed over; a note whose signature by a known
    key fails is refused even when another known key's verifies."""
    old, new, witness = (
        SigningKey.generate(n) for n in ("log.example", "log.example", "w.example")
    )
    text = v.Checkpoint("log.example", 3, bytes(32)).text()
    by_old = old.sign_note(text)
    assert v.open_note(by_old, [new.vkey, old.vkey]) == text
    with pytest.raises(v.VerifyError, match="no signature"):
        v.open_note(by_old, [new.vkey])
    cosigned = by_old + witness.sign_note(text).split("\n\n", 1)[1]
    assert v.open_note(cosigned, [old.vkey]) == text
    _, line = new.sign_note(text).split("\n\n", 1)
    dash, name, blob = line.split(" ")
    forged = bytearray(base64.b64decode(blob))
    forged[-1] ^= 0x01  # the key id stays: a signature by the known new key, broken
    broken = by_old + f"{dash} {name} {base64.b64encode(bytes(forged)).decode()}\n"
    with pytest.raises(v.VerifyError, match="does not verify"):
        v.open_note(broken, [old.vkey, new.vkey])


def test_the_verifying_module_needs_only_the_standard_library_and_cryptography() -> None:
    """Read the module's imports: nothing of doudi, nothing but the standard library and
    ``cryptography``, so that an auditor can take the one file."""
    tree_of = ast.parse(Path(v.__file__).read_text(encoding="utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree_of)
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import)
            else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        )
    }  # fmt: skip
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_an_event_moved_to_another_position_is_recognised() -> None:
    """The content sealed at position 5, found stored at position 2, is named as moved there;
    a content never sealed is not."""
    digests = [(p, UUID(int=p), 1, "t:A.B", bytes([p]) * 32) for p in range(1, 8)]
    sealed = [(p, v.leaf_hash(v.entry_bytes(*event))) for event in digests for p in [event[0]]]
    moved = (2, *digests[4][1:])
    assert v.moved_here(moved, iter(sealed[2:])) == 5
    assert v.moved_here((2, UUID(int=99), 1, "t:A.B", bytes(32)), iter(sealed[2:])) is None
