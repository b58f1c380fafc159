"""Which evidence records the rules can ever read, so that only those are handed to the engine.

A contract's evidence is the union of whole *partitions*: the records about one facility that name no contract,
and the records that name the contract (by facility, or without one). Most records cannot take part in any
finding: a working-hours record within the limits, an audit that a later audit of the same facility superseded.
``Reducer`` reads the evidence facility by facility (every partition of a facility together) and keeps a record
only when some rule may read it, so that the findings on the kept records are exactly the findings on all of
them, for every contract whose evidence is a union of the partitions read:

* **patterns**: a record is kept when the tests of a ``match`` pattern that read only the record itself, the
  parameters and ``as_of`` are not false for it (tests on another pattern's fields count as "maybe");
* **joins**: a pattern joined to another evidence pattern by ``facility_id == other.facility_id`` (and other
  equalities) keeps only records that have a candidate partner with the same values at the same facility;
* **absence**: an ``absent`` pattern needs one record able to block a match, not all of them: records with the
  same values in every field its tests read block the same matches, so each partition keeps a few of each kind;
* **thresholds**: the possible members, unless their group (with its facility) cannot reach ``at_least`` even if
  every record counted;
* **latest per key**: the latest record per key within a partition, which is the only one a "latest" pattern can
  bind; it is dropped only when nothing else of its key is kept and no "latest" pattern (nor a repeat finding,
  PM-04) can use it, since otherwise an older record would pass for the latest.

Decisions are made with every parameter set the contracts use (a record is kept if any of them may read it).
The engine and the reference evaluator both read the kept records; the differential tests compare the findings
on kept records with the reference evaluation of all records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from compliance.domain import models
from compliance.domain.facts import epoch_day
from compliance.rules import spec
from compliance.rules.grammar import ONE_OF, OPERATORS, PRESENCE, WORDS, Name, Operand, Test
from compliance.rules.spec import AllOf, AnyOf, NotOf, Rule

Predicate = Callable[[dict[str, Any]], "bool | None"]

#: Corrective actions read for repeat findings (PM-04, ``evaluation.repeat_reason``): the latest status report per
#: facility, CAP and action, when it is a verified completion for a rule.
REPEAT_KEY = ("facility_id", "cap_id", "action_ref")


# ---------------------------------------------------------------------------------------------------------------------
# Facts straight from stored payloads (the reducer reads every record: no validation on that path)

_DATE_FIELDS = {name: frozenset(models.date_fields(name)) for name in models.EVIDENCE_TYPES}
_COMPUTED = {name: [(field_name, getattr(cls, field_name).fget) for field_name in cls.model_computed_fields]
             for name, cls in models.EVIDENCE_TYPES.items()}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
#: Each type's fields with their defaults as stored (JSON): a payload stored before a field existed lacks it, and
#: validation would give it its default.
_STORED_DEFAULTS = {name: {n: models.stored_default(info) for n, info in cls.model_fields.items()
                           if not info.is_required()}
                    for name, cls in models.EVIDENCE_TYPES.items()}


def fact_from_payload(payload: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    """The normalised fact of a stored evidence payload as known on `as_of`, as
    ``facts.normalise(models.known_on(record, as_of).model_dump())`` gives it: dates as epoch days, events dated
    after `as_of` unknown, computed fields derived, missing values left out. Stored payloads were validated on
    import, so this skips validation (the tests compare the two on every type)."""
    kind = payload["type"]
    defaults = _STORED_DEFAULTS[kind]
    if not defaults.keys() <= payload.keys():  # stored before some field existed: as validation would read it
        payload = {**defaults, **payload}
    dates = _DATE_FIELDS[kind]
    later = [name for name in models.event_date_fields(kind) if payload.get(name) is not None
             and dt.date.fromisoformat(payload[name]) > as_of]
    if later:
        payload = {**payload, **dict.fromkeys(later)}
    precision = payload.get("date_precision", "day")
    if precision != "day":
        payload = {**payload, "date": models.read_day(dt.date.fromisoformat(payload["date"]), precision, as_of).isoformat()}
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if value is None:
            continue
        if name in dates:
            value = dt.date.fromisoformat(value).toordinal() - _EPOCH_ORDINAL
        out[name] = value
    computed = _COMPUTED[kind]
    if computed:
        record = SimpleNamespace(**{name: (dt.date.fromisoformat(value) if name in dates and value is not None
                                           else value) for name, value in payload.items()})
        for name, function in computed:
            value = function(record)
            if isinstance(value, dt.date):
                value = value.toordinal() - _EPOCH_ORDINAL
            if value is not None:
                out[name] = value
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Predicates: the tests of a pattern that read only its own record, compiled to Python with three-valued logic


def _all(values: tuple[bool | None, ...]) -> bool | None:
    if False in values:
        return False
    return True if all(v is True for v in values) else None


def _any(values: tuple[bool | None, ...]) -> bool | None:
    if True in values:
        return True
    return False if all(v is False for v in values) else None


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _unknown_if_missing(meaning: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def holds(value: Any, other: Any) -> bool | None:
        if value is None or other is None:
            return None
        return meaning(value, other)
    return holds


#: Each operator's meaning (``grammar.OPERATORS``) by the name compiled predicates call it; a missing value or
#: operand makes a test unknown, except for ``is missing`` and ``is present``, which test for it.
_OP_NAMES = {name: f"_op{n}" for n, name in enumerate(OPERATORS)}
_HELPERS: dict[str, Any] = {"_all": _all, "_any": _any, "_not": _not, **{
    _OP_NAMES[name]: op.holds if op.kind == PRESENCE else _unknown_if_missing(op.holds)
    for name, op in OPERATORS.items()}}
_MAYBE = object()  # a value that depends on another pattern's record: the test is "maybe"


def _constant(value: Any) -> Any:
    return epoch_day(value) if hasattr(value, "toordinal") else value


class _Compiler:
    def __init__(self, alias: str, params: dict[str, Any], as_of: int):
        self.alias, self.params, self.as_of = alias, params, as_of
        self.constants: dict[str, Any] = {}

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def term(self, term: Any) -> Any:
        """An operand term: ("expr", python) for the record's own field, ("const", value), or _MAYBE."""
        if isinstance(term, Name):
            if term.alias is not None:
                if term.alias != self.alias:
                    return _MAYBE
                return ("expr", f"f.get({term.field!r})")
            if term.text == "as_of":
                return ("const", self.as_of)
            return ("const", self.params.get(term.text))
        return ("const", _constant(term))

    def operand(self, operand: Operand) -> Any:
        total = self.term(operand.base)
        for sign, term in operand.offsets:
            right = self.term(term)
            if total is _MAYBE or right is _MAYBE:
                return _MAYBE
            if total[0] == "const" and right[0] == "const":
                total = ("const", None if total[1] is None or right[1] is None else total[1] + sign * right[1])
            else:
                left, other = (self._expr(total), self._expr(right))
                total = ("expr", f"(lambda a, b: None if a is None or b is None else a + {sign} * b)({left}, {other})")
        return total

    def _expr(self, term: tuple[str, Any]) -> str:
        return term[1] if term[0] == "expr" else self.constant(term[1])

    def test(self, test: Test) -> str:
        value = f"f.get({test.field!r})"
        operator = OPERATORS[test.op]
        if operator.kind == PRESENCE:
            return f"{_OP_NAMES[test.op]}({value}, None)"
        if operator.kind in (ONE_OF, WORDS):
            return f"{_OP_NAMES[test.op]}({value}, {self.constant(tuple(_constant(v) for v in test.values))})"
        assert test.operand is not None
        other = self.operand(test.operand)
        if other is _MAYBE:
            return "None"
        if other[0] == "const" and other[1] is None:
            return "None"
        return f"{_OP_NAMES[test.op]}({value}, {self._expr(other)})"

    def condition(self, condition: Any) -> str:
        if isinstance(condition, list):
            if not condition:
                return "True"
            condition = AllOf(all=condition)
        if isinstance(condition, Test):
            return self.test(condition)
        if isinstance(condition, NotOf):
            return f"_not({self.condition(condition.not_)})"
        if isinstance(condition, AllOf):
            return f"_all(({', '.join(self.condition(c) for c in condition.all)},))"
        assert isinstance(condition, AnyOf)
        return f"_any(({', '.join(self.condition(c) for c in condition.any)},))"


