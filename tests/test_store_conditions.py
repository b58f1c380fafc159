"""A store that cannot be used says why and what to do, with exit code 5, for every command: damaged, not a
store at all, locked by another process, made by a newer release, or holding a record changed behind our back."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import example_store

from compliance.cli import cli
from compliance.errors import StoreError
from compliance.store import Store, normalise_url

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
CONTRACT = "NDNA-CALLOFF-2024-017"
COMMANDS = [
    ["contracts", "list"],
    ["check", CONTRACT, "--as-of", "2025-06-30", "--rules", RULES],
    ["run", "--as-of", "2025-06-30", "--rules", RULES],
    ["audit", "verify"],
    ["db", "status"],
    ["db", "upgrade"],
]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conditions") / "example.db"
    example_store(path)
    return path


@pytest.fixture
def store(example: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "store.db"
    shutil.copy(example, copy)
    return copy


def invoke(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", str(path), *args])
    return result.exit_code, result.output


def expect_unusable(path: Path, words: str, commands: list[list[str]] = COMMANDS) -> None:
    for command in commands:
        code, output = invoke(path, *command)
        assert code == 5, (command, output)
        assert words in output and "internal error" not in output and "Traceback" not in output, (command, output)


def test_a_truncated_store_is_named_damaged(store: Path):
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 3])
    expect_unusable(store, "Restore it from a backup", COMMANDS[:4] + [["db", "status"]])


@pytest.mark.parametrize("content", [b"contract_id,date\nK1,2025-01-01\n" * 100, b"zip"])
def test_a_file_that_is_not_a_store_is_named(tmp_path: Path, content: bytes):
    path = tmp_path / "store.db"
    if content == b"zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("store.db", b"x" * 5000)
        content = buffer.getvalue()
    path.write_bytes(content)
    expect_unusable(path, "is damaged or is not a compliance store")


def test_a_store_from_a_newer_release_asks_for_newer_software(store: Path):
    with sqlite3.connect(store) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dcafe0099'")
    expect_unusable(store, "newer release")


def test_a_store_without_its_schema_revision_is_named_damaged(store: Path):
    with sqlite3.connect(store) as connection:
        connection.execute("DROP TABLE alembic_version")
    expect_unusable(store, "no schema revision")


@pytest.mark.parametrize("damage, words", [("not json", "is not JSON"), ("bad value", "is damaged in the store")])
def test_a_record_changed_behind_the_stores_back_is_named(store: Path, damage: str, words: str):
    with sqlite3.connect(store) as connection:
        rows = connection.execute("SELECT id, payload FROM evidence WHERE type = 'grievance'").fetchall()
        records = {record for record, _payload in rows}
        for record, payload in rows:
            changed = "{not json" if damage == "not json" else json.dumps({**json.loads(payload), "status": "bogus"})
            connection.execute("UPDATE evidence SET payload = ? WHERE id = ?", (changed, record))
    commands = [["check", "--all", "--as-of", "2025-06-30", "--rules", RULES], COMMANDS[2]]
    expect_unusable(store, words, commands)
    _code, output = invoke(store, *commands[0])
    assert any(f"evidence record {record} " in output for record in records), output


def test_a_store_locked_by_another_process_says_so_after_the_lock_timeout(store: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COMPLIANCE_LOCK_TIMEOUT", "0.2")
    holder = sqlite3.connect(store)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        expect_unusable(store, "is locked by another process", [["contracts", "list"], ["audit", "verify"],
                                                                 ["import", "evidence",
                                                                  str(ROOT / "contracts" / "evidence" /
                                                                      "corrective-actions.csv")]])
    finally:
        holder.rollback()
        holder.close()
    assert invoke(store, "contracts", "list")[0] == 0  # released: the store works again


@pytest.mark.parametrize("url, words", [("postgresql://nobody@127.0.0.1:1/compliance", "cannot be reached"),
                                        ("sqlite:////nonexistent-folder/store.db", "cannot be opened")])
def test_a_store_that_cannot_be_reached_or_opened_says_what_to_check(url: str, words: str):
    for command in (["contracts", "list"], ["db", "init"]):
        result = CliRunner().invoke(cli, ["--db", url, *command])
        assert result.exit_code == 5 and words in result.output, result.output


def test_a_lost_postgresql_connection_is_a_store_problem_and_the_next_command_works(postgres_url: str):
    """A server restart or a terminated backend mid-command: exit 5 naming the server (not an internal error), and
    the store works again on the next command."""
    store = Store(postgres_url)
    admin = sa.create_engine(normalise_url(os.environ["COMPLIANCE_TEST_DATABASE_URL"]))
    try:
        store.upgrade()
        with store.engine.connect() as connection:  # the pooled connection the next read will use
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with admin.begin() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(StoreError, match="lost its connection|cannot be reached"):
            store.contracts()
        assert store.contracts() == []  # a new connection: the store is usable again
    finally:
        store.close()
        admin.dispose()


@pytest.mark.parametrize("command", [["findings", "list"], ["letter", "list"], ["audit", "verify"],
                                     ["findings", "export", "--format", "csv"]])
def test_a_command_on_a_store_never_initialised_says_to_initialise_it(store_url: str, command: list[str]):
    """Every command that reads the store answers an empty database with exit 5 and what to run, never an internal
    error (exit 70)."""
    result = CliRunner().invoke(cli, ["--db", store_url, *command])
    assert result.exit_code == 5, result.output
    assert "is not initialised" in result.output and "compliance db init" in result.output
