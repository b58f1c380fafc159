"""The rule language: contract conditions as YAML, defined once here.

A rule file holds ``rules:``, a list of rules. A rule says which clause it enforces, how serious a breach
is, its parameters (with defaults that a clause set or a contract may override), which contracts it
applies to, ``when`` it fires and what the finding says (``then``). See the README's "Rule language"
for a worked example of every kind of condition.

``when`` combines three kinds of condition, all evaluated per contract as of a date:

* ``match``: facts that must exist, each with tests (``where``); later patterns may refer to earlier
  ones by their alias (``as``), which is how facts are correlated.
* ``absent``: facts that must *not* exist (absence by a deadline).
* ``threshold``: at least N facts (or N distinct values) of the same group within a sliding window
  of days.

A test is one line: ``FIELD OP OPERAND``, for example ``date <= protected.date + window_days``.
Comparisons involving a missing value are neither true nor false (as in SQL): ``not`` does not make
them true. Test for absence of a value with ``FIELD is missing``.

This module validates syntax (pydantic) and meaning (``check_rule``); ``compiler`` turns the result into
durable_rules rulesets and ``reference`` evaluates it directly in Python.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import jinja2
import jinja2.meta
import jinja2.sandbox
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    WithJsonSchema,
    field_validator,
)

from compliance.domain import models
from compliance.domain.models import FPRW, Severity

EPOCH = dt.date(1970, 1, 1)

# ---------------------------------------------------------------------------------------------------------------------
# Tests: the one-line expressions inside `where`

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
#: Each comparison and its negation under `not` (a missing value stays "unknown" either way).
NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


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
        return float(value) if "." in value else int(value)
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

# ---------------------------------------------------------------------------------------------------------------------
# Conditions, patterns and rules


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AllOf(_Spec):
    all: list[Condition] = Field(min_length=1, description="Every condition holds")


class AnyOf(_Spec):
    any: list[Condition] = Field(min_length=1, description="At least one condition holds")


class NotOf(_Spec):
    not_: Condition = Field(alias="not", description="The condition is false (a missing value stays unknown)")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, (str, Test)):
        return "test"
    if isinstance(value, dict) and len(value) == 1:
        return {"all": "all", "any": "any", "not": "not"}.get(next(iter(value)))
    if isinstance(value, AllOf):
        return "all"
    if isinstance(value, AnyOf):
        return "any"
    if isinstance(value, NotOf):
        return "not"
    return None


Condition = Annotated[
    Union[
        Annotated[TestField, Tag("test")],
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NotOf, Tag("not")],
    ],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message="a condition is a test string, or a mapping with exactly one key: all, any or not",
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()

Alias = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="Lower-case name for the matched fact")]
ParamOrInt = Union[Annotated[int, Field(ge=1)], Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]]


class Pattern(_Spec):
    """A fact that must exist."""

    as_: Alias = Field(alias="as")
    fact: str = Field(description="Fact type: an evidence type, contract, contract_item, facility, production_link")
    where: list[Condition] = Field(default_factory=list)
    latest_per: list[str] | None = Field(
        default=None,
        description="Consider only the latest record (by date, then id) for each value of these fields",
    )


class Absent(_Spec):
    """A fact that must not exist; its tests may refer to the aliases of `match`."""

    fact: str
    where: list[Condition] = Field(default_factory=list)


class Threshold(_Spec):
    """At least `at_least` facts (or distinct values of `distinct`) per group within `window_days`."""

    as_: Alias = Field(alias="as")
    fact: str
    where: list[Condition] = Field(default_factory=list)
    group_by: list[str] = Field(min_length=1)
    window_days: ParamOrInt
    at_least: ParamOrInt
    distinct: str | None = None


class When(_Spec):
    threshold: Threshold | None = None
    match: list[Pattern] = Field(default_factory=list)
    absent: list[Absent] = Field(default_factory=list)


LetterType = Literal["L1", "L2", "L2-P", "L3", "L4", "L5", "L6"]
EscalationLevel = Literal["E0", "E1", "E2", "E3", "E4", "E5"]


class Modifier(_Spec):
    """Raise the severity one level (Priority stays Priority) when the tests hold on a matched fact."""

    reason: str = Field(description="Why, in words the finding will show, e.g. 'large-scale harm'")
    alias: Alias = Field(description="The alias of the matched fact the tests read")
    where: list[Condition] = Field(min_length=1)


class Then(_Spec):
    message: str = Field(description="jinja2 template of the one-sentence explanation, with the actual values")
    modifiers: list[Modifier] = Field(
        default_factory=list, description="Severity modifiers: each that holds raises the severity one level")
    required_actions: list[str] = Field(default_factory=list, description="What the contractor must do (goes in letters)")
    buyer_actions: list[str] = Field(
        default_factory=list, description="What the buyer or working group does (never in letters to suppliers)")
    respond_within_days: int | None = Field(default=None, ge=0, description="Default: by severity (7/14/14/30)")
    letter: LetterType | None = None
    escalation: EscalationLevel | None = None
    verdict: models.Verdict = Field(
        default="breach", description="breach, or a verdict that is not the contractor's breach: due_diligence_shown, "
        "insufficient_evidence, not_yet_due, evidence_expired")


class AppliesTo(_Spec):
    """Which contracts a rule applies to; every list given must match (empty: all contracts)."""

    clause_sets: list[str] = Field(default_factory=list)
    frameworks: list[str] = Field(default_factory=list)
    brands: list[str] = Field(default_factory=list)
    statuses: list[models.ContractStatus] = Field(default_factory=lambda: ["active"])

    def matches(self, contract: models.Contract) -> bool:
        return (
            (not self.clause_sets or contract.clause_set.id in self.clause_sets)
            and (not self.frameworks or (contract.framework is not None and contract.framework.ref in self.frameworks))
            and (not self.brands or bool(set(self.brands) & set(contract.brands)))
            and contract.status in self.statuses
        )


ParamValue = Union[bool, int, float, str]

#: What a rule's findings are, for the documents that group them (the renewal dossier, the recommendation).
RULE_TAGS: dict[str, str] = {
    "harm": "harm to workers confirmed and not yet remedied (the dossier's unremedied harm)",
    "overdue_plan": "corrective action overdue (the dossier's overdue corrective action)",
    "contradiction": "an audit contradicted by worker-driven monitoring or workers' evidence",
    "non_response": "no substantive response to a request or notice",
}


def _known_tag(value: str) -> str:
    if value not in RULE_TAGS:
        raise ValueError(f"unknown tag {value!r}{did_you_mean(value, set(RULE_TAGS))} (tags: "
                         f"{', '.join(RULE_TAGS)})")
    return value


RuleTag = Annotated[str, AfterValidator(_known_tag)]


class Rule(_Spec):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$", description="e.g. GR-03")
    version: str = Field(pattern=r"^\d+(\.\d+)*$")
    title: str
    clause: str = Field(description="The contract clause this rule enforces")
    description: str | None = None
    fprw: list[FPRW] = Field(default_factory=list)
    hrdd_objectives: list[Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=list)
    severity: Severity
    tags: list[RuleTag] = Field(
        default_factory=list, description="What its findings are, for the documents that group them: "
        + ", ".join(RULE_TAGS))
    params: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], ParamValue] = Field(default_factory=dict)
    proposed_defaults: list[str] = Field(
        default_factory=list, description="Parameters whose default is only proposed (no standard fixes it): confirm "
        "or override them per contract or clause set")
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    when: When
    then: Then

    @field_validator("params", mode="before")
    @classmethod
    def _params_have_defaults(cls, value: Any) -> Any:
        if isinstance(value, dict):
            empty = [name for name, default in value.items() if default is None]
            if empty:
                raise ValueError(f'parameter "{empty[0]}" has no default value; give one (a number, "text", '
                                 "true or false) - clause sets and contracts may override it")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def aliases(self) -> list[str]:
        """Aliases in scope order: the threshold (if any), then the match patterns."""
        return ([self.when.threshold.as_] if self.when.threshold else []) + [p.as_ for p in self.when.match]

    def alias_fact(self, alias: str) -> str:
        if self.when.threshold and self.when.threshold.as_ == alias:
            return THRESHOLD_FACT
        return next(p.fact for p in self.when.match if p.as_ == alias)

    def response_days(self, severity: Severity | None = None) -> int:
        """Days to respond: the rule's own deadline, else the default of the (possibly raised) severity."""
        if self.then.respond_within_days is not None:
            return self.then.respond_within_days
        return (severity or self.severity).response_days


