"""API fixtures: a TestClient over fresh services, and tokens for each role and scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ops.services import Services
from ops.settings import Settings
from tests.conftest import COUNTY


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services)) as found:
        yield found


@pytest.fixture
def token(services: Services) -> Callable[..., dict[str, str]]:
    """Headers with a bearer token for a role and region scope (default: the test county)."""

    def issue(role: str = "admin", region: str = COUNTY, **extra: str) -> dict[str, str]:
        _credential, secret = services.issue_credential(
            "test", role=role, region_scope=region, **extra
        )
        return {"Authorization": f"Bearer {secret}"}

    return issue
