"""The store: contracts, facilities, production links and evidence, in SQLite or PostgreSQL.

The only module that talks to the database. Table rows are separate from the domain models: each row
keeps the validated record as JSON (`payload`) plus the columns queries filter on. The schema is owned
by the Alembic migrations in ``compliance/migrations``; ``Store.upgrade()`` applies them, and every other
operation refuses to run on a database whose schema is not at the current revision.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, event
from sqlmodel import Field, Session, SQLModel, col, or_, select

from compliance.domain import facts, models
from compliance.domain.rows import Row, storable
from compliance.errors import (
    ConfigurationError,
    FieldProblem,
    InputError,
    NotFound,
    Problem,
    RunInProgress,
    StoreError,
)

DEFAULT_URL = "sqlite:///compliance.db"
#: PostgreSQL advisory lock id of `run` ("CRUN" in ASCII).
RUN_LOCK_KEY = 0x4352554E
BUSY_MESSAGE = "another run is in progress on this store; try again later, or use --wait to wait for it"
MIGRATIONS = Path(__file__).parent / "migrations"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------------------------------------------------
# Tables


class ImportBatchRow(SQLModel, table=True):
    """One import of one file: who, when, the file's hash, and what it did. An evidence import commits in chunks;
    its batch says "running" until the last chunk is in, so an interrupted import is visible (and importing the
    file again completes it: unchanged records are skipped)."""

    __tablename__ = "import_batch"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    source_file: str = Field(max_length=500)
    content_hash: str = Field(max_length=64)
    imported_at: dt.datetime = Field(default_factory=_now)
    imported_by: str = Field(max_length=120)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    status: str = Field(default="complete", max_length=12)
    finished_at: dt.datetime | None = None
    quarantined: int = 0
    skipped: int = 0
    options: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ContractRow(SQLModel, table=True):
    __tablename__ = "contract"
    id: str = Field(primary_key=True, max_length=120)
    ocid: str = Field(index=True, max_length=120)
    status: str = Field(max_length=20)
    supplier_id: str = Field(max_length=120)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")
    imported_at: dt.datetime = Field(default_factory=_now)


class FacilityRow(SQLModel, table=True):
    __tablename__ = "facility"
    id: str = Field(primary_key=True, max_length=64)
    country: str = Field(max_length=2)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")
    imported_at: dt.datetime = Field(default_factory=_now)


class ProductionLinkRow(SQLModel, table=True):
    __tablename__ = "production_link"
    id: str = Field(primary_key=True, max_length=400)
    brand: str = Field(index=True, max_length=120)
    model: str | None = Field(default=None, max_length=200)
    facility_id: str = Field(foreign_key="facility.id", max_length=64)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")
    imported_at: dt.datetime = Field(default_factory=_now)


class EvidenceRow(SQLModel, table=True):
    """The current version of each evidence record, with its provenance (file, row, batch, when)."""

    __tablename__ = "evidence"
    #: Runs digest every evidence partition from this index alone (record ids and content hashes), never the rows.
    __table_args__ = (sa.Index("ix_evidence_partition", "facility_id", "contract_id", "date", "imported_at", "id",
                               "content_hash"),)
    id: str = Field(primary_key=True, max_length=120)
    type: str = Field(index=True, max_length=40)
    contract_id: str | None = Field(default=None, index=True, foreign_key="contract.id", max_length=120)
    facility_id: str | None = Field(default=None, index=True, foreign_key="facility.id", max_length=64)
    date: dt.date = Field(index=True)
    sensitivity: str = Field(max_length=20)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    source_file: str = Field(max_length=500)
    source_row: int | None = None
    batch_id: int = Field(foreign_key="import_batch.id")
    version: int = 1
    imported_at: dt.datetime = Field(default_factory=_now, index=True)


class EvidenceVersionRow(SQLModel, table=True):
    """An earlier version of an evidence record, kept when a corrected record superseded it: the store knew
    it from `valid_from` until `valid_to` (what a run with --known-at inside that span reads)."""

    __tablename__ = "evidence_version"
    id: int | None = Field(default=None, primary_key=True)
    evidence_id: str = Field(index=True, max_length=120)
    version: int
    type: str = Field(max_length=40)
    contract_id: str | None = Field(default=None, index=True, max_length=120)
    facility_id: str | None = Field(default=None, index=True, max_length=64)
    date: dt.date
    sensitivity: str = Field(max_length=20)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    source_file: str = Field(max_length=500)
    source_row: int | None = None
    batch_id: int = Field(foreign_key="import_batch.id")
    valid_from: dt.datetime
    valid_to: dt.datetime
    superseded_by_batch: int = Field(foreign_key="import_batch.id")


class SupersededRecordRow(SQLModel, table=True):
    """An earlier version of a contract, facility or production link, kept when a newer import changed it."""

    __tablename__ = "superseded_record"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    record_id: str = Field(index=True, max_length=400)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")
    valid_from: dt.datetime
    valid_to: dt.datetime


class QuarantineRow(SQLModel, table=True):
    """An evidence row that was refused, kept with its reasons until a corrected import supersedes it (resolved)
    or an officer dismisses it. Worker identities in `raw` are pseudonyms, as everywhere in the store."""

    __tablename__ = "quarantine"
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="import_batch.id", index=True)
    source_file: str = Field(max_length=500)
    source_row: int | None = None
    unit: str = Field(default="row", max_length=8)
    record_id: str | None = Field(default=None, index=True, max_length=120)
    evidence_type: str | None = Field(default=None, max_length=40)
    raw: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    problems: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", index=True, max_length=10)
    resolved_at: dt.datetime | None = None
    resolved_by_batch: int | None = Field(default=None, foreign_key="import_batch.id")
    resolution: str | None = Field(default=None, max_length=2000)


class StoreSettingRow(SQLModel, table=True):
    """Facts about the store itself, e.g. the fingerprint of the key its worker pseudonyms were made with."""

    __tablename__ = "store_setting"
    name: str = Field(primary_key=True, max_length=60)
    value: str = Field(max_length=2000)


class EscalationDecisionRow(SQLModel, table=True):
    """An officer's decision on an escalation recommendation; append-only, the latest one counts."""

    __tablename__ = "escalation_decision"
    id: int | None = Field(default=None, primary_key=True)
    finding_key: str = Field(index=True, max_length=200)
    recommended_level: str = Field(max_length=2)
    decision: str = Field(max_length=10)  # accept, change, reject
    level: str | None = Field(default=None, max_length=2)
    reason: str = Field(max_length=2000)
    decided_by: str = Field(max_length=120)
    decided_at: dt.datetime = Field(default_factory=_now)

    @property
    def decided_level(self) -> str | None:
        """The level the officer decided: the recommended one when accepted, their own when changed, none when
        rejected."""
        if self.decision == "reject":
            return None
        return self.level if self.decision == "change" else self.recommended_level


class RunRow(SQLModel, table=True):
    """One `run`: what it evaluated with. Written in the same transaction as its findings, so a run that was
    killed leaves no trace and a stored run is always complete."""

    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date
    #: The store as it was known at this time was evaluated (evidence imported later is not read).
    known_at: dt.datetime | None = None
    started_at: dt.datetime
    finished_at: dt.datetime
    started_by: str = Field(max_length=120)
    library_hash: str = Field(max_length=64)
    software_version: str = Field(max_length=40)
    evidence_hash: str = Field(max_length=64)
    evidence_count: int
    summary: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class FindingRow(SQLModel, table=True):
    """A finding as officers work it: one row per stable key, its latest content and its lifecycle state."""

    __tablename__ = "finding"
    key: str = Field(primary_key=True, max_length=200)
    rule_id: str = Field(index=True, max_length=60)
    contract_id: str = Field(index=True, max_length=120)
    facility_id: str | None = Field(default=None, index=True, max_length=64)
    severity: str = Field(max_length=12)
    verdict: str = Field(max_length=24)
    state: str = Field(index=True, max_length=20)
    firing: bool
    first_run_id: int = Field(foreign_key="run.id")
    last_run_id: int = Field(foreign_key="run.id")
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    waived_until: dt.date | None = None
    waiver_reason: str | None = Field(default=None, max_length=2000)
    waiver_approver: str | None = Field(default=None, max_length=120)


