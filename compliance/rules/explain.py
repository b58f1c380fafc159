"""Explain a rule's result on a contract: which conditions held, with the actual values, and what would change it.

For a finding: the records bound to each pattern (with dates and sources) and every test with the values
it compared. For a rule that did not fire: where it stopped (the first pattern no record satisfies, with
the nearest records and the tests they failed; or the record whose presence blocks an `absent`
condition; or the densest window's count against the threshold). The explanation evaluates the rule
as the reference evaluator does, so it explains exactly the semantics the engine is checked against.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from compliance.domain import models
from compliance.domain.facts import ContractFacts, from_epoch_day
from compliance.rules import reference, spec
from compliance.rules.describe import condition_text
from compliance.rules.grammar import ELEMENT, EQUALITY, OPERATORS, PRESENCE, WORDS, Name, Test
from compliance.rules.meaning import field_kind
from compliance.rules.spec import AllOf, AnyOf, NotOf, Rule

_TRUTH = {True: "true", False: "false", None: "unknown (a value is missing)"}


def _shown(value: Any, is_date: bool) -> str:
    if value is None:
        return "missing"
    if is_date and isinstance(value, int):
        return from_epoch_day(value).isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def _trace(condition: Any, fact: dict[str, Any], alias: str, env: reference.Env, params: dict[str, Any],
           as_of: int, depth: int = 0) -> list[str]:
    """One line per test, with the actual values and the outcome."""
    pad = "    " * depth
    outcome = _TRUTH[reference.holds(condition, fact, alias, env, params, as_of)]
    if isinstance(condition, Test):
        kind = field_kind(fact["type"], condition.field) if fact["type"] != spec.THRESHOLD_FACT else None
        left = _shown(fact.get(condition.field), kind == "date")
        right = ""
        if condition.operand is not None:
            value = reference.operand_value(condition.operand, fact, alias, env, params, as_of)
            right = f" [{_shown(value, kind == 'date')}]"
        return [f"{pad}{condition.source}: {alias or fact['type']}.{condition.field} is {left}{right} -> {outcome}"]
    if isinstance(condition, AllOf):
        inner = condition.all
        label = "all of"
    elif isinstance(condition, AnyOf):
        inner = condition.any
        label = "any of"
    else:
        assert isinstance(condition, NotOf)
        inner = [condition.not_]
        label = "not"
    lines = [f"{pad}{label} -> {outcome}"]
    for c in inner:
        lines += _trace(c, fact, alias, env, params, as_of, depth + 1)
    return lines


#: How "NAME ..." reads when a test of each operator holds, for comparisons with a value (a date: _DATE_WORDS) and
#: for the other operators; a test is flipped by reading its negation (``grammar.OPERATORS``).
_WORDS = {"==": "were", "!=": "were not", "<": "were less than", "<=": "were at most", ">": "were more than",
          ">=": "were at least"}
_DATE_WORDS = {"==": "were", "!=": "were not", "<": "were before", "<=": "were on or before", ">": "were after",
               ">=": "were on or after"}
_OTHER_WORDS = {"is missing": "were not recorded", "is present": "were recorded", "mentions": "mentioned one of",
                "not mentions": "mentioned none of", "contains": "included", "not contains": "did not include"}


def _flip(test: Test, fact: dict[str, Any], alias: str, env: reference.Env, params: dict[str, Any],
          as_of: int) -> str:
    """The change to one true test that would make it false, with the value it compares against."""
    name = f"{alias or fact['type']}.{test.field}"
    negation = OPERATORS[test.op].negation
    if negation is None:  # in
        return f"{name} were none of {', '.join(map(repr, test.values))}"
    negated = OPERATORS[negation]
    if negated.kind == PRESENCE:
        return f"{name} {_OTHER_WORDS[negation]}"
    if negated.kind == WORDS:
        return f"{name} {_OTHER_WORDS[negation]} {', '.join(map(repr, test.values))}"
    kind = field_kind(fact["type"], test.field) if fact["type"] != spec.THRESHOLD_FACT else None
    value = reference.operand_value(test.operand, fact, alias, env, params, as_of) if test.operand else None
    shown = _shown(value, kind == "date")
    if negated.kind == ELEMENT:
        return f"{name} {_OTHER_WORDS[negation]} {shown}"
    if isinstance(value, bool) and negated.kind == EQUALITY:
        return f"{name} were {str(value if negation == '==' else not value).lower()}"
    return f"{name} {(_DATE_WORDS if kind == 'date' else _WORDS)[negation]} {shown}"


def pass_conditions(condition: Any, fact: dict[str, Any], alias: str, env: reference.Env, params: dict[str, Any],
                    as_of: int) -> list[str]:
    """Alternative changes, any one of which would make a condition that holds no longer hold."""
    if reference.holds(condition, fact, alias, env, params, as_of) is not True:
        return []
    if isinstance(condition, Test):
        return [_flip(condition, fact, alias, env, params, as_of)]
    if isinstance(condition, AllOf):  # one false part is enough
        return [alt for c in condition.all for alt in pass_conditions(c, fact, alias, env, params, as_of)]
    if isinstance(condition, AnyOf):  # every part that holds must fail
        parts = [pass_conditions(c, fact, alias, env, params, as_of) for c in condition.any]
        parts = [p for p in parts if p]
        return [" and ".join(p[0] if len(p) == 1 else f"({' or '.join(p)})" for p in parts)]
    assert isinstance(condition, NotOf)
    return [f"this held: {condition_text(condition.not_)}"]


def _resolved(condition: Any, fact_type: str, env: reference.Env, params: dict[str, Any], as_of: int) -> str:
    """A condition of an `absent` pattern as text, with the value its right-hand side has here when that is not
    a constant (another record's field, a parameter, as_of)."""
    if not isinstance(condition, Test) or condition.operand is None \
            or (not isinstance(condition.operand.base, Name) and not condition.operand.offsets):
        return condition_text(condition)
    value = reference.operand_value(condition.operand, {}, "", env, params, as_of)
    return f"{condition_text(condition)} (= {_shown(value, field_kind(fact_type, condition.field) == 'date')})"


def _where_trace(where: list[Any], fact: dict[str, Any], alias: str, env: reference.Env, params: dict[str, Any],
                 as_of: int) -> list[str]:
    lines: list[str] = []
    for c in where:
        lines += _trace(c, fact, alias, env, params, as_of)
    return lines


def _record(bundle: ContractFacts, fact: dict[str, Any]) -> str:
    shown = bundle.display.get((fact["type"], fact.get("id")), {})
    if fact["type"] == models.FINDING_FACT:  # a finding of an earlier rule: its key is how officers look it up
        return (f"finding {fact['id']} ({shown.get('rule_id')}, {shown.get('severity')}, "
                f"{str(shown.get('verdict')).replace('_', ' ')}" + (f", at facility {shown['facility_id']}"
                                                                   if shown.get("facility_id") else "") + ")")
    date = shown.get("date")
    source = shown.get("source")
    return (f"{fact['type']} {fact.get('id')}" + (f" of {date}" if isinstance(date, dt.date) else "")
            + (f" (source: {source})" if source else ""))


def explain(rule: Rule, bundle: ContractFacts, params: dict[str, Any] | None) -> list[str]:
    """Lines explaining why `rule` fired on the contract (each match), or why it did not."""
    if params is None:
        return [f"{rule.id} does not apply to contract {bundle.contract.id} (applies to: "
                f"{rule.applies_to.model_dump(exclude_defaults=True) or 'active contracts'}; the contract is "
                f"{bundle.contract.status})."]
    as_of = bundle.as_of_day
    matches = reference.evaluate_rule(rule, bundle, params)
    lines: list[str] = []
    if matches:
        for n, match in enumerate(sorted(matches, key=repr), 1):
            lines.append(f"Finding {n} of {len(matches)}: {rule.id} fired on contract {bundle.contract.id} as of "
                         f"{bundle.as_of}.")
            env: reference.Env = {}
            for alias, value in match.bindings:
                if isinstance(value, tuple):
                    lines.append(f"  {alias}: a window of {len(value[2])} records ({', '.join(value[2])}) for "
                                 f"{', '.join(map(str, value[1]))}")
                    continue
                fact = bundle.by_key[(rule.alias_fact(alias), value)]
                env[alias] = fact
            for pattern in rule.when.match:
                fact = env[pattern.as_]
                lines.append(f"  {pattern.as_}: {_record(bundle, fact)}")
                lines += ["    " + line for line in _where_trace(pattern.where, fact, pattern.as_, env, params, as_of)]
            for absent in rule.when.absent:
                lines.append(f"  no {absent.fact} record satisfies: "
                             f"{'; '.join(condition_text(c) for c in absent.where) or '(any record)'}")
            lines.append("  It would pass if any one of these were so:")
            for pattern in rule.when.match:
                fact = env[pattern.as_]
                for change in pass_conditions(spec.AllOf(all=pattern.where), fact, pattern.as_, env, params, as_of) \
                        if pattern.where else []:
                    lines.append(f"    - {change}")
            for absent in rule.when.absent:
                lines.append(f"    - a {absent.fact} record existed where "
                             f"{'; '.join(_resolved(c, absent.fact, env, params, as_of) for c in absent.where) or '(any record)'}")
            for alias, value in match.bindings:
                if isinstance(value, tuple) and rule.when.threshold is not None:
                    t = rule.when.threshold
                    at_least = params[t.at_least] if isinstance(t.at_least, str) else t.at_least
                    what = f"distinct {t.distinct} values" if t.distinct else "records"
                    lines.append(f"    - fewer than {at_least} {what} fell within any {_window(t, params)}-day window")
        return lines
    lines.append(f"{rule.id} did not fire on contract {bundle.contract.id} as of {bundle.as_of}.")
    lines += _why_not(rule, bundle, params)
    return lines


def _window(threshold: spec.Threshold, params: dict[str, Any]) -> Any:
    return params[threshold.window_days] if isinstance(threshold.window_days, str) else threshold.window_days


def _why_not(rule: Rule, bundle: ContractFacts, params: dict[str, Any]) -> list[str]:
    as_of = bundle.as_of_day
    if rule.when.threshold is not None:
        t = rule.when.threshold
        at_least = params[t.at_least] if isinstance(t.at_least, str) else t.at_least
        windows = reference.windows(rule, bundle.facts, params, as_of)
        best = max((w["count"] for w in windows), default=0)
        return [f"  The densest window holds {best} (needed: at least {at_least}) {t.fact} records"
                + (f" with distinct {t.distinct}" if t.distinct else "") + "."]
    env: reference.Env = {}
    for pattern in rule.when.match:
        candidates = [f for f in bundle.facts if f["type"] == pattern.fact]
        if pattern.latest_per:
            candidates = reference.latest_only(candidates, pattern.latest_per)
        passing = [f for f in candidates if reference.holds(pattern.where, f, pattern.as_, env, params, as_of) is True
                   and not any(f is bound for bound in env.values())]
        if not passing:
            if not candidates:
                return [f"  There is no {pattern.fact} record (needed for {pattern.as_})."]
            out = [f"  No {pattern.fact} record satisfies the conditions for {pattern.as_}; the nearest:"]
            ranked = sorted(candidates, key=lambda f: -sum(
                reference.holds(c, f, pattern.as_, env, params, as_of) is True for c in pattern.where))
            for fact in ranked[:3]:
                out.append(f"    {_record(bundle, fact)}:")
                out += ["      " + line for line in _where_trace(pattern.where, fact, pattern.as_, env, params, as_of)]
            return out
        env[pattern.as_] = passing[0]
    for absent in rule.when.absent:
        for fact in bundle.facts:
            if fact["type"] == absent.fact and not any(fact is b for b in env.values()) \
                    and reference.holds(absent.where, fact, "", env, params, as_of) is True:
                return [f"  Every required record is there, but {_record(bundle, fact)} satisfies the 'absent' "
                        f"condition, so it passes:"] + [
                    "    " + line for line in _where_trace(absent.where, fact, "", env, params, as_of)]
    return ["  The conditions hold for some records taken one by one, but not together (for one set of records)."]
