"""API fixtures: a TestClient over fresh services, and tokens for each role and scope."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from ledger.store.settings import Settings
from ops.services.core import Services
from ops.services.replay import replay
from tests.conftest import COUNTY


class SessionClient(TestClient):
    """A client that reads its own writes as a client session does: it keeps the highest
    ``Doudi-Log-Position`` a command answered and sends it with every later request (unless
    the request names one itself), so a read waits for the views to show those writes and no
    longer. Writes made beside it (``services`` directly) are not waited for."""

    position = 0

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        headers = dict(kwargs.pop("headers", None) or {})
        if self.position and not any(k.lower() == "doudi-log-position" for k in headers):
            headers["Doudi-Log-Position"] = str(self.position)
        response = super().request(method, url, headers=headers, **kwargs)
        answered = response.headers.get("Doudi-Log-Position")
        if answered:
            self.position = max(self.position, int(answered))
        return response


class LogHeadClient(SessionClient):
    """For scenarios that write beside the API (into the store directly): every request sends
    the log's head as it is then, so each read waits until the views hold everything recorded
    before it."""

    def __init__(self, app: Any, services: Services) -> None:
        super().__init__(app)
        self.services = services

    @property  # type: ignore[override]
    def position(self) -> int:
        return self.services.log_position()

    @position.setter
    def position(self, _answered: int) -> None:
        pass


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    """The app over fresh services, read through a ``SessionClient``. After the scenario, the
    replay proof (``doudi audit replay``) must find every view equal to a replay of the log:
    each API scenario on each backend ends with that check."""
    with SessionClient(create_app(settings, services)) as found:
        yield found
    report = replay(services, diff=True, limit=3)
    assert report["equal"], [table for table in report["tables"] if not table["equal"]]


@pytest.fixture
def log_head_client(settings: Settings, services: Services) -> Iterator[TestClient]:
    """``client`` for scenarios that also write beside the API (imports, direct commands): a
    ``LogHeadClient``, so each read waits for everything recorded before it."""
    with LogHeadClient(create_app(settings, services), services) as found:
        yield found
    report = replay(services, diff=True, limit=3)
    assert report["equal"], [table for table in report["tables"] if not table["equal"]]


@pytest.fixture
def token(services: Services) -> Callable[..., dict[str, str]]:
    """Headers with a bearer token for a role and region scope (default: the test county)."""

    people = itertools.count(1)

    def issue(role: str = "admin", region: str = COUNTY, **extra: str) -> dict[str, str]:
        """Each token is a person of its own (a fresh staff id) unless ``staff_id`` names one."""
        extra.setdefault("staff_id", f"{role}-{next(people)}")
        _credential, secret = services.issue_credential(
            "test", role=role, region_scope=region, **extra
        )
        return {"Authorization": f"Bearer {secret}"}

    return issue


def colleague(
    client: TestClient, headers: dict[str, str], role: str | None = None, title: str = "colleague"
) -> dict[str, str]:
    """Headers for another person with the same role (or ``role``) and scope as ``headers`` (the
    same one on every call): the checker beside a maker, for separation of duties."""
    kept: dict[tuple[str, str], dict[str, str]] = client.app.state.__dict__.setdefault(
        "colleagues", {}
    )  # type: ignore[attr-defined]
    secret = headers["Authorization"].removeprefix("Bearer ")
    if (secret, title) not in kept:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        services.projections.catch_up(["access"])
        row = services.access.by_token_hash(hashlib.sha256(secret.encode()).hexdigest())
        assert row is not None, "colleague() takes the headers of an issued token"
        _credential, other = services.issue_credential(
            "test", role=role or row["role"], region_scope=row["region_scope"],
            staff_id=f"{title}-of-{row['staff_id']}",
        )  # fmt: skip
        kept[secret, title] = {"Authorization": f"Bearer {other}"}
    return kept[secret, title]


TEKUN_APPLICATION_FIELDS = ("region_code", "id_number", "name", "effective_date", "document_ref")


def tekun_applied(
    client: TestClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """``body`` of a 特困 approval by ``headers``, naming the application a case worker beside
    them recorded for its person (the maker step the approver may not take too)."""
    fields = {name: body[name] for name in TEKUN_APPLICATION_FIELDS}
    applicant = colleague(client, headers, "case_worker", "applicant")
    applied = client.post("/api/v1/tekun/applications", json=fields, headers=applicant)
    assert applied.status_code == 201, applied.text
    return body | {"application_id": applied.json()["application_id"]}
