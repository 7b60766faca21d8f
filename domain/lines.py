"""Roll lines as a chunk event records them.

A line is a row of values in the order its event's ``fields`` name, not an object naming every
value: a million-line roll would otherwise write "case_id", "programme", … a million times
each. Its components are indices into the chunk's ``parts`` — each distinct component once a
chunk, since cases with the same values share the engine's result (``Due``)
— whose sources may hold two placeholders for the line's own references: ``INCOME`` (the
line's income fact) and ``BASIS`` (its basis's latest fact, the last of its
``basis_sources``), both carried in its ``refs``. Whom it pays is one array, ``payee``. A
line's number and bank reference follow from its place in the roll, and its ``months`` is null
when it pays its roll's own month only, its total. ``expand`` gives a line back as the object
every reader sees.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Final

import orjson

from domain.references import reference_prefix

# The fields of the lines a roll generator records, in row order.
FIELDS = (
    "case_id", "kind", "programme", "region_code", "payee", "covered_members", "components",
    "total_fen", "receivable_fen", "months", "refs",
)  # fmt: skip
# Where each field sits in a row (``Final``: compiled code reads each as a constant).
CASE_ID: Final = 0
KIND: Final = 1
PROGRAMME: Final = 2
REGION_CODE: Final = 3
PAYEE: Final = 4
COVERED: Final = 5
COMPONENTS: Final = 6
TOTAL: Final = 7
RECEIVABLE: Final = 8
MONTHS: Final = 9
REFS: Final = 10
# ``payee``: whom the line pays, an array of these (the case-state view's ``payee``, passed on
# as written there); ``expand`` gives them back as fields of their own, in its place. Rows
# recorded before it carry the five fields one by one; ``expand`` reads both.
PAYEE_FIELDS = ("head_name", "head_id_masked", "payee_name", "account_sealed", "account_masked")
# ``refs``: the line's income fact and then its basis's facts, joined by ``REF_SEPARATOR`` — the
# form the case-state view keeps them in (``projections.case_state.settled``), so a roll passes
# them on as one string, not split into a list a line. ``expand`` gives them back as
# ``basis_sources`` (and the income fact in the components' sources). Rows recorded before it
# carry ``basis_sources`` and ``income_source`` instead; ``expand`` reads both.
REF_SEPARATOR: Final = "\x1f"  # never in a fact reference (``Class.Event#position``)
# A part (a component): code, month, amount, rule, sources.
PART_FIELDS = ("code", "month", "amount_fen", "rule", "sources")
INCOME: Final = "{income}"
BASIS: Final = "{basis}"
# Derived from a line's place, not recorded: its number and bank reference.
DERIVED = ("line_no", "reference")


_tables = itertools.count()


class Parts:
    """The parts table of the chunk being filled, in order of first use. A part shared by many
    lines is added once a table by whoever shares it (``Due`` keeps its indices for the table
    it last added to, named by ``table``)."""

    def __init__(self) -> None:
        self.parts: list[list[Any]] = []
        self.table = next(_tables)  # names this table in the process: a new name at each ``take``

    def add(self, part: list[Any]) -> int:
        """The index of a part added to the table."""
        self.parts.append(part)
        return len(self.parts) - 1

    def take(self) -> list[list[Any]]:
        """The table so far; the next chunk starts an empty one."""
        parts = self.parts
        self.parts = []
        self.table = next(_tables)
        return parts


# A component worked out once for many lines: (code, amount, rule, sources, whether a source is
# a placeholder, ``INCOME`` or ``BASIS``).
Template = tuple[str, int, str, tuple[str, ...], bool]


class Due:
    """What a basis's values are owed in one month: its components with placeholders for the
    case's own references, their total, and the ones with an amount as a chunk's parts."""

    def __init__(self, templates: list[Template], month: str) -> None:
        self.templates = templates
        self.total_fen = sum(template[1] for template in templates)
        self.parts = [
            [code, month, amount, rule, list(sources)]
            for code, amount, rule, sources, _placed in templates if amount
        ]  # fmt: skip
        self.table = -1  # the chunk table ``found`` indexes (``Parts.table``)
        self.found: list[int] = []

    def indices(self, parts: Parts) -> list[int]:
        """The indices of the parts in the chunk's table, added to it by the first line of the
        chunk with these values; the chunk's later lines with them share the same list (a
        line's components are never changed once made: an adjusted line makes a list of its
        own)."""
        if self.table != parts.table:
            self.table = parts.table
            self.found = [parts.add(part) for part in self.parts]
        return self.found


def expand(
    fields: Sequence[str], parts: list[list[Any]], rows: list[list[Any]], first: int,
    county_code: str, month: str, group: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """The lines of a chunk whose first line is number ``first``, as objects: each field by
    name, components with their sources, ``months`` in full, number and bank reference."""
    prefix = reference_prefix(county_code, month, group)
    packed = "refs" in fields or "payee" in fields
    lines = []
    line_no = first
    for row in rows:
        if packed:
            line, income = _unpacked(fields, row)
        else:
            line = dict(zip(fields, row, strict=True))
            income = line.pop("income_source", "")
        basis = ",".join(line.get("basis_sources", [])[-1:])
        line["components"] = [
            _component(parts[index], income, basis) for index in line["components"]
        ]
        if line["months"] is None:
            line["months"] = [{"month": month, "amount_fen": line["total_fen"]}]
        line["line_no"] = line_no
        line["reference"] = prefix + str(line_no).zfill(7)
        lines.append(line)
        line_no += 1
    return lines


def _unpacked(fields: Sequence[str], row: list[Any]) -> tuple[dict[str, Any], str]:
    """A row with ``payee`` or ``refs`` as a line of named fields, each in its place, and the
    line's income fact."""
    line: dict[str, Any] = {}
    income = ""
    for name, value in zip(fields, row, strict=True):
        if name == "payee":
            if type(value) is orjson.Fragment:  # an event not yet stored: the JSON it will hold
                value = orjson.loads(orjson.dumps(value))
            line.update(zip(PAYEE_FIELDS, value, strict=True))
        elif name == "refs":
            income, *sources = value.split(REF_SEPARATOR)
            line["basis_sources"] = sources
        elif name == "income_source":
            income = value
        else:
            line[name] = value
    return line, income


