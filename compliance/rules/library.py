"""The rule library: every rule, clause set and rule test read from a rules directory, checked as a whole.

``load_rules`` reads each file with its lines (``compliance.sources.structured``), validates each rule on its own
(so that one broken rule does not hide the problems of the others), checks each rule's meaning
(``meaning.check_rule``), clause-set parameter overrides and rule test cases, and that the engine can take the
library (it compiles it: a rule whose conditions expand past the engine's safe size is an input problem, not an
engine failure), and raises one InputError listing every problem with its file, line and field.

Parameter overrides keyed by a rule id reach the rule and its variants (``in_family``): a clause set, a
jurisdiction pack (``jurisdictions``, files whose top-level key is `jurisdiction:`) or a contract sets a
clause-level parameter once for every verdict of the clause.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compliance.domain import models
from compliance.errors import InputError, Problem
from compliance.rules import compiler, engine, jurisdictions, ruletests, spec, strata
from compliance.rules.meaning import check_rule
from compliance.rules.spec import SpecProblem
from compliance.sources.structured import Loc, LocatedData, loc_text, read_structured, validation_problems


@dataclass
class RuleLibrary:
    """The rules and clause sets read from a rules directory."""

    rules: list[spec.Rule] = field(default_factory=list)
    clause_sets: list[spec.ClauseSet] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    #: rule id -> the file it is defined in; the file's name is the rule's area (transparency, forced-labour...)
    sources: dict[str, Path] = field(default_factory=dict)
    #: rule tests as data: (case, file, line), from files whose top-level key is `cases:`
    cases: list[Any] = field(default_factory=list)
    #: country code -> its jurisdiction pack (legal limits as rule parameters, with their sources)
    jurisdictions: dict[str, jurisdictions.Pack] = field(default_factory=dict)

    def area(self, rule_id: str) -> str:
        return self.sources[rule_id].stem

    def rule(self, rule_id: str) -> spec.Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def clause_set(self, clause_set_id: str, version: str) -> spec.ClauseSet | None:
        return next((c for c in self.clause_sets if c.id == clause_set_id and c.version == version), None)

    def content_hash(self) -> str:
        """One hash of every rule and clause-set file, to record which library a run used."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()


def in_family(rule_id: str, key: str) -> bool:
    """Whether an override keyed `key` reaches rule `rule_id`: the rule itself and its variants (TR-01 reaches
    TR-01-DD and TR-01-NYD), so one clause-level parameter is set once for every verdict of the clause."""
    return rule_id == key or rule_id.startswith(key + "-")


def family_keys(rule_id: str, overrides: dict[str, Any]) -> list[str]:
    """The keys of `overrides` that reach rule `rule_id`, the most general first (TR-01 before TR-01-DD), so
    that applying them in order lets the most specific one win."""
    return sorted((key for key in overrides if in_family(rule_id, key)), key=len)


@dataclass(frozen=True)
class Setting:
    """A parameter's value at one place, with the level it came from and why."""

    value: Any
    level: str  # "default", "clause set", "jurisdiction" or "contract"
    why: str


def resolve(library: RuleLibrary, rule: spec.Rule, contract: models.Contract | None = None,
            country: str | None = None) -> dict[str, Setting]:
    """Each parameter of `rule` for `contract` at a facility in `country`: the rule's default < the contract's
    clause set < the country's pack < the contract's override. Within a level the most specific key wins
    (TR-01-DD over TR-01)."""
    proposed = set(rule.proposed_defaults)
    out = {name: Setting(value, "default", "rule default" + (", proposed" if name in proposed else ""))
           for name, value in rule.params.items()}
    clause_set = library.clause_set(contract.clause_set.id, contract.clause_set.version) if contract else None
    pack = library.jurisdictions.get(country) if country else None
    levels: list[tuple[str, dict[str, dict[str, Any]], Callable[[str, str], str]]] = []
    if clause_set is not None:
        levels.append(("clause set", clause_set.parameters,
                       lambda _key, _name: f"clause set {clause_set.id} {clause_set.version}"))
    if pack is not None:
        levels.append(("jurisdiction", pack.overrides(),
                       lambda key, name: pack.parameters[key][name].cited(pack.country)))
    if contract is not None:
        levels.append(("contract", contract.parameters, lambda _key, _name: f"contract {contract.id}"))
    for level, overrides, why in levels:
        for key in family_keys(rule.id, overrides):
            for name, value in overrides[key].items():
                if name in rule.params:
                    out[name] = Setting(value, level, why(key, name))
    return out


def override_problems(rules: dict[str, spec.Rule], key: str, overrides: dict[str, Any],
                      loc: tuple[str | int, ...]) -> list[SpecProblem]:
    """Problems with parameter overrides keyed by a rule id (they also reach the rule's variants)."""
    if key not in rules:
        return [SpecProblem(loc, f'unknown rule "{key}"{spec.did_you_mean(key, rules)}')]
    family = [rule for rule_id, rule in sorted(rules.items()) if in_family(rule_id, key)]
    problems = []
    for name in overrides:
        if not any(name in rule.params for rule in family):
            problems.append(SpecProblem(
                loc, f'rule {key} has no parameter "{name}"{spec.did_you_mean(name, rules[key].params)}'))
    for rule in family:
        mine = {name: value for name, value in overrides.items() if name in rule.params}
        problems += [p for p in check_rule(rule, loc, mine) if p not in problems]
    return problems