class FindingEventRow(SQLModel, table=True):
    """Append-only history of a finding. Each entry's hash covers its content and the previous entry's hash, so
    editing or deleting an entry breaks the chain (`audit verify`)."""

    __tablename__ = "finding_event"
    __table_args__ = (sa.UniqueConstraint("finding_key", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    finding_key: str = Field(index=True, max_length=200)
    seq: int
    at: str = Field(max_length=40, description="UTC time, ISO 8601 text: hashed exactly as stored")
    actor: str = Field(max_length=120)
    kind: str = Field(max_length=24)
    from_state: str | None = Field(default=None, max_length=20)
    to_state: str = Field(max_length=20)
    reason: str = Field(max_length=2000)
    run_id: int | None = Field(default=None, foreign_key="run.id")
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class RunPartitionRow(SQLModel, table=True):
    """One contract of a run in progress that several processes share (PostgreSQL): a worker claims a pending
    partition with a row lock (SKIP LOCKED), evaluates it and stores the result; a worker that dies releases
    its lock and the partition is pending again. The run's own process merges the results in one transaction."""

    __tablename__ = "run_partition"
    token: str = Field(primary_key=True, max_length=36)
    contract_id: str = Field(primary_key=True, max_length=120)
    as_of: dt.date
    known_at: dt.datetime | None = None
    library_hash: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=10)
    worker: str | None = Field(default=None, max_length=120)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: The contracts of the partition when it holds several (from revision 0007; `contract_id` then names it).
    contracts: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class RunEvidenceRow(SQLModel, table=True):
    """The evidence snapshot of a run: every record it read, with the content hash it had."""

    __tablename__ = "run_evidence"
    run_id: int = Field(foreign_key="run.id", primary_key=True)
    evidence_id: str = Field(primary_key=True, max_length=120)
    content_hash: str = Field(max_length=64)


class EvidencePartRow(SQLModel, table=True):
    """The records of one evidence partition as a run read them (the records about one facility that name no
    contract, or those that name one contract), identified by the digest of their ids and content hashes. Runs
    share parts: a run that reads a partition unchanged refers to the part an earlier run stored."""

    __tablename__ = "evidence_part"
    digest: str = Field(primary_key=True, max_length=64)
    records: int


class EvidencePartRecordRow(SQLModel, table=True):
    __tablename__ = "evidence_part_record"
    digest: str = Field(primary_key=True, max_length=64)
    evidence_id: str = Field(primary_key=True, max_length=120)
    content_hash: str = Field(max_length=64)


class RunPartRow(SQLModel, table=True):
    """The evidence snapshot of a run (from revision 0007): the parts it read. Earlier runs list every record in
    run_evidence."""

    __tablename__ = "run_part"
    run_id: int = Field(foreign_key="run.id", primary_key=True)
    digest: str = Field(primary_key=True, max_length=64)


class RunContractRow(SQLModel, table=True):
    """What a run knew of each contract: the hash of everything its findings depend on (the contract, its
    facilities and links, the evidence partitions it reads, the rule library, the software, the as-of date), and
    whether it evaluated the contract or reused the findings of the last run with the same inputs."""

    __tablename__ = "run_contract"
    run_id: int = Field(foreign_key="run.id", primary_key=True)
    contract_id: str = Field(primary_key=True, max_length=120, index=True)
    inputs_hash: str = Field(max_length=64)
    findings: int
    evaluated: bool
    #: The hash of what every finding of the contract depends on besides evidence (the contract, the rules, the
    #: software, the as-of date), and the digest of the evidence at each facility (the key "" for the records
    #: naming the contract without a facility): the findings of rules that stay within a facility are kept for
    #: the facilities whose evidence did not change.
    base_hash: str = Field(max_length=64)
    units: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))


#: Stands for a letter's reference in its text until the store gives it one (see Store.add_letter).
LETTER_REFERENCE = "LETTER-REFERENCE-PENDING"


class LetterRow(SQLModel, table=True):
    """A letter to a supplier as generated: the findings it cites, the template and software that wrote it, the
    text as rendered with its hash, the redaction check's result, and its state (draft -> approved -> sent)."""

    __tablename__ = "letter"
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, sa_column_kwargs={"unique": True})
    letter_type: str = Field(max_length=4)
    contract_id: str = Field(index=True, max_length=120)
    supplier_id: str = Field(max_length=120)
    facility_id: str | None = Field(default=None, max_length=64)
    finding_keys: list[str] = Field(sa_column=Column(JSON, nullable=False))
    dated: dt.date
    template: str = Field(max_length=200)
    template_hash: str = Field(max_length=64)
    software_version: str = Field(max_length=40)
    content_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(sa.Text, nullable=False))
    redaction: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: str = Field(default="draft", max_length=10)
    created_at: dt.datetime = Field(default_factory=_now)
    created_by: str = Field(max_length=120)
    approved_at: dt.datetime | None = None
    approved_by: str | None = Field(default=None, max_length=120)
    sent_at: dt.datetime | None = None
    sent_by: str | None = Field(default=None, max_length=120)


@dataclass
class RunSummary:
    """What changed since the last run."""

    as_of: dt.date
    run_id: int | None = None
    #: The moment the store was read as known at (evidence imported later was not read).
    known_at: dt.datetime | None = None
    new: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    worsened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    waiver_expired: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("new", "still_open", "worsened", "resolved", "reopened", "waiver_expired")}


def event_hash(event: FindingEventRow) -> str:
    """The hash of a history entry: its content and the previous entry's hash."""
    return _hash({"prev": event.prev_hash, "key": event.finding_key, "seq": event.seq, "at": event.at,
                  "actor": event.actor, "kind": event.kind, "from": event.from_state, "to": event.to_state,
                  "reason": event.reason, "run": event.run_id})


# ---------------------------------------------------------------------------------------------------------------------
# Connecting


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


@dataclass
class ImportSummary:
    """What one file's import did. `problems` holds the first PROBLEMS_KEPT row problems (the quarantine holds
    all of them), so a million bad rows do not fill memory."""

    PROBLEMS_KEPT = 200

    source_file: str
    kind: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    skipped: int = 0
    batch_id: int | None = None
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def note_problems(self, source: str, row: Any) -> None:
        if len(self.problems) < self.PROBLEMS_KEPT:
            self.problems += [Problem(source, row.number, p.field, p.message, unit=row.unit) for p in row.problems]

    def __str__(self) -> str:
        text = (f"{self.source_file}: {self.added} {self.kind} added, {self.updated} updated, "
                f"{self.unchanged} unchanged")
        if self.quarantined:
            text += f", {self.quarantined} quarantined"
        if self.skipped:
            text += f", {self.skipped} example row{'s' if self.skipped != 1 else ''} skipped"
        return text


def evidence_payload(record: models.EvidenceBase) -> dict[str, Any]:
    """A record as stored. Computed fields (ratios, days late) are derived again on reading, never stored."""
    return record.model_dump(mode="json", exclude=set(type(record).model_computed_fields))


def evidence_hash(record: models.EvidenceBase) -> str:
    """The content hash a stored evidence record has (the run snapshot records it)."""
    return _hash(evidence_payload(record))


