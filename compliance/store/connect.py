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
from compliance.store.tables import SQLModel

DEFAULT_URL = "sqlite:///compliance.db"
#: PostgreSQL advisory lock id of `run` ("CRUN" in ASCII).
RUN_LOCK_KEY = 0x4352554E
BUSY_MESSAGE = "another run is in progress on this store; try again later, or use --wait to wait for it"
MIGRATIONS = Path(__file__).parent / "migrations"
#: The store's own tables: found without a schema revision, they mean a damaged store.
KNOWN_TABLES = frozenset(SQLModel.metadata.tables)


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


#: How long a command waits for a SQLite store another process is writing, in seconds (COMPLIANCE_LOCK_TIMEOUT).
LOCK_TIMEOUT = 30

#: What the database says when the store cannot be used, and what the officer or administrator should do.
_CONDITIONS = (
    (("file is not a database", "database disk image is malformed", "malformed database schema"),
     "is damaged or is not a compliance store ({error}). Restore it from a backup, or point --db (or "
     "COMPLIANCE_DATABASE_URL) at the right file"),
    (("database is locked", "database table is locked"),
     "is locked by another process (an import, a run or a backup writing to it). Try again when it has finished; "
     "a command waits up to COMPLIANCE_LOCK_TIMEOUT seconds (now {timeout})"),
    (("unable to open database file",), "cannot be opened ({error}): check that its folder exists and is writable"),
    (("readonly database", "read-only transaction"),
     "cannot be written ({error}): the command needs to write to it; check the file's permissions"),
    (("terminating connection", "server closed the connection", "connection already closed", "connection is closed",
      "ssl connection has been closed", "connection has been closed"),
     "lost its connection to the database server ({error}): nothing of this command was stored; run it again "
     "when the server is back"),
    (("could not connect", "connection refused", "connection failed", "password authentication failed",
      "connection to server", "timeout expired"),
     "cannot be reached ({error}): check that the database server is running and the URL is right"),
    # After the conditions above (a database that does not exist is a connection failure): a table or column missing.
    (("no such table", "no such column", '" does not exist'),
     "is not initialised, or not at this version's schema ({error}). Run 'compliance db init' for a new store, "
     "or 'compliance db upgrade'"),
)


def lock_timeout() -> float:
    try:
        return float(os.environ.get("COMPLIANCE_LOCK_TIMEOUT", LOCK_TIMEOUT))
    except ValueError:
        return LOCK_TIMEOUT


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout() * 1000)}")
    cursor.close()


def store_condition(url: str, error: BaseException) -> StoreError | None:
    """A StoreError saying what is wrong with the store at `url` and what to do, when `error` (from the database
    driver) is one of the conditions that make a store unusable; None for any other error."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0] if str(error).strip() else ""
    lowered = text.lower()
    for needles, advice in _CONDITIONS:
        if any(needle in lowered for needle in needles):
            return StoreError(f"the store {display_url(url)} " + advice.format(error=text, timeout=lock_timeout()))
    return None


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
        event.listen(self.engine, "handle_error", self._unusable)

    def _unusable(self, context: Any) -> None:
        """SQLAlchemy's error hook: a damaged, locked or unreachable store becomes a StoreError saying what to do
        (exit code 5), wherever in the store it is met."""
        condition = store_condition(self.url, context.original_exception)
        if condition is not None:
            raise condition from None

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

        scripts = ScriptDirectory.from_config(self._alembic_config())
        head = scripts.get_current_head()
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
                ours = set(sa.inspect(connection).get_table_names()) & KNOWN_TABLES if current is None else set()
        except sa.exc.DBAPIError as error:
            raise store_condition(self.url, error) or StoreError(
                f"cannot open the database {display_url(self.url)}: {error.orig}") from None
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise StoreError(f"the store {display_url(self.url)} has schema revision {current}, which this version "
                             "of compliance does not know: it was made or upgraded by a newer release. Upgrade "
                             "compliance (pip install --upgrade), or restore a backup made with this version.")
        if current is None and ours:
            raise StoreError(f"the store {display_url(self.url)} holds tables named as a compliance store's "
                             f"({', '.join(sorted(ours))}) but no schema revision (its alembic_version table is "
                             "missing or empty): it is damaged, or another application's database. Restore it from "
                             "a backup, or point --db at the right database.")
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
            # The lock's connection holds no transaction: a server's idle_in_transaction_session_timeout cannot end it.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                if wait:
                    connection.execute(sa.text(f"SELECT pg_advisory_lock{key}"), {"k": RUN_LOCK_KEY})
                elif not connection.execute(sa.text(f"SELECT pg_try_advisory_lock{key}"), {"k": RUN_LOCK_KEY}).scalar():
                    raise RunInProgress(BUSY_MESSAGE)
                try:
                    yield
                finally:
                    connection.execute(sa.text(f"SELECT pg_advisory_unlock{key}"), {"k": RUN_LOCK_KEY})
            return
        path = self.engine.url.database
        lock_path = Path(f"{path}.run-lock") if path and path != ":memory:" else None
        if lock_path is None:
            yield
            return
        try:
            handle_file = open(lock_path, "a+")  # noqa: SIM115 - closed below, after the lock is released
        except OSError as error:
            raise StoreError(f"cannot create the run lock file {lock_path} beside the store ({error.strerror}): the "
                             "store's folder must be writable for a run") from None
        with handle_file as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise RunInProgress(BUSY_MESSAGE) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
