"""Tampering with the stored events straight in the database, on SQLite and PostgreSQL, is caught
by the verification, which names the first bad position (or, for a rewrite whose seal was
rebuilt to match, the kept checkpoints between which it lies)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ledger.proof import tiles
from ledger.proof.signing import SigningKey
from ledger.proof.verify import Checkpoint
from ledger.store.settings import Settings
from ops.services.core import Services
from projections.tlog.audit import Report, verify_database
from tests.integration.test_contract import admin, checked_case
from tests.integration.test_tlog import sealed_leaves_of


@pytest.fixture(autouse=True)
def small_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiles of 4 hashes: the log fills tiles on several levels, and leaves partial ones."""
    monkeypatch.setattr(tiles, "HEIGHT", 2)


@dataclass
class Log:
    """A sealed log, the positions of its leaves, and checkpoints an auditor kept of it."""

    services: Services
    positions: list[int]
    kept: list[tuple[str, str]]  # (name, signed note)

    @property
    def table(self) -> str:
        return str(self.services.app.recorder.events_table_name)

    @property
    def id_column(self) -> str:
        return "rowid" if self.services.db.is_sqlite else "notification_id"

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run SQL on the event store's database as an administrator would."""
        with self.services.db.transaction(write=True) as cur:
            cur.execute(sql.format(table=self.table, id=self.id_column), params)
            return cur.fetchall() if cur.raw.description else []

    def row(self, position: int) -> dict[str, Any]:
        (found,) = self.execute(
            "SELECT originator_id, originator_version, topic, state FROM {table} WHERE {id} = %s",
            (position,),
        )
        return found

    def set_row(self, position: int, row: dict[str, Any]) -> None:
        self.execute(
            "UPDATE {table} SET originator_id = %s, originator_version = %s, topic = %s,"
            " state = %s WHERE {id} = %s",
            (row["originator_id"], row["originator_version"], row["topic"], row["state"], position),
        )

    def verify(self, kept: list[tuple[str, str]] | None = None) -> Report:
        """The verification's report, the same whether the tree of the events is built here
        or by a child process beside the comparison."""
        services = self.services
        kept = self.kept if kept is None else kept
        vkeys, origin = [services.log_key.vkey], services.settings.log_origin
        reports = [
            verify_database(
                services.db,
                services.tree_reader,
                services.tlog,
                kept,
                vkeys,
                origin,
                builder_process=child,
            )
            for child in (False, True)
        ]
        assert reports[0].as_dict() == reports[1].as_dict()
        return reports[0]


def keep_checkpoint(services: Services, name: str) -> tuple[str, str]:
    services.seal()
    head = services.tlog.head()
    note = services.log_key.sign_checkpoint(
        Checkpoint(services.settings.log_origin, head.size, head.root)
    )
    return name, note


@pytest.fixture
def log(settings: Settings) -> Iterator[Log]:
    """Four checked cases, sealed, with a checkpoint kept after each (the last covers all)."""
    services = Services(settings)
    principal = admin(services)
    kept = []
    for seed in range(1, 5):
        checked_case(services, principal, seed=seed)
        kept.append(keep_checkpoint(services, f"after case {seed}"))
    yield Log(services, [position for position, _ in sealed_leaves_of(services)], kept)
    services.close()


def first_bad(report: Report) -> tuple[str, int]:
    assert not report.ok and report.discrepancy is not None, report.as_dict()
    return report.discrepancy.kind, report.discrepancy.position


def test_an_untouched_log_verifies_against_every_kept_checkpoint(log: Log) -> None:
    """The control: nothing changed, everything holds (so the findings below are the tampering)."""
    report = log.verify()
    assert report.ok, report.problems
    assert report.events == report.sealed == len(log.positions)
    assert all(not kept["finding"] for kept in report.as_dict()["checkpoints"])


