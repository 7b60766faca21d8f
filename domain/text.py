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
}


# Every code point of Unicode categories Cc, Cf and Cs (Unicode 14, Python 3.11), as one
# regular-expression class searched in C; tests/unit/test_text.py checks it against the running
# Python's own table.
REFUSED_CLASS = (
    r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f"
)


_REFUSED = re.compile(f"[{REFUSED_CLASS}]")


def refused_rule(character: str) -> tuple[str, str]:
    """(rule, what the character is) for a refused character."""
    if character in BIDI_CONTROLS:
        return RULES["bidi"]
    return RULES[unicodedata.category(character)]


def text_problem(value: str) -> tuple[str, str] | None:
    """(rule, explanation) if ``value`` holds a refused character, else None."""
    if value.isprintable():  # every refused character is unprintable: most texts stop here
        return None
    found = _REFUSED.search(value)
    if found is None:
        return None
    character = found.group()
    rule, what = refused_rule(character)
    return rule, f"{what} (U+{ord(character):04X}) at position {found.start() + 1}"


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


def clean_line(line: str, number: int, field: str = "file") -> str:
    """A line of a file cleaned; a refused character names the line."""
    problem = text_problem(line)
    if problem is not None:
        rule, why = problem
        raise InvalidValue(f"{field} line {number}: a cell contains {why}", field=field, rule=rule)
    return nfc(line)


def clean_row(cells: list[str], line: int, field: str = "file") -> list[str]:
    """A CSV row's cells cleaned; a refused character names the file's line."""
    joined = ",".join(cells)
    if clean_line(joined, line, field) is joined:
        return cells
    return [unicodedata.normalize("NFC", cell) for cell in cells]
