"""Shared fixtures: a fresh database per test on each backend, services, an API client, tokens.

PostgreSQL tests create and drop their own database. Where the server cannot be reached they
skip with the reason, unless DOUDI_REQUIRE_POSTGRES=1 (CI), where they fail. Each database has a
random name and each file its own temporary directory, so the suite can run on several workers.

With DOUDI_PURE_PYTHON=1 the modules that `make native` compiles are imported from their Python
source even where their extension modules are built: coverage sees only Python code, so this is
the pass that measures coverage (``make test``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from ops import native


class SourceFinder(importlib.abc.MetaPathFinder):
    """Finds each module ops.native compiles as its .py source, passing over the extension."""

    def __init__(self, root: Path, sources: Sequence[str]) -> None:
        self.paths = {
            source.removesuffix(".py").replace("/", "."): root / source for source in sources
        }

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in self.paths:
            return None
        return importlib.util.spec_from_file_location(name, self.paths[name])


if os.environ.get("DOUDI_PURE_PYTHON") == "1":
    sys.meta_path.insert(0, SourceFinder(native.ROOT, native.MODULES))

from ledger.store.settings import Settings  # noqa: E402 - after the finder, which it may need
from ops.services.core import Services  # noqa: E402

try:
    native.check()
except RuntimeError as stale:  # a source edited after `make native`: its tests would not run it
    pytest.exit(str(stale), returncode=2)

PG_ADMIN_URL = os.environ.get(
    "DOUDI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("DOUDI_REQUIRE_POSTGRES") == "1"
COUNTY = "420582"  # 当阳市, Hubei (湖北省宜昌市当阳市)
OTHER_COUNTY = "420581"  # 宜都市, same city
OTHER_PROVINCE_COUNTY = "110105"  # 朝阳区, Beijing


def _pg_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as error:
        return f"PostgreSQL unreachable at {PG_ADMIN_URL}: {error}"


_PG_REASON = _pg_reason()


def require_postgres() -> None:
    """Where the server cannot be reached, the test skips (fails under DOUDI_REQUIRE_POSTGRES=1)."""
    if _PG_REASON is not None:
        if REQUIRE_PG:
            pytest.fail(f"DOUDI_REQUIRE_POSTGRES=1 but {_PG_REASON}")
        pytest.skip(_PG_REASON)


def new_postgres_database() -> tuple[str, Callable[[], None]]:
    """A fresh PostgreSQL database's URL and how to drop it (see ``require_postgres``)."""
    require_postgres()
    import psycopg

    name = f"doudi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A test database need not outlive a crash: commits do not wait for the WAL's flush.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", drop


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url, drop = new_postgres_database()
    yield url
    drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/doudi.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


def make_settings(database_url: str) -> Settings:
    # Reads that name a position wait for the views up to 30 s: on a loaded test machine the
    # follower thread may take longer than production's 2 s (the tests of the bound set it).
    return Settings(environment="test", database_url=database_url, secret="test-secret",
                    log_json=True, read_wait_s=30.0)  # fmt: skip


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    found = Services(settings)
    yield found
    found.close()
