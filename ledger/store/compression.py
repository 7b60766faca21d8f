"""LZ4 block compression for stored events.

Measured here on a typical 400-byte case event: zlib ~75 µs per event, LZ4 block ~1.2 µs, with
zlib saving ~70 more bytes. At import rates of tens of thousands of events per second the time
matters more than the bytes. Compression runs before encryption (ciphertext does not compress).
"""

from __future__ import annotations

import lz4.block
from eventsourcing.persistence import Compressor

# LZ4's "fast" mode with acceleration 4 skips more of the match search: a roll chunk's
# compression took ~35 % less time for ~3 % more bytes (ratio 2.67 against 2.74). The block
# format is the same, so events stored either way decompress alike.
ACCELERATION = 4


class Lz4Compressor(Compressor):
    def compress(self, data: bytes) -> bytes:
        return bytes(lz4.block.compress(data, mode="fast", acceleration=ACCELERATION))

    def decompress(self, data: bytes) -> bytes:
        return bytes(lz4.block.decompress(data))
