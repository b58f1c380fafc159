"""Connecting to the store: its URL, the engine, SQLite's settings, the schema's revision (Alembic), the run lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from compliance.errors import RunInProgress, StoreError

DEFAULT_URL = "sqlite:///compliance.db"
#: PostgreSQL advisory lock id of `run` ("CRUN" in ASCII).
RUN_LOCK_KEY = 0x4352554E
BUSY_MESSAGE = "another run is in progress on this store; try again later, or use --wait to wait for it"
MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str | None) -> str:
    """A SQLAlchemy URL from `url`, COMPLIANCE_DATABASE_URL, or the default SQLite file.

    A bare path means a SQLite file; ``postgresql://`` uses the psycopg (3) driver.
    """
    url = url or os.environ.get("COMPLIANCE_DATABASE_URL") or DEFAULT_URL
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Connection:
    """The database at `url` (SQLite file by default, PostgreSQL for a consortium): the engine and the schema."""

    def __init__(self, url: str | None = None):
        self.url = normalise_url(url)
        try:
            self.engine = sa.create_engine(self.url)
        except (sa.exc.ArgumentError, ImportError) as error:
            raise StoreError(f"cannot use database URL {display_url(self.url)!r}: {error}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def close(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------------------------------------------

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        return config

    def revisions(self) -> tuple[str | None, str]:
        """(the database's schema revision or None, the newest revision this software knows)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
        except sa.exc.OperationalError as error:
            raise StoreError(f"cannot open the database {display_url(self.url)}: {error.orig}") from None
        assert head is not None
        return current, head

    def upgrade(self) -> tuple[str | None, str]:
        """Create or migrate the schema to the newest revision; returns (revision before, revision after)."""
        from alembic import command

        before, head = self.revisions()
        if before != head:
            command.upgrade(self._alembic_config(), "head")
        return before, head

    def require_current(self) -> None:
        current, head = self.revisions()
        if current is None:
            raise StoreError(f"the database {display_url(self.url)} is not initialised. "
                             "Run 'compliance db init' first.")
        if current != head:
            raise StoreError(f"the database {display_url(self.url)} has schema revision {current}, this version "
                             f"of compliance needs {head}. Run 'compliance db upgrade' first.")

    # -- the run lock -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def run_lock(self, wait: bool = False) -> Iterator[None]:
        """Hold the store's run lock: one `run` writes findings at a time. Without `wait`, raise RunInProgress
        at once when another run holds it. The operating system (SQLite: a lock file beside the database) or
        the database (PostgreSQL: a session advisory lock) releases it if the process dies."""
        if self.engine.dialect.name == "postgresql":
            # One lock per store: the key names the schema too, so stores in two schemas of one database (a
            # consortium's test and live stores, say) never wait for each other.
            key = "(:k, hashtext(current_schema()))"
            with self.engine.connect() as connection:
                if wait:
                    connection.execute(sa.text(f"SELECT pg_advisory_lock{key}"), {"k": RUN_LOCK_KEY})
                elif not connection.execute(sa.text(f"SELECT pg_try_advisory_lock{key}"), {"k": RUN_LOCK_KEY}).scalar():
                    raise RunInProgress(BUSY_MESSAGE)
                try:
                    yield
                finally:
                    connection.execute(sa.text(f"SELECT pg_advisory_unlock{key}"), {"k": RUN_LOCK_KEY})
                    connection.commit()
            return
        path = self.engine.url.database
        lock_path = Path(f"{path}.run-lock") if path and path != ":memory:" else None
        if lock_path is None:
            yield
            return
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise RunInProgress(BUSY_MESSAGE) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
