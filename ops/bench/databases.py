"""A fresh database per benchmark run, dropped afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(
    kind: str, folder: Path, prefix: str = "doudi_bench", template: str | None = None
) -> Iterator[str]:
    """Yield a ``DOUDI_DATABASE_URL`` for a new, empty database of the kind, or a copy of the
    PostgreSQL database ``template`` (refused while anyone is connected to it: tried again
    every 30 s for up to 15 minutes)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        yield f"sqlite:///{folder}/{name}.sqlite3"
        return
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for attempt in range(30 if template else 1):
            try:
                conn.execute(f'CREATE DATABASE "{name}"{copy}')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 29:
                    raise
                time.sleep(30)
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def peak_rss_mib() -> int:
    """This process's own peak resident set (VmHWM). Not ``getrusage().ru_maxrss``: on Linux that
    survives fork and exec, so a benchmark child spawned by a parent that had loaded a large
    dataset would report the parent's peak."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
