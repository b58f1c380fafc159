"""Read contract, facility and working-group files into validated records, or report every problem.

Every problem names its place: the file, the line (YAML/JSON) or the row (CSV, counted as a spreadsheet
counts them: the header is row 1), the field, what was expected and what was found. A file with any
problem yields an InputError listing all of them, and nothing from it is used. (Evidence files are read
row by row, keeping the good rows, by ``compliance.sources.intake``; rule files by ``compliance.rules.library``.)
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compliance.domain import models
from compliance.domain.policy import Policy
from compliance.errors import InputError, Problem
from compliance.rules.spec import did_you_mean
from compliance.sources import ocds, oshub
from compliance.sources.structured import (
    SHARED_VALUES_KEY,
    Loc,
    LocatedData,
    field_names,
    read_structured,
    validation_problems,
)

_COLLECTION_KEYS = {
    "working_groups": ("working_groups",),
    "contracts": ("contracts",),
    "facilities": ("facilities", "production_links"),
    "evidence": ("evidence",),
}


def _records(data: LocatedData, name: str, kind: str) -> list[tuple[str, int, Any]]:
    """(collection key, index, raw record) for a file holding a mapping of lists, a list, or one record."""
    value = data.value
    keys = _COLLECTION_KEYS[kind]
    if isinstance(value, dict) and any(k in value for k in keys):
        other = sorted(set(value) - set(keys) - {SHARED_VALUES_KEY})
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
    records: list[tuple[str, int, Any]], data: LocatedData, name: str, models_by_key: dict[str, Any],
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
    or record package (see compliance.sources.ocds), whose problems are named by their OCDS path."""
    name = str(path)
    _require_format(path, "contracts", STRUCTURED)
    data = read_structured(path)
    if path.suffix.lower() == ".json":
        if ocds.is_ocds_package(data.value):
            read, problems = ocds.read_package(data.value, name, data)
            contracts = []
            for item in read:
                try:
                    contracts.append(models.Contract.model_validate(item.raw))
                except ValidationError as e:
                    found = validation_problems(e, name, None, vocabulary=field_names(models.Contract))
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
                              vocabulary=field_names(models.Contract))
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
                        f'unknown threshold{did_you_mean(str(key), known)}' if key not in known else
                        f"must be a whole number of at least 0; found {value!r}")
                for key, value in (policy.items() if isinstance(policy, dict) else [])
                if key not in known or not isinstance(value, int) or isinstance(value, bool) or value < 0]
    if not isinstance(policy, dict):
        problems.append(Problem(name, data.line_of(("policy",)), "policy", "must be a mapping of thresholds"))
    if problems:
        raise InputError(problems)
    groups_only = LocatedData({k: v for k, v in data.value.items() if k != "policy"}, data.lines)
    groups = _validate_all(_records(groups_only, name, "working_groups"), data, name,
                           {"working_groups": models.WorkingGroup.model_validate},
                           vocabulary=field_names(models.WorkingGroup, models.WorkingGroupScope))
    _duplicates(groups, name, "working group id")
    return groups, policy


def load_facilities(path: Path) -> tuple[list[models.Facility], list[models.ProductionLink]]:
    """Read facilities and production links from YAML/JSON (`facilities:`, `production_links:`) or CSV: our own
    columns, or an Open Supply Hub download or contribution file (an os_id column; see compliance.sources.oshub)."""
    name = str(path)
    _require_format(path, "facilities", (*STRUCTURED, ".csv"))
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(path)
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
                                            field_names(models.Facility))
            except InputError as e:
                problems += e.problems
            if problems:
                raise InputError(problems)
            _duplicates(facilities, name, "facility id")
            return facilities, []
        facilities = _validate_rows(rows, name, lambda r: models.Facility.model_validate(r),
                                    field_names(models.Facility))
        _duplicates(facilities, name, "facility id")
        return facilities, []
    data = read_structured(path)
    parsed = _validate_all(_records(data, name, "facilities"), data, name, {
        "facilities": models.Facility.model_validate,
        "production_links": models.ProductionLink.model_validate,
    }, label_field="id", vocabulary=field_names(models.Facility) | field_names(models.ProductionLink))
    facilities = [p for p in parsed if isinstance(p, models.Facility)]
    links = [p for p in parsed if isinstance(p, models.ProductionLink)]
    _duplicates(facilities, name, "facility id")
    return facilities, links


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
