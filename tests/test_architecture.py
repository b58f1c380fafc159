"""One concept, one place: which modules may import what.

The package is layered (README, "Architecture"); these tests walk the import graph of every module, including
imports inside functions, so that a layer cannot reach upwards, no cycle hides behind a late import, and each
third-party library that carries a concern (the engine, the database, the command line, templates) is imported
only where that concern lives.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "compliance"

#: Lowest first. A module imports only modules of its own rank or lower; rules/ and sources/ share a rank.
LAYERS = {
    "errors": 0, "domain": 1, "rules": 2, "sources": 2, "store": 3, "evaluation": 4, "escalation": 5,
    "documents": 6, "api": 7, "cli": 8, "__main__": 9,
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def graph() -> dict[str, set[str]]:
    """Module -> the compliance modules it imports (a `from package import name` counts the module `name` when
    there is one, else the package)."""
    out: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        out[name] = {target for target in imports(path)
                     if target.startswith("compliance") and is_module(target) and target != name}
    return out


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None  # the package's own __init__ imports nothing


def modules_importing(prefix: str) -> set[str]:
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(name == prefix or name.startswith(prefix + ".") for name in imports(path))
    }


def test_every_module_belongs_to_a_layer():
    assert {m for m in MODULES if m != "compliance" and layer(m) is None} == set()


def test_no_layer_imports_a_higher_one():
    upward = sorted(f"{module} -> {target}" for module, targets in graph().items() for target in targets
                    if layer(target) is not None and layer(module) is not None and layer(target) > layer(module))
    assert upward == []


def test_the_import_graph_has_no_cycle():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_cli_reaches_the_library_only_through_the_api():
    """Commands call compliance.api; besides it they may read the domain's vocabulary (option choices, without
    loading the library when only --help is asked) and the exit codes."""
    allowed = {"compliance", "compliance.api", "compliance.errors"}
    for module, targets in graph().items():
        if module.startswith("compliance.cli"):
            outside = {t for t in targets if not t.startswith(("compliance.cli", "compliance.domain"))}
            assert outside <= allowed, module


def test_only_the_engine_adapter_imports_durable_rules():
    assert modules_importing("durable") | modules_importing("durable_rules_engine") == {"rules/engine.py"}


def test_only_the_store_imports_sqlalchemy_sqlmodel_and_alembic():
    users = modules_importing("sqlalchemy") | modules_importing("sqlmodel") | modules_importing("alembic")
    assert users and all(u.startswith("store/") for u in users)


def test_only_the_cli_imports_click():
    assert modules_importing("click") and all(m.startswith("cli/") for m in modules_importing("click"))


def test_templates_are_the_documents_concern_and_the_rule_languages_messages():
    """One Jinja environment for documents (documents/), one for the one-sentence finding messages of rules."""
    users = modules_importing("jinja2") | modules_importing("markupsafe")
    assert users and all(u.startswith("documents/") or u == "rules/spec.py" for u in users), sorted(users)


def test_the_reference_evaluator_shares_no_code_with_the_compiler_or_engine():
    used = imports(PACKAGE / "rules" / "reference.py")
    assert not any(name.startswith(("compliance.rules.compiler", "compliance.rules.engine")) for name in used)


def test_long_modules_say_why_they_are_one_module():
    for name, path in MODULES.items():
        text = path.read_text()
        if text.count("\n") > 650:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            assert re.search(r"one module", docstring, re.I), f"{name} has {text.count(chr(10))} lines"


def test_exit_codes_are_defined_once_and_documented_as_defined():
    """The README's table, `compliance --help` and the exception tree all come from compliance.errors."""
    from click.testing import CliRunner

    from compliance import errors
    from compliance.cli import cli

    readme = (PACKAGE.parent / "README.md").read_text()
    table = readme[readme.index("### Exit codes"):]
    rows = {int(code): text for code, text in re.findall(r"^\| (\d+) \| (.*) \|$", table, flags=re.M)}
    assert rows == {code.value: full for code, (_short, full) in errors.EXIT_CODES.items()}
    help_text = CliRunner().invoke(cli, ["--help"]).output
    for code, (short, _full) in errors.EXIT_CODES.items():
        assert f"{code.value:<3} {short}" in help_text
    for error in (errors.InputError, errors.NotFound, errors.StoreError, errors.EngineUnavailable,
                  errors.ConfigurationError, errors.EngineError, errors.RunInProgress, errors.RedactionError):
        assert error.exit_code in errors.EXIT_CODES and error.__name__ in errors.__doc__


def test_the_public_api_is_sorted_and_complete():
    from compliance import api

    assert api.__all__ == sorted(api.__all__, key=str.lower)
    assert all(hasattr(api, name) for name in api.__all__)
