"""The store: contracts, facilities, production links and evidence, in SQLite or PostgreSQL.

The only module that talks to the database. Table rows are separate from the domain models: each row
keeps the validated record as JSON (`payload`) plus the columns queries filter on. The schema is owned
by the Alembic migrations in ``compliance/migrations``; ``Store.upgrade()`` applies them, and every other
operation refuses to run on a database whose schema is not at the current revision.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, event
from sqlmodel import Field, Session, SQLModel, col, or_, select

from compliance import facts, models
from compliance.errors import InputError, NotFound, Problem, StoreError

DEFAULT_URL = "sqlite:///compliance.db"
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
            # Computed fields (ratios, days late) are derived again on reading, never stored.
            payloads = [r.model_dump(mode="json", exclude=set(type(r).model_computed_fields)) for r in records]
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
