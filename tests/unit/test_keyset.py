"""Keyset helpers: region prefixes as index ranges, pages split with the key to continue from,
and cursors bound to their query."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue
from ledger.store.cursors import Pager
from ledger.store.keys import Keys
from projections.keyset import after, prefix_range, split


def test_a_prefix_is_the_range_up_to_the_next_prefix_of_its_length() -> None:
    assert prefix_range("r", "") == ("", [])
    assert prefix_range("r", "4205") == (" AND r >= %s AND r < %s", ["4205", "4206"])
    assert prefix_range("r", "4209") == (" AND r >= %s AND r < %s", ["4209", "421"])
    assert prefix_range("r", "99") == (" AND r >= %s", ["99"])
    # every code the range admits starts with the prefix, and every one that starts with it is in
    low, high = prefix_range("r", "420599")[1]
    for code in ("420599", "420599001", "420599999999"):
        assert low <= code < high
    for code in ("420598999", "4206", "420600001"):
        assert not low <= code < high


def test_a_page_is_split_from_its_one_row_more() -> None:
    rows = [{"a": n, "b": str(n)} for n in range(4)]
    assert split(rows, 4, ("a", "b")) == (rows, None)
    assert split(rows, 3, ("a", "b")) == (rows[:3], [2, "2"])
    assert after(("a", "b"), None) == ("", [])
    assert after(("a", "b"), [2, "2"]) == (" AND (a, b) > (%s, %s)", [2, "2"])


class Holder:
    def __init__(self, secret: str) -> None:
        self.keys = Keys(secret)


def test_a_cursor_opens_only_its_own_query_under_its_own_secret() -> None:
    pager = Pager(Holder("s"), ["cases", "420582", None], width=2)
    cursor = pager.next(["420582001", "case-1"])
    assert cursor is not None and pager.next(None) is None
    assert pager.after(None) is None
    assert pager.after(cursor) == ["420582001", "case-1"]
    for other in (
        Pager(Holder("s"), ["cases", "4205", None], width=2),  # another scope
        Pager(Holder("s"), ["cases", "420582", "active"], width=2),  # another filter
        Pager(Holder("t"), ["cases", "420582", None], width=2),  # another server's secret
    ):
        with pytest.raises(InvalidValue) as refused:
            other.after(cursor)
        assert (refused.value.field, refused.value.rule) == ("cursor", "issued_cursor")
    with pytest.raises(InvalidValue):
        pager.after("!!!." + cursor.split(".")[1])
    with pytest.raises(InvalidValue):
        pager.after("A." + cursor.split(".")[1])
