"""Case state: a pure fold of household and 特困 events into case rows, members and timeline.

The view loads the rows a batch of events touches, this module folds the events into them in
memory, and the view writes the result back in a few bulk statements (one round trip per
statement, not per event: that is what makes catch-up fast on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.basis import CaseFact, fold_details, settled_basis
from domain.dates import add_months, first_day, month_of
from domain.household import CaseStatus
from domain.identity import mask_account, mask_id_number
from domain.lines import PAYEE_FIELDS
from domain.regions import county_of
from projections.case_state.settled import settled_data

STATUS_AFTER: dict[str, str] = {
    "HouseholdCase.Applied": CaseStatus.APPLIED.value,
    "HouseholdCase.Approved": CaseStatus.ACTIVE.value,
    "HouseholdCase.Rejected": CaseStatus.REJECTED.value,
    "HouseholdCase.Suspended": CaseStatus.SUSPENDED.value,
    "HouseholdCase.Resumed": CaseStatus.ACTIVE.value,
    "HouseholdCase.GradualExitStarted": CaseStatus.GRADUAL_EXIT.value,
    "HouseholdCase.Terminated": CaseStatus.TERMINATED.value,
    "TekunPerson.Approved": CaseStatus.ACTIVE.value,
    "TekunPerson.Terminated": CaseStatus.TERMINATED.value,
}
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
KEYED = {"id_number": "person_key", "single_person_id_number": "single_person_key"}
PLAIN = frozenset({str, int, bool, type(None)})


def pseudonymous_details(event: Any, person_key: Callable[[str], str]) -> str:
    return details_json(pseudonymous_fields(vars(event), person_key))


SORTED = orjson.OPT_SORT_KEYS


def details_json(details: dict[str, Any]) -> str:
    """An event's pseudonymous fields as compact JSON text, keys sorted (so a rebuild writes the
    same text); orjson, as it runs for every event a catch-up applies."""
    return orjson.dumps(details, option=SORTED, default=str).decode()


def pseudonymous_fields(fields: dict[str, Any], person_key: Callable[[str], str]) -> dict[str, Any]:
    """An event's own fields (``vars(event)`` or its decoded state) as JSON, with identity
    numbers replaced by person keys and bank accounts masked: identity numbers and accounts
    never reach a view in clear, yet the facts (who is a member, who is covered) stay usable by
    rolls, statistics and misuse checks."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if type(value) in PLAIN and name not in KEYED:  # most fields: text, numbers, flags
            if name not in ENVELOPE:
                out[name] = value
            continue
        if name in ENVELOPE:
            continue
        if name in ("members", "member", "person"):
            people = value if isinstance(value, list) else [value]
            masked = [
                {"person_key": person_key(p["id_number"]), "relation": p.get("relation", "self")}
                for p in people
            ]
            out[name] = masked if isinstance(value, list) else masked[0]
        elif name in KEYED:
            out[KEYED[name]] = None if value is None else person_key(value)
        elif name in ("payee", "institution") and isinstance(value, dict):
            out[name] = {"account_masked": mask_account(value.get("account_number", ""))}
        else:
            out[name] = value if isinstance(value, str | int | bool | None) else _plain(value)
    return out


