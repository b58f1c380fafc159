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
    assert users and all(u.startswith("store/") for u in users)


def test_only_the_cli_imports_click():
    assert modules_importing("click") and all(m.startswith("cli/") for m in modules_importing("click"))


def test_the_reference_evaluator_shares_no_code_with_the_compiler_or_engine():
    used = imports(PACKAGE / "rules" / "reference.py")
    assert not any(name.startswith(("compliance.rules.compiler", "compliance.rules.engine")) for name in used)
