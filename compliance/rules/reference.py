"""A plain-Python evaluator of the rule language: the oracle the engine is checked against.

It reads the rule spec directly and shares no code with ``compiler`` or ``engine``: conditions are
evaluated as written (three-valued logic, no normal forms), joins are nested loops narrowed only by
a pattern's ``==`` tests, "latest" and windows are recomputed naively: simple enough to trust. Its output
has the same shape as the engine's (``engine.Match``), so the two can be compared exactly. What each test
operator means is taken from the language's operator table (``grammar.OPERATORS``), shared on purpose: the
table defines the language, and the compiler maps the same operators to engine tests.

Semantics (the README's "Rule language" states them for rule authors):

* a test on a missing field, or with a missing operand, is *unknown*; ``not unknown`` is unknown, and a
  rule fires only when its conditions are *true* (as in SQL);
* each pattern binds a different fact: no fact fills two patterns of one rule, and an ``absent``
  pattern never matches a fact already bound by the rule;
* a threshold counts, per group, the facts (or distinct values) inside the densest window of
  ``window_days`` calendar days (a window starting on day d ends on day d + window_days - 1), taking
  the earliest window on a tie.
"""

from __future__ import annotations

from typing import Any

from compliance.domain.facts import ContractFacts, Match, epoch_day
from compliance.rules import spec
from compliance.rules.grammar import ONE_OF, OPERATORS, PRESENCE, WORDS, Name, Operand, Test
from compliance.rules.spec import AllOf, AnyOf, NotOf, Rule

UNKNOWN = None  # the third truth value

Env = dict[str, dict[str, Any]]  # alias -> fact


def _lookup(fact: dict[str, Any], field: str) -> Any:
    return fact.get(field)


def operand_value(operand: Operand, own: dict[str, Any], own_alias: str, env: Env, params: dict[str, Any],
             as_of: int) -> Any:
    def value_of(term: Any) -> Any:
        if isinstance(term, Name):
            if term.alias is not None:
                fact = own if term.alias == own_alias else env.get(term.alias)
                return None if fact is None else _lookup(fact, term.field or "")
            if term.text == "as_of":
                return as_of
            return params.get(term.text)
        if hasattr(term, "toordinal"):
            return epoch_day(term)
        return term

    total = value_of(operand.base)
    for sign, term in operand.offsets:
        right = value_of(term)
        if total is None or right is None:
            return None
        total = total + sign * right
    return total


def _test(test: Test, fact: dict[str, Any], alias: str, env: Env, params: dict[str, Any], as_of: int) -> bool | None:
    value = _lookup(fact, test.field)
    operator = OPERATORS[test.op]
    if operator.kind == PRESENCE:
        return operator.holds(value, None)
    if value is None:
        return UNKNOWN
    if operator.kind in (ONE_OF, WORDS):  # a list of literal values
        return operator.holds(value, tuple(epoch_day(v) if hasattr(v, "toordinal") else v for v in test.values))
    other = operand_value(test.operand, fact, alias, env, params, as_of)
    if other is None:
        return UNKNOWN
    return operator.holds(value, other)


def holds(conditions: Any, fact: dict[str, Any], alias: str, env: Env, params: dict[str, Any], as_of: int) -> bool | None:
    """Kleene three-valued evaluation: True, False or None (unknown)."""
    if isinstance(conditions, Test):
        return _test(conditions, fact, alias, env, params, as_of)
    if isinstance(conditions, NotOf):
        inner = holds(conditions.not_, fact, alias, env, params, as_of)
        return None if inner is None else not inner
    if isinstance(conditions, (list, AllOf)):  # a list means all of it (an empty list holds)
        results = [holds(c, fact, alias, env, params, as_of)
                   for c in (conditions if isinstance(conditions, list) else conditions.all)]
        if any(r is False for r in results):
            return False
        return True if all(r is True for r in results) else None
    assert isinstance(conditions, AnyOf)
    results = [holds(c, fact, alias, env, params, as_of) for c in conditions.any]
    if any(r is True for r in results):
        return True
    return False if all(r is False for r in results) else None


