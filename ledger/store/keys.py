"""Keys derived from ``DOUDI_SECRET`` for the read models.

- ``person_key``: HMAC-SHA256 of an identity number, so views find a person without storing
  the number.
- ``seal`` / ``unseal``: deterministic AES-SIV encryption of a bank account in a view (the bank
  file needs it in full). Deterministic, so that rebuilding a view gives the same bytes and
  equal accounts stay comparable (one account paid for several households is a misuse check).
- ``cursor_tag``: HMAC-SHA256 of a list page's cursor and the query it was issued for, so a
  forged or altered cursor, or one replayed on other filters or another scope, is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESSIV

_CONTEXT = [b"doudi-view-seal-v1"]


class Keys:
    def __init__(self, secret: str) -> None:
        self._mac_key = hashlib.sha256(b"person-key:" + secret.encode()).digest()
        self._cursor_key = hashlib.sha256(b"page-cursor:" + secret.encode()).digest()
        self._siv = AESSIV(hashlib.sha512(b"view-seal:" + secret.encode()).digest())
        # A catch-up asks for the same person's key several times in a row (the application,
        # each member row, the facts): the recent ones are kept.
        self.person_key = lru_cache(maxsize=16_384)(self._person_key)

    def _person_key(self, id_number: str) -> str:
        # hmac.digest: the one-shot C path, same bytes as hmac.new(...).digest() in a fifth of
        # the time (a catch-up computes one per new member).
        return hmac.digest(self._mac_key, id_number.encode(), "sha256").hex()[:32]

    def cursor_tag(self, data: bytes) -> bytes:
        """16 bytes that only this server's secret gives for ``data`` (a cursor and its query)."""
        return hmac.digest(self._cursor_key, data, "sha256")[:16]

    def seal(self, text: str) -> str:
        return base64.b64encode(self._siv.encrypt(text.encode(), _CONTEXT)).decode()

    def unseal(self, token: str) -> str:
        # a2b_base64: what b64decode calls, without its checks of the argument's type
        return self._siv.decrypt(binascii.a2b_base64(token), _CONTEXT).decode()
