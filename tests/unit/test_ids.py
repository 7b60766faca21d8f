"""Derived ids must never drift: stored aggregates are found by them."""

import hashlib
import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from domain.ids import name_uuid
from ledger.store.ids import name_uuid as stored_name_uuid
from projections.rolls.view import generation_key, new_token


@given(st.text())
def test_name_uuids_are_uuid5_under_the_url_namespace(name: str) -> None:
    try:
        expected = uuid.uuid5(uuid.NAMESPACE_URL, name)
    except UnicodeEncodeError:  # a lone surrogate: refused by both
        return
    for found in (name_uuid(name), stored_name_uuid(name)):
        assert found == expected and str(found) == str(expected) and found.version == 5
        assert hash(found) == hash(expected) and found.variant == expected.variant


def test_a_new_generation_token_is_a_version_7_uuid_whose_key_follows_earlier_ones() -> None:
    """Roll generations made later get larger line keys (their lines go to the right edge of
    the lines' primary key); any other token (version 4) keeps its hashed key."""
    tokens = []
    for _ in range(5):
        tokens.append(new_token())
        time.sleep(0.002)
    assert all(t.version == 7 and t.variant == uuid.RFC_4122 for t in tokens)
    keys = [generation_key(str(t)) for t in tokens]
    assert keys == sorted(keys) and len(set(keys)) == 5 and all(0 < k < 2**63 for k in keys)
    made = int(time.time() * 1000)
    assert abs((tokens[-1].int >> 80) - made) < 5_000  # its first 48 bits: milliseconds
    # Tokens made in one millisecond differ by their random bits, and so do their keys.
    same = {generation_key(str(new_token())) for _ in range(200)}
    assert len(same) == 200
    old = "5f0c9a52-1d3e-4b8e-9d7a-0a1b2c3d4e5f"  # a version-4 token, as recorded before
    assert generation_key(old) == generation_key(old) and -(2**63) <= generation_key(old) < 2**63
    digest = hashlib.blake2b(old.encode(), digest_size=8).digest()
    assert generation_key(old) == int.from_bytes(digest, "big", signed=True)
