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
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, event
from sqlmodel import Field, Session, SQLModel, col, or_, select

from compliance import facts, models
from compliance.errors import InputError, NotFound, Problem, RunInProgress, StoreError

DEFAULT_URL = "sqlite:///compliance.db"
#: PostgreSQL advisory lock id of `run` ("CRUN" in ASCII).
RUN_LOCK_KEY = 0x4352554E
BUSY_MESSAGE = "another run is in progress on this store; try again later, or use --wait to wait for it"
MIGRATIONS = Path(__file__).parent / "migrations"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------------------------------------------------
# Tables


class ImportBatch(SQLModel, table=True):
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


class ContractRow(SQLModel, table=True):
    __tablename__ = "contract"
    id: str = Field(primary_key=True, max_length=120)
    ocid: str = Field(index=True, max_length=120)
    status: str = Field(max_length=20)
    supplier_id: str = Field(max_length=120)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")


class FacilityRow(SQLModel, table=True):
    __tablename__ = "facility"
    id: str = Field(primary_key=True, max_length=64)
    country: str = Field(max_length=2)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")


class ProductionLinkRow(SQLModel, table=True):
    __tablename__ = "production_link"
    id: str = Field(primary_key=True, max_length=400)
    brand: str = Field(index=True, max_length=120)
    model: str | None = Field(default=None, max_length=200)
    facility_id: str = Field(foreign_key="facility.id", max_length=64)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")


class EvidenceRow(SQLModel, table=True):
    __tablename__ = "evidence"
    id: str = Field(primary_key=True, max_length=120)
    type: str = Field(index=True, max_length=40)
    contract_id: str | None = Field(default=None, index=True, foreign_key="contract.id", max_length=120)
    facility_id: str | None = Field(default=None, index=True, foreign_key="facility.id", max_length=64)
    date: dt.date = Field(index=True)
    sensitivity: str = Field(max_length=20)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    source_file: str = Field(max_length=500)
    batch_id: int = Field(foreign_key="import_batch.id")


class EscalationDecision(SQLModel, table=True):
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


class RunRow(SQLModel, table=True):
    """One `run`: what it evaluated with. Written in the same transaction as its findings, so a run that was
    killed leaves no trace and a stored run is always complete."""

    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date
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


class FindingEvent(SQLModel, table=True):
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


class RunPartition(SQLModel, table=True):
    """One contract of a run in progress that several processes share (PostgreSQL): a worker claims a pending
    partition with a row lock (SKIP LOCKED), evaluates it and stores the result; a worker that dies releases
    its lock and the partition is pending again. The run's own process merges the results in one transaction."""

    __tablename__ = "run_partition"
    token: str = Field(primary_key=True, max_length=36)
    contract_id: str = Field(primary_key=True, max_length=120)
    as_of: dt.date
    library_hash: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=10)
    worker: str | None = Field(default=None, max_length=120)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class RunEvidenceRow(SQLModel, table=True):
    """The evidence snapshot of a run: every record it read, with the content hash it had."""

    __tablename__ = "run_evidence"
    run_id: int = Field(foreign_key="run.id", primary_key=True)
    evidence_id: str = Field(primary_key=True, max_length=120)
    content_hash: str = Field(max_length=64)


@dataclass
class RunSummary:
    """What changed since the last run."""

    as_of: dt.date
    run_id: int | None = None
    new: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    worsened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    waiver_expired: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("new", "still_open", "worsened", "resolved", "reopened", "waiver_expired")}


def event_hash(event: FindingEvent) -> str:
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
    source_file: str
    kind: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return (f"{self.source_file}: {self.added} {self.kind} added, {self.updated} updated, "
                f"{self.unchanged} unchanged")


def evidence_payload(record: models.EvidenceBase) -> dict[str, Any]:
    """A record as stored. Computed fields (ratios, days late) are derived again on reading, never stored."""
    return record.model_dump(mode="json", exclude=set(type(record).model_computed_fields))


def evidence_hash(record: models.EvidenceBase) -> str:
    """The content hash a stored evidence record has (the run snapshot records it)."""
    return _hash(evidence_payload(record))


