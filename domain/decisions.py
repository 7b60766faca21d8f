"""What every decision event carries: effective date, actor (credential id), document reference."""

from __future__ import annotations

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


def decision_meta(effective_date: str, actor: str, document_ref: str) -> dict[str, Any]:
    """Validated keyword arguments for a decision event."""
    if not actor:
        raise InvalidValue("actor is required", field="actor", rule="actor_required")
    return {
        "effective_date": validate_date(effective_date),
        "actor": actor,
        "document_ref": require_document(document_ref),
    }
