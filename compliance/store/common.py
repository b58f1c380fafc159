"""What every part of the store uses: the time, the user, the content hash of JSON, and reading in batches."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from compliance.errors import StoreError

T = TypeVar("T")
#: How many values one IN (...) list holds: rows are read or changed by key this many keys per statement.
IN_LIST = 500


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def chunked(items: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of `size` (the last one may be shorter; none when `items` is empty)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def json_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def driver_batches(connection: Any, query: Any, size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `query` (text columns only) as the database driver returns them, in batches: a million rows
    without building a result row object for each. The parameters are converted by their types as SQLAlchemy
    converts them; PostgreSQL streams through a server-side cursor."""
    dialect = connection.dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    for name in params:
        bind = compiled.binds.get(name)
        if bind is None:  # a value of an IN list: name_1 is rendered name_1_1, name_1_2...
            bind = compiled.binds.get(name.rsplit("_", 1)[0])
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None
        if processor is not None:
            params[name] = processor(params[name])
    args: Any = tuple(params[name] for name in compiled.positiontup) if compiled.positional else params
    driver = connection.connection.driver_connection
    postgres = dialect.name == "postgresql"
    cursor = driver.cursor(name="compliance_scan") if postgres else driver.cursor()
    try:
        cursor.execute(str(compiled), args)
        while batch := cursor.fetchmany(size):
            yield batch
    finally:
        cursor.close()


def json_value(value: Any, record: str | None = None) -> Any:
    """A JSON column's value as the driver returns it: decoded already (PostgreSQL) or text (SQLite). Text that is
    not JSON (a damaged store) is a StoreError naming `record`."""
    if not isinstance(value, (str, bytes)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise StoreError(f"evidence record {record or '(unknown id)'} is damaged in the store: its stored content is "
                         f"not JSON ({str(value)[:60]!r}). Import the record again to replace it, or restore the "
                         "store from a backup.") from None
