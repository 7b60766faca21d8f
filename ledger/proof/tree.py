"""Which subtrees a proof is made of (RFC 9162 §2.1.3.1 and §2.1.4.1), as leaf ranges.

A proof names the heads of subtrees ``[start, end)``; each is either perfect (a power of two
of leaves, aligned) and stored whole by the sealing view, or the right edge of a tree, which
``perfect_parts`` splits into O(log n) stored perfect subtrees. Pure functions: the view reads
the nodes they name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ledger.proof.verify import EMPTY_ROOT, node_hash

Range = tuple[int, int]  # [start, end) in leaf indexes
Node = tuple[
    int, int
]  # (level, index): the perfect subtree of leaves [index·2^level, (index+1)·2^level)


def split_point(size: int) -> int:
    """The largest power of two below ``size`` (> 1): where RFC 9162 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_parts(start: int, end: int) -> list[Node]:
    """The perfect subtrees that make up leaves [start, end), left to right, each as large as
    its alignment allows: the head of the range is their right fold (``fold``)."""
    parts = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        parts.append((level, start >> level))
        start += 1 << level
    return parts


def fold(hashes: Sequence[bytes]) -> bytes:
    """The head of consecutive perfect subtrees that ``perfect_parts`` named, from their heads:
    each is the left sibling of everything after it, as the RFC's split puts it."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees of the inclusion proof of leaf ``index`` in a tree of ``size``, from the
    leaf's sibling upwards (RFC 9162 PATH)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The subtrees of the consistency proof from a tree of ``first`` leaves to one of
    ``second`` (RFC 9162 PROOF / SUBPROOF)."""
    if not 0 <= first <= second:
        raise ValueError(f"sizes {first} and {second} are not in order")
    if first in (0, second):
        return []
    ranges: list[Range] = []
    start, end, whole = 0, second, True
    while first - start != end - start:
        k = split_point(end - start)
        if first - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, whole = start + k, False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def range_hash(lookup: Callable[[Node], bytes], start: int, end: int) -> bytes:
    """The head of leaves [start, end) from stored perfect subtrees."""
    return fold([lookup(node) for node in perfect_parts(start, end)])
