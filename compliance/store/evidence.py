"""Reading the store: contracts, facilities, links and evidence, as known at a moment; evidence partitions.

`known_at` reads the store as it was at that moment: records imported later are left out, and a record corrected
later is read in the version current then. None reads the store as it is now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from compliance.domain import models
from compliance.errors import NotFound
from compliance.store.common import chunked, driver_batches, json_hash, json_value
from compliance.store.tables import (
    ContractRow,
    EvidenceRow,
    EvidenceVersionRow,
    FacilityRow,
    ImportBatchRow,
    ProductionLinkRow,
    SupersededRecordRow,
)


def evidence_payload(record: models.EvidenceBase) -> dict[str, Any]:
    """A record as stored. Computed fields (ratios, days late) are derived again on reading, never stored."""
    return record.model_dump(mode="json", exclude=set(type(record).model_computed_fields))


def evidence_hash(record: models.EvidenceBase) -> str:
    """The content hash a stored evidence record has (the run snapshot records it)."""
    return json_hash(evidence_payload(record))


def partition_digest(rows: list[tuple[str, str]]) -> str:
    """The digest of an evidence partition: its (record id, content hash) pairs, sorted by id."""
    return hashlib.sha256("".join(f"{i}\x1f{h}\x1e" for i, h in rows).encode()).hexdigest()


def evidence_queries(columns: list[str], as_of: dt.date, known_at: dt.datetime | None,
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


class EvidenceReads:
    """Reading contracts, facilities, links and evidence; the versions of a record and where each came from."""

    engine: sa.Engine

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
            for part in chunked(ids):
                for payload in session.exec(select(EvidenceRow.payload).where(col(EvidenceRow.id).in_(part))).all():
                    record = models.EVIDENCE_ADAPTER.validate_python(payload)
                    out[record.id] = record
        return out

    def agency_evidence(self) -> list[models.EvidenceBase]:
        """The current version of every evidence record that names a labour agency, by date then id."""
        with Session(self.engine) as session:
            payloads = session.exec(select(EvidenceRow.payload)
                                    .where(EvidenceRow.payload["agency"].as_string().is_not(None))  # type: ignore[index]
                                    .order_by(EvidenceRow.date, EvidenceRow.id)).all()
        return [models.EVIDENCE_ADAPTER.validate_python(p) for p in payloads]

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

    def evidence_partitions(self, as_of: dt.date, known_at: dt.datetime | None = None
                            ) -> Iterator[tuple[str | None, str | None, list[tuple[str, str]]]]:
        """Every evidence partition as of a date: (facility id, contract id or None, [(record id, content hash), ...]
        sorted by id), one partition at a time (the rows stream: memory holds one partition)."""
        queries = evidence_queries(["facility_id", "contract_id", "id", "content_hash"], as_of, known_at)
        query = (sa.union_all(*queries) if len(queries) > 1 else queries[0]).subquery()
        ordered = sa.select(query).order_by(query.c.facility_id, query.c.contract_id)
        with self.engine.connect() as connection:
            key: tuple[str | None, str | None] | None = None
            rows: list[tuple[str, str]] = []
            for batch in driver_batches(connection, ordered):
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
                for part in chunked(sites, chunk):

                    def where(t: Any, part: list[str] = part, complete: bool = complete) -> Any:
                        return t.c.facility_id.in_(part) if complete else \
                            sa.and_(t.c.facility_id.in_(part), t.c.type.in_(types))
                    rows: list[dict[str, Any]] = []
                    for query in evidence_queries(["id", "contract_id", "payload"], as_of, known_at, where):
                        for batch in driver_batches(connection, query):
                            rows += [json_value(payload, record) for record, contract_id, payload in batch
                                     if contract_id is None or contract_id in contracts]
                    yield rows, complete
            ordered = sorted(contracts)
            elsewhere: list[dict[str, Any]] = []
            for part in chunked(ordered):
                for query in evidence_queries(["id", "facility_id", "payload"], as_of, known_at,
                                              lambda t, part=part: t.c.contract_id.in_(part)):
                    for batch in driver_batches(connection, query):
                        elsewhere += [json_value(payload, record) for record, facility_id, payload in batch
                                      if facility_id not in known]
            if elsewhere:
                yield elsewhere, True