def latest_only(facts: list[dict[str, Any]], per: list[str]) -> list[dict[str, Any]]:
    """The newest fact (by date, then id) for each value of the `per` fields."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for fact in facts:
        groups.setdefault(tuple(fact.get(k) for k in per), []).append(fact)
    return [max(group, key=lambda f: (f.get("date", 0), f["id"])) for group in groups.values()]


def windows(rule: Rule, facts: list[dict[str, Any]], params: dict[str, Any], as_of: int) -> list[dict[str, Any]]:
    t = rule.when.threshold
    assert t is not None
    width = params[t.window_days] if isinstance(t.window_days, str) else t.window_days
    members = [f for f in facts if f["type"] == t.fact and holds(t.where, f, t.as_, {}, params, as_of) is True]
    if t.distinct:
        members = [f for f in members if f.get(t.distinct) is not None]
    out = []
    groups = sorted({tuple(f.get(g) for g in t.group_by) for f in members}, key=repr)
    for group in groups:
        in_group = [f for f in members if tuple(f.get(g) for g in t.group_by) == group]
        best_count, best_inside, best_start = -1, [], None
        for start in sorted({f["date"] for f in in_group}):
            inside = [f for f in in_group if start <= f["date"] <= start + width - 1]
            count = len({f[t.distinct] for f in inside}) if t.distinct else len(inside)
            if count > best_count:
                best_count, best_inside, best_start = count, inside, start
        window = {g: v for g, v in zip(t.group_by, group) if v is not None}
        window.update({
            "type": spec.THRESHOLD_FACT, "count": best_count, "first_date": best_start,
            "last_date": max(f["date"] for f in best_inside), "ids": sorted(f["id"] for f in best_inside),
            "group": group,
        })
        out.append(window)
    return out


def by_type(facts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The facts of each type, in their order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for fact in facts:
        out.setdefault(fact["type"], []).append(fact)
    return out


def evaluate_rule(rule: Rule, bundle: ContractFacts, params: dict[str, Any],
                  typed: dict[str, list[dict[str, Any]]] | None = None) -> list[Match]:
    """The matches of one rule; `typed` is ``by_type(bundle.facts)`` when the caller has it already."""
    as_of = bundle.as_of_day
    facts = bundle.facts
    typed = by_type(facts) if typed is None else typed
    # (alias, candidate facts, conditions) in scope order
    steps: list[tuple[str, list[dict[str, Any]], Any]] = []
    t = rule.when.threshold
    if t is not None:
        at_least = params[t.at_least] if isinstance(t.at_least, str) else t.at_least
        dense = [w for w in windows(rule, typed.get(t.fact, []), params, as_of) if w["count"] >= at_least]
        steps.append((t.as_, dense, []))
    for pattern in rule.when.match:
        candidates = typed.get(pattern.fact, [])
        if pattern.latest_per:
            candidates = latest_only(candidates, pattern.latest_per)
        steps.append((pattern.as_, candidates, pattern.where))

    matches: list[Match] = []
    indexes: list[dict[tuple[str, ...], dict[tuple[Any, ...], list[dict[str, Any]]]]] = [{} for _ in steps]
    absent_indexes: list[dict[tuple[str, ...], dict[tuple[Any, ...], list[dict[str, Any]]]]] = [
        {} for _ in rule.when.absent]

    def extend(i: int, env: Env) -> None:
        if i == len(steps):
            if _nothing_absent(rule, env, typed, params, as_of, absent_indexes):
                bindings = []
                for alias, fact in env.items():
                    if fact["type"] == spec.THRESHOLD_FACT:
                        bindings.append((alias, ("window", fact["group"], tuple(fact["ids"]))))
                    else:
                        bindings.append((alias, fact["id"]))
                matches.append(Match(rule.id, tuple(sorted(bindings))))
            return
        alias, candidates, where = steps[i]
        equal = equality_lookup(where, alias, env)
        if equal is not None:
            # Only facts whose fields equal the bound values can satisfy the whole `where` list.
            fields, values = equal
            if None in values:
                candidates = []
            else:
                if fields not in indexes[i]:
                    indexes[i][fields] = index_by(candidates, fields)
                candidates = indexes[i][fields].get(values, [])
        for fact in candidates:
            if any(fact is bound for bound in env.values()):
                continue  # each pattern binds a different fact
            if holds(where, fact, alias, env, params, as_of) is True:
                extend(i + 1, {**env, alias: fact})

    extend(0, {})
    return matches


def equality_lookup(where: list[Any], alias: str, env: Env) -> tuple[tuple[str, ...], tuple[Any, ...]] | None:
    """The `field == other.field` tests of a `where` list (other: a bound pattern): their fields and bound values.

    Every test in the list must be true for the list to be true, so candidates can be looked up by these
    values instead of scanned: the nested-loop join stays simple and stops being quadratic on large contracts.
    """
    fields, values = [], []
    for test in where:
        if (isinstance(test, Test) and test.op == "==" and test.operand is not None and not test.operand.offsets
                and isinstance(test.operand.base, Name) and test.operand.base.alias in env
                and test.operand.base.alias != alias):
            fields.append(test.field)
            values.append(env[test.operand.base.alias].get(test.operand.base.field or ""))
    return (tuple(fields), tuple(values)) if fields else None


def index_by(facts: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    index: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for fact in facts:
        key = tuple(fact.get(f) for f in fields)
        if None not in key:
            index.setdefault(key, []).append(fact)
    return index


def _nothing_absent(rule: Rule, env: Env, typed: dict[str, list[dict[str, Any]]], params: dict[str, Any],
                    as_of: int, indexes: list[dict[tuple[str, ...], dict[tuple[Any, ...], list[dict[str, Any]]]]]
                    ) -> bool:
    for n, absent in enumerate(rule.when.absent):
        candidates = typed.get(absent.fact, [])
        equal = equality_lookup(absent.where, "", env)
        if equal is not None:  # as for matches: only facts with the bound values can satisfy the whole list
            fields, values = equal
            if None in values:
                continue
            if fields not in indexes[n]:
                indexes[n][fields] = index_by(candidates, fields)
            candidates = indexes[n][fields].get(values, [])
        for fact in candidates:
            if any(fact is bound for bound in env.values()):
                continue
            if holds(absent.where, fact, "", env, params, as_of) is True:
                return False
    return True


def evaluate(rules: list[Rule], bundle: ContractFacts, params: dict[str, dict[str, Any]]) -> list[Match]:
    """Every match of every applicable rule (those with an entry in `params`) on one contract."""
    out: list[Match] = []
    typed = by_type(bundle.facts)
    for rule in rules:
        if rule.id in params:
            out += evaluate_rule(rule, bundle, params[rule.id], typed)
    return sorted(set(out), key=repr)
