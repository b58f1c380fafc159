"""Read rule, contract, facility and working-group files into validated objects, or report every problem.

Every problem names its place: the file, the line (YAML/JSON) or the row (CSV, counted as a spreadsheet
counts them: the header is row 1), the field, what was expected and what was found. A file with any
problem yields an InputError listing all of them, and nothing from it is used. (Evidence files are read
row by row, keeping the good rows, by ``compliance.intake``.)
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from compliance.domain import models
from compliance.errors import InputError, Problem
from compliance.escalation.routing import Policy
from compliance.rules import ruletests, spec

Loc = tuple[Any, ...]

# ---------------------------------------------------------------------------------------------------------------------
# YAML and JSON with line numbers


class _Data:
    """Parsed data plus the line of every mapping key and list item, by path."""

    def __init__(self, value: Any, lines: dict[Loc, int]):
        self.value = value
        self.lines = lines

    def line_of(self, loc: Loc) -> int | None:
        """The line of the deepest part of `loc` present in the data (pydantic adds union tags to locs)."""
        path: list[Any] = []
        node = self.value
        best = self.lines.get(())
        for part in loc:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                continue  # a union tag or a missing key: stay at the parent
            path.append(part)
            best = self.lines.get(tuple(path), best)
        return best


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, libyaml's (C) when PyYAML has it: reading the rule library is part of every command."""


