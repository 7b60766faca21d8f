"""Verifying doudi's log: the one module an auditor needs to read (standard library + ``cryptography``).

doudi keeps a Merkle tree over its event log, in log order, and signs its head as a checkpoint.
An auditor keeps checkpoints and later checks, with this module alone, that an event is in the
log (inclusion), that the log still holds everything a kept checkpoint covered, unchanged
(consistency), and that a checkpoint was signed by the log's key.

**Hashing** is RFC 9162 §2.1: a leaf is SHA-256(0x00 ‖ entry), a node SHA-256(0x01 ‖ left ‖
right), the tree head of n > 1 entries splits at the largest power of two below n, and the
head of the empty tree is SHA-256 of nothing.

**The entry** of one stored event is five fields in this order, each written as a 4-byte
big-endian length followed by that many bytes (so that no field can borrow bytes from the next):

1. position: the notification id, 8 bytes big-endian unsigned;
2. originator id: the aggregate's UUID, its 16 bytes;
3. originator version: 8 bytes big-endian unsigned;
4. topic: UTF-8;
5. state: SHA-256 of the state exactly as stored (compressed and encrypted), 32 bytes.

The state enters by its digest, which commits to every stored byte as firmly as the bytes
themselves: the database can compute it where the state lies (PostgreSQL's ``sha256()``), and
an entry stays 88 bytes however large the event. Position is the leaf's own field, so an event
moved to another position no longer matches the leaf sealed there.

**Checkpoints** are C2SP tlog-checkpoint signed notes (https://c2sp.org/tlog-checkpoint,
https://c2sp.org/signed-note): the text is the origin line, the tree size in decimal, the root
in base64, each on its own line, then optional extension lines; then a blank line and one line
per signature: "— <key name> <base64(key id ‖ Ed25519 signature of the text)>". The key id is
the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key). A verifier key is written
"<name>+<key id in hex>+<base64(0x01 ‖ public key)>", as Go's ``golang.org/x/mod/sumdb/note``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import itertools
import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
ED25519 = 0x01  # the signature type byte of Ed25519 in signed notes
MAX_SIGNATURES = 16


class VerifyError(Exception):
    """A proof, note or checkpoint that does not verify, or is malformed."""


# --- entries and hashing --------------------------------------------------------------------


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


# The first three fields have fixed sizes: their length prefixes are constants.
_FIXED_FIELDS = struct.Struct(">IQI16sIQ")  # 8, position, 16, originator id, 8, version
_STATE_PREFIX = struct.pack(">I", HASH_SIZE)


@functools.lru_cache(maxsize=4096)
def _topic_field(topic: str) -> bytes:
    return _field(topic.encode("utf-8"))  # a log has a few hundred topics: encoded once each


def entry_bytes(
    position: int, originator_id: UUID | bytes, version: int, topic: str, state_sha256: bytes
) -> bytes:
    """The canonical bytes of one stored event (see the module's docstring): the same bytes as
    ``_field(position) ‖ _field(id) ‖ _field(version) ‖ _field(topic) ‖ _field(digest)``. The
    originator id is a UUID or its 16 bytes (as a database may return it)."""
    if len(state_sha256) != HASH_SIZE:
        raise ValueError("state_sha256 must be the 32-byte SHA-256 of the stored state")
    raw_id = originator_id if isinstance(originator_id, bytes) else originator_id.bytes
    if len(raw_id) != 16:
        raise ValueError("an originator id is 16 bytes")
    fixed = _FIXED_FIELDS.pack(8, position, 16, raw_id, 8, version)
    return fixed + _topic_field(topic) + _STATE_PREFIX + state_sha256


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The leaf hash of a stored event, from its state as stored."""
    digest = hashlib.sha256(state).digest()
    return leaf_hash(entry_bytes(position, originator_id, version, topic, digest))


class Frontier:
    """A tree being built leaf by leaf in O(log n) memory: the heads of its perfect subtrees,
    largest first. ``root()`` is the RFC 9162 tree head of the leaves appended so far."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        # Appending leaf number n completes one perfect subtree per trailing zero bit of n.
        self.size += 1
        hashed, count = leaf, self.size
        while not count & 1:
            hashed = node_hash(self._stack.pop(), hashed)
            count >>= 1
        self._stack.append(hashed)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        root = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            root = node_hash(left, root)
        return root


def tree_head(leaves: Iterable[bytes]) -> bytes:
    """The RFC 9162 Merkle tree head of these leaf hashes."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


# --- proofs (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------------


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is entry ``index`` (from 0) of the tree of ``size`` whose head is
    ``root``; raise ``VerifyError`` if not."""
    if not 0 <= index < size:
        raise VerifyError(f"index {index} is not within a tree of size {size}")
    fn, sn, hashed = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise VerifyError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            hashed = node_hash(sibling, hashed)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            hashed = node_hash(hashed, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or hashed != root:
        raise VerifyError(f"entry {index} is not included in the tree of size {size}")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``second`` entries (head ``second_root``) extends the tree of
    ``first`` entries (head ``first_root``): the first ``first`` entries are unchanged."""
    if not 0 <= first <= second:
        raise VerifyError(f"sizes {first} and {second} are not in order")
    if first == 0 or first == second:
        if proof:
            raise VerifyError("a consistency proof between these sizes is empty")
        if first == second and first_root != second_root:
            raise VerifyError(f"two different trees of size {first}")
        return
    if not proof:
        raise VerifyError("empty consistency proof")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old tree is a subtree of the new
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise VerifyError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(sibling, fr), node_hash(sibling, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise VerifyError(f"the tree of size {second} does not extend the tree of size {first}")


def verify_event(
    event: tuple[int, UUID, int, str, bytes],
    index: int,
    proof: Sequence[bytes],
    checkpoint: Checkpoint,
) -> None:
    """Check that a stored event — (position, originator id, version, topic, state as stored)
    — is leaf ``index`` of the tree a (verified) checkpoint signed."""
    verify_inclusion(index, checkpoint.size, event_leaf(*event), proof, checkpoint.root)


# --- signed notes and checkpoints -----------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes  # 4 bytes
    public_key: bytes  # 32 bytes, Ed25519


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise VerifyError("a key name is non-empty, without spaces or '+'")


def parse_vkey(vkey: str) -> VerifierKey:
    """A verifier key "<name>+<key id hex>+<base64(0x01 ‖ Ed25519 public key)>"."""
    parts = vkey.strip().split("+", 2)  # base64 may hold "+"
    if len(parts) != 3:
        raise VerifyError("a verifier key is <name>+<hex key id>+<base64 key>")
    name, id_hex, material = parts
    _check_key_name(name)
    try:
        raw = base64.b64decode(material, validate=True)
        wanted_id = bytes.fromhex(id_hex)
    except (binascii.Error, ValueError):
        raise VerifyError("a verifier key's id is hex and its key base64") from None
    if len(id_hex) != 8 or len(raw) != 33 or raw[0] != ED25519:
        raise VerifyError("only Ed25519 verifier keys (type 0x01, 32 bytes) are known")
    if key_id(name, raw[1:]) != wanted_id:
        raise VerifyError("the verifier key's id does not match its name and key")
    return VerifierKey(name, wanted_id, raw[1:])


def format_vkey(name: str, public_key: bytes) -> str:
    _check_key_name(name)
    material = base64.b64encode(bytes([ED25519]) + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{material}"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text with its final newline, [(key name, signature blob)]) of a signed note."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise VerifyError("a signed note has no control characters but newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise VerifyError("a signed note is text, a blank line, then signature lines")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerifyError(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        prefix, _, rest = line.partition(" ")
        name, _, blob = rest.partition(" ")
        if prefix != "—" or not name or not blob or " " in blob:
            raise VerifyError("a signature line is '— <name> <base64 signature>'")
        try:
            signatures.append((name, base64.b64decode(blob, validate=True)))
        except binascii.Error:
            raise VerifyError("a signature is base64") from None
    return text, signatures


def open_note(note: str, vkeys: str | Sequence[str]) -> str:
    """The text of a signed note, once a signature by one of these keys (the log's current and
    earlier keys, after a rotation) verifies. Signatures by other keys (a witness's cosignature)
    are passed over; raise ``VerifyError`` if one by a known key fails, or none is by one."""
    keys = {
        (key.name, key.key_id): key
        for key in map(parse_vkey, [vkeys] if isinstance(vkeys, str) else vkeys)
    }
    text, signatures = split_note(note)
    verified = False
    for name, blob in signatures:
        key = keys.get((name, blob[:4]))
        if key is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[4:], text.encode())
        except InvalidSignature:
            raise VerifyError(f"the signature of {name} does not verify") from None
        verified = True
    if not verified:
        known = ", ".join(f"{name}+{key_id.hex()}" for name, key_id in keys)
        raise VerifyError(f"the note carries no signature by {known}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a note's text states (origin, size, root, extension lines)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(line == "" for line in lines[:-1]):
        raise VerifyError("a checkpoint is origin, size and root lines (then extensions)")
    origin, size_text, root_text, *extensions = lines[:-1]
    if (
        not size_text.isdigit()
        or not size_text.isascii()
        or (size_text != "0" and size_text[0] == "0")
    ):
        raise VerifyError("a checkpoint's size is a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise VerifyError("a checkpoint's root is base64") from None
    if len(root) != HASH_SIZE or int(size_text) >= 1 << 64:
        raise VerifyError("a checkpoint's root is 32 bytes and its size below 2^64")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def verify_checkpoint(
    note: str, vkeys: str | Sequence[str], origin: str | None = None
) -> Checkpoint:
    """The checkpoint of a signed note whose signature by one of ``vkeys`` verifies (and whose
    origin is ``origin``, if given)."""
    checkpoint = parse_checkpoint(open_note(note, vkeys))
    if origin is not None and checkpoint.origin != origin:
        raise VerifyError(f"checkpoint of {checkpoint.origin!r}, not of {origin!r}")
    return checkpoint


# --- comparing a log with its sealed tree ---------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    """The first place where the stored log and the sealed tree part: ``kind`` is 'altered'
    (the event at ``position`` is not what was sealed there), 'reordered' (it is, unchanged,
    the event sealed at the later position ``sealed_at``), 'missing' (a sealed position no
    longer in the log: deleted, or the tail truncated) or 'inserted' (a stored event at a
    position that was never sealed, before the sealed end)."""

    kind: str
    position: int
    index: int  # the leaf index (from 0) where the two part
    sealed_at: int | None = None

    def __str__(self) -> str:
        moved = "" if self.sealed_at is None else f", the event sealed at {self.sealed_at}"
        return f"position {self.position} {self.kind} (leaf {self.index}{moved})"


def moved_here(
    event: tuple[int, UUID, int, str, bytes],
    sealed: Iterable[tuple[int, bytes]],
    window: int = 10_000,
) -> int | None:
    """Of the next ``window`` sealed (position, leaf), the position whose leaf is this stored
    event's content (originator, version, topic, state digest) sealed there: the event was
    moved to where it stands now. None if none is."""
    _, originator_id, version, topic, digest = event
    for position, leaf in itertools.islice(sealed, window):
        if leaf_hash(entry_bytes(position, originator_id, version, topic, digest)) == leaf:
            return position
    return None


def first_discrepancy(
    stored: Iterable[tuple[int, bytes]], sealed: Iterable[tuple[int, bytes]]
) -> tuple[Discrepancy | None, int]:
    """Walk the stored log's (position, recomputed leaf) and the sealed (position, leaf)
    pairs side by side, both in log order: (the first discrepancy or None, how many sealed
    leaves matched before it). Stored events after the last sealed one are not yet sealed."""
    log, tree = iter(stored), iter(sealed)
    index = 0
    mine, theirs = next(log, None), next(tree, None)
    while theirs is not None:
        if mine is None or mine[0] > theirs[0]:
            return Discrepancy("missing", theirs[0], index), index
        if mine[0] < theirs[0]:
            return Discrepancy("inserted", mine[0], index), index
        if mine[1] != theirs[1]:
            return Discrepancy("altered", mine[0], index), index
        index += 1
        mine, theirs = next(log, None), next(tree, None)
    return None, index


def leaves_of(events: Iterable[tuple[int, UUID, int, str, bytes]]) -> Iterator[tuple[int, bytes]]:
    """(position, leaf) of stored events given as (position, originator id, version, topic,
    SHA-256 of the state)."""
    for position, originator_id, version, topic, digest in events:
        yield position, leaf_hash(entry_bytes(position, originator_id, version, topic, digest))


# --- a special-audit package, offline -------------------------------------------------------

MANIFEST_TITLE = "doudi special-audit package v1"


def verify_package(folder: Path, vkeys: str | Sequence[str]) -> int:
    """Check a special-audit package completely offline; return how many events it proves.

    ``manifest`` is a note signed by the log's key: its title line, the log's origin, the
    scope and the period, then one "<SHA-256 hex> <file name>" line per file. Every file is
    listed and has its hash (so a changed byte anywhere fails); ``checkpoint`` is signed by the
    log's key; each line of ``events.jsonl`` is an event as stored (state in base64) with its
    leaf index and inclusion proof, which must lead to the checkpoint's root."""
    lines = open_note(_text(folder / "manifest"), vkeys).splitlines()
    if not lines or lines[0] != MANIFEST_TITLE:
        raise VerifyError(f"manifest: not a {MANIFEST_TITLE!r}")
    listed: dict[str, str] = {}  # file name → SHA-256 hex
    for line in lines[4:]:
        digest, _, name = line.partition(" ")
        listed[name] = digest
    present = {path.name for path in folder.iterdir()} - {"manifest"}
    if set(listed) != present:
        raise VerifyError(f"manifest lists {sorted(listed)}, the package holds {sorted(present)}")
    for name, digest in listed.items():
        if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
            raise VerifyError(f"{name}: its SHA-256 is not the one the manifest signed")
    checkpoint = verify_checkpoint(_text(folder / "checkpoint"), vkeys)
    if checkpoint.origin != lines[1]:
        raise VerifyError("the checkpoint is of another log than the manifest")
    count = 0
    with (folder / "events.jsonl").open(encoding="utf-8") as events:
        for number, line in enumerate(events, 1):
            try:
                item = json.loads(line)
                event = (item["position"], UUID(item["originator_id"]), item["originator_version"],
                         item["topic"], base64.b64decode(item["state"], validate=True))  # fmt: skip
                proof = [base64.b64decode(hashed, validate=True) for hashed in item["proof"]]
                verify_event(event, item["leaf_index"], proof, checkpoint)
            except (VerifyError, ValueError, KeyError, TypeError) as error:
                raise VerifyError(f"events.jsonl line {number}: {error}") from None
            count += 1
    return count


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise VerifyError(f"{path.name}: {error}") from None


if __name__ == "__main__":  # python verify.py PACKAGE_FOLDER VERIFIER_KEY...
    import sys

    try:
        print(f"ok: {verify_package(Path(sys.argv[1]), sys.argv[2:])} events proven")
    except VerifyError as failure:
        sys.exit(f"FAILED: {failure}")