def compile_where(conditions: list[Any], alias: str, params: dict[str, Any], as_of: int) -> Predicate:
    """A function of a record: True or False when the conditions' tests on the record alone decide it, None when
    they do not (a test on another pattern's record, or a missing value). Equal to ``reference.holds(conditions,
    fact, alias, {}, params, as_of)`` on every record; a test on another pattern's field counts as unknown."""
    compiler = _Compiler(alias, params, as_of)
    body = compiler.condition(conditions)
    return eval(f"lambda f: {body}", {**_HELPERS, **compiler.constants})  # noqa: S307 - built from the parsed rule


# ---------------------------------------------------------------------------------------------------------------------
# The plan: for one rule library, date and set of parameter sets, how each evidence type may be read


def _own_fields(conditions: list[Any], alias: str) -> tuple[str, ...]:
    """Every field of the record itself that `conditions` read."""
    names: set[str] = set()
    for test in spec.walk_tests(conditions):
        names.add(test.field)
        if test.operand is not None:
            for term in [test.operand.base, *(t for _s, t in test.operand.offsets)]:
                if isinstance(term, Name) and term.alias == alias and term.field:
                    names.add(term.field)
    return tuple(sorted(names))


def _correlated(test: Test, alias: str) -> bool:
    """Whether `test` reads another pattern's record."""
    if test.operand is None:
        return False
    terms = [test.operand.base, *(t for _s, t in test.operand.offsets)]
    return any(isinstance(t, Name) and t.alias is not None and t.alias != alias for t in terms)