class RuleFile(_Spec):
    rules: list[Rule] = Field(min_length=1)


class ClauseSet(_Spec):
    """A set of contract conditions as adopted (e.g. EW CC v2, UK) and its parameter overrides."""

    id: str
    version: str
    title: str
    parameters: dict[str, dict[str, ParamValue]] = Field(default_factory=dict)
    deadlines: dict[models.DeadlineName, models.Deadline] = Field(
        default_factory=dict, description="Periods letters give under these conditions, e.g. cap: {days: 10, "
        "working_days: true} for a UK-style rectification clause")
    calendar: str | None = Field(default=None, pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
                                 description="Public holidays skipped when counting working days, e.g. GB-SCT")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value


class ClauseSetFile(_Spec):
    clause_sets: list[ClauseSet] = Field(min_length=1)


#: Names the engine uses for its own properties: not allowed as parameter names.
RESERVED_NAMES = frozenset({"type", "rule", "id", "sid", "as_of", "record_id"})

#: The fact a threshold produces: its group-by fields plus these.
THRESHOLD_FACT = "__window"
THRESHOLD_FIELDS = ("count", "first_date", "last_date")

# ---------------------------------------------------------------------------------------------------------------------
# Meaning: names, fields and types, checked once for every rule


def resolve(name: Name) -> tuple[str, str | None]:
    """What a name in an operand refers to: ("field", alias) / ("as_of", None) / ("param", None)."""
    if name.alias is not None:
        return "field", name.alias
    if name.text == "as_of":
        return "as_of", None
    return "param", None


