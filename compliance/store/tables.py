"""The store's tables: one SQLModel class per table, each named after its table and ending in Row.

Table rows are separate from the domain models: each row keeps the validated record as JSON (`payload`) plus the
columns queries filter on. The schema is owned by the Alembic migrations in ``compliance/store/migrations``
(``migrations/env.py`` imports this module to compare them with these classes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from compliance.store.common import utc_now


class ImportBatchRow(SQLModel, table=True):
    """One import of one file: who, when, the file's hash, and what it did. An evidence import commits in chunks;
    its batch says "running" until the last chunk is in, so an interrupted import is visible (and importing the
    file again completes it: unchanged records are skipped)."""

    __tablename__ = "import_batch"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    source_file: str = Field(max_length=500)
    content_hash: str = Field(max_length=64)
    imported_at: dt.datetime = Field(default_factory=utc_now)
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
    imported_at: dt.datetime = Field(default_factory=utc_now)


class FacilityRow(SQLModel, table=True):
    __tablename__ = "facility"
    id: str = Field(primary_key=True, max_length=64)
    country: str = Field(max_length=2)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")
    imported_at: dt.datetime = Field(default_factory=utc_now)


class ProductionLinkRow(SQLModel, table=True):
    __tablename__ = "production_link"
    id: str = Field(primary_key=True, max_length=400)
    brand: str = Field(index=True, max_length=120)
    model: str | None = Field(default=None, max_length=200)
    facility_id: str = Field(foreign_key="facility.id", max_length=64)
    #: Where the link is known from (models.LINK_SOURCES) and the days it holds (open when missing): columns for
    #: queries, the record itself is `payload`.
    source: str | None = Field(default=None, max_length=40)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    batch_id: int = Field(foreign_key="import_batch.id")
    imported_at: dt.datetime = Field(default_factory=utc_now)


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
    imported_at: dt.datetime = Field(default_factory=utc_now, index=True)


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


class ErasureRow(SQLModel, table=True):
    """A record that something was erased from the store (`evidence erase`): who, when, what kind of value or a whole
    record, why, and how many rows of each table changed; never the value. Append-only, and chained like a finding's
    history: each entry's hash covers its content and the previous entry's hash (`audit verify`)."""

    __tablename__ = "erasure"
    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column_kwargs={"unique": True})
    at: str = Field(max_length=40, description="UTC time, ISO 8601 text: hashed exactly as stored")
    actor: str = Field(max_length=120)
    kind: str = Field(max_length=40)
    reason: str = Field(max_length=2000)
    changed: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


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
    decided_at: dt.datetime = Field(default_factory=utc_now)

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
    """The evidence snapshot of a run stored before revision 0007: every record it read, with the content hash it
    had. Kept for those runs; later runs store the parts they read (RunPartRow)."""

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
    created_at: dt.datetime = Field(default_factory=utc_now)
    created_by: str = Field(max_length=120)
    approved_at: dt.datetime | None = None
    approved_by: str | None = Field(default=None, max_length=120)
    sent_at: dt.datetime | None = None
    sent_by: str | None = Field(default=None, max_length=120)
