"""Shared fixtures: a real store per test, on SQLite and (when COMPLIANCE_TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from compliance.store import Store, normalise_url

ROOT = Path(__file__).resolve().parent.parent
#: The pseudonym key the tests import evidence with (real deployments configure their own secret key); set in the
#: environment so that CLI subprocesses inherit it. Tests of a missing key remove it with monkeypatch.
TEST_PSEUDONYM_KEY = "tests-only-pseudonym-key-0123456789abcdef"
os.environ["COMPLIANCE_PSEUDONYM_KEY"] = TEST_PSEUDONYM_KEY
os.environ.pop("COMPLIANCE_PSEUDONYM_KEY_FILE", None)
POSTGRES_URL = os.environ.get("COMPLIANCE_TEST_DATABASE_URL")
#: CI sets COMPLIANCE_TEST_REQUIRE_POSTGRES: there a missing test server is a failure, never a silent skip.
if POSTGRES_URL is None and os.environ.get("COMPLIANCE_TEST_REQUIRE_POSTGRES"):
    raise pytest.UsageError("COMPLIANCE_TEST_REQUIRE_POSTGRES is set but COMPLIANCE_TEST_DATABASE_URL is not")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh schema in the test PostgreSQL database, dropped afterwards."""
    assert POSTGRES_URL is not None
    base = normalise_url(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A database URL for an empty store: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL schema, for what only PostgreSQL has (skipped when no test server is configured, which
    CI does not allow: see COMPLIANCE_TEST_REQUIRE_POSTGRES)."""
    if POSTGRES_URL is None:
        pytest.skip("COMPLIANCE_TEST_DATABASE_URL is not set")
    with postgres_schema() as url:
        yield url


@pytest.fixture
def store(store_url: str):
    store = Store(store_url)
    store.upgrade()
    yield store
    store.close()
