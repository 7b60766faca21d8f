"""The sealed Merkle tree over the live log, on SQLite and PostgreSQL: sealing, proofs, exactly once."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from api.cli.demo import load_demo
from ledger.proof import tiles
from ledger.proof import verify as v
from ledger.store.settings import Settings
from ops.services.core import Services
from projections.tlog import view as seal_view
from projections.tlog.audit import verify_database
from projections.tlog.view import Sealer
from tests.integration.test_contract import admin, at_once, checked_case


@pytest.fixture(autouse=True)
def small_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiles of 4 hashes: a small log fills tiles on several levels, and leaves a partial one."""
    monkeypatch.setattr(tiles, "HEIGHT", 2)


def stored_leaves(services: Services) -> list[tuple[int, bytes]]:
    """(position, leaf) of every stored event, recomputed from the event table alone."""
    return list(v.leaves_of(services.tree_reader.every()))


def sealed_leaves(services: Services) -> list[tuple[int, bytes]]:
    """(position, leaf) of every sealed leaf, from the stored tiles."""
    return sealed_leaves_of(services)


def sealed_leaves_of(services: Services) -> list[tuple[int, bytes]]:
    size = services.tlog.head().size
    return [
        (position, tile.hashes[at * 32 : (at + 1) * 32])
        for tile in services.tlog.sealed_tiles(size)
        for at, position in enumerate(seal_view.unpack_positions(tile.positions))
    ]


def test_the_seal_is_the_tree_of_the_log_and_answers_proofs(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seal a log of demo cases and a roll a few events at a time (batches of 7, so sealing
    resumes mid-subtree again and again), then check every sealed leaf against the events, the
    head at every size against the tree of the events, and inclusion and consistency proofs
    read from the stored subtrees against those heads."""
    monkeypatch.setattr(Sealer, "BATCH_SIZE", 7)
    load_demo(services, households=6, tekun=2)
    services.seal()
    principal = admin(services)
    checked_case(services, principal, seed=90)
    assert services.seal() > 0
    leaves = stored_leaves(services)
    assert sealed_leaves(services) == leaves
    head = services.tlog.head()
    assert (head.size, head.position) == (len(leaves), leaves[-1][0])
    hashes = [leaf for _, leaf in leaves]
    assert head.root == v.tree_head(hashes)
    size = head.size
    for first in range(0, size + 1, max(1, size // 25)):
        assert services.tlog.root(first) == v.tree_head(hashes[:first])
        v.verify_consistency(
            first, size, v.tree_head(hashes[:first]), head.root,
            services.tlog.consistency(first, size),
        )  # fmt: skip
    for index in range(0, size, max(1, size // 40)):
        position = leaves[index][0]
        assert services.tlog.leaf(position) == (index, hashes[index])
        for tree_size in (index + 1, size):
            proof = services.tlog.inclusion(index, tree_size)
            v.verify_inclusion(
                index, tree_size, hashes[index], proof, v.tree_head(hashes[:tree_size])
            )
    for tree_size in (size, size - 3):  # many proofs at once, tile by tile (an export's)
        prover = seal_view.Prover(services.tlog, tree_size)
        for index, (position, _) in enumerate(leaves):
            expected = index if index < tree_size else None
            assert prover.leaf_index(position) == expected
            if expected is not None:
                assert prover.inclusion(index) == services.tlog.inclusion(index, tree_size)
        assert prover.leaf_index(leaves[-1][0] + 1) is None
    with pytest.raises(ValueError, match="beyond"):
        services.tlog.inclusion(0, size + 1)
    report = verify_database(services.db, services.tree_reader, services.tlog)
    assert report.ok, report.problems
    assert (report.events, report.sealed) == (size, size)


def test_sealing_from_two_processes_at_once_seals_each_event_once(settings: Settings) -> None:
    """Two services seal the same new events at the same time: every position is sealed once,
    and the tree equals the tree of the log."""
    first, second = Services(settings), Services(settings)
    principal = admin(first)
    for seed in range(3):
        checked_case(first, principal, seed=seed + 1)
    at_once(first.seal, second.seal, first.seal)
    assert sealed_leaves(first) == stored_leaves(first)
    assert first.tlog.head().root == v.tree_head(leaf for _, leaf in stored_leaves(first))
    first.close()
    second.close()


def test_sealed_rows_refuse_changes(services: Services) -> None:
    """The database itself refuses to update or delete a full tile of leaves or of subtrees."""
    principal = admin(services)
    for seed in range(1, 6):
        checked_case(services, principal, seed=seed)
    services.seal()
    sealed = services.tlog.head()
    assert sealed.size >= 16  # a full tile on level 1
    for statement in (
        "UPDATE tlog_tiles SET hashes = hashes WHERE level = 0 AND tile = 0",
        "DELETE FROM tlog_tiles WHERE level = 0 AND tile = 0",
        "DELETE FROM tlog_tiles WHERE level = 1",
    ):
        with (
            pytest.raises(Exception, match="never changed"),
            services.db.transaction(write=True) as cur,
        ):
            cur.execute(statement)
    assert services.tlog.head() == sealed


def test_an_event_that_cannot_be_sealed_stops_the_seal_and_is_never_passed_over(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make the sealing of a batch that holds one event fail: sealing raises and seals nothing
    of its batch (no hole, unlike a read model, which records the event and moves on); once it
    can be sealed, the sealing resumes and the tree is the tree of the whole log."""
    monkeypatch.setattr(Sealer, "BATCH_SIZE", 3)
    principal = admin(services)
    services.seal()
    checked_case(services, principal, seed=5)
    before = services.tlog.head()
    failing = before.position + 2
    original = seal_view.pack_positions

    def pack(positions: Sequence[int]) -> bytes:
        if failing in positions:
            raise ValueError("cannot seal")
        return original(positions)

    monkeypatch.setattr(seal_view, "pack_positions", pack)
    with pytest.raises(ValueError, match="cannot seal"):
        services.seal()
    stopped = services.tlog.head()
    assert before.position <= stopped.position < failing  # the batches before it, not its own
    services.fresh()  # a read still gets its views brought up to date; the seal stays put
    assert services.tlog.head() == stopped
    monkeypatch.setattr(seal_view, "pack_positions", original)
    services.seal()
    assert sealed_leaves(services) == stored_leaves(services)


def test_a_verification_reads_the_seal_as_of_its_start(services: Services) -> None:
    """Sealing goes on while a verification runs: the verification sees the seal as of the head
    it took at its start (here: a head taken before more events were sealed), and finds
    nothing wrong with the leaves and subtrees sealed after it."""
    principal = admin(services)
    checked_case(services, principal, seed=11)
    services.seal()
    early = services.tlog.head()
    checked_case(services, principal, seed=12)
    services.seal()

    class SealGoingOn:
        """The seal's head as the verification starts, and as it is once sealing has gone on."""

        asked = 0

        def head(self) -> object:
            self.asked += 1
            return early if self.asked == 1 else services.tlog.head()

        def __getattr__(self, name: str) -> object:
            return getattr(services.tlog, name)

    report = verify_database(services.db, services.tree_reader, SealGoingOn())  # type: ignore[arg-type]
    assert report.ok, report.problems
    assert report.sealed == early.size < report.events
