"""The verifiable log over the API: the signed checkpoint and the proofs, checked by the auditor's
module alone (as an auditor would, holding only the published verifier key)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ledger.proof import verify as v
from ledger.proof.verify import verify_package
from ops.services.core import Services
from tests.api.test_households_api import API, apply, assert_problem
from tests.conftest import OTHER_COUNTY


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def test_an_auditor_checks_inclusion_and_consistency_against_signed_checkpoints(
    client: TestClient, token: Any, services: Services
) -> None:
    """Keep a checkpoint, record more, take a second: the second extends the first (consistency
    proof), and a case's first event is included in both (inclusion proofs), all verified with
    the published verifier key and nothing else from the server."""
    vkey = services.log_key.vkey
    officer, auditor = token("admin"), token("auditor")
    apply(client, officer, seed=1)
    response = client.get(f"{API}/audit/checkpoint", headers=auditor)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    old = v.verify_checkpoint(response.text, vkey, services.settings.log_origin)
    apply(client, officer, seed=2)
    new = v.verify_checkpoint(client.get(f"{API}/audit/checkpoint", headers=auditor).text, vkey)
    assert new.size > old.size
    consistency = client.get(
        f"{API}/audit/proofs/consistency",
        params={"from": old.size, "to": new.size},
        headers=auditor,
    ).json()
    v.verify_consistency(
        old.size, new.size, old.root, new.root, [b64(p) for p in consistency["proof"]]
    )
    position = old.size  # an event recorded before the old checkpoint (ids start at 1, no gaps yet)
    for checkpoint in (old, new):
        proof = client.get(
            f"{API}/audit/proofs/inclusion",
            params={"position": position, "tree_size": checkpoint.size},
            headers=auditor,
        ).json()
        v.verify_inclusion(
            proof["leaf_index"], checkpoint.size, b64(proof["leaf_hash"]),
            [b64(p) for p in proof["proof"]], checkpoint.root,
        )  # fmt: skip


def test_proof_requests_out_of_range_are_problems_and_roles_are_checked(
    client: TestClient, token: Any
) -> None:
    """A position never sealed, a tree size beyond the seal or before the event, from after to,
    and a case worker asking: each a problem naming the field and the rule."""
    officer, auditor = token("admin"), token("auditor")
    apply(client, officer, seed=3)
    size = v.parse_checkpoint(
        v.split_note(client.get(f"{API}/audit/checkpoint", headers=auditor).text)[0]
    ).size
    url = f"{API}/audit/proofs"
    assert_problem(client.get(f"{url}/inclusion", params={"position": 10**9}, headers=auditor),
                   404, "position", "sealed")  # fmt: skip
    assert_problem(
        client.get(f"{url}/inclusion", params={"position": 1, "tree_size": size + 1}, headers=auditor),
        422, "tree_size", "within_sealed_tree",
    )  # fmt: skip
    assert_problem(
        client.get(f"{url}/inclusion", params={"position": 2, "tree_size": 1}, headers=auditor),
        422, "tree_size", "includes_position",
    )  # fmt: skip
    assert_problem(client.get(f"{url}/inclusion", params={"position": 0}, headers=auditor),
                   422, "position")  # fmt: skip
    assert_problem(
        client.get(f"{url}/consistency", params={"from": size, "to": 1}, headers=auditor),
        422, "from", "at_most_to",
    )  # fmt: skip
    refused = client.get(f"{API}/audit/checkpoint", headers=token("case_worker"))
    assert refused.status_code == 403


def test_inclusion_by_case_and_version_within_the_scope_only(
    client: TestClient, token: Any, services: Services
) -> None:
    """A case's first event is found by (case, version) and its proof verifies against the
    signed head; an auditor of another county, or half of the pair, gets a problem instead."""
    case_id = apply(client, token("admin"), seed=4)
    auditor = token("auditor")
    head = v.verify_checkpoint(
        client.get(f"{API}/audit/checkpoint", headers=auditor).text, services.log_key.vkey
    )
    found = client.get(  # against the signed head held (the seal may have moved on since)
        f"{API}/audit/proofs/inclusion",
        params={"case_id": case_id, "version": 1, "tree_size": head.size}, headers=auditor,
    )  # fmt: skip
    assert found.status_code == 200, found.text
    proof = found.json()
    v.verify_inclusion(
        proof["leaf_index"], head.size, b64(proof["leaf_hash"]),
        [b64(p) for p in proof["proof"]], head.root,
    )  # fmt: skip
    elsewhere = token("auditor", region=OTHER_COUNTY)
    assert_problem(
        client.get(f"{API}/audit/proofs/inclusion", params={"case_id": case_id, "version": 1},
                   headers=elsewhere),
        404, "case_id", "exists",
    )  # fmt: skip
    assert_problem(
        client.get(f"{API}/audit/proofs/inclusion", params={"case_id": case_id}, headers=auditor),
        422, "position", "position_or_case_version",
    )  # fmt: skip


def test_a_special_auditor_downloads_the_package_of_its_scope_and_period_only(
    client: TestClient, token: Any, services: Services, tmp_path: Path
) -> None:
    """A special auditor of the county for this month gets a zip that verifies offline and
    holds only the county's case events; a month past its period is refused (403), and a
    malformed month is a 422 naming the field."""
    month = datetime.now(UTC).strftime("%Y-%m")
    officer = token("admin", region="420500")
    ours = apply(client, officer, seed=6)
    theirs = apply(client, officer, seed=7, region=OTHER_COUNTY)
    auditor = token("special_auditor", period_from=f"{month}-01", period_to=f"{month}-28",
                    expires_at=(datetime.now(UTC) + timedelta(days=30)).isoformat())  # fmt: skip
    response = client.get(
        f"{API}/audit/export", params={"from": month, "to": month}, headers=auditor
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(tmp_path / "pkg")
    assert verify_package(tmp_path / "pkg", [services.log_key.vkey]) > 0
    cases = {
        json.loads(line)["originator_id"] for line in (tmp_path / "pkg" / "events.jsonl").open()
    }
    assert cases == {ours}
    assert theirs not in cases
    later = (datetime.now(UTC).replace(day=1) + timedelta(days=40)).strftime("%Y-%m")
    assert_problem(client.get(f"{API}/audit/export", params={"from": month, "to": later},
                              headers=auditor), 403, "to", "audit_period")  # fmt: skip
    assert_problem(client.get(f"{API}/audit/export", params={"from": "2024-1", "to": month},
                              headers=auditor), 422, "from")  # fmt: skip


def test_issued_checkpoints_are_listed_and_fetched_by_size(
    client: TestClient, token: Any, services: Services
) -> None:
    """Each checkpoint served is kept: the list names both served, smallest first, and each
    one's note, fetched by its size, is the note served then; a size never issued is a 404, a
    case worker is refused; health shows the seal's lag."""
    officer, auditor = token("admin"), token("auditor")
    apply(client, officer, seed=4)
    first = client.get(f"{API}/audit/checkpoint", headers=auditor).text
    apply(client, officer, seed=5)
    second = client.get(f"{API}/audit/checkpoint", headers=auditor).text
    old, new = (v.verify_checkpoint(note, services.log_key.vkey) for note in (first, second))
    listed = client.get(f"{API}/audit/checkpoints", headers=auditor)
    assert listed.status_code == 200, listed.text
    assert [item["tree_size"] for item in listed.json()["items"]] == [old.size, new.size]
    assert listed.json()["items"][1]["root_hash"] == base64.b64encode(new.root).decode()
    for size, note in ((old.size, first), (new.size, second)):
        fetched = client.get(f"{API}/audit/checkpoints/{size}", headers=auditor)
        assert fetched.status_code == 200 and fetched.text == note
        assert fetched.headers["content-type"].startswith("text/plain")
    assert_problem(client.get(f"{API}/audit/checkpoints/{new.size + 1}", headers=auditor),
                   404, "tree_size", "issued")  # fmt: skip
    assert client.get(f"{API}/audit/checkpoints", headers=token("case_worker")).status_code == 403
    services.views_at(services.log_position(), sealed=True)  # the follower has sealed it all
    seal = client.get(f"{API}/health").json()["seal"]
    assert seal == {"position": services.log_position(), "events_behind": 0, "seconds_behind": 0.0}