def _plain(value: Any) -> Any:
    """JSON-ready: lists and dicts kept, anything else (dates, UUIDs) as text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool | None) else str(value)


# The largest settled basis kept in the county index's entries (a basis grows by ~35 bytes a
# fact): an index entry must stay under ~2.7 KB whatever the case's history.
SETTLED_INLINE = 1000
CASE_FIELDS = (
    "case_id", "kind", "region_code", "county_code", "programme", "status", "status_since",
    "head_name", "head_id_masked", "head_person_key", "applied_on", "method", "tier_code",
    "start_month", "care_level", "payee_account_masked", "household_income_fen",
    "annual_review_due", "exit_months", "end_reason", "single_person", "member_count",
    "covered_count", "payee_name", "payee_account_sealed", "version", "recorded_at", "facts",
    "settled_from", "settled", "settled_inline", "payee", "exit_until",
)  # fmt: skip
# The case's columns a roll line's ``payee`` array holds, in ``domain.lines.PAYEE_FIELDS`` order.
PAYEE_COLUMNS = tuple(
    {"account_sealed": "payee_account_sealed", "account_masked": "payee_account_masked"}.get(f, f)
    for f in PAYEE_FIELDS
)
# A case's members and timeline are kept as two documents in one row per case (not a row per
# member and per event): a rebuild then writes one history row per case instead of ~5, and both
# are only ever read whole, for one case.
MEMBER_FIELDS = ("person_key", "name", "id_masked", "relation", "covered")
TIMELINE_FIELDS = (
    "version", "position", "event_type", "effective_date", "recorded_at", "actor",
    "document_ref", "status_after", "details",
)  # fmt: skip
HISTORY_FIELDS = ("case_id", "members", "timeline")


@dataclass
class CaseRows:
    """The rows of the cases a batch touches, as plain dicts keyed by case id."""

    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # Each case's timeline entries, in TIMELINE_FIELDS order.
    timeline: dict[str, list[list[Any]]] = field(default_factory=dict)
    # Each case's facts as the roll fold reads them (version, type, effective date, recorded at,
    # position, details): one blob per case, so a roll reads one row per case, not its history.
    facts: dict[str, list[list[Any]]] = field(default_factory=dict)

    def load_facts(self, case_id: str, blob: bytes | None) -> None:
        self.facts[case_id] = orjson.loads(blob) if blob else []

    def load_history(self, case_id: str, members: bytes, timeline: bytes) -> None:
        self.members[case_id] = {
            values[0]: dict(zip(MEMBER_FIELDS, values, strict=True))
            for values in orjson.loads(members)
        }
        self.timeline[case_id] = orjson.loads(timeline)

    def write_back(self) -> list[tuple[str, bytes, bytes]]:
        """Write back each touched case's member counts, facts, and the basis they settle to
        from a date on (once per case, after all of the batch's events); return the touched
        cases' history rows (HISTORY_FIELDS)."""
        history = []
        for case_id, facts in self.facts.items():
            case = self.cases[case_id]
            members = self.members.get(case_id, {})
            case["member_count"] = len(members)
            case["covered_count"] = sum([1 for member in members.values() if member["covered"]])
            case["facts"] = orjson.dumps(facts)
            since, basis = settled_basis(case["kind"], [CaseFact(*fact) for fact in facts])
            settled = settled_data(basis)
            case["settled_from"] = since
            # Kept in the county index's own entries when small (nearly every case), so a roll
            # reads a county's cases along the index alone (``county_case_pages``).
            small = settled is None or len(settled) <= SETTLED_INLINE
            case["settled_inline"], case["settled"] = (settled, None) if small else (None, settled)
            # What a roll line says of whom it pays (``domain.lines.PAYEE_FIELDS``), as JSON:
            # a roll passes it into its chunk event as it is, no text decoded a line.
            case["payee"] = orjson.dumps([case[column] for column in PAYEE_COLUMNS])
            people = [list(map(member.__getitem__, MEMBER_FIELDS)) for member in members.values()]
            # Details as objects, keys sorted: one encoding per case, not a JSON text per event
            # escaped again inside the blob.
            timeline = orjson.dumps(self.timeline[case_id], option=SORTED, default=str)
            history.append((case_id, orjson.dumps(people), timeline))
        return history


class CaseStateProjection:
    def __init__(self, person_key: Callable[[str], str], seal: Callable[[str], str]) -> None:
        self.person_key = person_key
        self.seal = seal

    def _payee(self, case: dict[str, Any], payee: dict[str, str]) -> None:
        """The current payee: masked for display, sealed (encrypted) for the bank file."""
        case["payee_account_masked"] = mask_account(payee["account_number"])
        case["payee_account_sealed"] = self.seal(payee["account_number"])
        case["payee_name"] = payee["account_name"]

    def fold(
        self, rows: CaseRows, position: int, name: str, fields: dict[str, Any], case_id: str,
        version: int, recorded: str,
    ) -> None:  # fmt: skip
        """Fold one event of the case ``case_id`` (its id as text) into the batch's rows: the
        event's type ('HouseholdCase.Applied'), its decoded fields (``EventState``), its
        version and when it was recorded (UTC text)."""
        self._state(rows, case_id, name, fields)
        case = rows.cases[case_id]
        effective = fields["effective_date"]
        status = STATUS_AFTER.get(name)
        if name == "HouseholdCase.AnnualReviewRecorded" and case["exit_until"] is not None:
            status = self._reviewed_in_exit(case, fields)
        if status is not None:
            case["status"], case["status_since"] = status, effective
        case["version"], case["recorded_at"] = version, recorded
        details = pseudonymous_fields(fields, self.person_key)
        rows.facts.setdefault(case_id, []).append(
            [version, name, effective, recorded, position, fold_details(name, details)]
        )
        rows.timeline.setdefault(case_id, []).append(
            [version, position, name, effective, recorded, fields["actor"],
             fields["document_ref"], status, details]
        )  # fmt: skip

    def _state(self, rows: CaseRows, case_id: str, name: str, e: dict[str, Any]) -> None:
        case = rows.cases.get(case_id, {})
        members = rows.members.setdefault(case_id, {})
        match name:
            case "HouseholdCase.Applied":
                head = e["members"][0]
                rows.cases[case_id] = self._new_case(case_id, "household", e, head, e["programme"])
                for member in e["members"]:
                    self._member(members, member, covered=True)
            case "HouseholdCase.Approved":
                single = e["single_person_id_number"]
                case.update(
                    programme=e["programme"], method=e["method"], tier_code=e["tier_code"],
                    start_month=e["start_month"], annual_review_due=e["annual_review_due"],
                    single_person=single is not None,
                )  # fmt: skip
                self._payee(case, e["payee"])
                if single is not None:
                    covered = self.person_key(single)
                    for key, member in members.items():
                        member["covered"] = key == covered
            case "HouseholdCase.MemberAdded":
                self._member(members, e["member"], covered=not case["single_person"])
            case "HouseholdCase.MemberRemoved":
                members.pop(self.person_key(e["id_number"]), None)
            case "HouseholdCase.EconomicCheckRecorded" | "HouseholdCase.IncomeReassessed":
                case["household_income_fen"] = e["household_income_fen"]
            case "HouseholdCase.TierChanged":
                case["tier_code"] = e["tier_code"]
            case "HouseholdCase.PayeeAccountChanged":
                self._payee(case, e["payee"])
            case "TekunPerson.ModeChanged":
                self._payee(case, e["payee"])
                case["programme"] = f"tekun_{e['mode']}"
            case "HouseholdCase.GradualExitStarted":
                case["exit_months"] = e["months"]
                # The first day after the exit's last month: from then the case has left.
                case["exit_until"] = first_day(
                    add_months(month_of(e["effective_date"]), e["months"])
                )
            case "HouseholdCase.Terminated" | "HouseholdCase.Rejected" | "TekunPerson.Terminated":
                case["end_reason"] = e["reason"]
            case "HouseholdCase.AnnualReviewRecorded":
                case["annual_review_due"] = e["next_due"]
            case "TekunPerson.Approved":
                new = rows.cases[case_id] = self._new_case(
                    case_id, "tekun", e, e["person"], f"tekun_{e['mode']}"
                )
                new.update(start_month=e["start_month"], care_level=e["care_level"])
                self._payee(new, e["payee"])
                self._member(members, dict(e["person"], relation="self"), covered=True)
            case "TekunPerson.CareLevelReassessed":
                case["care_level"] = e["care_level"]

    @staticmethod
    def _reviewed_in_exit(case: dict[str, Any], e: dict[str, Any]) -> str | None:
        """A review during a gradual exit that found the household eligible again makes the
        case active again (no exit end); any other review leaves the status as it is."""
        if not e.get("eligible") or case["status"] != CaseStatus.GRADUAL_EXIT.value:
            return None
        case["exit_until"], case["exit_months"] = None, None
        return CaseStatus.ACTIVE.value

    def _new_case(
        self, case_id: str, kind: str, e: dict[str, Any], head: dict[str, str], programme: str
    ) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(CASE_FIELDS)
        row.update(
            case_id=case_id, kind=kind, region_code=e["region_code"],
            county_code=county_of(e["region_code"]), programme=programme,
            head_name=head["name"], head_id_masked=mask_id_number(head["id_number"]),
            head_person_key=self.person_key(head["id_number"]), applied_on=e["effective_date"],
            single_person=False,
        )  # fmt: skip
        return row

    def _member(
        self,
        members: dict[str, dict[str, Any]],
        member: dict[str, Any],
        *,
        covered: bool,
    ) -> None:
        key = self.person_key(member["id_number"])
        members[key] = {
            "person_key": key, "name": member["name"],
            "id_masked": mask_id_number(member["id_number"]),
            "relation": member.get("relation", "member"), "covered": covered,
        }  # fmt: skip
