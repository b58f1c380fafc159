"""The store: contracts, facilities, production links, evidence, runs, findings and letters, in SQLite or
PostgreSQL (SQLModel), its schema owned by the Alembic migrations in ``migrations/``.

The only package that talks to the database. Callers use one class, `Store`, composed of one part per aggregate:

* ``connect``   the URL, the engine, the schema's revision (``upgrade``, ``require_current``) and the run lock
* ``tables``    every table, one SQLModel class each (``...Row``)
* ``imports``   contracts, facilities, links and evidence imported; the quarantine of refused rows
* ``evidence``  reading contracts, facilities, links and evidence as known at a moment; evidence partitions
* ``runs``      a run stored with its findings and evidence snapshot; runs shared by several processes
* ``findings``  stored findings, their history (a hash chain) and moves; escalation decisions
* ``letters``   letters stored, approved and sent
* ``erasure``   a raw value or a record erased from every table, and the chained log of erasures
* ``common``    what they share: the time, the user, content hashes, reading in batches

Every operation but ``Store.upgrade()`` refuses to run on a database whose schema is not at the current revision.
"""

from __future__ import annotations

from compliance.store.connect import Connection, display_url, normalise_url
from compliance.store.erasure import Erasures
from compliance.store.evidence import EvidenceReads, evidence_hash, evidence_payload, partition_digest
from compliance.store.findings import Findings, event_hash
from compliance.store.imports import Imports, ImportSummary
from compliance.store.letters import LETTER_REFERENCE, Letters
from compliance.store.runs import Runs, RunSummary
from compliance.store.tables import (
    ContractRow,
    ErasureRow,
    EscalationDecisionRow,
    EvidencePartRecordRow,
    EvidencePartRow,
    EvidenceRow,
    EvidenceVersionRow,
    FacilityRow,
    FindingEventRow,
    FindingRow,
    ImportBatchRow,
    LetterRow,
    ProductionLinkRow,
    QuarantineRow,
    RunContractRow,
    RunEvidenceRow,
    RunPartitionRow,
    RunPartRow,
    RunRow,
    StoreSettingRow,
    SupersededRecordRow,
)


class Store(Connection, Imports, EvidenceReads, Runs, Findings, Letters, Erasures):
    """The compliance database at `url` (SQLite file by default, PostgreSQL for a consortium)."""


__all__ = [
    "LETTER_REFERENCE", "ContractRow", "ErasureRow", "EscalationDecisionRow", "EvidencePartRecordRow",
    "EvidencePartRow",
    "EvidenceRow", "EvidenceVersionRow", "FacilityRow", "FindingEventRow", "FindingRow", "ImportBatchRow",
    "ImportSummary", "LetterRow", "ProductionLinkRow", "QuarantineRow", "RunContractRow", "RunEvidenceRow",
    "RunPartRow", "RunPartitionRow", "RunRow", "RunSummary", "Store", "StoreSettingRow", "SupersededRecordRow",
    "display_url", "event_hash", "evidence_hash", "evidence_payload", "normalise_url", "partition_digest",
]