def rule_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            out.append(path)
    return out


def load_rules(paths: Iterable[Path]) -> RuleLibrary:
    """Read and check every rule and clause-set file; raise InputError listing every problem in every file."""
    library = RuleLibrary()
    problems: list[Problem] = []
    seen_rules: dict[str, tuple[str, int | None]] = {}
    files = rule_files(paths)
    if not files:
        raise InputError([Problem(", ".join(str(p) for p in paths) or ".", None, None, "contains no .yaml rule files")])
    located: list[tuple[spec.Rule, str, LocatedData, int]] = []
    case_files: list[tuple[Path, LocatedData]] = []
    named: set[str] = set()
    clause_set_places: list[tuple[spec.ClauseSet, str, LocatedData, int]] = []
    pack_places: list[tuple[jurisdictions.Pack, str, LocatedData]] = []
    vocabulary = _spec_vocabulary()
    for path in files:
        name = str(path)
        try:
            data = read_structured(path)
        except InputError as e:
            problems += e.problems
            continue
        library.files.append(path)
        value = data.value
        if isinstance(value, dict) and "cases" in value:
            case_files.append((path, data))
            continue
        if isinstance(value, dict) and "clause_sets" in value:
            try:
                parsed_sets = spec.ClauseSetFile.model_validate(value)
            except ValidationError as e:
                problems += validation_problems(e, name, data, vocabulary=vocabulary)
                continue
            for i, clause_set in enumerate(parsed_sets.clause_sets):
                library.clause_sets.append(clause_set)
                clause_set_places.append((clause_set, name, data, i))
            continue
        if isinstance(value, dict) and jurisdictions.PACK_KEY in value:
            try:
                pack = jurisdictions.PackFile.model_validate(value).jurisdiction
            except ValidationError as e:
                problems += validation_problems(e, name, data, vocabulary=vocabulary)
                continue
            pack_places.append((pack, name, data))
            continue
        if not isinstance(value, dict) or "rules" not in value:
            problems.append(Problem(name, data.line_of(()), None,
                                    "expected a mapping with a 'rules:' list (or 'clause_sets:', 'jurisdiction:', "
                                    "or test 'cases:')"))
            continue
        raw_rules = value["rules"]
        if not isinstance(raw_rules, list):
            problems.append(Problem(name, data.line_of(("rules",)), "rules", "must be a list of rules"))
            continue
        other = sorted(set(value) - {"rules"})
        if other:
            problems.append(Problem(name, data.line_of((other[0],)), None,
                                    f'unknown top-level key "{other[0]}"; a rule file has only "rules:"'))
        # Validate rule by rule, so one broken rule does not hide the problems of the others.
        for i, raw in enumerate(raw_rules):
            rule_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(rule_id, str):
                named.add(rule_id)  # a rule with problems is still known to its test cases
            label = f"rule {rule_id}" if isinstance(rule_id, str) else f"rules[{i}]"
            try:
                rule = spec.Rule.model_validate(raw)
            except ValidationError as e:
                problems += validation_problems(e, name, data, prefix=("rules", i), label=label,
                                                vocabulary=vocabulary, tags={"test", "all", "any", "not"})
                # Still check the meaning of the parts that are valid, so that one run reports everything.
                for p in _partial_check(raw, ("rules", i)):
                    problems.append(Problem(name, data.line_of(p.loc), f"{label}: {loc_text(p.loc[2:])}", p.message))
                continue
            line = data.line_of(("rules", i))
            if rule.id in seen_rules:
                first_file, first_line = seen_rules[rule.id]
                problems.append(Problem(name, data.line_of(("rules", i, "id")), f"rule {rule.id}",
                                        f"duplicate rule id; first defined at {first_file}:{first_line}"))
                continue
            seen_rules[rule.id] = (name, line)
            located.append((rule, name, data, i))
    by_id = {rule.id: rule for rule, *_ in located}
    for rule, name, data, i in located:
        for p in check_rule(rule, ("rules", i)):
            problems.append(Problem(name, data.line_of(p.loc), f"rule {rule.id}: {loc_text(p.loc[2:])}", p.message))
        library.rules.append(rule)
        library.sources[rule.id] = Path(name)
    _layers, order_problems = strata.strata([rule for rule, *_ in located])
    places = {rule.id: (name, data, i) for rule, name, data, i in located}
    for rule_id, p in order_problems:
        name, data, i = places[rule_id]
        problems.append(Problem(name, data.line_of(("rules", i, *p.loc)), f"rule {rule_id}: {loc_text(p.loc)}",
                                p.message))
    for clause_set, name, data, i in clause_set_places:
        for rule_id, overrides in clause_set.parameters.items():
            loc = ("clause_sets", i, "parameters", rule_id)
            for p in override_problems(by_id, rule_id, overrides, loc):
                problems.append(Problem(name, data.line_of(loc), f"clause set {clause_set.id}", p.message))
    problems += _pack_problems(library, by_id, pack_places)
    for path, data in case_files:
        library.cases += ruletests.load_cases(path, data, problems, named)
    if not problems:
        problems += _engine_problems(located, files)
    if problems:
        raise InputError(problems)
    library.rules.sort(key=lambda r: r.id)
    return library