def _blocking(conditions: list[Any], alias: str) -> tuple[list[Test], tuple[str, ...], str | None, int]:
    """How an ``absent`` pattern's records compare as blockers: its tests that read only the record (their truth
    values tell records apart), the fields read by the tests on other records (their values do), and one field
    whose top-level tests against other records all bound it from one side (then the record with the highest
    value, direction 1, or the lowest, -1, blocks whatever the others block)."""
    tests = spec.walk_tests(conditions)
    own = [t for t in tests if not _correlated(t, alias)]
    correlated = [t for t in tests if _correlated(t, alias)]
    top = {id(c) for c in conditions if isinstance(c, Test)}
    monotone, direction = None, 0
    for candidate in sorted({t.field for t in correlated}):
        reading = [t for t in correlated if t.field == candidate or candidate in _own_fields([t], alias)]
        ops = {t.op for t in reading}
        if all(id(t) in top and t.field == candidate for t in reading) and ops and (ops <= {">", ">="}
                                                                                    or ops <= {"<", "<="}):
            monotone, direction = candidate, (1 if ops <= {">", ">="} else -1)
            break
    fields = tuple(sorted({f for t in correlated for f in _own_fields([t], alias)} - {monotone}))
    return own, fields, monotone, direction


def _edges(rule: Rule) -> list[tuple[int, int, tuple[str, ...], tuple[str, ...]]]:
    """Equality joins between two evidence patterns of `rule` that include the facility: (i, j, fields of i,
    fields of j), read from the top-level tests of pattern j of the form `field == alias_i.field`."""
    aliases = {p.as_: n for n, p in enumerate(rule.when.match) if p.fact in models.EVIDENCE_TYPES}
    out = []
    for j, pattern in enumerate(rule.when.match):
        if pattern.fact not in models.EVIDENCE_TYPES:
            continue
        pairs: dict[int, list[tuple[str, str]]] = {}
        for test in pattern.where:
            if (isinstance(test, Test) and test.op == "==" and test.operand is not None and not test.operand.offsets
                    and isinstance(test.operand.base, Name) and test.operand.base.alias in aliases
                    and test.operand.base.alias != pattern.as_ and test.operand.base.field):
                i = aliases[test.operand.base.alias]
                pairs.setdefault(i, []).append((test.operand.base.field, test.field))
        for i, fields in pairs.items():
            if ("facility_id", "facility_id") in fields:
                out.append((i, j, tuple(a for a, _b in fields), tuple(b for _a, b in fields)))
    return out


@dataclass
class _Use:
    """A way a rule reads records of one type: its predicates (one per parameter set) and what else it needs."""

    kind: str  # "match", "absent" or "threshold"
    rule_id: str
    index: int
    predicates: list[Predicate]
    fields: tuple[str, ...] = ()  # absent: the fields its tests on other records read
    own_tests: list[Predicate] = field(default_factory=list)  # absent: its tests on the record alone
    monotone: str | None = None  # absent: keep the records with the highest (1) or lowest (-1) value
    direction: int = 0
    keep: int = 1  # absent: how many records of each kind a partition keeps
    group_by: tuple[str, ...] = ()  # threshold
    distinct: str | None = None
    at_least: int = 1


