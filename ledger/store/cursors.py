"""The opaque cursor of a keyset-paged list (``projections.keyset``).

A page answers ``next``: the sort key of its last row, signed (``Keys.cursor_tag``) together
with the query it answers (route, caller's scope and audit period, every filter, known-at
position). A cursor malformed, altered, forged, or sent with other filters or by another scope
is refused (422 naming ``cursor``, rule ``issued_cursor``): it never starts a list anywhere its
signature does not cover.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence
from typing import Any

import orjson

from domain.errors import InvalidValue

# ``<payload>.<tag>``, both base64url without padding; the longest sort key (a region code, a
# date and an id) fits with room to spare.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,600}\.[A-Za-z0-9_-]{22}$"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed(keys: Any, payload: bytes, query: Sequence[Any]) -> bytes:
    bytes_: bytes = keys.cursor_tag(orjson.dumps(list(query)) + b"\n" + payload)
    return bytes_


def _refused(detail: str) -> InvalidValue:
    return InvalidValue(detail, field="cursor", rule="issued_cursor")


class Pager:
    """The cursor of one list request: ``query`` is everything the rows depend on (route,
    scope, period, filters, known-at position), ``width`` the number of values in its key."""

    def __init__(self, services: Any, query: Sequence[Any], width: int) -> None:
        self.keys = services.keys
        self.query = list(query)
        self.width = width

    def after(self, cursor: str | None) -> list[Any] | None:
        """The sort key the page starts after (None: the first page)."""
        if cursor is None:
            return None
        payload_text, _, tag_text = cursor.partition(".")
        try:
            payload, tag = _unb64(payload_text), _unb64(tag_text)
        except (binascii.Error, ValueError):
            raise _refused("the cursor is not one this server issued") from None
        if not hmac.compare_digest(tag, _signed(self.keys, payload, self.query)):
            raise _refused("the cursor was not issued for this list with these filters and scope")
        key = orjson.loads(payload)  # signed by this server: a list it wrote
        if not isinstance(key, list) or len(key) != self.width:  # pragma: no cover - signed
            raise _refused("the cursor is not one this server issued")
        return key

    def next(self, key: Sequence[Any] | None) -> str | None:
        """The cursor that continues after ``key`` (None: this was the last page)."""
        if key is None:
            return None
        payload = orjson.dumps(list(key))
        return f"{_b64(payload)}.{_b64(_signed(self.keys, payload, self.query))}"

    def page(self, limit: int, items: list[Any], key: Sequence[Any] | None) -> dict[str, Any]:
        return {"limit": limit, "items": items, "next": self.next(key)}
