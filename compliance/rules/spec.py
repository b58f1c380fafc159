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

This module holds the pydantic models of rules and clause sets (their syntax) and the jinja2 environment of
finding messages, which it checks; ``grammar`` reads the one-line tests and holds the operator table; ``meaning`` checks a rule's
meaning (``check_rule``); ``compiler`` turns the result into durable_rules rulesets and ``reference`` evaluates it
directly in Python.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import jinja2
import jinja2.filters
import jinja2.meta
import jinja2.nodes
import jinja2.sandbox
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from compliance.domain import models
from compliance.domain.models import FPRW, Severity
from compliance.domain.vocabulary import did_you_mean  # noqa: F401 - the rule language's did-you-mean, re-exported
from compliance.rules.grammar import Name, Test, TestField

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


class Exists(_Spec):
    """Some fact of a type satisfies the tests (which may read the matched facts by alias)."""

    fact: str = Field(description="finding: a finding of another rule (the only fact type a modifier searches)")
    where: list[Condition] = Field(min_length=1)


class Modifier(_Spec):
    """Raise the severity one level (Priority stays Priority) when the tests hold on a matched fact (``alias`` and
    ``where``) and, when given, some fact exists as ``exists`` says (a finding of an earlier rule at the same
    facility, say)."""

    reason: str = Field(description="Why, in words the finding will show, e.g. 'large-scale harm'")
    alias: Alias | None = Field(default=None, description="The alias of the matched fact the tests read")
    where: list[Condition] = Field(default_factory=list, description="Tests on the matched fact")
    exists: Exists | None = Field(default=None, description="A fact that must exist, e.g. a finding of another rule")

    @model_validator(mode="after")
    def _tests_something(self) -> Modifier:
        if self.where and self.alias is None:
            raise ValueError("a modifier's 'where' tests a matched fact: name it with 'alias'")
        if not self.where and self.exists is None:
            raise ValueError("a modifier needs 'alias' with 'where' (tests on a matched fact), 'exists' (a fact that "
                             "must exist), or both")
        return self


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


class IndicatorFrom(_Spec):
    """The ILO indicator a finding evidences, read from a matched record: its value, or its value mapped."""

    from_: str = Field(alias="from", pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
                       description="alias.field of a matched record")
    map: dict[str, str] | None = Field(default=None, description="The record's values -> ILO indicators; a value "
                                       "not listed evidences none")


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
    differences: list[str] = Field(
        default_factory=list, description="Where the rule deliberately differs from the catalogue entry it "
        "implements, and why (compliance rules coverage --catalogue lists them)")
    ilo_indicator: str | IndicatorFrom | None = Field(
        default=None, description="The ILO forced-labour indicator its findings evidence (one of "
        + ", ".join(models.ILO_INDICATORS) + "), or where a matched record says which; FL-06 counts them")
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


#: The fact a threshold produces: its group-by fields plus these.
THRESHOLD_FACT = "__window"
THRESHOLD_FIELDS = ("count", "first_date", "last_date")


def walk_tests(conditions: list[Any]) -> list[Test]:
    """Every test of `conditions`, however nested in all, any and not."""
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


@dataclass(frozen=True)
class SpecProblem:
    """A meaning problem in a rule, located by its path inside the file (as pydantic locs are)."""

    loc: tuple[str | int, ...]
    message: str


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


#: A message is one sentence: text, values, conditions, arithmetic, these filters, and loops over a list that are not
#: nested (``range`` is not offered). Macros, includes and blocks are refused at validation, so a message can
#: neither hang a run nor reach another template.
MESSAGE_FILTERS = frozenset({
    "abs", "capitalize", "default", "first", "float", "format", "int", "join", "last", "length", "list", "lower",
    "map", "max", "min", "number", "reject", "rejectattr", "replace", "round", "select", "selectattr", "sort",
    "string", "sum", "title", "trim", "truncate", "unique", "upper",
})
_REFUSED_STATEMENTS = {
    jinja2.nodes.Macro: "a macro", jinja2.nodes.CallBlock: "a call block", jinja2.nodes.Include: "an include",
    jinja2.nodes.Import: "an import", jinja2.nodes.FromImport: "an import", jinja2.nodes.Extends: "extends",
    jinja2.nodes.Block: "a block", jinja2.nodes.FilterBlock: "a filter block",
}
#: The longest text a message may build in one step (a repeated string, a padded format): a sentence, not a book.
MESSAGE_TEXT_LIMIT = 10_000
_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\d+)?(?:\.(\d+))?")


