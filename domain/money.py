"""Money is integer fen (分). Rounding rules are named values, stated on every computed line."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import InvalidValue

FEN_PER_YUAN = 100


class RoundingUnit(StrEnum):
    FEN = "fen"
    YUAN = "yuan"


class RoundingMode(StrEnum):
    HALF_UP = "half_up"
    UP = "up"
    DOWN = "down"


# The most any recorded amount may be (10 trillion yuan): far inside 64 bits, so the event
# store's JSON (decoded by orjson, which turns integers beyond 64 bits into floats) and the views'
# BIGINT columns hold every amount exactly.
MAX_FEN = 10**15


def require_fen(value: object, field: str, *, allow_zero: bool = True) -> int:
    """Return ``value`` if it is a whole, non-negative number of fen up to ``MAX_FEN``; refuse
    anything else."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(
            f"{field} must be a whole number of fen", field=field, rule="integer_fen"
        )
    if value > MAX_FEN:
        raise InvalidValue(f"{field} must be at most {MAX_FEN} fen", field=field, rule="max_fen")
    if value < 0 or (value == 0 and not allow_zero):
        rule = "non_negative_fen" if allow_zero else "positive_fen"
        raise InvalidValue(f"{field} must be {rule.replace('_', ' ')}", field=field, rule=rule)
    return value


def divide_rounded(
    numerator_fen: int, denominator: int, unit: RoundingUnit, mode: RoundingMode
) -> int:
    """Divide a fen amount and round the quotient to ``unit`` with ``mode``, in exact integers.

    Used for annual→monthly standards (annual / 12) and multipliers expressed in percent.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    step = FEN_PER_YUAN if unit is RoundingUnit.YUAN else 1
    scaled_den = denominator * step
    quotient, remainder = divmod(numerator_fen, scaled_den)
    if remainder == 0:
        return quotient * step
    if mode is RoundingMode.DOWN:
        return quotient * step
    if mode is RoundingMode.UP:
        return (quotient + 1) * step
    # Half-up: compare twice the remainder with the divisor, all in integers.
    return (quotient + (1 if 2 * remainder >= scaled_den else 0)) * step


def format_yuan(amount_fen: int) -> str:
    """Format fen as a yuan string for people: 67000 → '670.00'."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"
