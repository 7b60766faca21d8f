"""Domain errors: values that say which field broke which rule.

The API maps each class to one HTTP status (see ``api/problems.py``); nothing else in the
domain knows about HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. ``field`` names the input, ``rule`` the broken rule."""

    status = 422
    title = "Unprocessable request"

    def __init__(self, detail: str, *, field: str | None = None, rule: str = "invalid") -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.rule = rule


class InvalidValue(DomainError):
    """An input value that is malformed or outside its allowed range."""


class InvalidTransition(DomainError):
    """A decision the case's current state does not allow (approve twice, change a terminated case)."""

    status = 409
    title = "Decision not allowed in the current state"


class Conflict(DomainError):
    """A request that collides with an earlier one (duplicate enrolment, idempotency key reuse)."""

    status = 409
    title = "Conflict"


class NotFound(DomainError):
    """The named thing does not exist, or is outside the caller's scope (never told apart)."""

    status = 404
    title = "Not found"


class Forbidden(DomainError):
    """The caller's role or region scope does not allow this request."""

    status = 403
    title = "Forbidden"