def _format(text: str, *args: Any, **kwargs: Any) -> str:
    """jinja2's `format`, refusing widths and precisions that would pad a message past its budget."""
    for width, precision in _FORMAT_WIDTH.findall(str(text)):
        if int(width or 0) > 100 or int(precision or 0) > 100:
            raise jinja2.sandbox.SecurityError("a message may not format a value wider than 100 characters")
    return jinja2.filters.do_format(text, *args, **kwargs)


def _width_limited(name: str) -> Any:
    """jinja2.s filter `name` (center, indent), refusing a width that would pad text past the budget."""
    original = jinja2.filters.FILTERS[name]

    def limited(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
        if isinstance(width, int) and width > 1_000:
            raise jinja2.sandbox.SecurityError(f"the filter {name} may not pad text wider than 1,000 characters")
        return original(value, width, *args, **kwargs)
    return limited


class BudgetedSandbox(jinja2.sandbox.SandboxedEnvironment):
    """A sandbox with a budget, for finding messages and (``documents.environment``) letters and reports: no step
    may build more than MESSAGE_TEXT_LIMIT characters (``'x' * 100000000`` is refused before it is built), no
    number is raised to a power above 64, and no value is formatted wider than 100 characters."""

    intercepted_binops = frozenset({"*", "**"})
    MAX_RANGE = 1_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters["format"] = _format
        for name in ("center", "indent"):
            self.filters[name] = _width_limited(name)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            sequence, count = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) \
                    and len(sequence) * count > MESSAGE_TEXT_LIMIT:
                raise jinja2.sandbox.SecurityError(f"a message may not build more than {MESSAGE_TEXT_LIMIT:,} "
                                                   "characters at once")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise jinja2.sandbox.SecurityError("a message may not raise a number to a power above 64")
        return super().call_binop(context, operator, left, right)


def message_environment() -> jinja2.sandbox.SandboxedEnvironment:
    """The jinja2 environment for finding messages: sandboxed, strict about undefined names, with a budget."""
    env = BudgetedSandbox(undefined=jinja2.StrictUndefined, autoescape=False)
    del env.globals["range"]  # with loops over lists only, a message cannot spin
    env.globals.update(add_days=_add_days, days_between=_days_between)
    env.filters["number"] = _number
    return env


def message_problems(rule: Rule, loc: tuple[str | int, ...]) -> list[SpecProblem]:
    """Problems of the rule's message template: it does not parse, or names what is not an alias, a parameter or
    as_of."""
    env = message_environment()
    where = loc + ("then", "message")
    try:
        parsed = env.parse(rule.then.message)
    except jinja2.TemplateSyntaxError as e:
        return [SpecProblem(where, f"the message template does not parse: {e.message}")]
    known = {*rule.aliases, *rule.params, "as_of", "contract_id", *env.globals}
    unknown = sorted(jinja2.meta.find_undeclared_variables(parsed) - known)
    problems = [
        SpecProblem(where, f'the message uses "{name}", which is not an alias, a parameter or as_of'
                    f"{did_you_mean(name, known)}")
        for name in unknown
    ]
    for node in parsed.find_all(jinja2.nodes.Node):
        refused = next((what for kind, what in _REFUSED_STATEMENTS.items() if isinstance(node, kind)), None)
        nested = isinstance(node, jinja2.nodes.For) and any(True for _ in node.find_all(jinja2.nodes.For))
        if isinstance(node, jinja2.nodes.For) and (node.recursive or nested):
            refused = "a recursive loop, or a loop inside a loop,"
        elif isinstance(node, jinja2.nodes.Call) and isinstance(node.node, jinja2.nodes.Name) \
                and node.node.name == "range":
            refused = "range()"
        if refused:
            problems.append(SpecProblem(where, f"line {node.lineno} of the message: {refused} is not allowed in a "
                                        "message (one sentence: text, values, if/elif/else, arithmetic, filters)"))
        elif isinstance(node, jinja2.nodes.Getattr) and node.attr.startswith("_") or \
                isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const) \
                and str(node.arg.value).startswith("_"):
            name = node.attr if isinstance(node, jinja2.nodes.Getattr) else node.arg.value
            problems.append(SpecProblem(where, f'line {node.lineno} of the message: "{name}" is not allowed in a '
                                        "message (names starting with _ are internal)"))
        elif isinstance(node, jinja2.nodes.Filter) and node.name not in MESSAGE_FILTERS:
            problems.append(SpecProblem(where, f'line {node.lineno} of the message: the filter "{node.name}" is not '
                                        f"allowed in a message{did_you_mean(node.name, MESSAGE_FILTERS)}"))
    return problems


