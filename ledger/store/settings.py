"""Settings from the environment (prefix ``DOUDI_``). Default secrets are refused outside development."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "development-only-secret-change-me"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed ``DOUDI_DATABASE_URL``."""

    kind: str  # "sqlite" or "postgres"
    path: str = ""
    dbname: str = ""
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    schema: str = ""

    def postgres_conninfo(self) -> str:
        parts = {
            "dbname": self.dbname,
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
        }
        if self.password:
            parts["password"] = self.password
        return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def parse_database_url(url: str) -> DatabaseTarget:
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ValueError("sqlite URL needs a file path: sqlite:///var/doudi.sqlite3")
        return DatabaseTarget(kind="sqlite", path=path)
    parsed = urlparse(url)
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        schema = (query.get("schema") or [""])[0]
        if schema and not schema.replace("_", "").isalnum():
            raise ValueError("schema must be letters, digits and underscores")
        return DatabaseTarget(
            kind="postgres",
            dbname=(parsed.path or "/").lstrip("/") or "postgres",
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or ""),
            schema=schema,
        )
    raise ValueError("DOUDI_DATABASE_URL must start with sqlite:/// or postgresql://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOUDI_", env_file=None, extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///var/doudi.sqlite3"
    # AES key (base64 of 16/24/32 bytes) that encrypts every stored event (identity numbers,
    # bank accounts). Also keys the hash that projections use to find a person.
    cipher_key: str = ""
    secret: str = DEV_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_000_000
    # CSV files posted whole (bank statements, bank result files): a county's monthly statement
    # runs to megabytes. Larger files go through the CLI, which records them chunk by chunk.
    max_file_bytes: int = 64_000_000
    postgres_pool_size: int = 5
    log_json: bool = True
    # Who keeps the views current: "thread", a thread of the API process (one process; always
    # so on SQLite), or "worker", `doudi projections run` beside the API processes (PostgreSQL).
    projections: Literal["thread", "worker"] = "thread"
    # How long a read that names a log position (Doudi-Log-Position) waits for the views to
    # reach it before answering 503.
    read_wait_s: float = Field(default=2.0, ge=0, le=60)
    # The Ed25519 key that signs the log's checkpoints (``ledger/proof/signing.py``): the path of a
    # file holding "PRIVATE+KEY+…" (``doudi audit keygen`` writes one), or that text itself. It
    # lives outside the database. Production refuses to start without it; development and tests
    # derive one from DOUDI_SECRET, and say so.
    log_signing_key: str = ""
    # The origin line of the checkpoints: names this log (one per province shard), e.g.
    # "doudi.mca.example/42". By convention the signing key has the same name.
    log_origin: str = "doudi.local/log"

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_database_url(value)
        return value

    @field_validator("log_origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        # The first line of every checkpoint, and by default the signing key's name.
        if not value or "+" in value or any(c.isspace() or ord(c) < 0x20 for c in value):
            raise ValueError(
                "DOUDI_LOG_ORIGIN is one word without spaces or '+', e.g. doudi.example/42"
            )
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION and (
            self.secret == DEV_SECRET or not self.cipher_key
        ):
            raise ValueError("production needs DOUDI_SECRET and DOUDI_CIPHER_KEY set (no defaults)")
        if self.environment is Environment.PRODUCTION and not self.log_signing_key:
            raise ValueError(
                "production needs DOUDI_LOG_SIGNING_KEY (a key file from `doudi audit keygen`)"
            )
        return self

    @model_validator(mode="after")
    def _worker_needs_postgres(self) -> Settings:
        if self.projections == "worker" and self.database.kind != "postgres":
            raise ValueError(
                "DOUDI_PROJECTIONS=worker needs PostgreSQL: SQLite is one process (use thread)"
            )
        return self

    @property
    def database(self) -> DatabaseTarget:
        return parse_database_url(self.database_url)

    @property
    def effective_cipher_key(self) -> str:
        """The configured key, or (development and tests only) one derived from the secret."""
        if self.cipher_key:
            return self.cipher_key
        return base64.b64encode(hashlib.sha256(self.secret.encode()).digest()).decode()

    def ensure_paths(self) -> None:
        target = self.database
        if target.kind == "sqlite":
            Path(target.path).parent.mkdir(parents=True, exist_ok=True)
