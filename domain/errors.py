"""Domain errors: values that say which field broke which rule.

The API maps each class to one HTTP status (see ``api/http/problems.py``); nothing else in the
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


class InsufficientFunds(DomainError):
    """Money a pool or reserve does not hold for what the caller asked (a roll's approval, a
    grant's payment). ``funds`` says, per account short of money, what it holds — in total and
    per funding source — and what the request needs from it; ``field`` names the caller's
    record, never the internal transaction."""

    status = 409
    title = "Insufficient funds"

    def __init__(self, detail: str, *, field: str, funds: list[dict[str, object]]) -> None:
        super().__init__(detail, field=field, rule="insufficient_funds")
        self.funds = funds


class NotFound(DomainError):
    """The named thing does not exist, or is outside the caller's scope (never told apart)."""

    status = 404
    title = "Not found"


class Forbidden(DomainError):
    """The caller's role or region scope does not allow this request."""

    status = 403
    title = "Forbidden"


class IntegrityFailure(DomainError):
    """A stored event that cannot be decrypted or decoded (damaged or tampered bytes): the
    record it belongs to cannot be answered for, which is the server's failure, never the
    caller's — and never "not found". ``aggregate_id`` names the record, ``version`` the event."""

    status = 500
    title = "Stored record failed its integrity check"

    def __init__(self, aggregate_id: str, version: int | None = None) -> None:
        at = f" (event {version})" if version is not None else ""
        super().__init__(
            f"a stored event of {aggregate_id}{at} cannot be decrypted or decoded",
            field="aggregate_id",
            rule="event_integrity",
        )
        self.aggregate_id = aggregate_id
        self.version = version


class ProjectionFailure(DomainError):
    """A record a read model could not apply (``doudi projections status`` says why): what the
    view holds of it is missing or stale, so it is not answered from there until a fix and
    ``doudi projections retry`` — and it is not "not found" either."""

    status = 500
    title = "Read model could not apply this record"

    def __init__(self, aggregate_id: str, view: str) -> None:
        super().__init__(
            f"the {view} view could not apply an event of {aggregate_id}",
            field="aggregate_id",
            rule="projection_failure",
        )
        self.aggregate_id = aggregate_id


class ViewsBehind(DomainError):
    """A read that named a log position (``Doudi-Log-Position``) the views did not reach within
    the wait allowed: the answer would not show that write yet. ``reached`` is where they are."""

    status = 503
    title = "Views behind the requested log position"

    def __init__(self, wanted: int, reached: int) -> None:
        super().__init__(
            f"the views reached log position {reached}, not {wanted}, within the wait allowed;"
            " retry",
            field="Doudi-Log-Position",
            rule="views_behind",
        )
        self.wanted = wanted
        self.reached = reached
