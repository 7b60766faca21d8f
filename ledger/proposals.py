"""Two-phase postings (大额资金双人复核): a client's posting, reversal or year-end carry-over above
its region's confirmation threshold (``domain.policy.LedgerConfirmation``) is first proposed,
moving no money, and is posted only when a second finance officer — another person — confirms it.

NOTE: the events below are a storage format. Before the first release every event stays at
version 1 and changes shape in place.

A proposal shares its transaction's key (and namespace): the same key proposes, confirms and
names the posted transaction, so a retry finds whichever exists. A carry-over's proposal is keyed
by its county and year in a namespace no client key can name.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.duties import require_other_person
from domain.errors import Conflict

# What a proposal will post when it is confirmed.
PROPOSAL_KINDS = ("posting", "reversal", "carry_over")


def proposal_id(namespace: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"doudi:posting-proposal:{namespace}:{key}")


def carry_over_proposal_id(county_code: str, year: int) -> UUID:
    """A carry-over's proposal: its namespace is no region code, so no client key can name it."""
    return proposal_id(f"carry-over:{county_code}", str(year))


class PostingProposal(Aggregate):
    """A posting above the confirmation threshold, proposed by one finance officer. It moves no
    money: balances, the never-negative guards and closed periods apply when a second finance
    officer (not the proposer: 403 ``separation_of_duties``) confirms it, and only then is the
    transaction posted, naming both persons."""

    @staticmethod
    def create_id(namespace: str, key: str, **_: Any) -> UUID:
        return proposal_id(namespace, key)

    @event("Proposed")
    def __init__(
        self,
        namespace: str,
        key: str,
        kind: str,
        content: dict[str, Any],
        content_sha256: str,
        total_fen: int,
        threshold_fen: int,
        threshold_source: str,
        actor: str,
        staff_id: str,
    ) -> None:
        """``content``: what is posted on confirmation (a posting's fields; a reversal's
        original key, namespace, date and document; a carry-over's county, year and document)."""
        self.namespace = namespace
        self.key = key
        self.kind = kind
        self.content = content
        self.content_sha256 = content_sha256
        self.total_fen = total_fen
        self.threshold_fen = threshold_fen
        self.threshold_source = threshold_source
        self.actor = actor
        self.proposed_by = staff_id
        self.confirmed_by = ""

    @classmethod
    def above_threshold(
        cls, threshold: tuple[int, str], *, total_fen: int, **fields: Any
    ) -> PostingProposal | None:
        """A proposal if ``total_fen`` is above ``threshold`` (its fen and the fact that set
        it), else None: the posting takes effect at once."""
        fen, source = threshold
        if total_fen <= fen:
            return None
        return cls(**fields, total_fen=total_fen, threshold_fen=fen, threshold_source=source)

    @property
    def confirmed(self) -> bool:
        return bool(self.confirmed_by)

    def same_content(self, kind: str, content_sha256: str) -> None:
        """A retry under the proposal's key must carry the same content; otherwise 409."""
        if kind != self.kind or content_sha256 != self.content_sha256:
            raise Conflict(
                "this transaction key was used with different content",
                field="key",
                rule="transaction_key_reuse",
            )

    def require_confirmer(self, staff_id: str) -> None:
        """The proposer never confirms their own proposal (nor answers as its confirmer)."""
        require_other_person(staff_id, "confirm it", {"proposed_by": self.proposed_by})

    def confirm(self, *, actor: str, staff_id: str) -> None:
        self.require_confirmer(staff_id)
        if self.confirmed:
            raise Conflict("this posting is already confirmed", field="key", rule="confirm_once")
        self._confirmed(actor=actor, staff_id=staff_id)

    @event("Confirmed")
    def _confirmed(self, actor: str, staff_id: str) -> None:
        self.confirmed_by = staff_id

    def summary(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": "confirmed" if self.confirmed else "proposed",
            "kind": self.kind,
            "total_fen": self.total_fen,
            "threshold_fen": self.threshold_fen,
            "threshold_set_by": self.threshold_source,
            "proposed_by": self.proposed_by,
            "confirmed_by": self.confirmed_by or None,
        }