def _pack_problems(library: RuleLibrary, by_id: dict[str, spec.Rule],
                   places: list[tuple[jurisdictions.Pack, str, LocatedData]]) -> list[Problem]:
    """Problems with jurisdiction packs: one pack per country, in the file named after it, and every parameter a
    value the rule accepts (as a clause set's); the packs without problems join the library."""
    problems = []
    for pack, name, data in places:
        label = f"jurisdiction {pack.country}"
        found = []
        if Path(name).stem != pack.country:
            found.append(Problem(name, data.line_of(("jurisdiction", "country")), f"{label}: country",
                                 f'a pack is named after its country: rename the file {pack.country}.yaml'))
        if pack.country in library.jurisdictions:
            found.append(Problem(name, data.line_of(("jurisdiction", "country")), f"{label}: country",
                                 f"a second pack for {pack.country}; one pack per country"))
        for rule_id, values in pack.parameters.items():
            for param, value in values.items():
                loc = ("jurisdiction", "parameters", rule_id, param)
                for p in override_problems(by_id, rule_id, {param: value.value}, loc):
                    where = loc if rule_id in by_id else loc[:3]
                    found.append(Problem(name, data.line_of((*where, "value") if rule_id in by_id else where),
                                         f"{label}: parameters.{rule_id}" + (f".{param}" if rule_id in by_id else ""),
                                         p.message))
        problems += found
        if not found:
            library.jurisdictions[pack.country] = pack
    return problems


def _engine_problems(located: list[tuple[spec.Rule, str, LocatedData, int]], files: list[Path]) -> list[Problem]:
    """What keeps the engine from taking the library safely (``compiler.CompileError``: too many engine rules,
    names the engine would confuse), at the rule to change."""
    try:
        parts = compiler.compile_library([rule for rule, *_ in located])
    except compiler.CompileError as error:
        for rule, name, data, i in located:
            if rule.id == error.rule_id:
                return [Problem(name, data.line_of(("rules", i, *error.loc)), f"rule {rule.id}: {loc_text(error.loc)}",
                                error.message)]
        return [Problem(", ".join(str(f) for f in files), None, None, error.message)]
    if not engine.available():
        return []  # without the engine, check and run say so themselves (exit 5)
    refused = [(part, reason) for part in parts if (reason := engine.refusal(part.definition)) is not None]
    if not refused:
        return []
    compiled, reason = refused[0]
    # The engine refuses the library: name the rules it refuses on their own, else the largest.
    problems = []
    for rule, name, data, i in located:
        if rule.id not in compiled.sizes:
            continue
        alone = compiler.compile_rules([rule]).definition
        if (why := engine.refusal(alone)) is not None:
            problems.append(Problem(name, data.line_of(("rules", i, "when")), f"rule {rule.id}: when",
                                    f"the engine cannot take this rule ({why}): it compiles to {len(alone) - 1} "
                                    "engine rules; split its 'any' alternatives into several rules"))
    if problems:
        return problems
    sizes = compiled.sizes
    largest = ", ".join(f"{rule_id} ({n})" for rule_id, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:3])
    return [Problem(", ".join(str(f) for f in files), None, None,
                    f"the engine cannot take the library as one ruleset ({reason}); it compiles to "
                    f"{sum(sizes.values())} engine rules, the largest {largest}: simplify 'any' conditions or split "
                    "the library")]


def _partial_check(raw: Any, loc: Loc) -> list[SpecProblem]:
    """Meaning problems of a rule that failed validation elsewhere, when its `when` (and params) are valid."""
    if not isinstance(raw, dict):
        return []
    try:
        rule = spec.Rule.model_validate({
            "id": "X-0", "version": "1", "title": "-", "clause": "-", "severity": "minor",
            "params": raw.get("params") or {}, "when": raw.get("when"), "then": {"message": ""},
        })
    except (ValidationError, TypeError):
        return []
    return check_rule(rule, loc)


def _spec_vocabulary() -> set[str]:
    names: set[str] = set()
    for cls in (spec.Rule, spec.When, spec.Then, spec.Pattern, spec.Absent, spec.Threshold, spec.AppliesTo,
                spec.Modifier, spec.Exists, spec.IndicatorFrom,
                spec.RuleFile, spec.ClauseSet, spec.ClauseSetFile,
                jurisdictions.Pack, jurisdictions.PackFile, jurisdictions.PackValue, jurisdictions.FeeCap):
        for name, info in cls.model_fields.items():
            names.add(info.alias or name)
    return names
