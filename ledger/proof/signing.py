"""The log's signing key: Ed25519, in the text form of Go's ``golang.org/x/mod/sumdb/note``.

A private key is written "PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 ‖ 32-byte seed)>" and
its verifier key "<name>+<key id hex>+<base64(0x01 ‖ public key)>", so that the Go tools and
transparency-log witnesses read both. The key lives outside the database (``ledger/store/settings.py``:
``DOUDI_LOG_SIGNING_KEY``): whoever can rewrite the database cannot sign a rewritten tree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.proof.verify import ED25519, Checkpoint, format_vkey, key_id

PREFIX = "PRIVATE+KEY+"


@dataclass(frozen=True)
class SigningKey:
    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> SigningKey:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        """A key in the "PRIVATE+KEY+<name>+<id>+<base64>" form; ``ValueError`` otherwise."""
        parts = text.strip().split("+", 4)  # base64 may hold "+"
        if len(parts) != 5 or text.strip()[: len(PREFIX)] != PREFIX:
            raise ValueError("a signing key is PRIVATE+KEY+<name>+<hex key id>+<base64 key>")
        name, id_hex, material = parts[2:]
        try:
            raw = base64.b64decode(material, validate=True)
        except binascii.Error:
            raise ValueError("the signing key's material is not base64") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise ValueError("only Ed25519 signing keys (type 0x01, 32-byte seed) are known")
        key = cls.from_seed(name, raw[1:])
        if key.key_id.hex() != id_hex:
            raise ValueError("the signing key's id does not match its name and key")
        return key

    @property
    def public_key(self) -> bytes:
        return self.private.public_key().public_bytes_raw()

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, self.public_key)

    def text(self) -> str:
        seed = base64.b64encode(bytes([ED25519]) + self.private.private_bytes_raw()).decode()
        return f"{PREFIX}{self.name}+{self.key_id.hex()}+{seed}"

    def sign_note(self, text: str) -> str:
        """The signed note of ``text`` (which ends with a newline) by this key."""
        if not text.endswith("\n"):
            raise ValueError("a note's text ends with a newline")
        signature = self.private.sign(text.encode())
        blob = base64.b64encode(self.key_id + signature).decode()
        return f"{text}\n— {self.name} {blob}\n"

    def sign_checkpoint(self, checkpoint: Checkpoint) -> str:
        return self.sign_note(checkpoint.text())


def load_signing_key(setting: str, secret: str, name: str) -> tuple[SigningKey, bool]:
    """(the log's signing key, whether it was derived from the secret for development).

    ``setting`` is DOUDI_LOG_SIGNING_KEY: the key's text, or the path of a file holding it.
    Without one, a key named ``name`` is derived from DOUDI_SECRET: the same on every start, and
    known to whoever knows the secret, so good for development and tests only (production
    refuses to start without the setting, ``ledger/store/settings.py``)."""
    if not setting:
        seed = hashlib.sha256(b"doudi log signing key\n" + secret.encode()).digest()
        return SigningKey.from_seed(name, seed), True
    text = setting if setting.startswith(PREFIX) else Path(setting).read_text(encoding="utf-8")
    return SigningKey.parse(text), False
