"""The meaning of a rule, checked once for every rule: names, fact types, fields and the kinds of their values.

``check_rule`` finds every meaning problem of a rule that is valid YAML for its model (``spec``): unknown fact
types, fields, aliases and parameters, values of the wrong kind, messages naming what the rule does not have.
The helpers that say which fields a fact type has, which are lists or dates, which every fact has, and what kind
of value each holds, are shared with the compiler and the evaluators.
"""

from __future__ import annotations

import datetime as dt
import math
import typing
from typing import Any

from compliance.domain import models
from compliance.rules.grammar import (
    ELEMENT,
    ENGINE_INT,
    ONE_OF,
    OPERATORS,
    ORDERING,
    PRESENCE,
    WORDS,
    Name,
    Operand,
    Test,
    resolve,
)
from compliance.rules.spec import (
    THRESHOLD_FACT,
    THRESHOLD_FIELDS,
    AllOf,
    AnyOf,
    NotOf,
    ParamValue,
    Rule,
    SpecProblem,
    Threshold,
    did_you_mean,
    message_problems,
    walk_tests,
)

#: Names the engine uses for its own properties: not allowed as parameter names.
RESERVED_NAMES = frozenset({"type", "rule", "id", "sid", "as_of", "record_id"})


def list_fields(fact_type: str) -> set[str]:
    if fact_type == "contract":
        return {"brands", "buyer_ids"}
    if fact_type == models.FINDING_FACT:
        return {"evidence_ids"}
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
    models.FINDING_FACT: {"id", "rule_id", "rule_family", "base", "severity", "severity_base", "verdict",
                          "evidence_ids"},
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


def number_problem(value: object) -> str | None:
    """Why a number in a rule cannot be compared exactly by the engine, or None: integers must fit its 64 bits,
    and infinities and NaN have no place in a contract condition."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not -ENGINE_INT < value < ENGINE_INT:
        return f"{value} is too large: the engine compares whole numbers up to {ENGINE_INT - 1:,} in size"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a number a contract condition can use; write a finite number"
    return None


def check_rule(rule: Rule, loc: tuple[str | int, ...], params: dict[str, ParamValue] | None = None) -> list[SpecProblem]:
    """Every meaning problem of `rule`: unknown facts, fields, aliases and parameters, type mismatches."""
    problems: list[SpecProblem] = []

    def bad(where: tuple[str | int, ...], message: str) -> None:
        problems.append(SpecProblem(loc + where, message))

    for name, value in (rule.params if params is None else params).items():
        if (reason := number_problem(value)) is not None:
            bad(("params", name), reason)
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
        op_kind = OPERATORS[test.op].kind
        if op_kind == PRESENCE:
            return
        if op_kind == ELEMENT:
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
        if op_kind == WORDS:
            if field_kind(fact, test.field) != "text":
                bad(where, f'"mentions" needs a text field; "{test.field}" of "{fact}" is not text')
            return
        kind = field_kind(fact, test.field)
        if op_kind == ONE_OF:
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
        elif op_kind == ORDERING and kind in ("text", "bool"):
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
        if modifier.exists is not None:
            if modifier.exists.fact != models.FINDING_FACT:
                # Evidence is reduced to what rules' patterns may read before evaluation; a modifier searching
                # evidence could miss records so dropped. Findings are never reduced.
                bad(where + ("exists", "fact"), 'a modifier\'s "exists" searches findings of other rules: write '
                    f'fact: finding (found "{modifier.exists.fact}"); test evidence in the rule\'s own patterns')
            else:
                check_conditions(modifier.exists.fact, modifier.exists.where, where + ("exists", "where"))
        if modifier.alias is None:
            continue
        fact = scope.get(modifier.alias)
        if modifier.alias not in scope:
            bad(where + ("alias",), f'unknown alias "{modifier.alias}"{did_you_mean(modifier.alias, set(scope))}')
        elif fact == THRESHOLD_FACT:
            bad(where + ("alias",), f'"{modifier.alias}" is a threshold window; a modifier tests a matched record')
        elif fact is not None:
            check_conditions(fact, modifier.where, where + ("where",), when.threshold)

    indicator = rule.ilo_indicator
    if isinstance(indicator, str) and indicator not in models.ILO_INDICATORS:
        bad(("ilo_indicator",), f'"{indicator}" is not an ILO indicator of forced labour'
            f"{did_you_mean(indicator, set(models.ILO_INDICATORS))} (indicators: {', '.join(models.ILO_INDICATORS)})")
    elif indicator is not None and not isinstance(indicator, str):
        alias, field = indicator.from_.split(".")
        if alias not in scope or scope[alias] == THRESHOLD_FACT:
            bad(("ilo_indicator", "from"), f'"{alias}" is not the alias of a matched record'
                f"{did_you_mean(alias, set(scope))}")
        elif scope[alias] is not None:
            check_field(scope[alias] or "", field, ("ilo_indicator", "from"))
        for value, mapped in (indicator.map or {}).items():
            if mapped not in models.ILO_INDICATORS:
                bad(("ilo_indicator", "map", value), f'"{mapped}" is not an ILO indicator of forced labour'
                    f"{did_you_mean(mapped, set(models.ILO_INDICATORS))}")
    problems += message_problems(rule, loc)
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
        types = {{"quantity": int, "disclosure_in_scope": bool, "workers_min": int, "workers_max": int,
                  "base": bool}.get(field, str)}
    if bool in types:
        return "bool"
    if types & {int, float}:
        return "number"
    return "text"


def _names(test: Test) -> list[Name]:
    if test.operand is None:
        return []
    names = [test.operand.base] if isinstance(test.operand.base, Name) else []
    names += [t for _, t in test.operand.offsets if isinstance(t, Name)]
    return names