def _construct(loader: _LineLoader, node: yaml.Node, path: Loc, lines: dict[Loc, int], problems: list[str]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                problems.append(f"{key_node.start_mark.line + 1}:duplicate key {key!r} (first on line {lines[path + (key,)]})")
                continue
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(loader, value_node, path + (key,), lines, problems)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, path + (i,), lines, problems) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_structured(path: Path) -> _Data:
    """Read a YAML or JSON file with the line of every key; raise InputError for syntax errors."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError([Problem(name, None, None, f"is not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    except OSError as e:
        raise InputError([Problem(name, None, None, f"cannot be read: {e.strerror}")]) from None
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)  # JSON's own parser decides what is valid JSON; YAML supplies the line numbers
        except json.JSONDecodeError as e:
            raise InputError([Problem(name, e.lineno, None, f"is not valid JSON: {e.msg} (column {e.colno})")]) from None
    loader = _LineLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        reason = getattr(e, "problem", None) or str(e)
        raise InputError([Problem(name, mark.line + 1 if mark else None, None, f"is not valid YAML: {reason}")]) from None
    finally:
        loader.dispose()
    if root is None:
        raise InputError([Problem(name, None, None, "is empty")])
    lines: dict[Loc, int] = {}
    problems: list[str] = []
    try:
        value = _construct(loader, root, (), lines, problems)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError([Problem(name, mark.line + 1 if mark else None, None, f"is not valid YAML: {e}")]) from None
    if problems:
        raise InputError([Problem(name, int(p.split(":", 1)[0]), None, p.split(":", 1)[1]) for p in problems])
    return _Data(value, lines)


# ---------------------------------------------------------------------------------------------------------------------
# pydantic errors -> problems


def _loc_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    text = repr(value.isoformat() if isinstance(value, dt.date) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem_text(error: dict[str, Any], vocabulary: Iterable[str]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        return f'unknown field "{name}"{spec.did_you_mean(name, set(vocabulary))}'
    if kind == "missing":
        return "is required but missing"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    value = error.get("input")
    if kind.startswith("union_tag") or isinstance(value, (dict, list)) or value is None or repr(value) in message:
        return message
    return f"{message[0].lower()}{message[1:]}; found {_shown(value)}"


def _tagless(loc: Loc, tags: set[str]) -> Loc:
    return tuple(p for p in loc if p not in tags)


def validation_problems(
    error: ValidationError, file: str, data: _Data | None, *, prefix: Loc = (), label: str = "",
    vocabulary: Iterable[str] = (), tags: Iterable[str] = (), row: int | None = None,
) -> list[Problem]:
    """Turn a pydantic ValidationError into located problems."""
    out = []
    vocab = set(vocabulary)
    tag_set = set(tags)
    for e in error.errors(include_url=False):
        loc = prefix + tuple(e["loc"])
        shown = _loc_text(_tagless(tuple(e["loc"]), tag_set))
        field_name = f"{label}: {shown}" if label and shown else (label or shown or None)
        if row is not None:
            out.append(Problem(file, row, field_name, _problem_text(e, vocab), unit="row"))
        else:
            out.append(Problem(file, data.line_of(loc) if data else None, field_name, _problem_text(e, vocab)))
    return out


def _spec_vocabulary() -> set[str]:
    names: set[str] = set()
    for cls in (spec.Rule, spec.When, spec.Then, spec.Pattern, spec.Absent, spec.Threshold, spec.AppliesTo,
                spec.RuleFile, spec.ClauseSet, spec.ClauseSetFile):
        for name, info in cls.model_fields.items():
            names.add(info.alias or name)
    return names


# ---------------------------------------------------------------------------------------------------------------------
# Rules


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


def override_problems(rules: dict[str, spec.Rule], key: str, overrides: dict[str, Any],
                      loc: tuple[str | int, ...]) -> list[spec.SpecProblem]:
    """Problems with parameter overrides keyed by a rule id (they also reach the rule's variants)."""
    if key not in rules:
        return [spec.SpecProblem(loc, f'unknown rule "{key}"{spec.did_you_mean(key, rules)}')]
    family = [rule for rule_id, rule in sorted(rules.items()) if in_family(rule_id, key)]
    problems = []
    for name in overrides:
        if not any(name in rule.params for rule in family):
            problems.append(spec.SpecProblem(
                loc, f'rule {key} has no parameter "{name}"{spec.did_you_mean(name, rules[key].params)}'))
    for rule in family:
        mine = {name: value for name, value in overrides.items() if name in rule.params}
        problems += [p for p in spec.check_rule(rule, loc, mine) if p not in problems]
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
    located: list[tuple[spec.Rule, str, _Data, int]] = []
    case_files: list[tuple[Path, _Data]] = []
    named: set[str] = set()
    clause_set_places: list[tuple[spec.ClauseSet, str, _Data, int]] = []
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
        if not isinstance(value, dict) or "rules" not in value:
            problems.append(Problem(name, data.line_of(()), None,
                                    "expected a mapping with a 'rules:' list (or 'clause_sets:', or test 'cases:')"))
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
                    problems.append(Problem(name, data.line_of(p.loc), f"{label}: {_loc_text(p.loc[2:])}", p.message))
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
        for p in spec.check_rule(rule, ("rules", i)):
            problems.append(Problem(name, data.line_of(p.loc), f"rule {rule.id}: {_loc_text(p.loc[2:])}", p.message))
        library.rules.append(rule)
        library.sources[rule.id] = Path(name)
    for clause_set, name, data, i in clause_set_places:
        for rule_id, overrides in clause_set.parameters.items():
            loc = ("clause_sets", i, "parameters", rule_id)
            for p in override_problems(by_id, rule_id, overrides, loc):
                problems.append(Problem(name, data.line_of(loc), f"clause set {clause_set.id}", p.message))
    for path, data in case_files:
        library.cases += ruletests.load_cases(path, data, problems, named)
    if problems:
        raise InputError(problems)
    library.rules.sort(key=lambda r: r.id)
    return library


def _partial_check(raw: Any, loc: Loc) -> list[spec.SpecProblem]:
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
    return spec.check_rule(rule, loc)


# ---------------------------------------------------------------------------------------------------------------------
# Contracts, facilities and evidence

_COLLECTION_KEYS = {
    "working_groups": ("working_groups",),
    "contracts": ("contracts",),
    "facilities": ("facilities", "production_links"),
    "evidence": ("evidence",),
}


def _records(data: _Data, name: str, kind: str) -> list[tuple[str, int, Any]]:
    """(collection key, index, raw record) for a file holding a mapping of lists, a list, or one record."""
    value = data.value
    keys = _COLLECTION_KEYS[kind]
    if isinstance(value, dict) and any(k in value for k in keys):
        other = sorted(set(value) - set(keys))
        if other:
            raise InputError([Problem(name, data.line_of((other[0],)), None,
                                      f'unknown top-level key "{other[0]}"; expected {", ".join(keys)}')])
        out = []
        for key in keys:
            items = value.get(key, [])
            if not isinstance(items, list):
                raise InputError([Problem(name, data.line_of((key,)), key, "must be a list")])
            out += [(key, i, item) for i, item in enumerate(items)]
        return out
    if isinstance(value, list):
        return [(keys[0], i, item) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return [(keys[0], -1, value)]
    raise InputError([Problem(name, data.line_of(()), None, f"expected {' or '.join(keys)} records")])


def _validate_all(
    records: list[tuple[str, int, Any]], data: _Data, name: str, models_by_key: dict[str, Any],
    label_field: str = "id", vocabulary: Iterable[str] = (), tags: Iterable[str] = (),
) -> list[Any]:
    out, problems = [], []
    for key, i, raw in records:
        prefix: Loc = (key, i) if i >= 0 else ()
        if isinstance(data.value, list):
            prefix = (i,)
        record_id = raw.get(label_field) if isinstance(raw, dict) else None
        label = f"{key.rstrip('s') if key != 'evidence' else 'evidence'} {record_id}" if record_id else f"{key}[{i}]"
        try:
            out.append(models_by_key[key](raw))
        except ValidationError as e:
            problems += validation_problems(e, name, data, prefix=prefix, label=label, vocabulary=vocabulary, tags=tags)
    if problems:
        raise InputError(problems)
    return out


def _duplicates(items: list[Any], name: str, what: str, key: Any = lambda x: x.id) -> None:
    seen: set[Any] = set()
    dupes = []
    for item in items:
        k = key(item)
        if k in seen:
            dupes.append(k)
        seen.add(k)
    if dupes:
        raise InputError([Problem(name, None, None, f"{what} {d!r} appears more than once") for d in dupes])


STRUCTURED = (".yaml", ".yml", ".json")


def _require_format(path: Path, what: str, suffixes: tuple[str, ...]) -> None:
    if path.suffix.lower() not in suffixes:
        shown = ", ".join(suffixes)
        raise InputError([Problem(str(path), None, None, f"{what} are read from {shown} files, not {path.suffix or 'a file without an extension'}")])


def load_contracts(path: Path) -> list[models.Contract]:
    """Read contracts from YAML or JSON: a `contracts:` list, a list, or one contract; or from a JSON OCDS release
    or record package (see compliance.ocds), whose problems are named by their OCDS path."""
    name = str(path)
    _require_format(path, "contracts", STRUCTURED)
    data = read_structured(path)
    if path.suffix.lower() == ".json":
        from compliance.sources import ocds

        if ocds.is_ocds_package(data.value):
            read, problems = ocds.read_package(data.value, name, data)
            contracts = []
            for item in read:
                try:
                    contracts.append(models.Contract.model_validate(item.raw))
                except ValidationError as e:
                    found = validation_problems(e, name, None, vocabulary=_model_vocabulary(models.Contract))
                    for problem, error in zip(found, e.errors(include_url=False)):
                        if not item.is_reported(error["loc"]):
                            line, where = item.locate(error["loc"])
                            problems.append(dataclasses.replace(problem, line=line, field=where))
            if problems:
                raise InputError(problems)
            _duplicates(contracts, name, "contract id")
            return contracts
    contracts = _validate_all(_records(data, name, "contracts"), data, name,
                              {"contracts": models.Contract.model_validate},
                              vocabulary=_model_vocabulary(models.Contract))
    _duplicates(contracts, name, "contract id")
    return contracts


def load_working_groups(path: Path) -> tuple[list[models.WorkingGroup], dict[str, int]]:
    """Read working groups from YAML or JSON (`working_groups:`), and routing thresholds (`policy:`)."""
    name = str(path)
    _require_format(path, "working groups", STRUCTURED)
    data = read_structured(path)
    policy = data.value.get("policy", {}) if isinstance(data.value, dict) else {}
    known = {f.name for f in dataclasses.fields(Policy)}
    problems = [Problem(name, data.line_of(("policy", key)), f"policy.{key}",
                        f'unknown threshold{spec.did_you_mean(str(key), known)}' if key not in known else
                        f"must be a whole number of at least 0; found {value!r}")
                for key, value in (policy.items() if isinstance(policy, dict) else [])
                if key not in known or not isinstance(value, int) or isinstance(value, bool) or value < 0]
    if not isinstance(policy, dict):
        problems.append(Problem(name, data.line_of(("policy",)), "policy", "must be a mapping of thresholds"))
    if problems:
        raise InputError(problems)
    groups_only = _Data({k: v for k, v in data.value.items() if k != "policy"}, data.lines)
    groups = _validate_all(_records(groups_only, name, "working_groups"), data, name,
                           {"working_groups": models.WorkingGroup.model_validate},
                           vocabulary=_model_vocabulary(models.WorkingGroup, models.WorkingGroupScope))
    _duplicates(groups, name, "working group id")
    return groups, policy


def load_facilities(path: Path) -> tuple[list[models.Facility], list[models.ProductionLink]]:
    """Read facilities and production links from YAML/JSON (`facilities:`, `production_links:`) or CSV: our own
    columns, or an Open Supply Hub download or contribution file (an os_id column; see compliance.oshub)."""
    name = str(path)
    _require_format(path, "facilities", (*STRUCTURED, ".csv"))
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(path)
        from compliance.sources import oshub

        header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")), [])
        if oshub.is_oshub_header(header):
            problems = [Problem(name, 1, f'column "{column}"', message, unit="row")
                        for column, message in oshub.header_problems(header)]
            converted = []
            for row_number, row in rows:
                try:
                    converted.append((row_number, oshub.facility_from_oshub_row(row)))
                except oshub.RowError as e:
                    label = f"id {e.os_id}: " if e.os_id else ""
                    problems += [Problem(name, row_number, f"{label}{column}", message, unit="row")
                                 for column, message in e.problems]
            try:
                facilities = _validate_rows(converted, name, models.Facility.model_validate,
                                            _model_vocabulary(models.Facility))
            except InputError as e:
                problems += e.problems
            if problems:
                raise InputError(problems)
            _duplicates(facilities, name, "facility id")
            return facilities, []
        facilities = _validate_rows(rows, name, lambda r: models.Facility.model_validate(r),
                                    _model_vocabulary(models.Facility))
        _duplicates(facilities, name, "facility id")
        return facilities, []
    data = read_structured(path)
    parsed = _validate_all(_records(data, name, "facilities"), data, name, {
        "facilities": models.Facility.model_validate,
        "production_links": models.ProductionLink.model_validate,
    }, label_field="id", vocabulary=_model_vocabulary(models.Facility) | _model_vocabulary(models.ProductionLink))
    facilities = [p for p in parsed if isinstance(p, models.Facility)]
    links = [p for p in parsed if isinstance(p, models.ProductionLink)]
    _duplicates(facilities, name, "facility id")
    return facilities, links


def _model_vocabulary(*classes: type[BaseModel]) -> set[str]:
    out: set[str] = set()
    for cls in classes:
        out |= set(cls.model_fields)
    return out


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError([Problem(name, None, None, f"is not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise InputError([Problem(name, None, None, "is empty: expected a header row and data rows")])
    rows = []
    for index, row in enumerate(reader):
        if None in row:
            raise InputError([Problem(name, index + 2, None, "has more cells than the header has columns", unit="row")])
        cleaned: dict[str, Any] = {}
        for key, cell in row.items():
            cell = (cell or "").strip()
            if cell == "":
                continue  # an empty cell is a missing value
            cleaned[key] = cell
        rows.append((index + 2, cleaned))
    if not rows:
        raise InputError([Problem(name, None, None, "has a header row but no data rows")])
    return rows


def _validate_rows(rows: list[tuple[int, dict[str, Any]]], name: str, validate: Any, vocabulary: Iterable[str],
                   tags: Iterable[str] = ()) -> list[Any]:
    out, problems = [], []
    for row_number, row in rows:
        try:
            out.append(validate(row))
        except ValidationError as e:
            label = f"id {row['id']}" if row.get("id") else ""
            problems += validation_problems(e, name, None, label=label, vocabulary=vocabulary, tags=tags,
                                            row=row_number)
    if problems:
        raise InputError(problems)
    return out