def test_a_proof_catches_up_no_view_and_seals_only_what_it_asks_for(
    client: TestClient, token: Any, services: Services, monkeypatch: Any
) -> None:
    """A proof by position reads no view, so the request brings none up to the log; an event
    recorded since the last seal is sealed for the request that asks for it, and proven."""
    officer, auditor = token("admin"), token("auditor")
    apply(client, officer, seed=6)
    client.get(f"{API}/audit/checkpoint", headers=auditor)
    services.stop_following()  # no follower sealing in the background: the seal lags
    apply(client, officer, seed=7)
    newest = services.log_position()
    assert services.tlog.head().position < newest
    auditor |= {"Doudi-Log-Position": "0"}  # a read that waits for nothing

    def no_catch_up(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("a proof request caught up the views")

    monkeypatch.setattr(services.projections, "catch_up", no_catch_up)
    answer = client.get(f"{API}/audit/proofs/inclusion", params={"position": newest},
                        headers=auditor)  # fmt: skip
    assert answer.status_code == 200, answer.text
    proof = answer.json()
    assert proof["tree_size"] == services.tlog.head().size and proof["position"] == newest
    v.verify_inclusion(proof["leaf_index"], proof["tree_size"], b64(proof["leaf_hash"]),
                       [b64(p) for p in proof["proof"]], b64(proof["root_hash"]))  # fmt: skip
    size = proof["tree_size"]
    consistency = client.get(f"{API}/audit/proofs/consistency", params={"from": 1, "to": size},
                             headers=auditor).json()  # fmt: skip
    assert consistency["to_root_hash"] == proof["root_hash"]
