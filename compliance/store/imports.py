"""Imports: contracts, facilities and links (each file in one transaction, all or nothing); evidence in chunks, row
by row, bad rows quarantined. Either way a changed record supersedes the stored one and the old version is kept."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from compliance.domain import facts, models
from compliance.domain.rows import Row, storable
from compliance.errors import ConfigurationError, FieldProblem, InputError, NotFound, Problem
from compliance.store.common import chunked, current_user, json_hash, utc_now
from compliance.store.evidence import evidence_payload
from compliance.store.tables import (
    ContractRow,
    EvidenceRow,
    EvidenceVersionRow,
    FacilityRow,
    ImportBatchRow,
    ProductionLinkRow,
    QuarantineRow,
    StoreSettingRow,
    SupersededRecordRow,
)


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
    #: Production links added or confirmed by the factory disclosures imported (evidence imports)
    links: int = 0
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
        if self.links:
            text += f"; {self.links} production link{'s' if self.links != 1 else ''} added or confirmed by disclosures"
        return text


class Imports:
    """Importing records, and the quarantine of refused evidence rows."""

    engine: sa.Engine

    def _batch(self, session: Session, kind: str, source: str, content_hash: str, **values: Any) -> ImportBatchRow:
        batch = ImportBatchRow(kind=kind, source_file=source, content_hash=content_hash, imported_by=current_user(),
                               **values)
        session.add(batch)
        session.flush()
        return batch

    @staticmethod
    def _existing(session: Session, table: Any, keys: list[str]) -> dict[str, Any]:
        """The rows of `table` with these primary keys, loaded in chunks (one query per 500, not one per row)."""
        rows: dict[str, Any] = {}
        for chunk in chunked(keys):
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
            batch = self._batch(session, "contracts", source, json_hash({"records": payloads}))
            for contract, payload in zip(contracts, payloads):
                self._upsert(session, ContractRow, "contract", contract.id, dict(
                    id=contract.id, ocid=contract.ocid, status=contract.status, supplier_id=contract.supplier.id,
                    payload=payload, content_hash=json_hash(payload), batch_id=batch.id), summary, batch.imported_at)
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
            batch = self._batch(session, "facilities", source, json_hash({"records": payloads}))
            for facility in facilities:
                payload = facility.model_dump(mode="json")
                self._upsert(session, FacilityRow, "facility", facility.id, dict(
                    id=facility.id, country=facility.country, payload=payload, content_hash=json_hash(payload),
                    batch_id=batch.id), summary, batch.imported_at)
            session.flush()
            for link in links:
                self._upsert(session, ProductionLinkRow, "production_link", facts.link_id(link),
                             _link_values(link, batch.id), summary, batch.imported_at)
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
            stored.status, stored.finished_at = "complete", utc_now()
        summary.batch_id = batch.id
        return summary

    def _import_chunk(self, batch_id: int, source: str, chunk: list[Row], contracts: set[str],
                      facilities: set[str], summary: ImportSummary) -> None:
        now = utc_now()
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
                                            problems=storable([p.as_json() for p in row.problems]),
                                            status="open"))
                    summary.note_problems(source, row)
                    continue
                seen[record.id] = row.number
                accepted.append(record.id)
                payload = evidence_payload(record)
                values = dict(id=record.id, type=record.type, contract_id=record.contract_id,  # type: ignore[attr-defined]
                              facility_id=record.facility_id, date=record.date, sensitivity=payload["sensitivity"],
                              payload=payload, content_hash=json_hash(payload), source_file=source,
                              source_row=row.number, batch_id=batch_id, imported_at=now)
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
            disclosures = [row.record for row in chunk if row.record is not None and not row.problems
                           and isinstance(row.record, models.FactoryDisclosure)]
            if disclosures:
                summary.links += self._links_disclosed(session, disclosures, batch_id, now)
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
            for part in chunked(accepted):
                connection.execute(sa.update(QuarantineRow)  # entries of earlier imports, not this file's own
                                   .where(QuarantineRow.status == "open").where(QuarantineRow.batch_id != batch_id)
                                   .where(col(QuarantineRow.record_id).in_(part))
                                   .values(status="resolved", resolved_at=now, resolved_by_batch=batch_id,
                                           resolution="a valid record with this id was imported"))

    def _links_disclosed(self, session: Session, disclosures: list[models.FactoryDisclosure], batch_id: int,
                         now: dt.datetime) -> int:
        """The production links the contractor's factory disclosures make known (``disclosed_link``): added when
        the store has no such link, or confirming one known only from research or the media (its source becomes
        contractor_disclosure, its days stay); a link from another source, or a confirmed link of the whole brand
        there, is left as it is."""
        contracts: dict[str, models.Contract] = {}
        changed = ImportSummary("", "")
        for record in disclosures:
            if record.contract_id is not None and record.contract_id not in contracts:
                row = session.get(ContractRow, record.contract_id)
                if row is not None:
                    contracts[record.contract_id] = models.Contract.model_validate(row.payload)
            link = disclosed_link(record, contracts.get(record.contract_id or ""))
            if link is None:
                continue
            whole_brand = session.get(ProductionLinkRow, facts.link_id(link.model_copy(update={"model": None})))
            if whole_brand is not None and models.ProductionLink.model_validate(whole_brand.payload).confirmed:
                continue  # every model of the brand is already known to be made there
            stored = session.get(ProductionLinkRow, facts.link_id(link))
            if stored is not None:
                known = models.ProductionLink.model_validate(stored.payload)
                if known.confirmed:
                    continue
                link = known.model_copy(update={"source": link.source})
            self._upsert(session, ProductionLinkRow, "production_link", facts.link_id(link),
                         _link_values(link, batch_id), changed, now)
            session.flush()  # a later disclosure of the same link in this chunk finds it
        return changed.added + changed.updated

    def add_evidence(self, records: list[models.EvidenceBase], source: str) -> ImportSummary:
        """Store already validated records (for programs and tests; files go through intake and import_evidence)."""
        rows = [Row(number=i + 1, raw=evidence_payload(r), record=r) for i, r in enumerate(records)]
        return self.import_evidence(source, json_hash({"records": [row.raw for row in rows]}), rows, {})

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
            row.status, row.resolved_at = "dismissed", utc_now()
            row.resolution = f"dismissed by {current_user()}: {reason}"
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

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return {
                name: session.exec(select(sa.func.count()).select_from(table)).one()
                for name, table in (("contracts", ContractRow), ("facilities", FacilityRow),
                                    ("production links", ProductionLinkRow), ("evidence records", EvidenceRow),
                                    ("superseded evidence versions", EvidenceVersionRow))
            } | {"quarantined rows (open)": session.exec(select(sa.func.count()).select_from(QuarantineRow)
                                                         .where(QuarantineRow.status == "open")).one()}


def _link_values(link: models.ProductionLink, batch_id: int | None) -> dict[str, Any]:
    """A production link's row: its payload and the columns queries read."""
    payload = link.model_dump(mode="json")
    return dict(id=facts.link_id(link), brand=link.brand, model=link.model, facility_id=link.facility_id,
                source=link.source, valid_from=link.valid_from, valid_to=link.valid_to, payload=payload,
                content_hash=json_hash(payload), batch_id=batch_id)


def disclosed_link(record: models.FactoryDisclosure, contract: models.Contract | None
                   ) -> models.ProductionLink | None:
    """The production link a factory disclosure makes known: its brand (or, when it names none, the brand of the
    contract's item of that model), model, facility and tier, from the contractor's disclosure, valid from the
    disclosure's date. None when it names no facility or no brand can be told, or when it is withdrawn or
    disputed (it confirms nothing)."""
    if record.facility_id is None or record.verification in ("withdrawn", "disputed"):
        return None
    brand = record.brand
    if brand is None and contract is not None:
        brands = {item.brand for item in contract.items if item.model == record.model}
        brand = brands.pop() if len(brands) == 1 else None
    if brand is None:
        return None
    return models.ProductionLink(brand=brand, model=record.model, facility_id=record.facility_id, tier=record.tier,
                                 source="contractor_disclosure", valid_from=record.date)