# ---------------------------------------------------------------------------------------------------------------------
# Estimated values


def _names_read(tests: list[Test], own_alias: str | None) -> set[tuple[str, str]]:
    """(alias, field) pairs that `tests` read: their own field (of `own_alias`) and the fields of other aliases."""
    out = set()
    for test in tests:
        if own_alias is not None:
            out.add((own_alias, test.field))
        if test.operand is not None:
            for name in [test.operand.base] + [term for _, term in test.operand.offsets]:
                if isinstance(name, Name) and name.alias is not None:
                    out.add((name.alias, name.field or ""))
    return out


#: id(rule) -> (the rule, kept so that its id is not reused, and the fields it reads).
_FIELDS_READ: dict[int, tuple[Rule, dict[str, frozenset[str]]]] = {}


def fields_read(rule: Rule) -> dict[str, frozenset[str]]:
    """The fields of each matched fact that `rule` reads: in its conditions, its modifiers and its message."""
    cached = _FIELDS_READ.get(id(rule))
    if cached is not None and cached[0] is rule:
        return cached[1]
    pairs = set()
    for pattern in rule.when.match:
        pairs |= _names_read(walk_tests(pattern.where), pattern.as_)
    for absent in rule.when.absent:
        pairs |= _names_read(walk_tests(absent.where), None)
    for modifier in rule.then.modifiers:
        pairs |= _names_read(walk_tests(modifier.where), modifier.alias)
        if modifier.exists is not None:
            pairs |= _names_read(walk_tests(modifier.exists.where), None)
    try:
        parsed = message_environment().parse(rule.then.message)
        pairs |= {(node.node.name, node.attr) for node in parsed.find_all(jinja2.nodes.Getattr)
                  if isinstance(node.node, jinja2.nodes.Name)}
    except jinja2.TemplateSyntaxError:
        pass  # refused by validation; the message says so
    aliases = set(rule.aliases)
    out = {alias: frozenset(f for a, f in pairs if a == alias) for alias in aliases}
    _FIELDS_READ[id(rule)] = (rule, out)
    return out


def estimate_note(rule: Rule, context: dict[str, Any]) -> str:
    """" (estimated: total workers - <basis>)" for each matched record whose estimated fields the rule reads (a
    computed field counts as estimated when a field it is computed from is), or "". Every finding message gets it
    (``evaluation.contract``), so that no rule has to say it."""
    notes = []
    for alias, read in fields_read(rule).items():
        record = context.get(alias)
        if not isinstance(record, dict) or not record.get("estimated"):
            continue
        cls = models.EVIDENCE_TYPES.get(record.get("type", ""))
        derived = getattr(cls, "computed_from", {})
        estimated = set(record["estimated"])
        fields = sorted(estimated & {source for name in read for source in (name, *derived.get(name, ()))})
        if fields:
            basis = record.get("estimate_basis")
            notes.append(f"(estimated: {', '.join(f.replace('_', ' ') for f in fields)}"
                         f"{' - ' + basis if basis else ''})")
    return " ".join(notes)
