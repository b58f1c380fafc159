"""Read YAML and JSON files with the line of every value, and turn pydantic's errors into located problems.

``read_structured`` gives a ``LocatedData``: the parsed value plus the line of every mapping key and list item,
so that a problem found later (by pydantic, or by a check of meaning) names the line it is on. Syntax errors,
duplicate keys, text that is not UTF-8 and empty files are reported here, with their place.
``validation_problems`` turns a pydantic ValidationError into ``Problem``s: the file, the line (or the CSV row),
the field, what was expected and what was found.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from compliance.errors import InputError, Problem
from compliance.rules.spec import did_you_mean

Loc = tuple[Any, ...]

# ---------------------------------------------------------------------------------------------------------------------
# YAML and JSON with line numbers


class LocatedData:
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


def read_structured(path: Path) -> LocatedData:
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
    return LocatedData(value, lines)


# ---------------------------------------------------------------------------------------------------------------------
# pydantic errors -> problems


def loc_text(loc: Loc) -> str:
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
        return f'unknown field "{name}"{did_you_mean(name, set(vocabulary))}'
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
    error: ValidationError, file: str, data: LocatedData | None, *, prefix: Loc = (), label: str = "",
    vocabulary: Iterable[str] = (), tags: Iterable[str] = (), row: int | None = None,
) -> list[Problem]:
    """Turn a pydantic ValidationError into located problems."""
    out = []
    vocab = set(vocabulary)
    tag_set = set(tags)
    for e in error.errors(include_url=False):
        loc = prefix + tuple(e["loc"])
        shown = loc_text(_tagless(tuple(e["loc"]), tag_set))
        field_name = f"{label}: {shown}" if label and shown else (label or shown or None)
        if row is not None:
            out.append(Problem(file, row, field_name, _problem_text(e, vocab), unit="row"))
        else:
            out.append(Problem(file, data.line_of(loc) if data else None, field_name, _problem_text(e, vocab)))
    return out


def field_names(*classes: type[BaseModel]) -> set[str]:
    """The field names of pydantic models: the vocabulary a did-you-mean for an unknown field chooses from."""
    out: set[str] = set()
    for cls in classes:
        out |= set(cls.model_fields)
    return out
