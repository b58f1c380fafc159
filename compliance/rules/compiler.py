"""Compile rules into a durable_rules ruleset, as plain data, using only the engine's safe subset.

durable_rules 2.0.28 has silent defects (the project's engine notes list them); the compiler avoids
each one by construction:

* every pattern starts with a positive ``type`` test, so no rule can match the engine's own state
  fact (a bare ``$nex`` loops forever);
* there is no ``$or`` (it can drop the join tests next to it): conditions are expanded to disjunctive
  normal form and every disjunct becomes its own engine rule; correlated tests come first anyway;
* no regular expressions (``mentions`` tests become keyword flags computed in Python), no ``$div``, no
  negative priorities, no timers;
* every rule starts with the ``__evaluate`` trigger fact, which the feeder asserts last, so absence
  (``$not``) is decided on complete data rather than eagerly;
* parameters are facts (one ``__params`` fact per rule and contract), so one compiled ruleset serves
  every contract whatever its overrides, and a rule that does not apply to a contract gets no
  parameters fact and so cannot fire;
* what the engine cannot do well is prepared before it: "latest record per key" flags, and windowed
  counts, whose members the engine selects and whose windows ``windows()`` computes;
* every property name is checked for 32-bit hash collisions (the engine identifies names by hash).

The output is deterministic, so it can be compared with golden files.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from compliance.domain import models
from compliance.domain.facts import epoch_day
from compliance.errors import ComplianceError
from compliance.rules import spec
from compliance.rules.grammar import ONE_OF, OPERATORS, PRESENCE, WORDS, Name, Operand, Test, mentions, resolve
from compliance.rules.meaning import always_present, field_kind
from compliance.rules.spec import AllOf, NotOf, Rule

TRIGGER = "__evaluate"
PARAMS = "__params"
BEGIN = "__begin"
WINDOW = spec.THRESHOLD_FACT
#: Engine aliases of the trigger and parameters facts; user aliases get a "u_" prefix so they cannot clash.
EV, P = "_ev", "_p"
#: The original record id travels in this property; the engine's own "id" is re-keyed per session.
RECORD_ID = "record_id"
#: durable_rules links at most 256 joins to one pattern (BETA_LIST_LENGTH in its rules.h; error 108 beyond), and
#: every engine rule joins the shared trigger pattern: measured, a library of 257 engine rules loads and one of 260
#: does not. ``engine.refusal`` asks the engine itself for the other limits.
MAX_ENGINE_RULES = 256
#: The engine test of each operator of ``grammar.OPERATORS`` but ``in`` (``dnf`` expands it into ``==`` tests), given
#: the property it reads and the engine value it compares with. A ``mentions`` test reads the keyword flag the feeder
#: computed (True or False only where the text is present: a missing text stays "unknown" either way); lists in
#: facts are never empty (the models require an item), where ``not contains`` ($iall) would not match.
ENGINE_TESTS: dict[str, Callable[[str, Any], dict[str, Any]]] = {
    "==": lambda name, value: {name: value},
    "!=": lambda name, value: {"$neq": {name: value}},
    "<": lambda name, value: {"$lt": {name: value}},
    "<=": lambda name, value: {"$lte": {name: value}},
    ">": lambda name, value: {"$gt": {name: value}},
    ">=": lambda name, value: {"$gte": {name: value}},
    "mentions": lambda flag, _value: {flag: True},
    "not mentions": lambda flag, _value: {flag: False},
    "contains": lambda name, value: {"$iany": {name: {"$i": value}}},
    "not contains": lambda name, value: {"$iall": {name: {"$neq": {"$i": value}}}},
    "is missing": lambda name, _value: {"$nex": {name: 1}},
    "is present": lambda name, _value: {"$ex": {name: 1}},
}


class CompileError(ComplianceError):
    """The rules cannot be compiled within the engine's safe subset.

    `rule_id` and `loc` (a path inside that rule, e.g. ``("when",)``) name the part of a rule to change, when one
    rule is to blame; ``library.load_rules`` compiles every library it reads and reports this as an input problem
    with the rule's file and line.
    """

    def __init__(self, message: str, rule_id: str | None = None, loc: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.message, self.rule_id, self.loc = message, rule_id, loc


@dataclass(frozen=True)
class LatestFlag:
    """Mark the latest fact (by date, then id) of `fact` per value of `per` with property `flag`."""

    fact: str
    per: tuple[str, ...]
    flag: str


@dataclass(frozen=True)
class KeywordFlag:
    """Set property `flag` on facts of `fact` to whether `field` mentions any of `words` (the engine's regex is broken)."""

    fact: str
    field: str
    words: tuple[str, ...]
    flag: str


@dataclass(frozen=True)
class WindowPlan:
    """A threshold: the engine selects members with `member_action`; windows() counts them."""

    rule_id: str
    group_by: tuple[str, ...]
    window_days: int | str
    distinct: str | None
    date_field: str = "date"


@dataclass
class CompiledRuleset:
    """The durable_rules definition plus what the feeder must prepare for it."""

    definition: dict[str, dict[str, Any]]
    latest_flags: list[LatestFlag] = field(default_factory=list)
    windows: list[WindowPlan] = field(default_factory=list)
    keyword_flags: list[KeywordFlag] = field(default_factory=list)
    #: rule id -> how many engine rules it compiles to (one per alternative of its conditions)
    sizes: dict[str, int] = field(default_factory=dict)


def user_alias(alias: str) -> str:
    return f"u_{alias}"


# ---------------------------------------------------------------------------------------------------------------------
# Conditions -> disjunctive normal form of literal tests


def negate(test: Test) -> list[list[Test]]:
    """The DNF of `not test`. A missing value stays unknown: `not (x < 3)` is `x >= 3`, false if x is missing."""
    operator = OPERATORS[test.op]
    if operator.kind == ONE_OF:  # not equal to any of the values
        return [[Test(test.field, "!=", Operand(v), source=f"not ({test.source})") for v in test.values]]
    assert operator.negation is not None
    return [[Test(test.field, operator.negation, test.operand, test.values, source=f"not ({test.source})")]]


def dnf(condition: Any, negated: bool = False) -> list[list[Test]]:
    """Disjunctive normal form: a list of alternatives, each a list of tests that must all hold."""
    if isinstance(condition, Test):
        if negated:
            return negate(condition)
        if OPERATORS[condition.op].kind == ONE_OF:  # equal to one of the values
            return [[Test(condition.field, "==", Operand(v), source=condition.source)] for v in condition.values]
        return [[condition]]
    if isinstance(condition, NotOf):
        return dnf(condition.not_, not negated)
    if isinstance(condition, list):
        items, conjunction = condition, True
    elif isinstance(condition, AllOf):
        items, conjunction = condition.all, True
    else:
        items, conjunction = condition.any, False
    if negated:
        conjunction = not conjunction  # De Morgan; it holds in three-valued logic too
    if not conjunction:
        return _distinct([alternative for item in items for alternative in dnf(item, negated)])
    out: list[list[Test]] = [[]]
    for item in items:
        out = [left + right for left in out for right in dnf(item, negated)]
    return _distinct(out)


def _distinct(alternatives: list[list[Test]]) -> list[list[Test]]:
    """The alternatives without repeated tests or repeated alternatives (A or A is A; A and A is A), in order.

    Fewer engine rules; durable_rules also fails (error 303) on some rules that repeat alternatives many times.
    """
    def key(test: Test) -> tuple[Any, ...]:
        return (test.field, test.op, test.operand, test.values)

    out: list[list[Test]] = []
    seen: set[frozenset[tuple[Any, ...]]] = set()
    for alternative in alternatives:
        tests = list({key(t): t for t in alternative}.values())
        signature = frozenset(key(t) for t in tests)
        if signature not in seen:
            seen.add(signature)
            out.append(tests)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Tests -> engine expressions


def _value(operand: Operand, own_alias: str) -> Any:
    base = operand.base
    if isinstance(base, Name):
        kind, alias = resolve(base)
        if kind == "as_of":
            value: Any = {EV: "as_of"}
        elif kind == "param":
            value = {P: base.text}
        else:
            field_name = RECORD_ID if base.field == "id" else base.field
            value = {"$m": field_name} if alias == own_alias else {user_alias(alias or ""): field_name}
    else:
        value = epoch_day(base) if hasattr(base, "toordinal") else base
    for sign, term in operand.offsets:
        right = {P: term.text} if isinstance(term, Name) else term
        if not isinstance(value, dict) and not isinstance(right, dict):
            value = value + sign * right  # fold constants
        else:
            value = {"$add" if sign > 0 else "$sub": {"$l": value, "$r": right}}
    return value


def _is_correlated(test: Test, own_alias: str) -> bool:
    operand = test.operand
    if operand is None:
        return False
    names = [operand.base] + [t for _, t in operand.offsets]
    return any(isinstance(n, Name) and n.alias != own_alias for n in names)


class Preparation:
    """What the feeder must compute before the engine, collected while compiling: flags per fact type."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, tuple[str, ...]], LatestFlag] = {}
        self.keywords: dict[tuple[str, str, tuple[str, ...]], KeywordFlag] = {}

    def latest_flag(self, fact: str, per: list[str]) -> LatestFlag:
        key = (fact, tuple(per))
        if key not in self.latest:
            self.latest[key] = LatestFlag(fact, tuple(per), f"latest_{len(self.latest) + 1}")
        return self.latest[key]

    def keyword_flag(self, fact: str, test: Test) -> KeywordFlag:
        key = (fact, test.field, tuple(str(v) for v in test.values))
        if key not in self.keywords:
            self.keywords[key] = KeywordFlag(*key, flag=f"mentions_{len(self.keywords) + 1}")
        return self.keywords[key]


def _ranged(test: Test, fact: str) -> bool:
    """Whether `==` must be compiled as `>=` and `<=`: a number or date compared with a computed value.

    The engine finds `==` join partners through a hash of the value's text ("%lld" for an int, "%f" for
    a float), so 72 never meets 72.0; and an own field plus a parameter (`{"$add": {"$l": {"$m": ..}}}`)
    is hashed without its fact, which crashes the process. Two ordering tests use neither hash.
    """
    if test.op != "==" or test.operand is None:
        return False
    computed = isinstance(test.operand.base, Name) or bool(test.operand.offsets)
    return computed and field_kind(fact, test.field) in ("number", "date")


def compile_test(test: Test, own_alias: str, fact: str = "", preparation: Preparation | None = None
                 ) -> list[dict[str, Any]]:
    """The engine tests for one literal test (usually one; `==` on computed numbers and dates gives two)."""
    engine_test = ENGINE_TESTS[test.op]
    if OPERATORS[test.op].kind == WORDS:
        assert preparation is not None
        return [engine_test(preparation.keyword_flag(fact, test).flag, None)]
    field_name = RECORD_ID if test.field == "id" else test.field
    if OPERATORS[test.op].kind == PRESENCE:
        return [engine_test(field_name, None)]
    assert test.operand is not None
    value = _value(test.operand, own_alias)
    if _ranged(test, fact):
        return [{"$gte": {field_name: value}}, {"$lte": {field_name: value}}]
    return [engine_test(field_name, value)]


def _own_fields(test: Test, own_alias: str) -> list[str]:
    """Fields of the same fact that a test reads on its right-hand side (`amount_paid < remedy.amount_due`)."""
    if test.operand is None or not isinstance(test.operand.base, Name) or test.operand.base.alias != own_alias:
        return []
    return [test.field, test.operand.base.field or ""]


def referenced_fields(tests: list[Test], own_alias: str, facts: dict[str, str]) -> set[tuple[str, str]]:
    """(alias, field) pairs of other patterns that `tests` read and that may be missing.

    `facts` maps aliases to fact types; fields every fact of the type has are left out.
    """
    out = set()
    for test in tests:
        if test.operand is None:
            continue
        for name in [test.operand.base] + [t for _, t in test.operand.offsets]:
            if isinstance(name, Name) and name.alias is not None and name.alias != own_alias:
                if not always_present(facts[name.alias], name.field or ""):
                    out.add((name.alias, name.field or ""))
    return out


def _field(name: str) -> str:
    return RECORD_ID if name == "id" else name


def compile_pattern(fact: str, tests: list[Test], own_alias: str, preparation: Preparation,
                    extra: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """`{"$and": [type, correlated tests, presence guards, flags, constant tests]}`.

    Correlated tests come first (engine defect #6). A test that reads another field of the same fact is
    preceded by `$ex` guards for both fields: the engine reads an uninitialised result when one is
    missing, where the language says "unknown".
    """
    ordered = sorted(tests, key=lambda t: not _is_correlated(t, own_alias))
    correlated = [t for t in ordered if _is_correlated(t, own_alias)]
    constant = [t for t in ordered if not _is_correlated(t, own_alias)]
    guards = sorted({_field(f) for t in constant for f in _own_fields(t, own_alias) if not always_present(fact, f)})
    engine_tests: list[dict[str, Any]] = [{"type": fact}]
    for test in correlated:
        engine_tests += compile_test(test, own_alias, fact, preparation)
    engine_tests += [{"$ex": {name: 1}} for name in guards]
    engine_tests += list(extra)
    for test in constant:
        engine_tests += compile_test(test, own_alias, fact, preparation)
    return {"$and": engine_tests}


# ---------------------------------------------------------------------------------------------------------------------
# Rules


def _trigger_and_params(rule: Rule) -> list[dict[str, Any]]:
    return [{EV: {"type": TRIGGER}}, {P: {"$and": [{"type": PARAMS}, {"rule": rule.id}]}}]


@dataclass
class _Slot:
    """One positive pattern of one engine rule, before compilation."""

    alias: str
    fact: str
    tests: list[Test]
    extra: list[dict[str, Any]]
    compiled: dict[str, Any] | None = None  # set for the threshold's window pattern

    def presence(self, present: set[str], missing: set[str]) -> list[dict[str, Any]]:
        return [{"$ex": {_field(f): 1}} for f in sorted(present)] + [{"$nex": {_field(f): 1}} for f in sorted(missing)]


def compile_rule(rule: Rule, preparation: Preparation) -> tuple[dict[str, Any], WindowPlan | None]:
    """The engine rules of one spec rule: one per alternative of its conditions (plus threshold members).

    A test that reads a missing field of another pattern makes the engine fail (error 311) instead of
    being "unknown". So every engine rule requires (`$ex`) the fields its later patterns read; and for
    an `absent` alternative that reads fields of the patterns, a second engine rule covers the case where
    such a field is missing (`$nex`): that absent alternative is then unknown, so it cannot block.
    """
    out: dict[str, Any] = {}
    when = rule.when
    alternatives: list[list[_Slot]] = [[]]
    plan = None
    if when.threshold is not None:
        t = when.threshold
        for n, tests in enumerate(dnf(t.where)):
            out[f"{rule.id}~member#{n}"] = {
                "all": [*_trigger_and_params(rule), {"u_member": compile_pattern(t.fact, tests, t.as_, preparation)}],
                "run": f"member:{rule.id}",
            }
        at_least = {P: t.at_least} if isinstance(t.at_least, str) else t.at_least
        window = [{"type": WINDOW}, {"rule": rule.id}, {"$gte": {"count": at_least}}]
        alternatives = [[_Slot(t.as_, WINDOW, [], [], compiled={"$and": window})]]
        plan = WindowPlan(rule.id, tuple(t.group_by), t.window_days, t.distinct)
    for pattern in when.match:
        extra = []
        if pattern.latest_per:
            extra.append({preparation.latest_flag(pattern.fact, pattern.latest_per).flag: True})
        alternatives = [
            left + [_Slot(pattern.as_, pattern.fact, tests, extra)]
            for left in alternatives for tests in dnf(pattern.where)
        ]
    # not (A or B) == not A and not B: each alternative of an absent fact is its own $not pattern.
    absents = [(i, j, absent.fact, tests) for i, absent in enumerate(when.absent)
               for j, tests in enumerate(dnf(absent.where))]
    n = 0
    for slots in alternatives:
        facts = {slot.alias: slot.fact for slot in slots}
        required: dict[str, set[str]] = {slot.alias: set() for slot in slots}
        for slot in slots:
            for alias, name in referenced_fields(slot.tests, slot.alias, facts):
                required[alias].add(name)
        # The fields of the patterns that absent alternatives read and the patterns do not require: each is present
        # or missing, and an engine rule covers each combination. An absent alternative applies where every field
        # it reads is present; where one is missing it is unknown, so it cannot block, and it is left out.
        reads = [sorted(referenced_fields(tests, f"__absent_{i}", facts)) for i, _, _, tests in absents]
        optional = sorted({ref for refs in reads for ref in refs} - {(a, f) for a, names in required.items()
                                                                    for f in names})
        for choice in itertools.product((True, False), repeat=len(optional)):
            present = {alias: set(names) for alias, names in required.items()}
            missing: dict[str, set[str]] = {alias: set() for alias in required}
            for (alias, name), is_present in zip(optional, choice):
                (present if is_present else missing)[alias].add(name)
            nots = [{f"n_{i}_{j}$not": compile_pattern(fact, tests, f"__absent_{i}", preparation)}
                    for (i, j, fact, tests), refs in zip(absents, reads)
                    if all(name in present[alias] for alias, name in refs)]
            patterns = []
            for slot in slots:
                guards = slot.presence(present[slot.alias], missing[slot.alias])
                if slot.compiled is not None:
                    body = {"$and": slot.compiled["$and"] + guards}
                else:
                    body = compile_pattern(slot.fact, slot.tests, slot.alias, preparation, guards + slot.extra)
                patterns.append({user_alias(slot.alias): body})
            out[f"{rule.id}#{n}"] = {"all": [*_trigger_and_params(rule), *patterns, *nots], "run": f"match:{rule.id}"}
            n += 1
    return out, plan


def compile_library(rules: list[Rule]) -> tuple[CompiledRuleset, CompiledRuleset]:
    """A rule library as the evaluator runs it, in two rulesets each within the engine's limit: the rules whose
    conditions read evidence only (matched together in one pass), then those whose conditions read findings
    (matched stratum by stratum on the findings made so far, ``strata``). No engine session sees both."""
    from compliance.rules.strata import matches_on_evidence  # strata reads facts, which the compiler need not load

    return (compile_rules([r for r in rules if matches_on_evidence(r)]),
            compile_rules([r for r in rules if not matches_on_evidence(r)]))


def compile_rules(rules: list[Rule]) -> CompiledRuleset:
    """Compile a rule library into one durable_rules ruleset definition (plain, JSON-able data)."""
    definition: dict[str, Any] = {}
    preparation = Preparation()
    windows = []
    sizes: dict[str, int] = {}  # rule id -> its engine rules
    for rule in sorted(rules, key=lambda r: r.id):
        compiled, plan = compile_rule(rule, preparation)
        definition.update(compiled)
        sizes[rule.id] = len(compiled)
        if plan:
            windows.append(plan)
    if len(definition) > MAX_ENGINE_RULES:
        largest = max(sizes, key=lambda rule_id: sizes[rule_id])
        raise CompileError(f"the rules expand to {len(definition)} engine rules ({sizes[largest]} from rule {largest}, "
                           f"the most); expected at most {MAX_ENGINE_RULES}, as many as durable_rules runs safely in "
                           "one ruleset: simplify 'any' conditions (each alternative is an engine rule) or split the "
                           "library", largest, ("when",))
    definition[BEGIN] = {"all": [{"m": {"type": BEGIN}}], "run": "noop"}
    latest = sorted(preparation.latest.values(), key=lambda f: f.flag)
    keywords = sorted(preparation.keywords.values(), key=lambda f: f.flag)
    check_property_hashes(rules, [f.flag for f in latest] + [f.flag for f in keywords])
    return CompiledRuleset(definition, latest, windows, keywords, sizes)


# ---------------------------------------------------------------------------------------------------------------------
# 32-bit name hashes


def fnv1a_32(text: str) -> int:
    """The engine's fnv1Hash32 (FNV-1a, 32 bits) over the UTF-8 bytes, as its C code computes it."""
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        signed = byte - 256 if byte > 127 else byte  # C `char` is signed on x86: bytes > 127 sign-extend
        value = ((value ^ (signed & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return value


def property_names(rules: list[Rule], extra: Iterable[str] = ()) -> set[str]:
    names = {"type", "id", "sid", "rule", "as_of", RECORD_ID, *spec.THRESHOLD_FIELDS, "ids", *extra}
    for fact_type in models.fact_types():
        names.update(models.fact_fields(fact_type))
    for rule in rules:
        names.update(rule.params)
        if rule.when.threshold:
            names.update(rule.when.threshold.group_by)
    return names


def check_property_hashes(rules: list[Rule], extra: Iterable[str] = ()) -> None:
    """Refuse property names whose 32-bit hashes collide: the engine would treat them as one property."""
    by_hash: dict[int, str] = {}
    for name in sorted(property_names(rules, extra)):
        other = by_hash.setdefault(fnv1a_32(name), name)
        if other != name:
            message = (f'property names "{other}" and "{name}" have the same 32-bit hash; the engine would confuse '
                       "them: rename one")
            # A parameter is the rule author's to rename; the other names are the models' and the compiler's.
            for rule in sorted(rules, key=lambda r: r.id):
                for param in (name, other):
                    if param in rule.params:
                        raise CompileError(message, rule.id, ("params", param))
            raise CompileError(message)


# ---------------------------------------------------------------------------------------------------------------------
# What the feeder prepares


def latest_flags(facts: list[dict[str, Any]], flags: list[LatestFlag]) -> None:
    """Set each flag property to True on the latest fact (by date, then record id) per key, False elsewhere."""
    for flag in flags:
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for fact in facts:
            if fact["type"] != flag.fact:
                continue
            fact[flag.flag] = False
            key = tuple(fact.get(name) for name in flag.per)
            best = latest.get(key)
            if best is None or (fact.get("date", 0), fact[RECORD_ID]) > (best.get("date", 0), best[RECORD_ID]):
                latest[key] = fact
        for fact in latest.values():
            fact[flag.flag] = True


def keyword_flags(facts: list[dict[str, Any]], flags: list[KeywordFlag]) -> None:
    """Set each keyword flag on the facts of its type that have the text field (none where it is missing)."""
    for flag in flags:
        name = _field(flag.field)  # the record id, not the engine's re-keyed id
        for fact in facts:
            if fact["type"] == flag.fact and isinstance(fact.get(name), str):
                fact[flag.flag] = mentions(fact[name], flag.words)


def windows(members: list[dict[str, Any]], plan: WindowPlan, window_days: int) -> list[dict[str, Any]]:
    """The densest window per group: a sliding window of `window_days` calendar days over the members.

    Returns one `__window` record per group with its count (of members, or of distinct values of
    `plan.distinct`), the first and last dates and the ids of the members inside. Ties go to the
    earliest window. Members without a value for `distinct` do not count.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for fact in members:
        if plan.distinct and fact.get(plan.distinct) is None:
            continue
        groups.setdefault(tuple(fact.get(g) for g in plan.group_by), []).append(fact)
    out = []
    for key in sorted(groups, key=repr):
        ordered = sorted(groups[key], key=lambda f: (f[plan.date_field], f[RECORD_ID]))
        best: tuple[int, int, int] | None = None  # (count, start index, end index)
        counts: Counter[Any] = Counter()
        end = 0
        for start in range(len(ordered)):
            last_day = ordered[start][plan.date_field] + window_days - 1
            while end < len(ordered) and ordered[end][plan.date_field] <= last_day:
                counts[ordered[end].get(plan.distinct) if plan.distinct else ordered[end][RECORD_ID]] += 1
                end += 1
            if best is None or len(counts) > best[0]:
                best = (len(counts), start, end)
            counts_remove(counts, ordered[start], plan)
        assert best is not None
        inside = ordered[best[1]:best[2]]
        record = {name: value for name, value in zip(plan.group_by, key) if value is not None}
        record.update({
            "type": WINDOW, "rule": plan.rule_id, "count": best[0],
            "first_date": inside[0][plan.date_field], "last_date": inside[-1][plan.date_field],
            "ids": [f[RECORD_ID] for f in inside],
        })
        out.append(record)
    return out


def counts_remove(counts: Counter[Any], fact: dict[str, Any], plan: WindowPlan) -> None:
    key = fact.get(plan.distinct) if plan.distinct else fact[RECORD_ID]
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