def walk_tests(conditions: list[Any]) -> list[Test]:
    out: list[Test] = []
    for c in conditions:
        if isinstance(c, Test):
            out.append(c)
        elif isinstance(c, AllOf):
            out += walk_tests(c.all)
        elif isinstance(c, AnyOf):
            out += walk_tests(c.any)
        elif isinstance(c, NotOf):
            out += walk_tests([c.not_])
    return out


def list_fields(fact_type: str) -> set[str]:
    if fact_type == "contract":
        return {"brands", "buyer_ids"}
    if fact_type in models.EVIDENCE_TYPES:
        annotations = models.field_annotations(models.EVIDENCE_TYPES[fact_type])
        return {name for name, annotation in annotations.items() if "list[" in str(annotation)}
    return set()


def fields_of(fact_type: str, threshold: Threshold | None = None) -> list[str]:
    if fact_type == THRESHOLD_FACT and threshold is not None:
        return [*threshold.group_by, *THRESHOLD_FIELDS]
    return models.fact_fields(fact_type)


def is_date_field(fact_type: str, field: str) -> bool:
    if fact_type == THRESHOLD_FACT:
        return field in ("first_date", "last_date")
    return field in models.date_fields(fact_type)


_ALWAYS_PRESENT_CONTEXT = {
    "contract": {"id", "ocid", "supplier_id", "brands", "buyer_ids", "signed_on", "start", "end", "clause_set",
                 "status"},
    "contract_item": {"id", "contract_id", "brand", "model", "disclosure_in_scope"},
    "facility": {"id", "name", "country"},
    "production_link": {"id", "brand", "facility_id", "tier"},
    THRESHOLD_FACT: {"count", "first_date", "last_date"},
}


def always_present(fact_type: str, field: str) -> bool:
    """Whether every fact of this type has the field (required, or with a non-empty default)."""
    if fact_type in models.EVIDENCE_TYPES:
        cls = models.EVIDENCE_TYPES[fact_type]
        if field in cls.model_computed_fields:  # computed: present unless its type allows None
            return type(None) not in typing.get_args(cls.model_computed_fields[field].return_type)
        info = cls.model_fields.get(field)
        return info is not None and (info.is_required() or info.default is not None)
    return field in _ALWAYS_PRESENT_CONTEXT.get(fact_type, set())


