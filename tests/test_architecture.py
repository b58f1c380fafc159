"""One concept, one place: which modules may import what."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "compliance"


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules_importing(prefix: str) -> set[str]:
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(name == prefix or name.startswith(prefix + ".") for name in imports(path))
    }


def test_only_the_engine_adapter_imports_durable_rules():
    assert modules_importing("durable") | modules_importing("durable_rules_engine") == {"rules/engine.py"}


def test_only_the_store_and_its_migrations_import_sqlalchemy_and_sqlmodel():
    users = modules_importing("sqlalchemy") | modules_importing("sqlmodel")
    assert {u for u in users if not u.startswith("store/migrations/")} == {"store/database.py"}


def test_only_the_cli_imports_click():
    assert modules_importing("click") and all(m.startswith("cli/") for m in modules_importing("click"))


def test_the_reference_evaluator_shares_no_code_with_the_compiler_or_engine():
    used = imports(PACKAGE / "rules" / "reference.py")
    assert not any(name.startswith(("compliance.rules.compiler", "compliance.rules.engine")) for name in used)


def test_exit_codes_are_defined_once_and_documented_as_defined():
    """The README's table, `compliance --help` and the exception tree all come from compliance.errors."""
    import re

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
