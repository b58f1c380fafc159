"""The test grammar: the one-line tests inside ``where``, their operators and operands, and their parser.

A test is ``FIELD OP OPERAND``, for example ``date <= protected.date + window_days``. ``OPERATORS`` is the one
table of the operators: for each its name, its kind, its negation under ``not`` and what it means in Python.
The reference evaluator, the relevance filter and the explanations evaluate tests through it; the compiler
takes its negations from it and maps each name to a durable_rules test. A test on a missing value is neither
true nor false (as in SQL), so ``not`` of a comparison is the opposite comparison, false too when the value is
missing: ``not (x < 3)`` is ``x >= 3``.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from compliance.domain.models import MAX_WHOLE_NUMBER

#: The engine compares whole numbers as 64-bit integers: no whole number in a rule may reach this size (the same
#: bound as records have).
ENGINE_INT = MAX_WHOLE_NUMBER + 1

# ---------------------------------------------------------------------------------------------------------------------
# Operators

#: Kinds of operator, by what they compare the field's value with.
EQUALITY = "equality"  # == != : a value of the same kind
ORDERING = "ordering"  # < <= > >= : a number or a date
ONE_OF = "one of"  # in : a list of literal values
WORDS = "words"  # mentions : a list of quoted words or phrases, in a text field
ELEMENT = "element"  # contains : one value, in a list field
PRESENCE = "presence"  # is missing, is present : no operand


@dataclass(frozen=True)
class Operator:
    """One operator of the test language.

    ``holds(value, other)`` is its meaning on a value that is present: `other` is the operand's value, the tuple
    of literal values (``in``, ``mentions``), or None (``is missing``, ``is present``, which also apply to a
    missing value). ``negation`` is the operator that ``not`` turns it into; None for ``in``, whose negation is
    no single test (``not (x in [a, b])`` is ``x != a and x != b``). Rule authors do not write ``not contains``
    and ``not mentions``: they arise as negations.
    """

    name: str
    kind: str
    negation: str | None
    holds: Callable[[Any, Any], bool]


def mentions(text: str, words: tuple[Scalar, ...]) -> bool:
    """Whether `text` contains any of `words` as whole words or phrases, ignoring case (any script)."""
    folded = " ".join(text.casefold().split())
    return any(re.search(rf"(?<!\w){re.escape(' '.join(str(w).casefold().split()))}(?!\w)", folded) for w in words)


OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator("==", EQUALITY, "!=", operator.eq),
    Operator("!=", EQUALITY, "==", operator.ne),
    Operator("<", ORDERING, ">=", operator.lt),
    Operator("<=", ORDERING, ">", operator.le),
    Operator(">", ORDERING, "<=", operator.gt),
    Operator(">=", ORDERING, "<", operator.ge),
    Operator("in", ONE_OF, None, lambda value, values: any(value == v for v in values)),
    Operator("mentions", WORDS, "not mentions", mentions),
    Operator("not mentions", WORDS, "mentions", lambda value, words: not mentions(value, words)),
    Operator("contains", ELEMENT, "not contains", lambda value, item: item in value),
    Operator("not contains", ELEMENT, "contains", lambda value, item: item not in value),
    Operator("is missing", PRESENCE, "is present", lambda value, _none: value is None),
    Operator("is present", PRESENCE, "is missing", lambda value, _none: value is not None),
)}

# ---------------------------------------------------------------------------------------------------------------------
# Tests


@dataclass(frozen=True)
class Name:
    """An unresolved name in an operand: a parameter, ``as_of`` or ``alias.field``."""

    text: str

    @property
    def alias(self) -> str | None:
        return self.text.split(".", 1)[0] if "." in self.text else None

    @property
    def field(self) -> str | None:
        return self.text.split(".", 1)[1] if "." in self.text else None


Scalar = Union[str, int, float, bool, dt.date]


@dataclass(frozen=True)
class Operand:
    """``base`` optionally followed by ``+ n`` / ``- n`` terms (days, for dates)."""

    base: Scalar | Name
    offsets: tuple[tuple[int, int | float | Name], ...] = ()


@dataclass(frozen=True)
class Test:
    """``field op operand``; for ``in`` the operand is a list, for ``is missing``/``is present`` it is None."""

    field: str
    op: str
    operand: Operand | None = None
    values: tuple[Scalar, ...] = ()
    source: str = ""

    def __str__(self) -> str:
        return self.source


def resolve(name: Name) -> tuple[str, str | None]:
    """What a name in an operand refers to: ("field", alias) / ("as_of", None) / ("param", None)."""
    if name.alias is not None:
        return "field", name.alias
    if name.text == "as_of":
        return "as_of", None
    return "param", None


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<date>\d{4}-\d{2}-\d{2}(?![\d-]))
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<string>"[^"]*"|'[^']*')
      | (?P<op>==|!=|<=|>=|<|>)
      | (?P<punct>[\[\],+\-])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)

TEST_SYNTAX = (
    'FIELD OP VALUE, where OP is one of == != < <= > >=, VALUE is a number, a "quoted string", a date '
    "(2024-01-31), true/false, a parameter, as_of or alias.field, optionally + or - a number or parameter; "
    "or FIELD in [..], FIELD mentions [\"word\", ..], FIELD contains VALUE, FIELD is missing, FIELD is present"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            rest = text[pos:].strip()
            hint = ""
            if rest.startswith(("=>", "=<")):
                hint = f'; did you mean "{rest[1]}="?'
            elif rest.startswith("="):
                hint = "; use == to test equality"
            raise ValueError(f"cannot read {rest!r} in test {text!r}{hint}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _scalar(kind: str, value: str) -> Scalar | Name:
    if kind == "date":
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a date that exists") from None
    if kind == "number":
        number = float(value) if "." in value else int(value)
        if isinstance(number, int) and number >= ENGINE_INT:
            raise ValueError(f"{value} is too large: the engine compares whole numbers up to {ENGINE_INT - 1:,} "
                             "in size")
        return number
    if kind == "string":
        return value[1:-1]
    if kind == "name":
        if value in ("true", "false"):
            return value == "true"
        return Name(value)
    raise ValueError(f"expected a value, got {value!r}")


def parse_test(text: str) -> Test:
    """Parse one test line. Raises ValueError with a message that says what was expected."""
    if not isinstance(text, str):
        raise ValueError(f"a test is a one-line string ({TEST_SYNTAX}), got {type(text).__name__}")
    toks = _tokens(text)
    if len(toks) < 2 or toks[0][0] != "name" or "." in toks[0][1]:
        raise ValueError(f"{text!r} is not a test; expected {TEST_SYNTAX}")
    field, rest = toks[0][1], toks[1:]
    words = [v for _, v in rest]
    if words in (["is", "missing"], ["is", "not", "present"]):
        return Test(field, "is missing", source=text)
    if words in (["is", "present"], ["is", "not", "missing"]):
        return Test(field, "is present", source=text)
    head_kind, head = rest[0]
    if head in ("in", "mentions") and head_kind == "name":
        inner = rest[1:]
        if len(inner) < 2 or inner[0][1] != "[" or inner[-1][1] != "]":
            raise ValueError(f"{text!r}: '{head}' needs a list of values in brackets, e.g. {field} {head} [\"a\", \"b\"]")
        values = []
        for i, (kind, value) in enumerate(inner[1:-1]):
            if i % 2 == 1:
                if value != ",":
                    raise ValueError(f"{text!r}: expected ',' between list values, got {value!r}")
                continue
            scalar = _scalar(kind, value)
            if isinstance(scalar, Name):
                raise ValueError(f"{text!r}: list values must be literals, got {value!r}")
            values.append(scalar)
        if not values:
            raise ValueError(f"{text!r}: the list is empty")
        if head == "mentions" and not all(isinstance(v, str) and v.strip() for v in values):
            raise ValueError(f"{text!r}: 'mentions' takes quoted words or phrases")
        return Test(field, head, values=tuple(values), source=text)
    if head_kind == "op" or (head == "contains" and head_kind == "name"):
        operand = _operand(rest[1:], text)
        if head == "contains" and operand.offsets:
            raise ValueError(f"{text!r}: 'contains' takes a single value")
        return Test(field, head, operand=operand, source=text)
    raise ValueError(f"{text!r}: expected an operator after {field!r} ({TEST_SYNTAX})")


def _operand(toks: list[tuple[str, str]], text: str) -> Operand:
    if not toks:
        raise ValueError(f"{text!r}: the value to compare with is missing")
    sign = 1
    if toks[0] == ("punct", "-") and len(toks) > 1 and toks[1][0] == "number":
        sign, toks = -1, toks[1:]
    base = _scalar(*toks[0])
    if sign < 0:
        base = -base  # type: ignore[operator]
    offsets: list[tuple[int, int | float | Name]] = []
    rest = toks[1:]
    while rest:
        if len(rest) < 2 or rest[0][1] not in "+-" or rest[0][0] != "punct":
            raise ValueError(f"{text!r}: expected '+ n' or '- n' after the value, got {' '.join(v for _, v in rest)!r}")
        term = _scalar(*rest[1])
        if isinstance(term, (bool, str, dt.date)) or (isinstance(term, Name) and term.alias):
            raise ValueError(f"{text!r}: only a number or a parameter can be added or subtracted, got {rest[1][1]!r}")
        offsets.append((1 if rest[0][1] == "+" else -1, term))
        rest = rest[2:]
    if offsets and not isinstance(base, (Name, int, float)) or isinstance(base, bool) and offsets:
        raise ValueError(f"{text!r}: cannot add to {toks[0][1]!r}")
    return Operand(base, tuple(offsets))


TestField = Annotated[
    Test,
    PlainValidator(lambda v: v if isinstance(v, Test) else parse_test(v)),
    PlainSerializer(lambda t: t.source, return_type=str),
    WithJsonSchema({"type": "string", "description": TEST_SYNTAX}),
]
