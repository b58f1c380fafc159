"""Spreadsheet cells that are never run: shared by what officers fill in (evidence templates) and what they are
given (exports, reports).

Text that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) is written as
text, with a leading apostrophe.
"""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell value a spreadsheet shows as text and never runs: `=cmd|...` becomes `'=cmd|...`."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
