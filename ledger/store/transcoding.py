"""The event store's JSON transcoder: the library's encoding, byte for byte, decoded with orjson.

The library's ``JSONTranscoder`` decodes with the standard ``json`` module and an object hook
called for every object in the document, which costs more than the parsing. Decoding here parses
with orjson and turns the type markers (``{"_type_": …, "_data_": …}``) of top-level fields —
where doudi's events keep their UUIDs and timestamps — back into objects; a document with a
marker anywhere else, or that orjson refuses, goes to the library's own decoder, so the result
is always the same. (orjson reads an integer beyond 64 bits as a float; doudi records none:
amounts are bounded by ``domain.money.MAX_FEN``, and so are the API's free-form integers.)

Encoding has one shortcut: a long text at the top level (a bank statement chunk's
``lines_json``) or a roll chunk's lines (``domain.roll.PlainLines``) is written by orjson into
the place the library's encoder left for it, because the library escapes long texts character by
character and walks lists of dicts in Python. orjson writes the same bytes for these values (a
lone surrogate, which it refuses, takes the library's path); for roll lines that rests on their
being plain JSON values, which is what ``PlainLines`` declares.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, MapperDeserialisationError
from eventsourcing.utils import resolve_topic

from domain.errors import IntegrityFailure
from domain.roll import PlainLines

_MARKER = b'"_type_"'
_LONG_TEXT = 4096  # characters: shorter texts are not worth the detour
# Where a long text goes: a string no event holds (it starts with a NUL), as the library
# writes it.
_SLOT = "\x00doudi-long-text-{}"


def _by_orjson(value: Any) -> bool:
    """A top-level value orjson writes in the library's bytes: a long text, or roll
    lines declared plain (``PlainLines``: only text, integers, booleans, None, lists and dicts)."""
    return (type(value) is str and len(value) > _LONG_TEXT) or type(value) is PlainLines


def _unfragmented(obj: dict[str, Any]) -> dict[str, Any]:
    """The event's state with each ``orjson.Fragment`` in its roll lines as the value it holds,
    for the library's encoder, which knows no fragments (the rare way round: a lone surrogate)."""

    def plain(value: Any) -> Any:
        return orjson.loads(orjson.dumps(value)) if type(value) is orjson.Fragment else value

    return {
        key: [[plain(v) for v in row] if type(row) is list else row for row in value]
        if type(value) is PlainLines else value
        for key, value in obj.items()
    }  # fmt: skip


class OrjsonDecodingTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        if type(obj) is not dict:
            return super().encode(obj)
        long = [key for key, value in obj.items() if _by_orjson(value)]
        if not long:
            return super().encode(obj)
        slots = {key: _SLOT.format(number) for number, key in enumerate(long)}
        data = super().encode({key: slots.get(key, value) for key, value in obj.items()})
        # Where each slot was written in the short document, then the document put together
        # once around orjson's texts: one copy of the long result, and no text orjson wrote is
        # ever searched for a slot.
        places = []
        for key, slot in slots.items():
            written = self.encoder.encode(slot).encode("utf8")
            if data.count(written) != 1:  # the slot's text also elsewhere: no shortcut
                return super().encode(_unfragmented(obj))
            try:
                text = orjson.dumps(obj[key])
            except orjson.JSONEncodeError:
                return super().encode(_unfragmented(obj))
            start = data.index(written)
            places.append((start, start + len(written), text))
        pieces: list[bytes] = []
        done = 0
        for start, end, text in sorted(places):
            pieces += (data[done:start], text)
            done = end
        pieces.append(data[done:])
        return b"".join(pieces)

    def decode(self, data: bytes) -> Any:
        markers = data.count(_MARKER)
        try:
            found = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        if not markers:
            return found
        if type(found) is dict:
            converted = 0
            for key, value in found.items():
                if (
                    type(value) is dict
                    and len(value) == 2
                    and "_type_" in value
                    and "_data_" in value
                ):
                    found[key] = self._decode_obj(value)
                    converted += 1
            if converted == markers:
                return found
        return super().decode(data)


def integrity_failure(stored: Any) -> IntegrityFailure:
    """The error for a stored event whose state cannot be decrypted or decoded."""
    return IntegrityFailure(str(stored.originator_id), stored.originator_version)


class CheckedMapper(Mapper):  # type: ignore[type-arg]
    """The library's mapper, except that a stored state it cannot decrypt or decode raises
    ``IntegrityFailure`` naming the aggregate (a 500), not the library's ``ValueError``, which a
    caller looking for a malformed id would take for "not found". Every read of stored events
    goes through it: aggregates, snapshots, roll chunks, idempotency records, the views."""

    def to_domain_event(self, stored_event: Any) -> Any:
        try:
            return super().to_domain_event(stored_event)
        except MapperDeserialisationError as error:
            raise integrity_failure(stored_event) from error


class EventFields:
    """A stored event's fields without the event object, for views that fold many events.

    ``__call__(notification)`` returns (event type as 'Class.Event', fields, recorded-at text):
    the fields are what the library's mapper would set on the event object, less the originator
    id and version (the notification has them) and the timestamp, given as the fixed-width UTC
    text the views store. The usual event — whose only typed value is its timestamp and which
    needs no upcasting — is decoded with orjson alone and its timestamp text rewritten in place
    (no ``datetime`` parsed and formatted again, no UUID converted); any other event goes
    through the library's mapper, so upcasters and every other type are handled as ever.
    """

    def __init__(self, mapper: Any, utc_text: Any) -> None:
        self.mapper = mapper
        self.utc_text = utc_text
        self._names: dict[str, str] = {}

    def __call__(self, notification: Any) -> tuple[str, dict[str, Any], str]:
        topic = notification.topic
        name = self._names.get(topic)
        if name is None:  # the class's own name, as for an event object (renamed topics too)
            name = self._names[topic] = resolve_topic(topic).__qualname__
        data = notification.state
        try:
            if self.mapper.cipher:
                data = self.mapper.cipher.decrypt(data)
            if self.mapper.compressor:
                data = self.mapper.compressor.decompress(data)
        except Exception as error:
            raise integrity_failure(notification) from error
        if data.count(_MARKER) == 1 and b'"class_version"' not in data:
            try:
                fields = orjson.loads(data)
            except orjson.JSONDecodeError:
                fields = None
            if type(fields) is dict:
                recorded = _utc_text_of(fields.pop("timestamp", None))
                if recorded is not None:
                    return name, fields, recorded
        event = self.mapper.to_domain_event(notification)
        fields = dict(vars(event))
        for envelope in ("originator_id", "originator_version"):
            fields.pop(envelope, None)
        return name, fields, self.utc_text(fields.pop("timestamp"))


def _utc_text_of(stamp: Any) -> str | None:
    """'2026-11-30T14:16:33.184967+00:00' (the library's encoding of a UTC timestamp) as
    '2026-11-30T14:16:33.184967Z'; None for anything else."""
    if type(stamp) is not dict or stamp.get("_type_") != "datetime_iso":
        return None
    text = stamp.get("_data_")
    if type(text) is not str or not text.endswith("+00:00"):
        return None
    if len(text) == 32:
        return text[:26] + "Z"
    if len(text) == 25:  # whole seconds: isoformat leaves the fraction out
        return text[:19] + ".000000Z"
    return None
