"""Person keys are stored in enrolment events and every view: their derivation must never drift."""

import hashlib
import hmac

from ledger.store.keys import Keys


def test_person_keys_are_the_first_half_of_an_hmac_sha256_under_the_secret() -> None:
    keys = Keys("a deployment secret")
    mac_key = hashlib.sha256(b"person-key:a deployment secret").digest()
    for id_number in ("11010519491231002X", "420582201102110317"):
        expected = hmac.new(mac_key, id_number.encode(), hashlib.sha256).hexdigest()[:32]
        assert keys.person_key(id_number) == expected
    # Fixed value: a change of the derivation would orphan every stored person key.
    assert keys.person_key("11010519491231002X") == "b25e1d96bde60628e0a3caf43c10920c"
    assert Keys("another secret").person_key("11010519491231002X") != keys.person_key(
        "11010519491231002X"
    )


def test_seal_round_trips_and_is_deterministic() -> None:
    keys = Keys("s")
    token = keys.seal("6217003343508589109")
    assert token == keys.seal("6217003343508589109") != "6217003343508589109"
    assert keys.unseal(token) == "6217003343508589109"
