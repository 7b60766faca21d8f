"""Name-based ids (``domain.ids.name_uuid``) made without ``UUID.__init__``'s argument checks,
for the bulk import, which derives several per household. The same UUIDs (tested against
``uuid.uuid5``)."""

from __future__ import annotations

import hashlib
from uuid import NAMESPACE_URL, UUID, SafeUUID

_NAMESPACE = NAMESPACE_URL.bytes
_VERSION_5 = 5 << 76
_CLEAR = ~(0xC000 << 48) & ~(0xF000 << 64)  # the variant and version bits
_RFC_4122 = 0x8000 << 48
_new, _set = object.__new__, object.__setattr__


def name_uuid(name: str) -> UUID:
    """``uuid.uuid5(uuid.NAMESPACE_URL, name)``, its value set directly."""
    value = int.from_bytes(hashlib.sha1(_NAMESPACE + name.encode()).digest()[:16])
    found: UUID = _new(UUID)
    _set(found, "int", value & _CLEAR | _RFC_4122 | _VERSION_5)
    _set(found, "is_safe", SafeUUID.unknown)
    return found
