"""The cheap questions a decision asks the log before it reads a view or loads a record: has
anything a view reads been recorded since (``LogReader.any_after``, the runner's
``catch_up_if_behind``), and which of these records exist and at which version
(``LogReader.existing``, ``versions``), which lets a process decide on what it kept. Both
backends; a second ``Services`` on the same database plays another process."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.access import Principal
from domain.errors import InvalidValue
from ledger.journal import AccountGuard, guard_id
from ledger.store.settings import Settings
from ops.services.core import Services, now_utc
from ops.services.ledger import confirmation_threshold, post_transaction
from ops.services.policy import SetPolicy

ADMIN = Principal("admin", "admin", "000000", staff_id="A1")
FINANCE = Principal("fin", "finance_officer", "420582", staff_id="F1")


def threshold(services: Services, fen: int) -> None:
    fields = {"threshold_fen": fen, "effective_date": now_utc().date().isoformat(),
              "document_ref": "当民〔2026〕9号"}  # fmt: skip
    services.execute(ADMIN, None, "", SetPolicy(region_code="420582", kind="ledger_confirmation",
                                                fields=fields))  # fmt: skip


def post(
    services: Services, key: str, fen: int, debit: str, credit: str, code: str = "raise"
) -> None:
    fields = {"code": code, "posting_date": now_utc().date().isoformat(), "document_ref": "d",
              "lines": [{"account": debit, "debit_fen": fen, "credit_fen": 0, "source": "central"},
                        {"account": credit, "debit_fen": 0, "credit_fen": fen,
                         "source": "central"}]}  # fmt: skip
    services.execute(FINANCE, None, key, lambda: post_transaction(services, FINANCE, key, fields))


def test_existing_names_only_recorded_aggregates(services: Services) -> None:
    post(services, "k1", 100, "clearing:420582:bank", "source:420582:central")
    transaction_ids = {
        n.originator_id for n in services.log.read(1, 100)[0] if "JournalTransaction" in n.topic
    }
    (transaction_id,) = transaction_ids
    stranger = uuid4()
    assert services.log.existing([transaction_id, stranger]) == {transaction_id}
    assert services.log.existing([stranger]) == set() == services.log.existing([])


def test_any_after_matches_topic_prefixes_exactly(services: Services) -> None:
    post(services, "k1", 100, "clearing:420582:bank", "source:420582:central")
    notifications, head = services.log.read(1, 100)
    topic = next(n.topic for n in notifications if "JournalTransaction" in n.topic)
    assert services.log.any_after(0, (topic,)) == (True, head)
    assert services.log.any_after(head, (topic,)) == (False, head)
    # '_' and '%' are literal: a prefix differing in one character matches nothing.
    assert services.log.any_after(0, (topic.replace("n", "_", 1),)) == (False, head)
    assert services.log.any_after(0, ("%",)) == (False, head)
    assert services.log.any_after(0, ()) == (True, head)


def test_a_view_consulted_before_a_decision_sees_other_processes_and_resets(
    services: Services, settings: Settings
) -> None:
    """The confirmation threshold a posting consults follows a policy fact recorded by another
    process after many unrelated postings, and after that process resets the policy view."""
    other = Services(settings)
    try:
        assert confirmation_threshold(services, "420582")[1] == "default"
        for number in range(5):  # the log grows with what the policy view does not read
            post(services, f"p{number}", 100, "clearing:420582:bank", "source:420582:central")
            assert confirmation_threshold(services, "420582")[1] == "default"
        threshold(other, 123_456)
        assert confirmation_threshold(services, "420582")[0] == 123_456
        post(services, "p9", 100, "clearing:420582:bank", "source:420582:central")
        assert confirmation_threshold(services, "420582")[0] == 123_456
        other.projections.rebuild_later("policy_book")  # emptied, at position 0
        assert confirmation_threshold(services, "420582")[0] == 123_456
        threshold(other, 654_321)
        assert confirmation_threshold(services, "420582")[0] == 654_321
    finally:
        other.close()


def test_versions_name_each_recorded_aggregates_last_version(services: Services) -> None:
    post(services, "k1", 100, "clearing:420582:bank", "source:420582:central")
    post(services, "k2", 100, "clearing:420582:bank", "source:420582:central")
    guard = guard_id("clearing:420582:bank")
    assert services.log.versions([guard, uuid4()]) == {guard: 3}  # opened, moved twice
    kept = services.app.kept(guard, 3)
    kept.sources["central"] = -1  # a decision's changes stay its own
    assert services.app.kept(guard, 3).sources == {"central": 200}
    assert services.app.kept(guard, 2) is None


def test_a_posting_decides_on_what_another_process_left(
    services: Services, settings: Settings
) -> None:
    """A process keeps the pool's guard and period as it saved them; after another process
    drains the pool, its next posting decides on the balance left there, never on the copy
    it kept: what the money no longer covers is refused, what it covers is posted."""
    other = Services(settings)
    try:
        post(services, "raise", 1_000, "clearing:420582:bank", "source:420582:central")
        post(services, "a1", 300, "pool:420582:dibao", "clearing:420582:bank", code="allocate")
        post(other, "a2", 600, "pool:420582:dibao", "clearing:420582:bank", code="allocate")
        with pytest.raises(InvalidValue) as refused:
            post(services, "a3", 200, "pool:420582:dibao", "clearing:420582:bank", code="allocate")
        assert refused.value.rule == "never_negative"
        post(services, "a4", 100, "pool:420582:dibao", "clearing:420582:bank", code="allocate")
        guard = services.load(AccountGuard, guard_id("clearing:420582:bank"))
        assert guard.balance_fen == 0 and guard.version == 5  # opened, moved four times
    finally:
        other.close()


def test_a_remembered_threshold_follows_a_policy_fact_of_another_process(
    services: Services, settings: Settings
) -> None:
    """A posting remembers the confirmation threshold it found while the policy records of its
    region stay as they were: one below it recorded by another process is the next posting's."""
    other = Services(settings)
    try:
        fields = {"code": "raise", "posting_date": now_utc().date().isoformat(),
                  "document_ref": "d", "lines": [
                      {"account": "clearing:420582:bank", "debit_fen": 500, "credit_fen": 0,
                       "source": "central"},
                      {"account": "source:420582:central", "debit_fen": 0, "credit_fen": 500,
                       "source": "central"}]}  # fmt: skip
        assert post_transaction(services, FINANCE, "t1", fields).status_code == 201
        threshold(other, 400)
        assert post_transaction(services, FINANCE, "t2", fields).status_code == 202
    finally:
        other.close()


def test_a_snapshot_taken_from_the_saved_state_is_the_state_the_events_give(
    services: Services,
) -> None:
    """A guard snapshotted at its hundredth version, taken from the aggregate as saved, holds
    what folding its hundred events gives; loading it through the snapshot gives the same."""
    guard = AccountGuard(account="pool:420582:dibao")
    for number in range(99):
        guard.move(transaction_key=f"t{number}", delta_fen=number + 1, sources={"central": 1})
        if number % 10 == 9:
            services.app.save(guard)
    services.app.save(guard)
    (snapshot,) = services.app.snapshots.get(guard.id, desc=True, limit=1)
    assert snapshot.originator_version == 100
    folded = None
    for event in services.app.events.get(guard.id):
        folded = event.mutate(folded)
    taken = snapshot.mutate(None)
    assert vars(taken) == vars(folded) and taken.balance_fen == sum(range(1, 100))
    assert vars(services.app.repository.get(guard.id)) == vars(folded)
