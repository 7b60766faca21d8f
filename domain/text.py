"""Text as doudi accepts it: no invisible or control characters, normalised to NFC.

A name, reference or note is shown to people, written into bank files and spreadsheets and
stored in both databases (PostgreSQL refuses U+0000 in text). Characters a reader cannot see
would let one person appear under two spellings, hide or reorder part of a text (bidi
overrides), or break storage and exports, so every text that enters the domain — API fields,
CSV cells, command-line values — passes ``clean_text``: it refuses

- control characters (Unicode category Cc: C0 including tab and line breaks, DEL, C1),
  rule ``text_control_character``;
- bidirectional formatting (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069),
  rule ``text_bidi_override``;
- every other invisible format character (category Cf: U+00AD, U+200B–U+200D, U+2060–U+2064,
  U+FEFF, …), rule ``text_zero_width``;
- lone surrogates (category Cs), which no encoding can store, rule ``text_surrogate``;
- the Unicode line and paragraph separators U+2028, U+2029 (categories Zl, Zp),
  rule ``text_line_break``;
- letters and symbols that render as blank space (the Hangul fillers U+115F, U+1160, U+3164,
  U+FFA0 and the Braille blank U+2800), rule ``text_blank_character``;
- noncharacters (U+FDD0–U+FDEF and the last two code points of every plane), which are never
  interchanged, rule ``text_noncharacter``;
- a text (or CSV cell) that begins with a combining mark (category M), which has nothing to
  combine with, rule ``text_combining_start``;

and returns the text in Unicode normalisation form C, so that one spelling has one encoding.
Private-use characters stay allowed: rare characters in Chinese names (生僻字) are often kept
there by older systems.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from domain.errors import InvalidValue

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
RULES = {
    "Cc": ("text_control_character", "a control character"),
    "bidi": ("text_bidi_override", "a bidirectional formatting character"),
    "Cf": ("text_zero_width", "an invisible (zero-width or format) character"),
    "Cs": ("text_surrogate", "an unpaired surrogate"),
    "Zl": ("text_line_break", "a line separator"),
    "Zp": ("text_line_break", "a paragraph separator"),
    "blank": ("text_blank_character", "a character that renders as blank space"),
    "noncharacter": ("text_noncharacter", "a noncharacter"),
}
COMBINING_START = ("text_combining_start", "a combining mark with nothing before it")


# Printable characters (``str.isprintable``) that render as blank space.
BLANK = "\u115f\u1160\u3164\uffa0\u2800"
NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane + 0xFFFE)}{chr(plane + 0xFFFF)}" for plane in range(0, 0x110000, 0x10000)
)
# Every code point of Unicode categories Cc, Cf and Cs (Unicode 14, Python 3.11), as one
# regular-expression class searched in C; tests/unit/test_text.py checks it against the running
# Python's own table.
CONTROL_FORMAT_SURROGATE_CLASS = (
    r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f"
)
REFUSED_CLASS = f"{CONTROL_FORMAT_SURROGATE_CLASS}\u2028\u2029{BLANK}{NONCHARACTERS}"
# A cover of every combining mark (category M; checked by tests/unit/test_text.py) that leaves
# out ASCII, Latin, CJK ideographs and punctuation, and Hangul syllables: a cell starting with
# one of these is looked at in Python, every other line is passed by one search in C.
MARK_COVER = (
    r"\u0300-\u2dff\u302a-\u302f\u3099\u309a\ua66f-\uabff\ufb1e\ufe00-\ufe2f\U000101fd-\U000e01ef"
)

_REFUSED = re.compile(f"[{REFUSED_CLASS}]")
_BLANK = re.compile(f"[{BLANK}]")
# In a line of a file: a blank character, or a comma before what may be a combining mark.
_LINE_SUSPECT = re.compile(f"[{BLANK},](?<=[{BLANK}]|,(?=[{MARK_COVER}]))")


def refused_rule(character: str) -> tuple[str, str]:
    """(rule, what the character is) for a refused character."""
    if character in BIDI_CONTROLS:
        return RULES["bidi"]
    if character in BLANK:
        return RULES["blank"]
    category = unicodedata.category(character)
    return RULES["noncharacter"] if category == "Cn" else RULES[category]


def text_problem(value: str) -> tuple[str, str] | None:
    """(rule, explanation) if ``value`` holds a refused character or begins with a combining
    mark, else None."""
    if value.isprintable():  # printable text holds no refused character but the blank ones
        if value.isascii():
            return None
        found = _BLANK.search(value)
    else:
        found = _REFUSED.search(value)
    if found is not None:
        character = found.group()
        rule, what = refused_rule(character)
        return rule, f"{what} (U+{ord(character):04X}) at position {found.start() + 1}"
    if _starts_with_mark(value):
        return COMBINING_START[0], f"{COMBINING_START[1]} (U+{ord(value[0]):04X}) at position 1"
    return None


def _starts_with_mark(value: str) -> bool:
    return value[:1] > "\u02ff" and unicodedata.category(value[0])[0] == "M"


def _cells_problem(cells: list[str]) -> tuple[str, str] | None:
    """(rule, explanation) if a cell begins with a combining mark, else None."""
    for number, cell in enumerate(cells, start=1):
        if _starts_with_mark(cell):
            return COMBINING_START[
                0
            ], f"{COMBINING_START[1]} (U+{ord(cell[0]):04X}) in cell {number}"
    return None


def visible(value: Any) -> str:
    """``value`` as text with refused characters escaped (\\uXXXX): safe to echo in an error."""
    return _REFUSED.sub(lambda found: f"\\u{ord(found.group()):04x}", str(value))


def nfc(value: str) -> str:
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


def clean_text(value: str, field: str) -> str:
    """``value`` in NFC, or ``InvalidValue`` naming ``field`` and the rule it breaks."""
    problem = text_problem(value)
    if problem is not None:
        rule, why = problem
        raise InvalidValue(f"{field} must not contain {why}", field=field, rule=rule)
    return nfc(value)


def clean_tree(value: Any, field: str) -> Any:
    """Every text in a JSON-like value (dict keys included) cleaned, named by its path."""
    if isinstance(value, str):
        return clean_text(value, field)
    if isinstance(value, dict):
        return {
            clean_text(key, f"{field}[key]") if isinstance(key, str) else key: clean_tree(
                item, f"{field}.{visible(key)}"
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [clean_tree(item, f"{field}[{index}]") for index, item in enumerate(value)]
    return value


def _line_problem(line: str, cells: list[str] | None) -> tuple[str, str] | None:
    """``text_problem`` of a line and of each of its cells (``cells`` if given, else the text
    between its commas); the usual line, printable and without a blank character or a comma
    before a possible combining mark, is passed after one search in C."""
    if line.isascii():
        return None if line.isprintable() else text_problem(line)
    suspect = _LINE_SUSPECT.search(line)
    if suspect is None and line.isprintable() and not _starts_with_mark(line):
        return None
    problem = text_problem(line)
    if problem is None and suspect is not None:
        problem = _cells_problem(line.split(",") if cells is None else cells)
    return problem


def clean_line(line: str, number: int, field: str = "file", cells: list[str] | None = None) -> str:
    """A line of a file cleaned: its cells pass the text rule (``_line_problem``), else
    ``InvalidValue`` naming the line."""
    problem = _line_problem(line, cells)
    if problem is not None:
        rule, why = problem
        raise InvalidValue(f"{field} line {number}: a cell contains {why}", field=field, rule=rule)
    return nfc(line)


def clean_row(cells: list[str], line: int, field: str = "file") -> list[str]:
    """A CSV row's cells cleaned; a refused character names the file's line."""
    joined = ",".join(cells)
    if clean_line(joined, line, field, cells) is joined:
        return cells
    return [unicodedata.normalize("NFC", cell) for cell in cells]