def _component(part: list[Any], income: str, basis: str) -> dict[str, Any]:
    code, month, amount, rule, sources = part
    return {
        "code": code, "month": month, "amount_fen": amount, "rule": rule,
        "sources": [income if ref == INCOME else basis if ref == BASIS else ref for ref in sources],
    }  # fmt: skip


def compact(
    lines: list[dict[str, Any]], month: str
) -> tuple[list[str], list[list[Any]], list[list[Any]]]:
    """(fields, parts, rows) of lines given as objects (``expand`` gives them back): the
    fields the first line has, in its order, less those derived from a line's place."""
    fields = [name for name in (lines[0] if lines else {}) if name not in DERIVED]
    components = fields.index("components") if "components" in fields else -1
    months = fields.index("months") if "months" in fields else -1
    table = Parts()
    seen: dict[str, int] = {}
    rows = []
    for line in lines:
        row = [line[name] for name in fields]
        if components >= 0:
            indices = []
            for component in line["components"]:
                part = [component[name] for name in PART_FIELDS]
                key = repr(part)
                found = seen.get(key)
                if found is None:
                    found = seen[key] = table.add(part)
                indices.append(found)
            row[components] = indices
        if months >= 0:
            own = [{"month": month, "amount_fen": line.get("total_fen")}]
            row[months] = None if line["months"] == own else line["months"]
        rows.append(row)
    return fields, table.take(), rows


def table_rows(
    gen: int, first: int, fields: Sequence[str], rows: list[list[Any]]
) -> list[tuple[Any, ...]]:
    """A chunk's rows for the rolls view's ``roll_lines`` (``LINE_FIELDS``): generation key,
    number, case, programme, region, persons, total, receivable, months (JSON, or null for the
    roll's own month only). The bank reference follows from the number (``bank_reference``):
    the view works it out where a query needs it (``reference_sql``), not kept a million
    times a month."""
    case, programme, region, covered, total, receivable, months = (
        fields.index(name) for name in (
            "case_id", "programme", "region_code", "covered_members", "total_fen",
            "receivable_fen", "months",
        )
    )  # fmt: skip
    found = []
    line_no = first
    for row in rows:
        paid = row[months]
        found.append((
            gen, line_no, row[case], row[programme], row[region], row[covered], row[total],
            row[receivable], None if paid is None else orjson.dumps(paid).decode(),
        ))  # fmt: skip
        line_no += 1
    return found
