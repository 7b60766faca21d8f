"""The cached AES-GCM cipher writes and reads exactly the library's format: each reads what the
other wrote, and a damaged text is refused by both."""

from __future__ import annotations

import base64
import os

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from ledger.store.cipher import CachedAESCipher


def environment() -> Environment:
    return Environment(env={"CIPHER_KEY": base64.b64encode(os.urandom(32)).decode()})


@pytest.mark.parametrize("size", [0, 1, 450, 70_000])
def test_each_cipher_reads_what_the_other_wrote(size: int) -> None:
    env = environment()
    library, cached = AESCipher(env), CachedAESCipher(env)
    plaintext = os.urandom(size)
    assert cached.decrypt(library.encrypt(plaintext)) == plaintext
    assert library.decrypt(cached.encrypt(plaintext)) == plaintext
    assert cached.encrypt(plaintext) != cached.encrypt(plaintext)  # a fresh nonce each time


def test_damaged_or_foreign_texts_are_refused() -> None:
    env = environment()
    cached = CachedAESCipher(env)
    sealed = bytearray(cached.encrypt(b"a statement of account"))
    sealed[-1] ^= 1
    with pytest.raises(ValueError, match="Invalid cipher tag"):
        cached.decrypt(bytes(sealed))
    with pytest.raises(ValueError, match="Damaged"):
        cached.decrypt(b"short")
    with pytest.raises(ValueError, match="Invalid cipher tag"):
        cached.decrypt(CachedAESCipher(environment()).encrypt(b"another key"))


def test_one_cipher_shared_by_threads_round_trips_every_message() -> None:
    """The API's worker threads share the application's cipher: its one ``AESGCM`` object keeps
    no state between calls (pyca copies its base context per operation)."""
    from concurrent.futures import ThreadPoolExecutor

    cached = CachedAESCipher(environment())
    messages = [os.urandom(64 + n % 2_000) for n in range(400)]

    def round_trip(message: bytes) -> bool:
        return all(cached.decrypt(cached.encrypt(message)) == message for _ in range(20))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(round_trip, messages))
