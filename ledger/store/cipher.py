"""The library's AES-GCM cipher with its key schedule built once, not per event.

``eventsourcing.cryptography.AESCipher`` constructs an ``AESGCM`` object for every event, which
costs more than the encryption itself. This subclass keeps one and writes the same format
(nonce, tag, ciphertext), so either cipher reads what the other wrote (tests/unit/test_cipher.py).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment


class CachedAESCipher(AESCipher):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._aesgcm = AESGCM(self.key)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = AESCipher.random_bytes(12)
        sealed = self._aesgcm.encrypt(nonce, plaintext, None)
        return nonce + sealed[-16:] + sealed[:-16]  # the tag in front, as the library writes it

    def decrypt(self, ciphertext: bytes) -> bytes:
        nonce, tag = ciphertext[:12], ciphertext[12:28]
        if len(nonce) != 12 or len(tag) != 16:
            raise ValueError("Damaged cipher text: invalid nonce or tag length")
        try:
            return self._aesgcm.decrypt(nonce, ciphertext[28:] + tag, None)
        except InvalidTag as error:
            raise ValueError("Invalid cipher tag") from error