@dataclass
class _Latest:
    """Records of `fact` read as the latest per `per`, by the patterns (or repeat findings) whose predicates
    these are."""

    fact: str
    per: tuple[str, ...]
    predicates: list[Predicate] = field(default_factory=list)


def types_read(rules: Iterable[Rule]) -> set[str]:
    """The evidence types `rules` read (match, absent and threshold patterns)."""
    out: set[str] = set()
    for rule in rules:
        out.update(p.fact for p in rule.when.match)
        out.update(a.fact for a in rule.when.absent)
        if rule.when.threshold is not None:
            out.add(rule.when.threshold.fact)
    return out & set(models.EVIDENCE_TYPES)


def _joined_at_facility(where: list[Any], aliases: set[str]) -> bool:
    """Whether `where` has a top-level test ``facility_id == alias.facility_id`` for one of `aliases`."""
    return any(isinstance(t, Test) and t.field == "facility_id" and t.op == "==" and t.operand is not None
               and not t.operand.offsets and isinstance(t.operand.base, Name) and t.operand.base.alias in aliases
               and t.operand.base.field == "facility_id" for t in where)


def facility_local(rule: Rule) -> bool:
    """Whether every match of `rule` lies within the records of one facility (or one record): then its matches on
    a contract's evidence are the union of its matches on the evidence of each facility, and a facility's
    evidence is evaluated once for every contract linked to it.

    So it is when the rule reads evidence only, every pattern after the first is joined to an earlier one by
    ``facility_id == alias.facility_id``, every ``absent`` pattern too, "latest" keys include the facility, and a
    threshold (alone) groups by facility."""
    when = rule.when
    if any(p.fact not in models.EVIDENCE_TYPES for p in when.match):
        return False
    if when.threshold is not None:
        return not when.match and not when.absent and "facility_id" in when.threshold.group_by
    aliases: set[str] = set()
    for n, pattern in enumerate(when.match):
        if n and not _joined_at_facility(pattern.where, aliases):
            return False
        if pattern.latest_per and "facility_id" not in pattern.latest_per:
            return False
        aliases.add(pattern.as_)
    return all(_joined_at_facility(a.where, aliases) for a in when.absent)


class Plan:
    """How the rules may read each evidence type, for one library, as-of date and set of parameter sets.
    `closures`: also keep aside what repeat findings read (``Reducer.closures``)."""

    def __init__(self, rules: list[Rule], as_of: dt.date, parameter_sets: Iterable[dict[str, dict[str, Any]]],
                 closures: bool = True):
        self.closures = closures
        as_of_day = epoch_day(as_of)
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for params in parameter_sets:  # {rule id: params} of one contract
            for rule_id, values in params.items():
                if values not in by_rule.setdefault(rule_id, []):
                    by_rule[rule_id].append(values)
        self.uses: dict[str, list[_Use]] = {}
        self.latest: dict[tuple[str, tuple[str, ...]], _Latest] = {}
        self.joins: list[tuple[str, int, int, tuple[str, ...], tuple[str, ...]]] = []
        self.match_uses: dict[tuple[str, int], _Use] = {}
        for rule in rules:
            sets = by_rule.get(rule.id)
            if not sets:
                continue  # the rule applies to none of the contracts
            when = rule.when
            for n, pattern in enumerate(when.match):
                if pattern.fact not in models.EVIDENCE_TYPES:
                    continue
                predicates = [compile_where(pattern.where, pattern.as_, p, as_of_day) for p in sets]
                if pattern.latest_per:
                    key = (pattern.fact, tuple(pattern.latest_per))
                    self.latest.setdefault(key, _Latest(*key)).predicates.extend(predicates)
                use = _Use("match", rule.id, n, predicates)
                self.match_uses[(rule.id, n)] = use
                if not pattern.latest_per:
                    self.uses.setdefault(pattern.fact, []).append(use)
            for n, absent in enumerate(when.absent):
                own, fields, monotone, direction = _blocking(absent.where, "")
                self.uses.setdefault(absent.fact, []).append(_Use(
                    "absent", rule.id, n, [compile_where(absent.where, "", p, as_of_day) for p in sets],
                    fields=fields, own_tests=[compile_where([t], "", p, as_of_day) for t in own for p in sets],
                    monotone=monotone, direction=direction,
                    # a rule's own records are never their own blockers: keep one more per pattern of the type
                    keep=1 + sum(1 for p in when.match if p.fact == absent.fact)))
            if when.threshold is not None:
                t = when.threshold
                at_least = min(p[t.at_least] if isinstance(t.at_least, str) else t.at_least for p in sets)
                self.uses.setdefault(t.fact, []).append(_Use(
                    "threshold", rule.id, 0, [compile_where(t.where, t.as_, p, as_of_day) for p in sets],
                    group_by=tuple(t.group_by), distinct=t.distinct, at_least=int(at_least)))
            for i, j, fields_i, fields_j in _edges(rule):
                if not when.match[i].latest_per and not when.match[j].latest_per:
                    self.joins.append((rule.id, i, j, fields_i, fields_j))
        self.thresholds = {u.rule_id: u for us in self.uses.values() for u in us if u.kind == "threshold"}
        self.absent_uses = {(u.rule_id, u.index): u for us in self.uses.values() for u in us if u.kind == "absent"}

    def reducer(self) -> Reducer:
        return Reducer(self)