def did_you_mean(word: str, choices: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


@dataclass(frozen=True)
class SpecProblem:
    """A meaning problem in a rule, located by its path inside the file (as pydantic locs are)."""

    loc: tuple[str | int, ...]
    message: str


def check_rule(rule: Rule, loc: tuple[str | int, ...], params: dict[str, ParamValue] | None = None) -> list[SpecProblem]:
    """Every meaning problem of `rule`: unknown facts, fields, aliases and parameters, type mismatches."""
    problems: list[SpecProblem] = []

    def bad(where: tuple[str | int, ...], message: str) -> None:
        problems.append(SpecProblem(loc + where, message))

    known = models.fact_types()
    when = rule.when
    if not when.match and when.threshold is None:
        bad(("when",), "needs at least one 'match' pattern or a 'threshold'")
    scope: dict[str, str | None] = {}  # alias -> fact type (None if unknown), grows as patterns are read

    def check_fact(fact: str, where: tuple[str | int, ...]) -> bool:
        if fact not in known:
            bad(where + ("fact",), f'unknown fact type "{fact}"{did_you_mean(fact, known)}')
            return False
        return True

    def check_field(fact: str, field: str, where: tuple[str | int, ...], threshold: Threshold | None = None) -> bool:
        fields = fields_of(fact, threshold)
        if field not in fields:
            bad(where, f'"{fact}" has no field "{field}"{did_you_mean(field, fields)}')
            return False
        return True

    def operand_kind(operand: Operand, where: tuple[str | int, ...]) -> str | None:
        """The kind of value an operand gives (text, number, bool, date, list), or None if unknown."""
        base = operand.base
        for _, term in operand.offsets:
            if isinstance(term, Name):
                if term.text not in rule.params:
                    bad(where, f'unknown parameter "{term.text}"{did_you_mean(term.text, rule.params)}')
                elif not isinstance(rule.params[term.text], int) or isinstance(rule.params[term.text], bool):
                    bad(where, f'parameter "{term.text}" is added to a value, so it must be a whole number')
        if not isinstance(base, Name):
            return _kind_of(base)
        kind, alias = resolve(base)
        if kind == "as_of":
            return "date"
        if kind == "param":
            if base.text not in rule.params:
                bad(where, f'unknown name "{base.text}": not a parameter of this rule, "as_of" or alias.field'
                    f"{did_you_mean(base.text, [*rule.params, 'as_of'])}")
                return None
            return _kind_of(rule.params[base.text])
        if alias not in scope:
            bad(where, f'unknown alias "{alias}" in "{base.text}"; a test can refer to its own pattern and earlier '
                f"ones: {', '.join(sorted(scope))}")
            return None
        fact = scope[alias]
        if fact is None or not check_field(fact, base.field or "", where, when.threshold):
            return None
        return field_kind(fact, base.field or "")

    def check_conditions(fact: str, conditions: list[Any], where: tuple[str | int, ...], threshold=None) -> None:
        for i, c in enumerate(conditions):
            if isinstance(c, AllOf):
                check_conditions(fact, c.all, where + (i, "all"), threshold)
            elif isinstance(c, AnyOf):
                check_conditions(fact, c.any, where + (i, "any"), threshold)
            elif isinstance(c, NotOf):
                check_conditions(fact, [c.not_], where + (i, "not"), threshold)
            else:
                check_test(fact, c, where + (i,), threshold)

    def check_test(fact: str, test: Test, where: tuple[str | int, ...], threshold=None) -> None:
        if not check_field(fact, test.field, where, threshold):
            return
        if test.op in ("is missing", "is present"):
            return
        if test.op == "contains":
            if test.field not in list_fields(fact):
                bad(where, f'"contains" needs a list field; "{test.field}" of "{fact}" is not a list')
            assert test.operand is not None
            if not isinstance(test.operand.base, str):
                # durable_rules cannot join inside an array test ($iany with a reference fails to compile).
                bad(where, f'"contains" takes a quoted string, e.g. {test.field} contains "wages"')
            return
        if test.field in list_fields(fact):
            bad(where, f'"{test.field}" is a list: use "{test.field} contains VALUE"')
            return
        if test.op == "mentions":
            if field_kind(fact, test.field) != "text":
                bad(where, f'"mentions" needs a text field; "{test.field}" of "{fact}" is not text')
            return
        kind = field_kind(fact, test.field)
        if test.op == "in":
            kinds = {_kind_of(v) for v in test.values}
            if kind is not None and kinds != {kind}:
                shown = " and ".join(sorted(_KIND_WORDS[k] for k in kinds))
                bad(where, f'"{test.field}" is {_KIND_WORDS[kind]}, but the list holds {shown}')
            return
        assert test.operand is not None
        other = operand_kind(test.operand, where)
        if other == "list":
            bad(where, "a list cannot be compared; test one of its values with contains")
        elif kind is not None and other is not None and other != kind:
            # The engine compares a string with a number as strings ("10" < "3"); the language refuses it.
            literal = test.operand.base
            shown = repr(literal) if not isinstance(literal, Name) and not test.operand.offsets else \
                "the value it is compared with"
            bad(where, f'"{test.field}" is {_KIND_WORDS[kind]}, but {shown} is {_KIND_WORDS[other]}')
        elif test.op in ("<", "<=", ">", ">=") and kind in ("text", "bool"):
            # The engine orders text by its JSON form and past the shorter string's end ("a" > "a b").
            bad(where, f'"{test.field}" is {_KIND_WORDS[kind]}: it can be compared with ==, != or in, not {test.op}')

    def check_param_or_int(value: int | str, where: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            if value not in rule.params:
                bad(where, f'unknown parameter "{value}"{did_you_mean(value, rule.params)}')
            elif not isinstance(rule.params[value], int) or isinstance(rule.params[value], bool):
                bad(where, f'parameter "{value}" must be a whole number')
            else:
                for source, values in (("default", rule.params), ("override", params or {})):
                    if value in values and isinstance(values[value], int) and values[value] < 1:
                        bad(where, f'parameter "{value}" must be at least 1 (its {source} is {values[value]})')

    for index, name in enumerate(rule.proposed_defaults):
        if name not in rule.params:
            bad(("proposed_defaults", index), f'"{name}" is not a parameter of this rule{did_you_mean(name, rule.params)}')
    for name in rule.params:
        if name in RESERVED_NAMES:
            bad(("params", name), f'"{name}" is a reserved name; call the parameter something else')

    def check_key(fact: str, field: str, where: tuple[str | int, ...]) -> None:
        if check_field(fact, field, where) and field in list_fields(fact):
            bad(where, f'"{field}" is a list, so it cannot group or identify records')

    if when.threshold is not None:
        t = when.threshold
        base = ("when", "threshold")
        if check_fact(t.fact, base):
            if "date" not in fields_of(t.fact):
                bad(base + ("fact",), f'"{t.fact}" records have no date, so they cannot be counted in a window')
            for i, g in enumerate(t.group_by):
                if g in ("id", "type"):
                    bad(base + ("group_by", i), f'cannot group by "{g}"')
                else:
                    check_key(t.fact, g, base + ("group_by", i))
            if t.distinct:
                check_key(t.fact, t.distinct, base + ("distinct",))
            inner_scope = dict(scope)
            scope[t.as_] = t.fact  # a threshold's tests may name its own alias (own fields), nothing else
            for test in walk_tests(t.where):
                for name in _names(test):
                    if name.alias not in (None, t.as_):
                        bad(base + ("where",), f'a threshold\'s tests can only use its own fields, parameters and '
                            f'as_of; "{name.text}" refers to another pattern')
            check_conditions(t.fact, t.where, base + ("where",))
            scope.clear()
            scope.update(inner_scope)
            scope[t.as_] = THRESHOLD_FACT
        check_param_or_int(t.window_days, base + ("window_days",))
        check_param_or_int(t.at_least, base + ("at_least",))

    for i, pattern in enumerate(when.match):
        where = ("when", "match", i)
        if pattern.as_ in scope or pattern.as_ in rule.params or pattern.as_ == "as_of":
            bad(where + ("as",), f'alias "{pattern.as_}" is already used in this rule')
        if not check_fact(pattern.fact, where):
            scope[pattern.as_] = None  # known alias, unknown fact: its fields cannot be checked
            continue
        for j, key in enumerate(pattern.latest_per or []):
            check_key(pattern.fact, key, where + ("latest_per", j))
        scope[pattern.as_] = pattern.fact  # own alias: compare two fields of the same fact
        check_conditions(pattern.fact, pattern.where, where + ("where",))

    for i, absent in enumerate(when.absent):
        where = ("when", "absent", i)
        if check_fact(absent.fact, where):
            check_conditions(absent.fact, absent.where, where + ("where",))

    for i, modifier in enumerate(rule.then.modifiers):
        where = ("then", "modifiers", i)
        fact = scope.get(modifier.alias)
        if modifier.alias not in scope:
            bad(where + ("alias",), f'unknown alias "{modifier.alias}"{did_you_mean(modifier.alias, set(scope))}')
        elif fact == THRESHOLD_FACT:
            bad(where + ("alias",), f'"{modifier.alias}" is a threshold window; a modifier tests a matched record')
        elif fact is not None:
            check_conditions(fact, modifier.where, where + ("where",), when.threshold)

    problems += _check_message(rule, loc)
    for name, value in (params or {}).items():
        if name not in rule.params:
            problems.append(SpecProblem(loc, f'rule {rule.id} has no parameter "{name}"{did_you_mean(name, rule.params)}'))
        elif type(value) is not type(rule.params[name]) and not (
            isinstance(value, int) and isinstance(rule.params[name], float) and not isinstance(value, bool)
        ):
            problems.append(SpecProblem(loc, f'parameter "{name}" of rule {rule.id} must be '
                                        f"{type(rule.params[name]).__name__}, got {value!r}"))
    return problems


_KIND_WORDS = {"text": "text", "number": "a number", "bool": "true/false", "date": "a date", "list": "a list"}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dt.date):
        return "date"
    return "text"


def field_kind(fact_type: str, field: str) -> str | None:
    """"text", "number", "bool", "date" or "list" for a fact field; None where the type is open."""
    if field in list_fields(fact_type):
        return "list"
    if is_date_field(fact_type, field):
        return "date"
    if fact_type == THRESHOLD_FACT:
        return "number" if field == "count" else None
    if fact_type in models.EVIDENCE_TYPES:
        annotation = models.field_annotations(models.EVIDENCE_TYPES[fact_type])[field]
        types = set(typing.get_args(annotation)) or {annotation}
    else:
        types = {{"quantity": int, "disclosure_in_scope": bool, "workers_min": int, "workers_max": int}.get(field, str)}
    if bool in types:
        return "bool"
    if types & {int, float}:
        return "number"
    return "text"


def mentions(text: str, words: tuple[Scalar, ...]) -> bool:
    """Whether `text` contains any of `words` as whole words or phrases, ignoring case (any script)."""
    folded = " ".join(text.casefold().split())
    return any(re.search(rf"(?<!\w){re.escape(' '.join(str(w).casefold().split()))}(?!\w)", folded) for w in words)


def _names(test: Test) -> list[Name]:
    if test.operand is None:
        return []
    names = [test.operand.base] if isinstance(test.operand.base, Name) else []
    names += [t for _, t in test.operand.offsets if isinstance(t, Name)]
    return names


# ---------------------------------------------------------------------------------------------------------------------
# Messages


def _add_days(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=int(days))


def _days_between(start: dt.date, end: dt.date) -> int:
    return (end - start).days


def _number(value: Any) -> str:
    """62000000.0 -> "62,000,000"; 0.5 -> "0.5": amounts as people write them."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, (int, float)) else str(value)


def message_environment() -> jinja2.sandbox.SandboxedEnvironment:
    """The jinja2 environment for finding messages: sandboxed, strict about undefined names."""
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.globals.update(add_days=_add_days, days_between=_days_between)
    env.filters["number"] = _number
    return env


def _check_message(rule: Rule, loc: tuple[str | int, ...]) -> list[SpecProblem]:
    env = message_environment()
    where = loc + ("then", "message")
    try:
        parsed = env.parse(rule.then.message)
    except jinja2.TemplateSyntaxError as e:
        return [SpecProblem(where, f"the message template does not parse: {e.message}")]
    known = {*rule.aliases, *rule.params, "as_of", "contract_id", *env.globals}
    unknown = sorted(jinja2.meta.find_undeclared_variables(parsed) - known)
    return [
        SpecProblem(where, f'the message uses "{name}", which is not an alias, a parameter or as_of'
                    f"{did_you_mean(name, known)}")
        for name in unknown
    ]


def epoch_day(day: dt.date) -> int:
    """Dates are integer days since 1970-01-01 inside the engine (it has no date type)."""
    return (day - EPOCH).days


def from_epoch_day(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=days)
