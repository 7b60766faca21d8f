"""What every decision event carries: effective date, actor (credential id), document reference.

A decision is about a fact recorded before it (an application, a request, an approval), so it
cannot take effect before that fact: ``decision_meta`` refuses an effective date earlier than
the one it is given as ``not_before``, naming the date field and the fact (``before_application``,
``before_request``, ``before_approval``). This is the one place the rule lives for every case,
person and grant aggregate; a date in a request body never reaches back past what it decides on.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.dates import validate_date
from domain.errors import InvalidValue
from domain.text import clean_text


def require_document(document_ref: str) -> str:
    if not isinstance(document_ref, str) or not document_ref.strip() or len(document_ref) > 200:
        raise InvalidValue(
            "document_ref must name the decision document (1–200 characters)",
            field="document_ref",
            rule="document_required",
        )
    return clean_text(document_ref.strip(), "document_ref")


def decision_meta(
    effective_date: str,
    actor: str,
    document_ref: str,
    *,
    field: str = "effective_date",
    not_before: tuple[str | None, str] | None = None,
    not_after: str | None = None,
) -> dict[str, Any]:
    """Validated keyword arguments for a decision event.

    ``not_before`` is (the date of the fact decided on, the rule naming that fact): an earlier
    effective date is refused. ``not_after`` (today, for decisions that may not be dated ahead
    of their recording) refuses a later one with rule ``in_future``.
    """
    if not actor:
        raise InvalidValue("actor is required", field="actor", rule="actor_required")
    day = validate_date(effective_date, field)
    if not_before is not None:
        earliest, rule = not_before
        if earliest is not None and day < earliest:
            raise InvalidValue(
                f"{field} {day} is before {earliest}, the date of the "
                f"{rule.removeprefix('before_').replace('_', ' ')} it decides on",
                field=field,
                rule=rule,
            )
    if not_after is not None and day > not_after:
        raise InvalidValue(
            f"{field} {day} is after the day it is recorded ({not_after})",
            field=field,
            rule="in_future",
        )
    return {"effective_date": day, "actor": actor, "document_ref": require_document(document_ref)}


# How long after a decision was taken, or its document dated, an office may record it (补录):
# the bound is one year, so a date typed years wrong is refused. A county's migration brings
# older decisions through ``doudi import history`` instead.
RECORDING_LAG_DAYS_MAX = 366


def decision_documents(decided_on: str | None, document_date: str | None) -> dict[str, Any]:
    """The decision's own dates, as a decision event keeps them beside its recorded time: the
    day it was taken (``decided_on``) and the date of its document (文号's date), either None
    when not given. Each is a date of the calendar range; ``recording_lag`` bounds them
    against the day they are recorded."""
    return {
        "decided_on": None if decided_on is None else validate_date(decided_on, "decided_on"),
        "document_date": (
            None if document_date is None else validate_date(document_date, "document_date")
        ),
    }


def recording_lag(dates: dict[str, str | None], recorded_on: str) -> None:
    """Refuse a decision date or document date later than the day the decision is recorded
    (rule ``after_recording``) or more than ``RECORDING_LAG_DAYS_MAX`` days before it
    (rule ``recording_lag``)."""
    earliest = (
        date.fromisoformat(recorded_on) - timedelta(days=RECORDING_LAG_DAYS_MAX)
    ).isoformat()
    for field in ("decided_on", "document_date"):
        day = dates.get(field)
        if day is None:
            continue
        if day > recorded_on:
            raise InvalidValue(
                f"{field} {day} is after the day the decision is recorded ({recorded_on})",
                field=field,
                rule="after_recording",
            )
        if day < earliest:
            raise InvalidValue(
                f"{field} {day} is more than {RECORDING_LAG_DAYS_MAX} days before the day the"
                f" decision is recorded ({recorded_on}); older decisions come in by migration",
                field=field,
                rule="recording_lag",
            )