_VERIFIED = models.INDEPENDENT_VERIFIERS  # as evaluation.contract.VERIFIED_CLOSURE


def _maybe(predicates: list[Predicate], fact: dict[str, Any]) -> bool:
    return any(predicate(fact) is not False for predicate in predicates)


def _order(fact: dict[str, Any]) -> tuple[Any, str]:
    return (fact.get("date", 0), fact["id"])


class Reducer:
    """Reads the evidence of some facilities, a facility at a time, and keeps what the rules may read.

    ``add(facts)`` takes the normalised facts of whole facilities (every partition of each: records naming no
    contract and records naming one; a facility's records in one call), or of records without a facility;
    ``finish()`` returns the facts kept. The facts need ``id``, ``type``, ``date``, ``facility_id`` and
    ``contract_id`` besides their fields; other keys they carry are kept with them (and read by no rule, as long
    as they are not field names)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        #: (type, id) -> fact of the records kept so far (the latest records are decided by finish())
        self.kept: dict[tuple[str, str], dict[str, Any]] = {}
        #: (fact type, per) -> group key -> partition -> the latest fact of the group in the partition
        self._latest: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], dict[Any, dict[str, Any]]]] = {
            key: {} for key in plan.latest}
        #: (fact type, per) -> group key -> (type, id) of its members (any partition)
        self._members: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], list[tuple[str, str]]]] = {
            key: {} for key in plan.latest}
        #: repeat findings: (facility, CAP, action) -> partition -> the latest corrective action
        self._repeat: dict[tuple[Any, ...], dict[Any, dict[str, Any]]] = {}
        self.read = 0

    def add(self, facts: Iterable[dict[str, Any]]) -> None:
        by_facility: dict[Any, list[dict[str, Any]]] = {}
        for fact in facts:
            by_facility.setdefault(fact.get("facility_id"), []).append(fact)
        for chunk in by_facility.values():
            self._facility(chunk)

    def _facility(self, facts: list[dict[str, Any]]) -> None:
        self.read += len(facts)
        plan = self.plan
        candidates: dict[tuple[str, int], list[dict[str, Any]]] = {}  # match uses, for joins
        blockers: dict[tuple[str, int, Any, tuple[Any, ...]], list[dict[str, Any]]] = {}
        members: dict[tuple[str, tuple[Any, ...]], list[dict[str, Any]]] = {}  # threshold groups
        for fact in facts:
            kind = fact["type"]
            partition = (fact.get("facility_id"), fact.get("contract_id"))
            for use in plan.uses.get(kind, ()):
                if not _maybe(use.predicates, fact):
                    continue
                if use.kind == "match":
                    candidates.setdefault((use.rule_id, use.index), []).append(fact)
                elif use.kind == "absent":
                    # Records with the same values where other records are compared, and the same truth values
                    # of the tests on the record alone, block the same matches.
                    kind_of = (tuple(repr(fact.get(n)) for n in use.fields)
                               + tuple(test(fact) for test in use.own_tests))
                    blockers.setdefault((use.rule_id, use.index, partition, kind_of), []).append(fact)
                elif not use.distinct or fact.get(use.distinct) is not None:
                    group = tuple(repr(fact.get(g)) for g in use.group_by)
                    members.setdefault((use.rule_id, group), []).append(fact)
            if kind == "remediation" and plan.closures and fact.get("remedy_closed"):
                self._keep([fact])  # a remedy verified in full settles findings (``evaluation.contract.settled``)
            if kind == "corrective_action" and plan.closures:
                group = tuple(fact.get(name) for name in REPEAT_KEY)
                by_partition = self._repeat.setdefault(group, {})
                best = by_partition.get(partition)
                if best is None or _order(fact) > _order(best):
                    by_partition[partition] = fact
            for key, latest in self.plan.latest.items():
                if key[0] != kind:
                    continue
                group = tuple(fact.get(name) for name in latest.per)
                self._members[key].setdefault(group, []).append((kind, fact["id"]))
                by_partition = self._latest[key].setdefault(group, {})
                best = by_partition.get(partition)
                if best is None or _order(fact) > _order(best):
                    by_partition[partition] = fact
        for (rule_id, index, _partition, _kind), found in blockers.items():
            use = plan.absent_uses[(rule_id, index)]
            if use.monotone is None:
                self._keep(found[:use.keep])
            else:  # the highest (or lowest) values block at least what the others block; missing values none
                name = use.monotone
                present = [f for f in found if f.get(name) is not None]
                present.sort(key=lambda f: (f[name], f["id"]), reverse=use.direction > 0)
                self._keep(present[:use.keep])
        # Joins at the facility: a candidate needs a partner candidate with the same values.
        changed = True
        while changed:
            changed = False
            for rule_id, i, j, fields_i, fields_j in plan.joins:
                left, right = candidates.get((rule_id, i), []), candidates.get((rule_id, j), [])
                try:
                    keys_left = {tuple(f.get(n) for n in fields_i) for f in left}
                    keys_right = {tuple(f.get(n) for n in fields_j) for f in right}
                except TypeError:  # a list value: no pruning on this join
                    continue
                new_left = [f for f in left if tuple(f.get(n) for n in fields_i) in keys_right]
                new_right = [f for f in right if tuple(f.get(n) for n in fields_j) in keys_left]
                if len(new_left) != len(left) or len(new_right) != len(right):
                    candidates[(rule_id, i)], candidates[(rule_id, j)] = new_left, new_right
                    changed = True
        for found in candidates.values():
            self._keep(found)
        for (rule_id, _group), inside in members.items():
            use = plan.thresholds[rule_id]
            if "facility_id" in use.group_by:  # the whole group is at this facility: it must reach at_least
                count = len({repr(f.get(use.distinct)) for f in inside}) if use.distinct else len(inside)
                if count < use.at_least:
                    continue
            self._keep(inside)

    def _keep(self, facts: Iterable[dict[str, Any]]) -> None:
        for fact in facts:
            self.kept[(fact["type"], fact["id"])] = fact

    def finish(self) -> list[dict[str, Any]]:
        """The facts to keep, in the order of their ids. A latest record per key and partition is kept unless its
        key is in that partition only, no "latest" pattern may read it, and no other record of the key is kept."""
        changed = True
        while changed:
            changed = False
            for key, groups in self._latest.items():
                latest = self.plan.latest[key]
                for group, by_partition in groups.items():
                    tops = list(by_partition.values())
                    if all((f["type"], f["id"]) in self.kept for f in tops):
                        continue
                    needed = (len(tops) > 1 or any(_maybe(latest.predicates, f) for f in tops)
                              or any(i in self.kept for i in self._members[key][group]))
                    if needed:
                        self._keep(tops)
                        changed = True
        return [self.kept[k] for k in sorted(self.kept)]

    def closures(self) -> list[dict[str, Any]]:
        """The corrective actions a repeat finding (PM-04) may read: for each facility, CAP and action, the latest
        report of each partition, when one of them is a verified completion for a rule (see ``latest_closures``)."""
        return [f for tops in self._repeat.values() if any(_closure(t) for t in tops.values()) for f in tops.values()]


def _closure(fact: dict[str, Any]) -> bool:
    return (fact.get("rule_id") is not None and fact.get("status") == "completed"
            and fact.get("completed_on") is not None and fact.get("verified_by") in _VERIFIED)


def latest_closures(candidates: Iterable[dict[str, Any]], partitions: set[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Of `candidates` (``Reducer.closures()``), the latest report per facility, CAP and action over the given
    partitions ((facility id, contract id or None)): what ``evaluation.repeat_reason`` reads from all the records."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for fact in candidates:
        if (fact.get("facility_id"), fact.get("contract_id")) not in partitions:
            continue
        group = tuple(fact.get(name) for name in REPEAT_KEY)
        if group not in latest or _order(fact) > _order(latest[group]):
            latest[group] = fact
    return [f for f in latest.values() if _closure(f)]
