"""Stored events for new aggregates, encoded without building event objects (the bulk import's lane).

A roster import records millions of events of a few kinds, each the first events of a new
aggregate. Through ``Application.save`` every event is built by the ``@event`` machinery
(keyword coercion, protocol checks, mutation of the aggregate) and then taken apart again by the
mapper, which would cost more than the rest of the import. This encoder takes the fields that
the domain's own decision functions return (``domain.household.application_fields`` and the
like: the same rules as the API's path) and writes the bytes the library's mapper would write
for them: the same topic, the same JSON document (keys in the event class's field order, the
timestamp as the library's ``datetime_iso`` marker), compressed and encrypted by the
application's own compressor and cipher. ``tests/integration/test_bulk_import.py`` checks the
bytes against the mapper's and the decoded events against the domain path's.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

ENVELOPE = ("originator_id", "originator_version", "timestamp", "originator_topic")


@dataclasses.dataclass(frozen=True)
class EventShape:
    """What the mapper needs of an event class: its topic, its aggregate's topic if it is a
    creation event, its own fields in declaration order and its class version."""

    topic: str
    originator_topic: str | None
    fields: tuple[str, ...]
    class_version: int


@cache
def event_shape(event_class: type) -> EventShape:
    names = [field.name for field in dataclasses.fields(event_class)]
    created = "originator_topic" in names
    # The aggregate class the event is nested in, and its topic as the library's ``_create``
    # writes it (``get_topic`` honours topics registered for renamed classes).
    owner: Any = sys.modules[event_class.__module__]
    for name in event_class.__qualname__.split(".")[:-1]:
        owner = getattr(owner, name)
    return EventShape(
        topic=get_topic(event_class),
        originator_topic=get_topic(owner) if created else None,
        fields=tuple(name for name in names if name not in ENVELOPE),
        class_version=getattr(event_class, "class_version", 1),
    )


class StoredEventEncoder:
    def __init__(self, app: Application) -> None:  # type: ignore[type-arg]
        self.mapper = app.mapper
        self._stamped: tuple[datetime | None, str] = (None, "")  # the last timestamp's text

    def state(self, shape: EventShape, fields: dict[str, Any], timestamp: datetime) -> bytes:
        """The JSON document of one event, byte for byte what ``mapper.to_stored_event`` encodes."""
        if timestamp is not self._stamped[0]:
            self._stamped = (timestamp, timestamp.isoformat())
        document: dict[str, Any] = {
            "timestamp": {"_type_": "datetime_iso", "_data_": self._stamped[1]}
        }
        if shape.originator_topic is not None:
            document["originator_topic"] = shape.originator_topic
        for name in shape.fields:
            document[name] = fields[name]
        if shape.class_version > 1:
            document["class_version"] = shape.class_version
        try:
            return orjson.dumps(document)
        except orjson.JSONEncodeError:
            # Something orjson will not write (a lone surrogate, a foreign type): the library's
            # encoder decides, with the timestamp as the object it expects.
            document["timestamp"] = timestamp
            return bytes(self.mapper.transcoder.encode(document))

    def encode(
        self,
        event_class: type,
        originator_id: UUID,
        version: int,
        fields: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> StoredEvent:
        """The stored event; ``timestamp`` defaults to now (a household's events share one)."""
        shape = event_shape(event_class)
        state = self.state(shape, fields, timestamp or datetime.now(tz=UTC))
        if self.mapper.compressor:
            state = self.mapper.compressor.compress(state)
        if self.mapper.cipher:
            state = self.mapper.cipher.encrypt(state)
        return StoredEvent(
            originator_id=originator_id, originator_version=version, topic=shape.topic, state=state
        )
