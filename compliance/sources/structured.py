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
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from compliance.errors import InputError, Problem
from compliance.rules.spec import did_you_mean

Loc = tuple[Any, ...]

#: A data file's top-level key for shared values that records merge in with YAML anchors and merge keys
#: (`defaults: &site {facility_id: ...}`, then `- <<: *site` in each record); it is not imported itself.
SHARED_VALUES_KEY = "defaults"

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


#: How deep a file's values may nest, and how many values its aliases (*name) may repeat: enough for any real
#: file, and a small file of nested aliases (a "billion laughs") is refused at once instead of filling memory.
MAX_DEPTH = 64
MAX_REPEATED_VALUES = 100_000


class _Budget:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.repeated = 0
        self.path: set[int] = set()  # the nodes being built: meeting one again is an anchor that contains itself


def _too_much(node: yaml.Node, message: str) -> InputError:
    return InputError([Problem("", node.start_mark.line + 1, None, message)])


def _scalar(loader: _LineLoader, node: yaml.Node) -> Any:
    """A scalar's value; one YAML cannot make (an impossible date, a number too long for Python) stays its text,
    so that the field it fills reports it at its line like any other wrong value."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError, yaml.YAMLError):
        return node.value


def _construct(loader: _LineLoader, node: yaml.Node, path: Loc, lines: dict[Loc, int], problems: list[str],
               budget: _Budget) -> Any:
    lines[path] = node.start_mark.line + 1
    if len(path) > MAX_DEPTH:
        raise _too_much(node, f"nests values deeper than {MAX_DEPTH} levels")
    if id(node) in budget.seen:
        budget.repeated += 1
        if budget.repeated > MAX_REPEATED_VALUES:
            raise _too_much(node, f"repeats more than {MAX_REPEATED_VALUES:,} values through aliases (*name): "
                                  "write the values out, or use fewer aliases")
    budget.seen.add(id(node))
    if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        return _scalar(loader, node)
    if id(node) in budget.path:
        raise _too_much(node, "an anchor (&name) contains an alias to itself (*name), which never ends")
    budget.path.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_construct(loader, item, path + (i,), lines, problems, budget) for i, item in enumerate(node.value)]
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node) if isinstance(key_node, yaml.ScalarNode) else \
                str(_construct(loader, key_node, path, lines, problems, budget))
            if key in out:
                problems.append(f"{key_node.start_mark.line + 1}:duplicate key {key!r} (first on line {lines[path + (key,)]})")
                continue
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(loader, value_node, path + (key,), lines, problems, budget)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    finally:
        budget.path.discard(id(node))


_LONE_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
                            r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


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
            # JSON's own parser decides what is valid JSON; YAML supplies the values and their lines (a number too
            # long for Python is then a problem at its field, not of the whole file).
            json.loads(text, parse_int=len, parse_float=len)
        except json.JSONDecodeError as e:
            raise InputError([Problem(name, e.lineno, None, f"is not valid JSON: {e.msg} (column {e.colno})")]) from None
        except RecursionError:
            raise InputError([Problem(name, None, None, f"nests values deeper than {MAX_DEPTH} levels")]) from None
    # JSON and YAML may escape a lone surrogate (\\ud800), which the YAML reader refuses for the whole file: it
    # becomes U+FFFF, a non-character the record's validation refuses at its field (only that row is quarantined).
    text = _LONE_SURROGATE.sub(r"\\uffff", text)
    loader = _LineLoader(text)
    try:
        root = loader.get_single_node()
    except RecursionError:
        raise InputError([Problem(name, None, None, f"nests values deeper than {MAX_DEPTH} levels")]) from None
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
        value = _construct(loader, root, (), lines, problems, _Budget())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError([Problem(name, mark.line + 1 if mark else None, None, f"is not valid YAML: {e}")]) from None
    except InputError as e:
        raise InputError([Problem(name, p.line, p.field, p.message) for p in e.problems]) from None
    except RecursionError:
        raise InputError([Problem(name, None, None, f"nests values deeper than {MAX_DEPTH} levels")]) from None
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