def _hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _driver_batches(connection: Any, query: Any, size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
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


def _json(value: Any) -> Any:
    """A JSON column's value as the driver returns it: decoded already (PostgreSQL) or text (SQLite)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def partition_digest(rows: list[tuple[str, str]]) -> str:
    """The digest of an evidence partition: its (record id, content hash) pairs, sorted by id."""
    return hashlib.sha256("".join(f"{i}\x1f{h}\x1e" for i, h in rows).encode()).hexdigest()


class Store:
    """The compliance database at `url` (SQLite file by default, PostgreSQL for a consortium)."""

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

    # -- imports ------------------------------------------------------------------------------------------------------
    # Contracts and facilities: each file in one transaction, all or nothing. Evidence: in chunks, row by row, bad
    # rows quarantined. Either way a changed record supersedes the stored one and the old version is kept.

    def _batch(self, session: Session, kind: str, source: str, content_hash: str, **values: Any) -> ImportBatchRow:
        batch = ImportBatchRow(kind=kind, source_file=source, content_hash=content_hash, imported_by=_user(), **values)
        session.add(batch)
        session.flush()
        return batch

    @staticmethod
    def _existing(session: Session, table: Any, keys: list[str]) -> dict[str, Any]:
        """The rows of `table` with these primary keys, loaded in chunks (one query per 500, not one per row)."""
        rows: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows.update((row.id, row) for row in session.exec(select(table).where(col(table.id).in_(chunk))).all())
        return rows

    def _upsert(self, session: Session, table: type[SQLModel], kind: str, key: str, values: dict[str, Any],
                summary: ImportSummary, now: dt.datetime) -> None:
        row: Any = session.get(table, key)
        if row is None:
            session.add(table(**values, imported_at=now))
            summary.added += 1
        elif row.content_hash != values["content_hash"]:
            session.add(SupersededRecordRow(kind=kind, record_id=key, payload=row.payload,
                                            content_hash=row.content_hash, batch_id=row.batch_id,
                                            valid_from=row.imported_at, valid_to=now))
            for name, value in values.items():
                setattr(row, name, value)
            row.imported_at = now
            summary.updated += 1
        else:
            summary.unchanged += 1

    def add_contracts(self, contracts: list[models.Contract], source: str) -> ImportSummary:
        summary = ImportSummary(source, "contracts")
        payloads = [c.model_dump(mode="json") for c in contracts]
        with Session(self.engine) as session, session.begin():
            batch = self._batch(session, "contracts", source, _hash({"records": payloads}))
            for contract, payload in zip(contracts, payloads):
                self._upsert(session, ContractRow, "contract", contract.id, dict(
                    id=contract.id, ocid=contract.ocid, status=contract.status, supplier_id=contract.supplier.id,
                    payload=payload, content_hash=_hash(payload), batch_id=batch.id), summary, batch.imported_at)
            batch.added, batch.updated, batch.unchanged = summary.added, summary.updated, summary.unchanged
        return summary

    def add_facilities(self, facilities: list[models.Facility], links: list[models.ProductionLink],
                       source: str) -> ImportSummary:
        summary = ImportSummary(source, "facilities and links")
        payloads = [f.model_dump(mode="json") for f in facilities] + [k.model_dump(mode="json") for k in links]
        with Session(self.engine) as session, session.begin():
            known = set(session.exec(select(FacilityRow.id)).all()) | {f.id for f in facilities}
            missing = [k for k in links if k.facility_id not in known]
            if missing:
                raise InputError([Problem(source, None, f"production link {facts.link_id(k)}",
                                          f'facility_id: unknown facility "{k.facility_id}"') for k in missing])
            batch = self._batch(session, "facilities", source, _hash({"records": payloads}))
            for facility in facilities:
                payload = facility.model_dump(mode="json")
                self._upsert(session, FacilityRow, "facility", facility.id, dict(
                    id=facility.id, country=facility.country, payload=payload, content_hash=_hash(payload),
                    batch_id=batch.id), summary, batch.imported_at)
            session.flush()
            for link in links:
                payload = link.model_dump(mode="json")
                self._upsert(session, ProductionLinkRow, "production_link", facts.link_id(link), dict(
                    id=facts.link_id(link), brand=link.brand, model=link.model, facility_id=link.facility_id,
                    payload=payload, content_hash=_hash(payload), batch_id=batch.id), summary, batch.imported_at)
            batch.added, batch.updated, batch.unchanged = summary.added, summary.updated, summary.unchanged
        return summary

    def check_pseudonym_key(self, fingerprint: str) -> None:
        """Remember the fingerprint of the pseudonym key on first use; refuse a different key afterwards (its
        pseudonyms would never match the stored ones, silently breaking every correlation)."""
        with Session(self.engine) as session, session.begin():
            stored = session.get(StoreSettingRow, "pseudonym_key_fingerprint")
            if stored is None:
                session.add(StoreSettingRow(name="pseudonym_key_fingerprint", value=fingerprint))
            elif stored.value != fingerprint:
                raise ConfigurationError(
                    f"the configured pseudonym key (fingerprint {fingerprint}) is not the key this store's worker "
                    f"pseudonyms were made with (fingerprint {stored.value}); use the same key for every import")

    def import_evidence(self, source: str, file_hash: str, rows: Iterable[Row], options: dict[str, Any],
                        chunk_size: int = 2000, progress: Any = None) -> ImportSummary:
        """Store the prepared rows of one evidence file, `chunk_size` rows per transaction, in bounded memory.

        Valid rows are added, or supersede the stored version when their content changed (the old version is
        kept in evidence_version), or are counted unchanged. Invalid rows, rows for an unknown contract or facility,
        and a second row with the same id go to the quarantine with their reasons. An open quarantine entry for a
        record id is resolved when a valid record with that id arrives. `progress(n)` is called after each chunk."""
        summary = ImportSummary(source, "evidence records")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            batch = self._batch(session, "evidence", source, file_hash, status="running", options=options)
            contracts = set(session.exec(select(ContractRow.id)).all())
            facilities = set(session.exec(select(FacilityRow.id)).all())
        assert batch.id is not None
        chunk: list[Row] = []
        for row in rows:
            if row.skipped:
                summary.skipped += 1
                continue
            chunk.append(row)
            if len(chunk) >= chunk_size:
                self._import_chunk(batch.id, source, chunk, contracts, facilities, summary)
                if progress:
                    progress(len(chunk))
                chunk = []
        if chunk:
            self._import_chunk(batch.id, source, chunk, contracts, facilities, summary)
            if progress:
                progress(len(chunk))
        with Session(self.engine) as session, session.begin():
            stored = session.get(ImportBatchRow, batch.id)
            assert stored is not None
            stored.added, stored.updated, stored.unchanged = summary.added, summary.updated, summary.unchanged
            stored.quarantined, stored.skipped = summary.quarantined, summary.skipped
            stored.status, stored.finished_at = "complete", _now()
        summary.batch_id = batch.id
        return summary

    def _import_chunk(self, batch_id: int, source: str, chunk: list[Row], contracts: set[str],
                      facilities: set[str], summary: ImportSummary) -> None:
        now = _now()
        with Session(self.engine) as session, session.begin():
            existing = self._existing(session, EvidenceRow, sorted({r.record.id for r in chunk if r.record}))
            seen: dict[str, int] = {}
            accepted: list[str] = []
            inserts: list[dict[str, Any]] = []
            quarantined: list[dict[str, Any]] = []
            for row in chunk:
                record = row.record
                if record is not None and not row.problems:
                    if record.contract_id is not None and record.contract_id not in contracts:
                        row.problems.append(FieldProblem("contract_id", repr(record.contract_id),
                                                         "a contract in the store (import the contract first)"))
                    if record.facility_id is not None and record.facility_id not in facilities:
                        row.problems.append(FieldProblem("facility_id", repr(record.facility_id),
                                                         "a facility in the store (import the facility first)"))
                    if record.contract_id is None and record.facility_id is None:
                        row.problems.append(FieldProblem(None, None, "a contract_id or a facility_id"))
                    stored = existing.get(record.id)
                    if record.id in seen:
                        row.problems.append(FieldProblem("id", repr(record.id),
                                                         f"an id used once in the file (row {seen[record.id]} "
                                                         "has it too)"))
                    elif stored is not None and stored.batch_id == batch_id:
                        row.problems.append(FieldProblem("id", repr(record.id),
                                                         f"an id used once in the file (row {stored.source_row} "
                                                         "has it too)"))
                    elif stored is not None and stored.type != record.type:
                        row.problems.append(FieldProblem("id", repr(record.id),
                                                         f"a new id: {record.id} is a {stored.type} record"))
                if row.problems or record is None:
                    quarantined.append(dict(batch_id=batch_id, source_file=source, source_row=row.number, unit=row.unit,
                                            record_id=row.record_id, evidence_type=row.type_name,
                                            raw=storable(row.raw),
                                            problems=[p.as_json() for p in row.problems], status="open"))
                    summary.note_problems(source, row)
                    continue
                seen[record.id] = row.number
                accepted.append(record.id)
                payload = evidence_payload(record)
                values = dict(id=record.id, type=record.type, contract_id=record.contract_id,  # type: ignore[attr-defined]
                              facility_id=record.facility_id, date=record.date, sensitivity=payload["sensitivity"],
                              payload=payload, content_hash=_hash(payload), source_file=source, source_row=row.number,
                              batch_id=batch_id, imported_at=now)
                stored = existing.get(record.id)
                if stored is None:
                    inserts.append(values | {"version": 1})
                    summary.added += 1
                elif stored.content_hash == values["content_hash"]:
                    summary.unchanged += 1
                else:
                    session.add(EvidenceVersionRow(
                        evidence_id=stored.id, version=stored.version, type=stored.type, contract_id=stored.contract_id,
                        facility_id=stored.facility_id, date=stored.date, sensitivity=stored.sensitivity,
                        payload=stored.payload, content_hash=stored.content_hash, source_file=stored.source_file,
                        source_row=stored.source_row, batch_id=stored.batch_id, valid_from=stored.imported_at,
                        valid_to=now, superseded_by_batch=batch_id))
                    for name, value in values.items():
                        setattr(stored, name, value)
                    stored.version += 1
                    summary.updated += 1
            connection = session.connection()
            if inserts:
                connection.execute(sa.insert(EvidenceRow), inserts)
            if quarantined:
                summary.quarantined += len(quarantined)
                # Importing the same file again must not queue its bad rows twice: an open entry for the same file
                # and row with the same content stands.
                open_entries = {(r.source_row, json.dumps(r.raw, sort_keys=True)) for r in session.exec(
                    select(QuarantineRow).where(QuarantineRow.status == "open")
                    .where(QuarantineRow.source_file == source)
                    .where(col(QuarantineRow.source_row).in_([q["source_row"] for q in quarantined]))).all()}
                quarantined = [q for q in quarantined
                               if (q["source_row"], json.dumps(q["raw"], sort_keys=True)) not in open_entries]
                if quarantined:
                    connection.execute(sa.insert(QuarantineRow), quarantined)
            for start in range(0, len(accepted), 500):
                connection.execute(sa.update(QuarantineRow)  # entries of earlier imports, not this file's own
                                   .where(QuarantineRow.status == "open").where(QuarantineRow.batch_id != batch_id)
                                   .where(col(QuarantineRow.record_id).in_(accepted[start:start + 500]))
                                   .values(status="resolved", resolved_at=now, resolved_by_batch=batch_id,
                                           resolution="a valid record with this id was imported"))

    def add_evidence(self, records: list[models.EvidenceBase], source: str) -> ImportSummary:
        """Store already validated records (for programs and tests; files go through intake and import_evidence)."""
        rows = [Row(number=i + 1, raw=evidence_payload(r), record=r) for i, r in enumerate(records)]
        return self.import_evidence(source, _hash({"records": [row.raw for row in rows]}), rows, {})

    # -- the quarantine -----------------------------------------------------------------------------------------------

    def quarantine(self, status: str | None = "open", batch_id: int | None = None,
                   source_file: str | None = None) -> list[QuarantineRow]:
        with Session(self.engine) as session:
            query = select(QuarantineRow).order_by(QuarantineRow.id)
            if status is not None:
                query = query.where(QuarantineRow.status == status)
            if batch_id is not None:
                query = query.where(QuarantineRow.batch_id == batch_id)
            if source_file is not None:
                query = query.where(QuarantineRow.source_file == source_file)
            rows = list(session.exec(query).all())
            for row in rows:
                session.expunge(row)
            return rows

    def quarantine_entry(self, entry_id: int) -> QuarantineRow:
        with Session(self.engine) as session:
            row = session.get(QuarantineRow, entry_id)
            if row is None:
                raise NotFound(f"no quarantine entry {entry_id}")
            session.expunge(row)
            return row

    def dismiss_quarantined(self, entry_id: int, reason: str) -> QuarantineRow:
        """Close a quarantine entry that will not be corrected (e.g. a test row), with a reason; it is kept."""
        if not reason.strip():
            raise InputError([Problem("quarantine", None, str(entry_id), "a reason is required to dismiss an entry")])
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(QuarantineRow, entry_id)
            if row is None:
                raise NotFound(f"no quarantine entry {entry_id}")
            if row.status != "open":
                raise InputError([Problem("quarantine", None, str(entry_id), f"the entry is already {row.status}")])
            row.status, row.resolved_at, row.resolution = "dismissed", _now(), f"dismissed by {_user()}: {reason}"
            return row

    def batches(self, kind: str | None = None) -> list[ImportBatchRow]:
        with Session(self.engine) as session:
            query = select(ImportBatchRow).order_by(ImportBatchRow.id)
            if kind is not None:
                query = query.where(ImportBatchRow.kind == kind)
            rows = list(session.exec(query).all())
            for row in rows:
                session.expunge(row)
            return rows

    def evidence_versions(self, evidence_id: str) -> list[dict[str, Any]]:
        """Every version of an evidence record, oldest first, with its provenance (file, row, batch, when, who)."""
        with Session(self.engine) as session:
            out = []
            for row in session.exec(select(EvidenceVersionRow).where(EvidenceVersionRow.evidence_id == evidence_id)
                                    .order_by(EvidenceVersionRow.version)).all():
                out.append(self._provenance(session, row, row.version, row.valid_from, row.valid_to))
            current = session.get(EvidenceRow, evidence_id)
            if current is None and not out:
                raise NotFound(f'no evidence record "{evidence_id}" in the store')
            if current is not None:
                out.append(self._provenance(session, current, current.version, current.imported_at, None))
            return out

    def evidence_records(self, ids: Iterable[str]) -> dict[str, models.EvidenceBase]:
        """The current version of each named evidence record that exists, by id."""
        ids = sorted(set(ids))
        out: dict[str, models.EvidenceBase] = {}
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):
                for payload in session.exec(select(EvidenceRow.payload)
                                            .where(col(EvidenceRow.id).in_(ids[start:start + 500]))).all():
                    record = models.EVIDENCE_ADAPTER.validate_python(payload)
                    out[record.id] = record
        return out

    def monitors(self) -> set[str]:
        """Every monitoring partner named by a monitoring finding in the store."""
        with Session(self.engine) as session:
            payloads = session.exec(select(EvidenceRow.payload).where(EvidenceRow.type == "monitoring_finding")).all()
        return {p["monitor"] for p in payloads if p.get("monitor")}

    @staticmethod
    def _provenance(session: Session, row: Any, version: int, valid_from: dt.datetime,
                    valid_to: dt.datetime | None) -> dict[str, Any]:
        batch = session.get(ImportBatchRow, row.batch_id)
        return {"version": version, "content_hash": row.content_hash, "source_file": row.source_file,
                "source_row": row.source_row, "batch_id": row.batch_id,
                "imported_by": batch.imported_by if batch else None, "known_from": valid_from,
                "known_until": valid_to, "payload": row.payload}

    # -- reading ------------------------------------------------------------------------------------------------------
    # `known_at` reads the store as it was at that moment: records imported later are left out, and a record
    # corrected later is read in the version current then. None reads the store as it is now.

    def _known(self, session: Session, table: Any, kind: str, known_at: dt.datetime | None) -> list[dict[str, Any]]:
        """The payloads of `table` (contracts, facilities or links) as known at `known_at`."""
        query = select(table.payload).order_by(table.id)
        if known_at is None:
            return list(session.exec(query).all())
        current = session.exec(select(table.id, table.payload).where(table.imported_at <= known_at)).all()
        older = session.exec(select(SupersededRecordRow.record_id, SupersededRecordRow.payload)
                             .where(SupersededRecordRow.kind == kind).where(SupersededRecordRow.valid_from <= known_at)
                             .where(SupersededRecordRow.valid_to > known_at)).all()
        return [payload for _key, payload in sorted([*current, *older], key=lambda pair: pair[0])]

    def contracts(self, statuses: Iterable[str] | None = None, known_at: dt.datetime | None = None
                  ) -> list[models.Contract]:
        with Session(self.engine) as session:
            contracts = [models.Contract.model_validate(p) for p in self._known(session, ContractRow, "contract",
                                                                                known_at)]
        wanted = None if statuses is None else set(statuses)
        return [c for c in contracts if wanted is None or c.status in wanted]

    def contract(self, contract_id: str, known_at: dt.datetime | None = None) -> models.Contract:
        with Session(self.engine) as session:
            if known_at is None:
                row = session.get(ContractRow, contract_id)
                payload = row.payload if row is not None else None
            else:
                payload = next((p for p in self._known(session, ContractRow, "contract", known_at)
                                if p["id"] == contract_id), None)
            if payload is None:
                known = session.exec(select(ContractRow.id)).all()
                from compliance.rules.spec import did_you_mean

                raise NotFound(f'no contract "{contract_id}" in the store{did_you_mean(contract_id, set(known))}'
                               + (f" as known at {known_at:%Y-%m-%d %H:%M:%S} UTC" if known_at else ""))
            return models.Contract.model_validate(payload)

    def facilities(self, known_at: dt.datetime | None = None) -> dict[str, models.Facility]:
        with Session(self.engine) as session:
            facilities = [models.Facility.model_validate(p) for p in self._known(session, FacilityRow, "facility",
                                                                                known_at)]
        return {f.id: f for f in facilities}

    def production_links(self, known_at: dt.datetime | None = None) -> list[models.ProductionLink]:
        with Session(self.engine) as session:
            return [models.ProductionLink.model_validate(p)
                    for p in self._known(session, ProductionLinkRow, "production_link", known_at)]

    def evidence_for(self, contract: models.Contract, facility_ids: Iterable[str], as_of: dt.date,
                     known_at: dt.datetime | None = None) -> list[models.EvidenceBase]:
        """Evidence dated on or before `as_of` naming the contract, or naming no contract but one of the facilities;
        with `known_at`, in the versions the store held at that moment."""
        facility_ids = list(facility_ids)
        payloads: list[tuple[dt.date, str, dict[str, Any]]] = []
        with Session(self.engine) as session:
            for table in (EvidenceRow, EvidenceVersionRow):
                if table is EvidenceVersionRow and known_at is None:
                    continue
                key = EvidenceRow.id if table is EvidenceRow else EvidenceVersionRow.evidence_id
                query = select(table.date, key, table.payload).where(table.date <= as_of).where(or_(
                    table.contract_id == contract.id,
                    sa.and_(col(table.contract_id).is_(None), col(table.facility_id).in_(facility_ids)),
                ))
                if table is EvidenceRow and known_at is not None:
                    query = query.where(EvidenceRow.imported_at <= known_at)
                if table is EvidenceVersionRow:
                    query = query.where(EvidenceVersionRow.valid_from <= known_at) \
                        .where(EvidenceVersionRow.valid_to > known_at)
                payloads += session.exec(query).all()
        return [models.EVIDENCE_ADAPTER.validate_python(payload) for _d, _i, payload in sorted(
            payloads, key=lambda item: (item[0], item[1]))]

    # -- reading the evidence of many contracts: partitions ----------------------------------------------------------
    # A contract's evidence is a union of whole partitions: the records about one of its facilities that name no
    # contract, and the records that name it. Runs read each partition once, whatever the number of contracts.

    @staticmethod
    def _evidence_queries(columns: list[str], as_of: dt.date, known_at: dt.datetime | None,
                          where: Any = None) -> list[Any]:
        """SELECTs of `columns` (of evidence; `id` is evidence_version's evidence_id) dated on or before `as_of`, as
        known at `known_at`: the current versions, and with `known_at` the earlier versions current then."""
        queries = []
        for table in (EvidenceRow, EvidenceVersionRow):
            if table is EvidenceVersionRow and known_at is None:
                continue
            t = table.__table__
            cols = [(t.c.evidence_id if name == "id" and table is EvidenceVersionRow else t.c[name]).label(name)
                    for name in columns]
            query = sa.select(*cols).where(t.c.date <= as_of)
            if where is not None:
                query = query.where(where(t))
            if table is EvidenceRow and known_at is not None:
                query = query.where(t.c.imported_at <= known_at)
            if table is EvidenceVersionRow:
                query = query.where(t.c.valid_from <= known_at).where(t.c.valid_to > known_at)
            queries.append(query)
        return queries

    def evidence_partitions(self, as_of: dt.date, known_at: dt.datetime | None = None
                            ) -> Iterator[tuple[str | None, str | None, list[tuple[str, str]]]]:
        """Every evidence partition as of a date: (facility id, contract id or None, [(record id, content hash), ...]
        sorted by id), one partition at a time (the rows stream: memory holds one partition)."""
        queries = self._evidence_queries(["facility_id", "contract_id", "id", "content_hash"], as_of, known_at)
        query = (sa.union_all(*queries) if len(queries) > 1 else queries[0]).subquery()
        ordered = sa.select(query).order_by(query.c.facility_id, query.c.contract_id)
        with self.engine.connect() as connection:
            key: tuple[str | None, str | None] | None = None
            rows: list[tuple[str, str]] = []
            for batch in _driver_batches(connection, ordered):
                for facility_id, contract_id, record_id, content_hash in batch:
                    if (facility_id, contract_id) != key:
                        if key is not None:
                            yield key[0], key[1], sorted(rows)
                        key, rows = (facility_id, contract_id), []
                    rows.append((record_id, content_hash))
            if key is not None:
                yield key[0], key[1], sorted(rows)

    def evidence_payloads(self, facility_ids: Iterable[str], contract_ids: Iterable[str], as_of: dt.date,
                          known_at: dt.datetime | None = None, chunk: int = 100, partial: Iterable[str] = (),
                          types: Iterable[str] = ()) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """The stored payloads of the evidence of these facilities (records naming no contract, or one of
        `contract_ids`) and of the records naming one of the contracts elsewhere, in chunks: (payloads, complete).
        Each chunk holds every record of its facilities (the records of one facility never span two chunks);
        for the `partial` facilities only the records of `types` (their chunks say complete=False)."""
        facilities = sorted(set(facility_ids))
        partial = sorted(set(partial) - set(facilities))
        types = sorted(set(types))
        contracts = set(contract_ids)
        known = set(facilities) | set(partial)
        with self.engine.connect() as connection:
            for sites, complete in ((facilities, True), (partial, False)):
                for start in range(0, len(sites), chunk):
                    part = sites[start:start + chunk]

                    def where(t: Any, part: list[str] = part, complete: bool = complete) -> Any:
                        return t.c.facility_id.in_(part) if complete else \
                            sa.and_(t.c.facility_id.in_(part), t.c.type.in_(types))
                    rows: list[dict[str, Any]] = []
                    for query in self._evidence_queries(["contract_id", "payload"], as_of, known_at, where):
                        for batch in _driver_batches(connection, query):
                            rows += [_json(payload) for contract_id, payload in batch
                                     if contract_id is None or contract_id in contracts]
                    yield rows, complete
            ordered = sorted(contracts)
            elsewhere: list[dict[str, Any]] = []
            for start in range(0, len(ordered), 500):
                part = ordered[start:start + 500]
                for query in self._evidence_queries(["facility_id", "payload"], as_of, known_at,
                                                    lambda t, part=part: t.c.contract_id.in_(part)):
                    elsewhere += [payload for facility_id, payload in connection.execute(query)
                                  if facility_id not in known]
            if elsewhere:
                yield elsewhere, True

    def _store_parts(self, connection: Any, partitions: dict[tuple[str | None, str | None], tuple[str, int]],
                     as_of: dt.date, known_at: dt.datetime | None) -> dict[str, int]:
        """Store the evidence parts of a run that the store does not hold yet, in the run's transaction; returns
        the run's parts (digest -> records). Parts are shared by every run that reads them: an unchanged partition
        costs nothing. A part's rows are read again here and its digest computed from them (had an import
        committed in between, the part stored is the one the store holds now)."""
        part_t, record_t = EvidencePartRow.__table__, EvidencePartRecordRow.__table__
        digests = sorted({d for d, _n in partitions.values()})
        held: set[str] = set()
        for start in range(0, len(digests), 500):
            held.update(connection.execute(sa.select(part_t.c.digest).where(
                part_t.c.digest.in_(digests[start:start + 500]))).scalars())
        missing = {key: value for key, value in partitions.items() if value[0] not in held}
        out = {d: n for d, n in partitions.values() if d in held}
        sites = sorted({f for f, _c in missing if f is not None})
        batches: list[Any] = [lambda t, part=sites[i:i + 100]: t.c.facility_id.in_(part)
                              for i in range(0, len(sites), 100)]
        if any(f is None for f, _c in missing):
            batches.append(lambda t: t.c.facility_id.is_(None))
        for where in batches:
            rows: dict[tuple[str | None, str | None], list[tuple[str, str]]] = {}
            for query in self._evidence_queries(["facility_id", "contract_id", "id", "content_hash"], as_of,
                                                known_at, where):
                for batch in _driver_batches(connection, query):
                    for facility_id, contract_id, record_id, content_hash in batch:
                        if (facility_id, contract_id) in missing:
                            rows.setdefault((facility_id, contract_id), []).append((record_id, content_hash))
            for found in rows.values():
                found.sort()
                digest = partition_digest(found)
                if digest in held:
                    out[digest] = len(found)
                    continue
                held.add(digest)
                out[digest] = len(found)
                connection.execute(sa.insert(part_t), [{"digest": digest, "records": len(found)}])
                if self.engine.dialect.name == "postgresql":
                    cursor = connection.connection.driver_connection.cursor()
                    with cursor.copy("COPY evidence_part_record (digest, evidence_id, content_hash) FROM STDIN"
                                     ) as copy:
                        for record_id, content_hash in found:
                            copy.write_row((digest, record_id, content_hash))
                else:
                    connection.execute(sa.insert(record_t), [
                        {"digest": digest, "evidence_id": i, "content_hash": h} for i, h in found])
        return out

    def run_snapshot(self, run_id: int) -> dict[str, str]:
        """The evidence a run read: record id -> content hash."""
        with self.engine.connect() as connection:
            part = EvidencePartRecordRow.__table__
            rows = connection.execute(sa.select(part.c.evidence_id, part.c.content_hash).join(
                RunPartRow.__table__, RunPartRow.__table__.c.digest == part.c.digest)
                .where(RunPartRow.__table__.c.run_id == run_id)).all()
            if not rows:
                old = RunEvidenceRow.__table__
                rows = connection.execute(sa.select(old.c.evidence_id, old.c.content_hash)
                                          .where(old.c.run_id == run_id)).all()
        return dict(rows)

    def last_inputs(self, contract_ids: Iterable[str]) -> dict[str, RunContractRow]:
        """For each contract, what the latest run that covered it knew of it."""
        table = RunContractRow.__table__
        ids = sorted(set(contract_ids))
        out: dict[str, RunContractRow] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                latest = (sa.select(table.c.contract_id, sa.func.max(table.c.run_id).label("run_id"))
                          .where(table.c.contract_id.in_(part)).group_by(table.c.contract_id).subquery())
                for row in connection.execute(sa.select(table).join(latest, sa.and_(
                        latest.c.contract_id == table.c.contract_id, latest.c.run_id == table.c.run_id))).mappings():
                    out[row["contract_id"]] = RunContractRow(**row)
        return out

    def firing_counts(self, contract_ids: Iterable[str]) -> dict[str, int]:
        """How many stored findings of each contract the last run that covered it found."""
        table = FindingRow.__table__
        ids = sorted(set(contract_ids))
        out = dict.fromkeys(ids, 0)
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                out.update(connection.execute(
                    sa.select(table.c.contract_id, sa.func.count()).where(table.c.firing.is_(True))
                    .where(table.c.contract_id.in_(ids[start:start + 500])).group_by(table.c.contract_id)).all())
        return out

    def current_findings(self, contract_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The payloads of the findings the last run found (still firing), by contract."""
        table = FindingRow.__table__
        ids = sorted(set(contract_ids))
        out: dict[str, list[dict[str, Any]]] = {c: [] for c in ids}
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                for contract_id, payload in connection.execute(
                        sa.select(table.c.contract_id, table.c.payload).where(table.c.firing.is_(True))
                        .where(table.c.contract_id.in_(ids[start:start + 500])).order_by(table.c.key)):
                    out[contract_id].append(payload)
        return out

    def add_decision(self, finding_key: str, recommended_level: str, decision: str, level: str | None, reason: str,
                     decided_by: str | None = None) -> EscalationDecisionRow:
        row = EscalationDecisionRow(finding_key=finding_key, recommended_level=recommended_level, decision=decision,
                                 level=level, reason=reason, decided_by=decided_by or _user())
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            session.expunge(row)
        return row

    def decisions(self, finding_key: str | None = None) -> list[EscalationDecisionRow]:
        with Session(self.engine) as session:
            query = select(EscalationDecisionRow).order_by(EscalationDecisionRow.id)
            if finding_key is not None:
                query = query.where(EscalationDecisionRow.finding_key == finding_key)
            rows = session.exec(query).all()
            for row in rows:
                session.expunge(row)
            return list(rows)

    # -- runs and the findings lifecycle ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def run_lock(self, wait: bool = False) -> Iterator[None]:
        """Hold the store's run lock: one `run` writes findings at a time. Without `wait`, raise RunInProgress
        at once when another run holds it. The operating system (SQLite: a lock file beside the database) or
        the database (PostgreSQL: a session advisory lock) releases it if the process dies."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                if wait:
                    connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": RUN_LOCK_KEY})
                elif not connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": RUN_LOCK_KEY}).scalar():
                    raise RunInProgress(BUSY_MESSAGE)
                try:
                    yield
                finally:
                    connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": RUN_LOCK_KEY})
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

    # -- runs shared by several processes (PostgreSQL) ------------------------------------------------------------

    def open_partitions(self, token: str, as_of: dt.date, known_at: dt.datetime, library_hash: str,
                        groups: list[list[str]]) -> None:
        """One partition per group of contracts (contracts that share facilities are evaluated together, so that
        their evidence is read once); a partition is named by its group's first contract."""
        with Session(self.engine) as session, session.begin():
            session.add_all(RunPartitionRow(token=token, contract_id=group[0], contracts=list(group), as_of=as_of,
                                         known_at=known_at, library_hash=library_hash) for group in groups if group)

    def shared_runs(self) -> list[tuple[str, dt.date, dt.datetime | None, str]]:
        """(token, as of, known at, library hash) of the runs in progress that still have pending partitions."""
        with Session(self.engine) as session:
            rows = session.exec(select(RunPartitionRow.token, RunPartitionRow.as_of, RunPartitionRow.known_at,
                                       RunPartitionRow.library_hash)
                                .where(RunPartitionRow.status == "pending").distinct()).all()
            return sorted(set(rows))

    def work_partitions(self, token: str, evaluate: Any, worker: str) -> int:
        """Claim pending partitions of run `token` one at a time and store `evaluate(contract_ids)` (a result per
        contract of the partition) for each.

        Each claim is a row lock held while the contracts are evaluated and released by the commit that stores
        the result: two workers never evaluate the same contract, and a dead worker's partition is pending again.
        Returns how many contracts this worker evaluated."""
        if self.engine.dialect.name != "postgresql":
            raise StoreError("several processes can share a run on PostgreSQL only")
        done = 0
        while True:
            with Session(self.engine) as session, session.begin():
                row = session.exec(select(RunPartitionRow).where(RunPartitionRow.token == token)
                                   .where(RunPartitionRow.status == "pending").order_by(RunPartitionRow.contract_id)
                                   .limit(1).with_for_update(skip_locked=True)).first()
                if row is None:
                    return done
                contracts = row.contracts or [row.contract_id]
                row.result, row.status, row.worker = evaluate(contracts), "done", worker
                done += len(contracts)

    def pending_partitions(self, token: str) -> int:
        """Partitions of `token` not done yet, including those a worker is evaluating right now."""
        with Session(self.engine) as session:
            return len(session.exec(select(RunPartitionRow.contract_id).where(RunPartitionRow.token == token)
                                    .where(RunPartitionRow.status == "pending")).all())

    def close_partitions(self, token: str) -> dict[str, dict[str, Any]]:
        """The results of a finished shared run, by contract id; the partitions are removed."""
        with Session(self.engine) as session, session.begin():
            rows = session.exec(select(RunPartitionRow).where(RunPartitionRow.token == token)).all()
            results: dict[str, dict[str, Any]] = {}
            for row in rows:
                results.update(row.result or {})
            for row in rows:
                session.delete(row)
            return results

    def record_run(self, as_of: dt.date, contract_ids: list[str], findings: list[models.Finding] | list[dict[str, Any]],
                   library_hash: str, software_version: str, evidence: dict[str, str] | None, started_at: dt.datetime,
                   actor: str | None = None, known_at: dt.datetime | None = None, *,
                   partitions: dict[tuple[str | None, str | None], tuple[str, int]] | None = None,
                   inputs: dict[str, dict[str, Any]] | None = None, reused: Iterable[str] = ()) -> RunSummary:
        """Store one run's findings against the previous ones, in one transaction, and say what changed.

        `contract_ids` are the contracts the run covered: their stored findings that no longer fire are resolved;
        findings of other contracts are left alone. `findings` are Finding models or their JSON form (as
        ``model_dump(mode="json")`` gives it). The evidence snapshot is either `evidence` (record id ->
        content hash) or `partitions`: (facility id, contract id or None) -> (digest, records) of the evidence
        partitions read, stored as shared parts.
        `inputs` maps each contract to what its findings depend on (``RunContractRow``'s inputs_hash, base_hash, units
        and evaluated). The findings of the `reused` contracts (inputs unchanged) are their stored findings still
        found, not in `findings`: only their lifecycle moves (a waiver expired, a new finding confirmed). Work is
        done in bulk: a few statements per run, not per finding."""
        actor = actor or _user()
        summary = RunSummary(as_of=as_of, known_at=known_at or started_at)
        current = {p["key"]: p for p in (f if isinstance(f, dict) else f.model_dump(mode="json") for f in findings)}
        finding_t = FindingRow.__table__
        with Session(self.engine) as session, session.begin():
            connection = session.connection()
            parts = None
            if partitions is not None:
                parts = self._store_parts(connection, partitions, as_of, known_at)
                evidence_digest, evidence_count = _hash({"parts": sorted(parts)}), sum(parts.values())
            else:
                evidence = evidence or {}
                evidence_digest, evidence_count = _hash(evidence), len(evidence)
            run = RunRow(as_of=as_of, known_at=known_at or started_at, started_at=started_at, finished_at=_now(),
                         started_by=actor, library_hash=library_hash, software_version=software_version,
                         evidence_hash=evidence_digest, evidence_count=evidence_count, summary={})
            session.add(run)
            session.flush()
            assert run.id is not None
            covered = sorted(set(contract_ids))
            kept = set(reused)
            evaluated = [c for c in covered if c not in kept]
            stored: dict[str, Any] = {}
            for start in range(0, len(evaluated), 500):
                stored.update((row.key, row) for row in connection.execute(
                    sa.select(finding_t.c.key, finding_t.c.state, finding_t.c.firing, finding_t.c.severity,
                              finding_t.c.verdict, finding_t.c.payload, finding_t.c.waived_until)
                    .where(finding_t.c.contract_id.in_(evaluated[start:start + 500]))))
            counts: dict[str, int] = {}
            for payload in current.values():
                counts[payload["contract_id"]] = counts.get(payload["contract_id"], 0) + 1
            unchanged: list[Any] = []  # the findings of the reused contracts: their payloads stand
            kept_ids = sorted(kept)
            for start in range(0, len(kept_ids), 500):
                unchanged += connection.execute(
                    sa.select(finding_t.c.key, finding_t.c.contract_id, finding_t.c.state, finding_t.c.waived_until)
                    .where(finding_t.c.contract_id.in_(kept_ids[start:start + 500]))
                    .where(finding_t.c.firing.is_(True))).all()
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            states: list[dict[str, Any]] = []
            pending: list[tuple[str, str, str | None, str, str]] = []  # (key, kind, from, to, reason)
            for key, payload in sorted(current.items()):
                row = stored.get(key)
                severity, verdict = models.Severity(payload["severity"]), payload["verdict"]
                if row is None:
                    inserts.append(dict(key=key, rule_id=payload["rule_id"], contract_id=payload["contract_id"],
                                        facility_id=payload["facility_id"], severity=severity.value,
                                        verdict=verdict, state="new", firing=True, first_run_id=run.id,
                                        last_run_id=run.id, payload=payload, waived_until=None, waiver_reason=None,
                                        waiver_approver=None))
                    pending.append((key, "detected", None, "new", f"first found as of {as_of}"))
                    summary.new.append(key)
                    continue
                state = row.state
                was = models.Severity(row.severity)
                if state == "waived" and row.waived_until is not None and row.waived_until < as_of:
                    pending.append((key, "waiver_expired", state, "reopened", f"the waiver expired on {row.waived_until}"))
                    state = "reopened"
                    summary.waiver_expired.append(key)
                elif not row.firing or state == "closed":
                    pending.append((key, "reopened", state, "reopened", f"fires again as of {as_of}"))
                    state = "reopened"
                    summary.reopened.append(key)
                elif severity.rank < was.rank:
                    pending.append((key, "worsened", state, state,
                                    f"severity raised from {was.label} to {severity.label}"))
                    summary.worsened.append(key)
                else:
                    summary.still_open.append(key)
                if state == "new":  # seen on a second run: no longer new
                    pending.append((key, "confirmed", "new", "open", "still found on the next run"))
                    state = "open"
                if (state, row.firing, row.severity, row.verdict) != (row.state, True, severity.value, verdict) \
                        or row.payload != payload:
                    updates.append(dict(k=key, state=state, severity=severity.value, verdict=verdict,
                                        payload=payload, firing=True))
            for row in sorted(unchanged):
                key, state = row.key, row.state
                counts[row.contract_id] = counts.get(row.contract_id, 0) + 1
                if state == "waived" and row.waived_until is not None and row.waived_until < as_of:
                    pending.append((key, "waiver_expired", state, "reopened",
                                    f"the waiver expired on {row.waived_until}"))
                    state = "reopened"
                    summary.waiver_expired.append(key)
                elif state == "closed":
                    pending.append((key, "reopened", state, "reopened", f"fires again as of {as_of}"))
                    state = "reopened"
                    summary.reopened.append(key)
                else:
                    summary.still_open.append(key)
                if state == "new":
                    pending.append((key, "confirmed", "new", "open", "still found on the next run"))
                    state = "open"
                if state != row.state and (row.state, state) != ("new", "open"):  # those: one statement below
                    states.append({"k": key, "state": state})
            resolved = []
            for key, row in sorted(stored.items()):
                if key not in current and row.firing:
                    pending.append((key, "resolved", row.state, row.state, f"no longer found as of {as_of}"))
                    resolved.append({"k": key})
                    summary.resolved.append(key)
            if inserts:
                connection.execute(sa.insert(finding_t), inserts)
            if updates:
                connection.execute(sa.update(finding_t).where(finding_t.c.key == sa.bindparam("k")).values(
                    state=sa.bindparam("state"), severity=sa.bindparam("severity"), verdict=sa.bindparam("verdict"),
                    payload=sa.bindparam("payload"), firing=sa.bindparam("firing")), updates)
            if states:
                connection.execute(sa.update(finding_t).where(finding_t.c.key == sa.bindparam("k"))
                                   .values(state=sa.bindparam("state")), states)
            if resolved:
                connection.execute(sa.update(finding_t).where(finding_t.c.key == sa.bindparam("k"))
                                   .values(firing=False), resolved)
            for start in range(0, len(covered), 500):  # every finding still found was found by this run
                part = covered[start:start + 500]
                connection.execute(sa.update(finding_t).where(finding_t.c.firing.is_(True))
                                   .where(finding_t.c.contract_id.in_([c for c in part if c not in kept]))
                                   .values(last_run_id=run.id))
                # The reused contracts' findings: found again, so no longer new (their other moves are above).
                connection.execute(sa.update(finding_t).where(finding_t.c.firing.is_(True))
                                   .where(finding_t.c.contract_id.in_([c for c in part if c in kept]))
                                   .values(last_run_id=run.id, state=sa.case((finding_t.c.state == "new", "open"),
                                                                             else_=finding_t.c.state)))
            self._events(connection, pending, actor, run.id)
            if parts is not None:
                if parts:
                    connection.execute(sa.insert(RunPartRow.__table__),
                                       [{"run_id": run.id, "digest": d} for d in sorted(parts)])
            elif evidence:
                connection.execute(sa.insert(RunEvidenceRow.__table__), [
                    {"run_id": run.id, "evidence_id": i, "content_hash": h} for i, h in sorted(evidence.items())])
            if inputs:
                connection.execute(sa.insert(RunContractRow.__table__), [
                    {**values, "run_id": run.id, "contract_id": c, "findings": counts.get(c, 0)}
                    for c, values in sorted(inputs.items())])
            run.summary = summary.counts()
            summary.run_id = run.id
        return summary

    @staticmethod
    def _events(connection: Any, pending: list[tuple[str, str, str | None, str, str]], actor: str,
                run_id: int) -> None:
        """Append history entries in bulk, each chained to the finding's previous entry."""
        if not pending:
            return
        event_t = FindingEventRow.__table__
        keys = sorted({key for key, *_rest in pending})
        last: dict[str, tuple[int, str]] = {}
        for start in range(0, len(keys), 2000):
            part = keys[start:start + 2000]
            latest = (sa.select(event_t.c.finding_key, sa.func.max(event_t.c.seq).label("seq"))
                      .where(event_t.c.finding_key.in_(part)).group_by(event_t.c.finding_key).subquery())
            for key, seq, digest in connection.execute(
                    sa.select(event_t.c.finding_key, event_t.c.seq, event_t.c.hash)
                    .join(latest, sa.and_(latest.c.finding_key == event_t.c.finding_key, latest.c.seq == event_t.c.seq))):
                last[key] = (seq, digest)
        rows = []
        for key, kind, from_state, to_state, reason in pending:
            seq, previous = last.get(key, (0, "0" * 64))
            entry = SimpleNamespace(finding_key=key, seq=seq + 1, at=_now().isoformat(), actor=actor, kind=kind,
                                    from_state=from_state, to_state=to_state, reason=reason, run_id=run_id,
                                    prev_hash=previous, hash="")
            entry.hash = event_hash(entry)  # type: ignore[arg-type] - the same fields as a FindingEventRow
            last[key] = (entry.seq, entry.hash)
            rows.append(vars(entry))
        connection.execute(sa.insert(event_t), rows)

    @staticmethod
    def _event(session: Session, key: str, kind: str, from_state: str | None, to_state: str, reason: str,
               actor: str, run_id: int | None = None) -> FindingEventRow:
        last = session.exec(select(FindingEventRow).where(FindingEventRow.finding_key == key)
                            .order_by(col(FindingEventRow.seq).desc()).limit(1)).first()
        entry = FindingEventRow(finding_key=key, seq=(last.seq + 1) if last else 1, at=_now().isoformat(),
                             actor=actor, kind=kind, from_state=from_state, to_state=to_state, reason=reason,
                             run_id=run_id, prev_hash=last.hash if last else "0" * 64, hash="")
        entry.hash = event_hash(entry)
        session.add(entry)
        session.flush()
        return entry

    def move(self, key: str, to_state: str, reason: str, actor: str | None = None, *,
             waived_until: dt.date | None = None, approver: str | None = None) -> FindingEventRow:
        """Move a finding through its lifecycle; every move records who, when and why."""
        if not reason.strip():
            raise InputError([Problem("finding", None, key, "a reason is required for every change of state")])
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(FindingRow, key, with_for_update=True)
            if row is None:
                raise NotFound(f'no finding "{key}" in the store')
            allowed = models.TRANSITIONS[row.state]
            if to_state not in allowed:
                raise InputError([Problem("finding", None, key, f'cannot move from "{row.state}" to "{to_state}"; '
                                          f"allowed: {', '.join(allowed) or 'none (final)'}")])
            if to_state == "waived":
                if waived_until is None or not approver:
                    raise InputError([Problem("finding", None, key,
                                              "a waiver needs a reason, an approver and an expiry date")])
                row.waived_until, row.waiver_reason, row.waiver_approver = waived_until, reason, approver
                reason = f"{reason} (approved by {approver}, until {waived_until})"
            entry = self._event(session, key, "moved", row.state, to_state, reason, actor or _user())
            row.state = to_state
            return entry

    # -- letters ---------------------------------------------------------------------------------------------------

    def add_letter(self, letter: LetterRow, prefix: str) -> LetterRow:
        """Store a generated letter as a draft, giving it the next reference PREFIX-YEAR-NNNN. The reference is
        already in the letter's text: `letter.text` holds the placeholder LETTER_REFERENCE, replaced here."""
        year = letter.dated.year
        letter.created_by = letter.created_by or _user()
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            taken = session.exec(select(LetterRow.reference)
                                 .where(col(LetterRow.reference).startswith(f"{prefix}-{year}-"))).all()
            numbers = [int(ref.rsplit("-", 1)[1]) for ref in taken if ref.rsplit("-", 1)[1].isdigit()]
            letter.reference = f"{prefix}-{year}-{max(numbers, default=0) + 1:04d}"
            letter.text = letter.text.replace(LETTER_REFERENCE, letter.reference)
            letter.content_hash = hashlib.sha256(letter.text.encode()).hexdigest()
            session.add(letter)
        return letter

    def letters(self, contract_id: str | None = None, state: str | None = None) -> list[LetterRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(LetterRow)
            if contract_id is not None:
                query = query.where(LetterRow.contract_id == contract_id)
            if state is not None:
                query = query.where(LetterRow.state == state)
            return list(session.exec(query.order_by(LetterRow.id)).all())

    def letter(self, reference: str) -> LetterRow:
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.exec(select(LetterRow).where(LetterRow.reference == reference)).first()
        if row is None:
            raise NotFound(f'no letter "{reference}" in the store')
        return row

    def approve_letter(self, reference: str, actor: str | None = None) -> LetterRow:
        """draft -> approved: an officer (for a notice of default, after legal review) approved the text."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = self._letter_for_update(session, reference, "draft", "approved")
            row.state, row.approved_at, row.approved_by = "approved", _now(), actor or _user()
        return row

    def send_letter(self, reference: str, actor: str | None = None) -> tuple[LetterRow, list[str]]:
        """approved -> sent, and the cited findings that can move to "notified" do, in the same transaction (each
        with a history entry naming the letter). Returns the letter and the keys of the findings moved."""
        actor = actor or _user()
        moved = []
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = self._letter_for_update(session, reference, "approved", "sent")
            row.state, row.sent_at, row.sent_by = "sent", _now(), actor
            for key in row.finding_keys:
                finding = session.get(FindingRow, key, with_for_update=True)
                if finding is not None and "notified" in models.TRANSITIONS[finding.state]:
                    self._event(session, key, "moved", finding.state, "notified",
                                f"letter {row.reference} ({row.letter_type}) sent", actor)
                    finding.state = "notified"
                    moved.append(key)
        return row, moved

    @staticmethod
    def _letter_for_update(session: Session, reference: str, state: str, to_state: str) -> LetterRow:
        row = session.exec(select(LetterRow).where(LetterRow.reference == reference).with_for_update()).first()
        if row is None:
            raise NotFound(f'no letter "{reference}" in the store')
        if row.state != state:
            raise InputError([Problem("letter", None, reference, f'is {row.state}; only {"an" if state[0] in "aeiou" else "a"} {state} letter can be '
                                      f'marked {to_state}' + (" (approve it first)" if to_state == "sent" else ""))])
        return row

    def stored_findings(self, **filters: Any) -> list[FindingRow]:
        """Stored findings, filtered by column values (contract_id, facility_id, state, severity, rule_id)."""
        with Session(self.engine) as session:
            query = select(FindingRow)
            for name, value in filters.items():
                if value is not None:
                    query = query.where(getattr(FindingRow, name) == value)
            return list(session.exec(query.order_by(FindingRow.key)).all())

    def history(self, key: str) -> list[FindingEventRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(FindingEventRow).where(FindingEventRow.finding_key == key)
                                     .order_by(FindingEventRow.seq)).all())

    def runs(self) -> list[RunRow]:
        """Every stored run, in the order they were stored (reports date findings by their runs' as-of dates)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(select(RunRow).order_by(RunRow.id)).all())

    def verify_history(self) -> list[str]:
        """Every break in the findings' hash chains: an edited, inserted or deleted history entry."""
        problems = []
        with Session(self.engine) as session:
            events = session.exec(select(FindingEventRow)
                                  .order_by(FindingEventRow.finding_key, FindingEventRow.seq)).all()
        previous: dict[str, FindingEventRow] = {}
        for entry in events:
            before = previous.get(entry.finding_key)
            expected_prev = before.hash if before else "0" * 64
            expected_seq = before.seq + 1 if before else 1
            if entry.seq != expected_seq or entry.prev_hash != expected_prev:
                problems.append(f"finding {entry.finding_key}: entry {entry.seq} does not follow entry "
                                f"{before.seq if before else 0} (an entry was removed or inserted)")
            elif event_hash(entry) != entry.hash:
                problems.append(f"finding {entry.finding_key}: entry {entry.seq} ({entry.at}, {entry.kind}) was "
                                "changed after it was written")
            previous[entry.finding_key] = entry
        with Session(self.engine) as session:
            for row in session.exec(select(FindingRow).order_by(FindingRow.key)).all():
                last = previous.get(row.key)
                if last is None or last.to_state != row.state:
                    problems.append(f"finding {row.key}: its history ends in state "
                                    f"{last.to_state if last else 'none'} but the finding is {row.state} (the last "
                                    "entries were removed, or the state was edited)")
        return problems

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return {
                name: session.exec(select(sa.func.count()).select_from(table)).one()
                for name, table in (("contracts", ContractRow), ("facilities", FacilityRow),
                                    ("production links", ProductionLinkRow), ("evidence records", EvidenceRow),
                                    ("superseded evidence versions", EvidenceVersionRow))
            } | {"quarantined rows (open)": session.exec(select(sa.func.count()).select_from(QuarantineRow)
                                                         .where(QuarantineRow.status == "open")).one()}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
