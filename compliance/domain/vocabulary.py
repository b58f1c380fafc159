"""Closed vocabularies: fields whose value is one of a fixed set (a grievance's status, an ILO indicator).

People type such values as they say them: "In progress", "in-progress", " Completed ". A value that differs
from an allowed one only in case, surrounding spaces, or spaces and hyphens where the value has underscores is
read as that value; any other value is refused with the allowed values and the closest of them. The models
apply this to every Literal field (``models._Model``), so every way into the store reads values alike.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

#: Where the words of a value may be separated by spaces, hyphens or underscores, in any number.
_SEPARATORS = re.compile(r"[\s\-_]+")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean "X"?' naming the choice closest to `word`, or "" when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def spelling_key(value: str) -> str:
    """What two spellings of one value share: "In-Progress", " in progress " and "in_progress" give in_progress."""
    return _SEPARATORS.sub("_", value.strip()).lower()


#: Legal-form words at the end of an organisation's name, which writers keep or drop ("Ltd", "Co., Ltd.", "Sdn Bhd").
_LEGAL_FORMS = {"ltd", "limited", "co", "company", "inc", "incorporated", "corp", "corporation", "llc", "plc",
                "sdn", "bhd", "pvt", "private", "pte", "gmbh", "sa", "sro", "jsc", "tbk", "pt", "public"}
_PUNCTUATION = re.compile(r"[^\w\s\-]+")


def name_key(name: str) -> str:
    """What two spellings of one organisation's name share, for matching (the name is shown as written):
    "ABC Manpower Sdn. Bhd.", "abc manpower sdn bhd" and "ABC-Manpower" give abc_manpower. Punctuation and the
    legal form at the end do not count; a name that is only a legal form keeps it."""
    words = spelling_key(_PUNCTUATION.sub(" ", name)).split("_")
    words = [w for w in words if w]
    while len(words) > 1 and words[-1] in _LEGAL_FORMS:
        words.pop()
    return "_".join(words)


def literal_values(annotation: Any) -> tuple[str, ...] | None:
    """The values a Literal of strings (or an optional one) allows; None for any other annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(others) != 1:
            return None
        annotation = others[0]
    values = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal and all(isinstance(v, str) for v in values):
        return values
    return None


class Vocabulary:
    """The allowed values of one field, and every spelling that reads as one of them."""

    def __init__(self, values: Iterable[str], aliases: Mapping[str, str] | None = None) -> None:
        self.values = tuple(values)
        #: spelling key (and each value itself, the common case, looked up without making a key) -> value
        self._by_spelling: dict[str, str] = {}
        spellings = [(value, value) for value in self.values]
        spellings += [(alias, value) for alias, value in (aliases or {}).items() if value in self.values]
        for spelling, value in spellings:
            key = spelling_key(spelling)
            if self._by_spelling.get(key, value) != value:
                # A TypeError, not a ValueError, which pydantic would report as a problem of the record.
                raise TypeError(f"{self._by_spelling[key]!r} and {value!r} are spelt alike ({key!r})")
            self._by_spelling[key] = value
            self._by_spelling[spelling] = value

    def read(self, value: Any) -> str:
        """The allowed value `value` spells; ValueError naming the allowed values (and the closest) otherwise."""
        if isinstance(value, str):
            found = self._by_spelling.get(value) or self._by_spelling.get(spelling_key(value))
            if found is not None:
                return found
            hint = did_you_mean(spelling_key(value), self.values)
        else:
            hint = ""
        raise ValueError(f"expected one of {', '.join(self.values)}{hint}")