def _hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


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

    # -- imports: each file in one transaction, all or nothing --------------------------------------------------------

    def _batch(self, session: Session, kind: str, source: str, payloads: list[dict[str, Any]]) -> ImportBatch:
        batch = ImportBatch(kind=kind, source_file=source, content_hash=_hash({"records": payloads}),
                            imported_by=_user())
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

    def _upsert(self, session: Session, table: type[SQLModel], key: str, values: dict[str, Any],
                summary: ImportSummary, existing: dict[str, Any] | None = None) -> None:
        row = existing.get(key) if existing is not None else session.get(table, key)
        if row is None:
            session.add(table(**values))
            summary.added += 1
        elif row.content_hash != values["content_hash"]:  # type: ignore[attr-defined]
            for name, value in values.items():
                setattr(row, name, value)
            summary.updated += 1
        else:
            summary.unchanged += 1

    def add_contracts(self, contracts: list[models.Contract], source: str) -> ImportSummary:
        summary = ImportSummary(source, "contracts")
        payloads = [c.model_dump(mode="json") for c in contracts]
        with Session(self.engine) as session, session.begin():
            batch = self._batch(session, "contracts", source, payloads)
            for contract, payload in zip(contracts, payloads):
                self._upsert(session, ContractRow, contract.id, dict(
                    id=contract.id, ocid=contract.ocid, status=contract.status, supplier_id=contract.supplier.id,
                    payload=payload, content_hash=_hash(payload), batch_id=batch.id), summary)
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
            batch = self._batch(session, "facilities", source, payloads)
            for facility in facilities:
                payload = facility.model_dump(mode="json")
                self._upsert(session, FacilityRow, facility.id, dict(
                    id=facility.id, country=facility.country, payload=payload, content_hash=_hash(payload),
                    batch_id=batch.id), summary)
            session.flush()
            for link in links:
                payload = link.model_dump(mode="json")
                self._upsert(session, ProductionLinkRow, facts.link_id(link), dict(
                    id=facts.link_id(link), brand=link.brand, model=link.model, facility_id=link.facility_id,
                    payload=payload, content_hash=_hash(payload), batch_id=batch.id), summary)
            batch.added, batch.updated, batch.unchanged = summary.added, summary.updated, summary.unchanged
        return summary

    def add_evidence(self, records: list[models.EvidenceBase], source: str) -> ImportSummary:
        """Store evidence records; every record must name a known contract and/or facility."""
        summary = ImportSummary(source, "evidence records")
        with Session(self.engine) as session, session.begin():
            contracts = set(session.exec(select(ContractRow.id)).all())
            facilities = set(session.exec(select(FacilityRow.id)).all())
            problems = []
            for record in records:
                place = f"evidence {record.id}"
                if record.contract_id is None and record.facility_id is None:
                    problems.append(Problem(source, None, place, "names neither a contract_id nor a facility_id"))
                if record.contract_id is not None and record.contract_id not in contracts:
                    problems.append(Problem(source, None, place, f'contract_id: unknown contract "{record.contract_id}"'))
                if record.facility_id is not None and record.facility_id not in facilities:
                    problems.append(Problem(source, None, place, f'facility_id: unknown facility "{record.facility_id}"'))
            existing = self._existing(session, EvidenceRow, [r.id for r in records])
            for record in records:
                if record.id in existing and existing[record.id].type != record.type:  # type: ignore[attr-defined]
                    problems.append(Problem(source, None, f"evidence {record.id}",
                                            f"id is already used by a {existing[record.id].type} record"))
            if problems:
                raise InputError(problems)
            payloads = [evidence_payload(r) for r in records]
            batch = self._batch(session, "evidence", source, payloads)
            for record, payload in zip(records, payloads):
                self._upsert(session, EvidenceRow, record.id, dict(
                    id=record.id, type=payload["type"], contract_id=record.contract_id, facility_id=record.facility_id,
                    date=record.date, sensitivity=payload["sensitivity"], payload=payload,
                    content_hash=_hash(payload), source_file=source, batch_id=batch.id), summary, existing)
            batch.added, batch.updated, batch.unchanged = summary.added, summary.updated, summary.unchanged
        return summary

    # -- reading ------------------------------------------------------------------------------------------------------

    def contracts(self, statuses: Iterable[str] | None = None) -> list[models.Contract]:
        with Session(self.engine) as session:
            query = select(ContractRow).order_by(ContractRow.id)
            if statuses is not None:
                query = query.where(col(ContractRow.status).in_(list(statuses)))
            return [models.Contract.model_validate(row.payload) for row in session.exec(query).all()]

    def contract(self, contract_id: str) -> models.Contract:
        with Session(self.engine) as session:
            row = session.get(ContractRow, contract_id)
            if row is None:
                known = session.exec(select(ContractRow.id)).all()
                from compliance.spec import did_you_mean

                raise NotFound(f'no contract "{contract_id}" in the store{did_you_mean(contract_id, set(known))}')
            return models.Contract.model_validate(row.payload)

    def facilities(self) -> dict[str, models.Facility]:
        with Session(self.engine) as session:
            return {row.id: models.Facility.model_validate(row.payload)
                    for row in session.exec(select(FacilityRow)).all()}

    def production_links(self) -> list[models.ProductionLink]:
        with Session(self.engine) as session:
            rows = session.exec(select(ProductionLinkRow).order_by(ProductionLinkRow.id)).all()
            return [models.ProductionLink.model_validate(row.payload) for row in rows]

    def evidence_for(self, contract: models.Contract, facility_ids: Iterable[str], as_of: dt.date
                     ) -> list[models.EvidenceBase]:
        """Evidence dated on or before `as_of` naming the contract, or naming no contract but one of the facilities."""
        facility_ids = list(facility_ids)
        with Session(self.engine) as session:
            query = select(EvidenceRow).where(EvidenceRow.date <= as_of).where(or_(
                EvidenceRow.contract_id == contract.id,
                sa.and_(col(EvidenceRow.contract_id).is_(None), col(EvidenceRow.facility_id).in_(facility_ids)),
            )).order_by(EvidenceRow.date, EvidenceRow.id)
            return [models.EVIDENCE_ADAPTER.validate_python(row.payload) for row in session.exec(query).all()]

    def add_decision(self, finding_key: str, recommended_level: str, decision: str, level: str | None, reason: str,
                     decided_by: str | None = None) -> EscalationDecision:
        row = EscalationDecision(finding_key=finding_key, recommended_level=recommended_level, decision=decision,
                                 level=level, reason=reason, decided_by=decided_by or _user())
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            session.expunge(row)
        return row

    def decisions(self, finding_key: str | None = None) -> list[EscalationDecision]:
        with Session(self.engine) as session:
            query = select(EscalationDecision).order_by(EscalationDecision.id)
            if finding_key is not None:
                query = query.where(EscalationDecision.finding_key == finding_key)
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

    def open_partitions(self, token: str, as_of: dt.date, library_hash: str, contract_ids: list[str]) -> None:
        with Session(self.engine) as session, session.begin():
            session.add_all(RunPartition(token=token, contract_id=c, as_of=as_of, library_hash=library_hash)
                            for c in contract_ids)

    def shared_runs(self) -> list[tuple[str, dt.date, str]]:
        """(token, as of, library hash) of the runs in progress that still have pending partitions."""
        with Session(self.engine) as session:
            rows = session.exec(select(RunPartition.token, RunPartition.as_of, RunPartition.library_hash)
                                .where(RunPartition.status == "pending").distinct()).all()
            return sorted(set(rows))

    def work_partitions(self, token: str, evaluate: Any, worker: str) -> int:
        """Claim pending partitions of run `token` one at a time and store `evaluate(contract_id)` for each.

        Each claim is a row lock held while the contract is evaluated and released by the commit that stores
        its result: two workers never evaluate the same contract, and a dead worker's contract is pending again.
        Returns how many partitions this worker completed."""
        if self.engine.dialect.name != "postgresql":
            raise StoreError("several processes can share a run on PostgreSQL only")
        done = 0
        while True:
            with Session(self.engine) as session, session.begin():
                row = session.exec(select(RunPartition).where(RunPartition.token == token)
                                   .where(RunPartition.status == "pending").order_by(RunPartition.contract_id)
                                   .limit(1).with_for_update(skip_locked=True)).first()
                if row is None:
                    return done
                row.result, row.status, row.worker = evaluate(row.contract_id), "done", worker
                done += 1

    def pending_partitions(self, token: str) -> int:
        """Partitions of `token` not done yet, including those a worker is evaluating right now."""
        with Session(self.engine) as session:
            return len(session.exec(select(RunPartition.contract_id).where(RunPartition.token == token)
                                    .where(RunPartition.status == "pending")).all())

    def close_partitions(self, token: str) -> dict[str, dict[str, Any]]:
        """The results of a finished shared run, by contract id; the partitions are removed."""
        with Session(self.engine) as session, session.begin():
            rows = session.exec(select(RunPartition).where(RunPartition.token == token)).all()
            results = {row.contract_id: row.result or {} for row in rows}
            for row in rows:
                session.delete(row)
            return results

    def record_run(self, as_of: dt.date, contract_ids: list[str], findings: list[models.Finding],
                   library_hash: str, software_version: str, evidence: dict[str, str], started_at: dt.datetime,
                   actor: str | None = None) -> RunSummary:
        """Store one run's findings against the previous ones, in one transaction, and say what changed.

        `contract_ids` are the contracts the run evaluated: their stored findings that no longer fire are
        resolved; findings of other contracts are left alone. `evidence` maps the ids of the records the run
        read to their content hashes (the snapshot that makes the run reproducible)."""
        actor = actor or _user()
        summary = RunSummary(as_of=as_of)
        current = {f.key: f for f in findings}
        with Session(self.engine) as session, session.begin():
            run = RunRow(as_of=as_of, started_at=started_at, finished_at=_now(), started_by=actor,
                         library_hash=library_hash, software_version=software_version,
                         evidence_hash=_hash(evidence), evidence_count=len(evidence), summary={})
            session.add(run)
            session.flush()
            assert run.id is not None
            evaluated = set(contract_ids)
            stored = {row.key: row for row in session.exec(
                select(FindingRow).where(col(FindingRow.contract_id).in_(sorted(evaluated) or [""]))).all()}
            for key, finding in sorted(current.items()):
                row = stored.get(key)
                payload = finding.model_dump(mode="json")
                if row is None:
                    row = FindingRow(key=key, rule_id=finding.rule_id, contract_id=finding.contract_id,
                                     facility_id=finding.facility_id, severity=finding.severity.value,
                                     verdict=finding.verdict, state="new", firing=True, first_run_id=run.id,
                                     last_run_id=run.id, payload=payload)
                    session.add(row)
                    self._event(session, key, "detected", None, "new", f"first found as of {as_of}", actor, run.id)
                    summary.new.append(key)
                    continue
                was = models.Severity(row.severity)
                if row.state == "waived" and row.waived_until is not None and row.waived_until < as_of:
                    self._event(session, key, "waiver_expired", row.state, "reopened",
                                f"the waiver expired on {row.waived_until}", actor, run.id)
                    row.state = "reopened"
                    summary.waiver_expired.append(key)
                elif not row.firing or row.state == "closed":
                    self._event(session, key, "reopened", row.state, "reopened",
                                f"fires again as of {as_of}", actor, run.id)
                    row.state = "reopened"
                    summary.reopened.append(key)
                elif finding.severity.rank < was.rank:
                    self._event(session, key, "worsened", row.state, row.state,
                                f"severity raised from {was.label} to {finding.severity.label}", actor, run.id)
                    summary.worsened.append(key)
                else:
                    summary.still_open.append(key)
                if row.state == "new":  # seen on a second run: no longer new
                    self._event(session, key, "confirmed", "new", "open", "still found on the next run", actor,
                                run.id)
                    row.state = "open"
                row.severity, row.verdict, row.payload = finding.severity.value, finding.verdict, payload
                row.firing, row.last_run_id = True, run.id
            for key, row in sorted(stored.items()):
                if key not in current and row.firing:
                    self._event(session, key, "resolved", row.state, row.state,
                                f"no longer found as of {as_of}", actor, run.id)
                    row.firing = False
                    summary.resolved.append(key)
            session.add_all(RunEvidenceRow(run_id=run.id, evidence_id=i, content_hash=h)
                            for i, h in sorted(evidence.items()))
            run.summary = summary.counts()
            summary.run_id = run.id
        return summary

    @staticmethod
    def _event(session: Session, key: str, kind: str, from_state: str | None, to_state: str, reason: str,
               actor: str, run_id: int | None = None) -> FindingEvent:
        last = session.exec(select(FindingEvent).where(FindingEvent.finding_key == key)
                            .order_by(col(FindingEvent.seq).desc()).limit(1)).first()
        entry = FindingEvent(finding_key=key, seq=(last.seq + 1) if last else 1, at=_now().isoformat(),
                             actor=actor, kind=kind, from_state=from_state, to_state=to_state, reason=reason,
                             run_id=run_id, prev_hash=last.hash if last else "0" * 64, hash="")
        entry.hash = event_hash(entry)
        session.add(entry)
        session.flush()
        return entry

    def move(self, key: str, to_state: str, reason: str, actor: str | None = None, *,
             waived_until: dt.date | None = None, approver: str | None = None) -> FindingEvent:
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

    def stored_findings(self, **filters: Any) -> list[FindingRow]:
        """Stored findings, filtered by column values (contract_id, facility_id, state, severity, rule_id)."""
        with Session(self.engine) as session:
            query = select(FindingRow)
            for name, value in filters.items():
                if value is not None:
                    query = query.where(getattr(FindingRow, name) == value)
            return list(session.exec(query.order_by(FindingRow.key)).all())

    def history(self, key: str) -> list[FindingEvent]:
        with Session(self.engine) as session:
            return list(session.exec(select(FindingEvent).where(FindingEvent.finding_key == key)
                                     .order_by(FindingEvent.seq)).all())

    def verify_history(self) -> list[str]:
        """Every break in the findings' hash chains: an edited, inserted or deleted history entry."""
        problems = []
        with Session(self.engine) as session:
            events = session.exec(select(FindingEvent).order_by(FindingEvent.finding_key, FindingEvent.seq)).all()
        previous: dict[str, FindingEvent] = {}
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
                                    ("production links", ProductionLinkRow), ("evidence records", EvidenceRow))
            }


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