def test_one_changed_byte_of_a_stored_state_is_named(log: Log) -> None:
    """Flip one bit of one byte of the state of an event in the middle of the log."""
    position = log.positions[len(log.positions) // 2]
    row = log.row(position)
    state = bytearray(row["state"])
    state[len(state) // 2] ^= 0x01
    log.set_row(position, row | {"state": bytes(state)})
    report = log.verify()
    assert first_bad(report) == ("altered", position)
    assert any("rewritten" in p for p in report.problems)  # the kept checkpoints see it too


def test_a_state_or_topic_set_to_null_is_named(log: Log) -> None:
    """NULL written into a state and, later in the log, a topic: the first is named altered."""
    first, later = log.positions[3], log.positions[7]
    log.execute("UPDATE {table} SET topic = NULL WHERE {id} = %s", (later,))
    log.execute("UPDATE {table} SET state = NULL WHERE {id} = %s", (first,))
    assert first_bad(log.verify()) == ("altered", first)
    log.execute("UPDATE {table} SET state = %s WHERE {id} = %s", (b"", first))
    assert first_bad(log.verify()) == ("altered", first)


def test_a_deleted_row_is_named(log: Log) -> None:
    position = log.positions[5]
    log.execute("DELETE FROM {table} WHERE {id} = %s", (position,))
    assert first_bad(log.verify()) == ("missing", position)


def test_two_rows_with_their_contents_swapped_are_named_as_reordered(log: Log) -> None:
    """Swap every stored field of two events (not their positions): the earlier position is
    named as reordered, holding the event sealed at the later one."""
    first, second = log.positions[7], log.positions[12]
    one, other = log.row(first), log.row(second)
    # Through a free version first: (originator, version) is unique.
    log.set_row(first, one | {"originator_version": 1_000_000})
    log.set_row(second, one)
    log.set_row(first, other)
    report = log.verify()
    assert first_bad(report) == ("reordered", first)
    assert report.discrepancy is not None and report.discrepancy.sealed_at == second


def test_a_forged_row_in_a_gap_of_the_log_is_named(log: Log, settings: Settings) -> None:
    """A forged event written at a position the seal never held (a notification id left unused,
    as a rolled-back insert leaves one on PostgreSQL) is named as inserted."""
    services = log.services
    if services.db.is_sqlite:  # SQLite reuses ids: leave a gap the way an operator could
        log.execute(
            "INSERT INTO {table} (rowid, originator_id, originator_version, topic, state)"
            " SELECT MAX(rowid) + 2, 'gap', 1, 'gap', x'00' FROM {table}"
        )
    else:
        log.execute("SELECT nextval(pg_get_serial_sequence('{table}', 'notification_id'))")
    for _ in range(3):  # events after the gap; a case decision would read the log back (recusal)
        admin(services)
    if services.db.is_sqlite:
        log.execute("DELETE FROM {table} WHERE topic = 'gap'")
    services.seal()
    sealed = [position for position, _ in sealed_leaves_of(services)]
    gap = next(p for p in range(1, sealed[-1]) if p not in sealed)
    assert log.verify().ok
    forged = log.row(sealed[-1]) | {"originator_version": 999}
    log.execute(
        "INSERT INTO {table} ({id}, originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s, %s)",
        (gap, forged["originator_id"], 999, forged["topic"], forged["state"]),
    )
    assert first_bad(log.verify()) == ("inserted", gap)


def test_a_forged_row_pushed_into_the_middle_is_named(log: Log) -> None:
    """Renumber the last events one up and write a forged event where the first of them was."""
    at = log.positions[-3]
    for position in reversed(log.positions[-3:]):
        log.execute("UPDATE {table} SET {id} = {id} + 1 WHERE {id} = %s", (position,))
    forged = log.row(at + 1)
    log.execute(
        "INSERT INTO {table} ({id}, originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s, %s)",
        (at, forged["originator_id"], 999, forged["topic"], forged["state"]),
    )
    assert first_bad(log.verify()) == ("altered", at)


def test_a_truncated_tail_is_named_and_fails_the_last_checkpoint(log: Log) -> None:
    cut = log.positions[-4]
    log.execute("DELETE FROM {table} WHERE {id} >= %s", (cut,))
    report = log.verify()
    assert first_bad(report) == ("missing", cut)
    last = report.as_dict()["checkpoints"][-1]
    assert not last["holds"] and "truncated" in last["finding"]


def forge_seal(log: Log) -> None:
    """What an administrator without the key can do: drop the seal's guards and rebuild the
    tree from the (tampered) events, so that the tree and the events agree again."""
    services = log.services
    with services.db.transaction(write=True) as cur:
        for table in ("tlog_tiles", "tlog_edge", "tlog_head"):
            cur.execute(f"DROP TABLE {table}")
        cur.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'tlog'")
        services.tlog.create(cur)
    services.seal()


def test_a_rewrite_with_a_rebuilt_seal_is_caught_by_the_kept_checkpoints(log: Log) -> None:
    """Change an event of the third case, then rebuild the seal to match: the seal alone agrees
    with the events now, but the checkpoints kept after the third and fourth cases do not, and
    the rewrite is placed between the second checkpoint and the third."""
    (_, second), (_, third) = ((name, int(note.split("\n")[1])) for name, note in log.kept[1:3])
    position = log.positions[(second + third) // 2]
    row = log.row(position)
    log.set_row(position, row | {"state": row["state"][:-1] + bytes([row["state"][-1] ^ 0xFF])})
    forge_seal(log)
    assert log.verify(kept=[]).ok  # without kept checkpoints, a rebuilt seal is not caught
    report = log.verify()
    assert report.discrepancy is None
    findings = [kept["finding"] for kept in report.as_dict()["checkpoints"]]
    assert findings[:2] == ["", ""]
    assert f"rewritten between leaf {second} and leaf {third - 1}" in findings[2]
    assert "rewritten" in findings[3]


def test_a_checkpoint_not_signed_by_the_log_key_is_rejected(log: Log) -> None:
    """A checkpoint of the forged tree, signed by another key under the log's name, and a kept
    checkpoint whose root was edited, are both rejected before anything is compared."""
    services = log.services
    forge_seal(log)
    head = services.tlog.head()
    impostor = SigningKey.generate(services.log_key.name)
    forged = impostor.sign_checkpoint(
        Checkpoint(services.settings.log_origin, head.size, head.root)
    )
    _, note = log.kept[-1]
    lines = note.split("\n")
    lines[2] = ("A" if lines[2][0] != "A" else "B") + lines[2][1:]
    report = log.verify(kept=[("forged", forged), ("edited", "\n".join(lines))])
    findings = [kept["finding"] for kept in report.as_dict()["checkpoints"]]
    assert findings[0].startswith("rejected: the note carries no signature by")
    assert findings[1].startswith("rejected:") and "does not verify" in findings[1]


@pytest.mark.parametrize("table", ["tlog_tiles", "tlog_edge"])
def test_a_changed_tile_of_subtrees_is_named(log: Log, table: str) -> None:
    """Change one hash of a stored tile above the leaves — a full one (the guards dropped
    first) or the right edge's partial one: the events still match the sealed leaves, but the
    tile no longer holds the heads of their subtrees, and is named."""
    services = log.services
    with services.db.transaction(write=True) as cur:
        if services.db.is_sqlite:
            cur.execute("DROP TRIGGER tlog_tiles_no_update")
        else:
            cur.execute("DROP TRIGGER tlog_tiles_sealed ON tlog_tiles")
        (row,) = cur.execute(
            f"SELECT level, tile, hashes FROM {table} WHERE level > 0 ORDER BY level, tile LIMIT 1"
        ).fetchall()
        hashes = bytes(row["hashes"])
        cur.execute(
            f"UPDATE {table} SET hashes = %s WHERE level = %s AND tile = %s",
            (bytes(32) + hashes[32:], row["level"], row["tile"]),
        )
    report = log.verify(kept=[])
    assert report.discrepancy is None
    assert report.problems == [
        f"the sealed tile (level {row['level']}, index {row['tile']}) is not the tile of its leaves"
    ]
