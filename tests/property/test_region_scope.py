"""Region scope follows the GB/T 2260 levels of real codes, never the trimming of zeros.

Method: hypothesis draws pairs of codes from the region table (``cn/loc`` through
``domain/regions.py``) and township codes under its counties, biased towards the pairs that
matter (same city, same province, ancestors, siblings whose codes end in 0), and checks the
credential of one against an oracle written over the code's parts (province, city, county,
township): it sees the other's cases iff the other lies within it, and the other's policy iff
the other lies within it or is itself or a region it lies in.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.access import Credential, Principal
from domain.errors import InvalidValue
from domain.regions import current_county_level_codes


@cache
def real_codes() -> list[str]:
    return current_county_level_codes()


def parts(code: str) -> list[str]:
    """Province, city, county (and township) parts of a code."""
    found = [code[0:2], code[2:4], code[4:6]]
    return [*found, code[6:9]] if len(code) >= 9 else found


def depth(code: str) -> int:
    """How many parts name the region: up to the last part that is not zeros."""
    named = parts(code)
    while len(named) > 1 and set(named[-1]) == {"0"}:
        named.pop()
    return len(named)


def lies_in(inner: str, outer: str) -> bool:
    """Whether ``inner`` is ``outer`` itself or lies within it, part by part."""
    return (
        depth(outer) <= depth(inner)
        and parts(inner)[: depth(outer)] == parts(outer)[: depth(outer)]
    )


@st.composite
def code_pairs(draw: st.DrawFn) -> tuple[str, str]:
    codes = real_codes()
    first = draw(st.sampled_from(codes))
    relation = draw(st.sampled_from(["any", "same_city", "same_province", "township"]))
    if relation == "same_city":
        second = draw(st.sampled_from([c for c in codes if c[:4] == first[:4]]))
    elif relation == "same_province":
        second = draw(st.sampled_from([c for c in codes if c[:2] == first[:2]]))
    elif relation == "township":
        counties = [c for c in codes if c[:2] == first[:2] and depth(c) == 3]
        county = draw(st.sampled_from(counties or [c for c in codes if depth(c) == 3]))
        second = county + f"{draw(st.integers(1, 999)):03d}"
    else:
        second = draw(st.sampled_from(codes))
    return (second, first) if draw(st.booleans()) else (first, second)


def township_or_code(code: str, number: int) -> str:
    return code + f"{number:03d}" if depth(code) == 3 and number else code


@settings(max_examples=400, deadline=None)
@given(code_pairs(), st.integers(0, 3))
@example(("130111", "130110"), 0)  # siblings: the county read the other's policy by trimmed zeros
@example(("130110", "130111"), 0)
@example(("429004", "429005"), 0)  # 省直辖县级: siblings under 429000
@example(("429004", "429000"), 0)
@example(("500101", "500100"), 0)  # 重庆市辖区
@example(("500101", "500200"), 0)
@example(("420582", "420582001"), 0)
@example(("420582", "420582"), 1)  # a township credential reads its county's policy
def test_scope_and_policy_follow_the_code_levels(pair: tuple[str, str], township: int) -> None:
    """A credential of one real code (or of a township under it) against another real code."""
    scope, other = township_or_code(pair[0], township), pair[1]
    principal = Principal("c", "auditor", scope)
    assert principal.sees(other) == lies_in(other, scope)
    assert principal.sees_policy_of(other) == (lies_in(other, scope) or lies_in(scope, other))


@pytest.mark.parametrize(
    ("scope", "other", "cases", "policy"),
    [
        ("130111", "130110", False, False),  # a sibling county, even one whose code ends in 0
        ("130111", "130100", False, True),  # its city
        ("130111", "130000", False, True),  # its province
        ("130100", "130111", True, True),  # a city reads its counties
        ("420582001", "420582", False, True),  # a township reads its county's policy
        ("420582001", "420582002", False, False),  # never a sibling township's
        ("420582001", "420582001000", True, True),  # its own 12-digit code
        ("000000", "110105", True, True),
    ],
)
def test_named_pairs(scope: str, other: str, cases: bool, policy: bool) -> None:
    """The pairs the hierarchy must get right, named (the reported sibling read first)."""
    principal = Principal("c", "auditor", scope)
    assert (principal.sees(other), principal.sees_policy_of(other)) == (cases, policy)


def test_township_credentials_are_issued_and_other_lengths_refused() -> None:
    """A credential may be scoped to a 9-digit township; a 12-digit code is not a scope."""
    township = Credential.issue(role="approver", region_scope="420582001", token_sha256="x",
                                label="", expires_at=None, period_from=None, period_to=None,
                                issued_by="t", staff_id="ap-1")  # fmt: skip
    assert township.region_scope == "420582001"
    with pytest.raises(InvalidValue) as refused:
        Credential.issue(role="approver", region_scope="420582001000", token_sha256="x",
                         label="", expires_at=None, period_from=None, period_to=None,
                         issued_by="t")  # fmt: skip
    assert refused.value.rule == "region_scope"


@pytest.mark.parametrize(
    ("value", "inside"),
    [
        ("2024-01-01", True),
        ("2024-06-30", True),
        ("2024-06-30T23:00:00.000000Z", True),
        ("2023-12-31", False),
        ("2024-07-01", False),
        ("2024-06", True),
        ("2023-12", False),
        ("2024-07", False),
        ("", False),
    ],
)
def test_audit_period_holds_both_ends(value: str, inside: bool) -> None:
    """A special auditor's period admits its first and last day (and the months they lie in)
    and nothing on either side; any other credential has no period."""
    auditor = Principal("c", "special_auditor", "420582", period_to="2024-06-30",
                        period_from="2024-01-01")  # fmt: skip
    assert auditor.in_period(value) is inside
    assert Principal("c", "auditor", "420582").in_period(value)
