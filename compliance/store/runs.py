"""Runs: storing a run's findings and its evidence snapshot (the shared parts it read) in one transaction, what
each contract's findings depended on, and the partitions of a run that several processes share (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from compliance.domain import lifecycle, models
from compliance.errors import StoreError
from compliance.store.common import chunked, current_user, driver_batches, json_hash, utc_now
from compliance.store.evidence import evidence_queries, partition_digest
from compliance.store.findings import append_history
from compliance.store.tables import (
    EvidencePartRecordRow,
    EvidencePartRow,
    FindingEventRow,
    FindingRow,
    RunContractRow,
    RunPartitionRow,
    RunPartRow,
    RunRow,
)


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
    #: Closed findings found again on the evidence their closure covered: they stay closed.
    stays_closed: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("new", "still_open", "worsened", "resolved", "reopened", "waiver_expired", "stays_closed")}


def _stored(row: Any, closed_on: dict[str, dt.date] | None = None) -> lifecycle.Stored:
    """A stored finding (a row of its state, firing, severity and waiver's expiry, and the day it was closed) as the
    lifecycle sees it."""
    return lifecycle.Stored(row.state, row.firing, models.Severity(row.severity), row.waived_until,
                            (closed_on or {}).get(row.key))


def _closed_on(connection: Any, keys: list[str]) -> dict[str, dt.date]:
    """The day each of the closed findings `keys` was last closed, from its history."""
    event_t = FindingEventRow.__table__
    out: dict[str, dt.date] = {}
    for part in chunked(keys):
        for key, at in connection.execute(
                sa.select(event_t.c.finding_key, sa.func.max(event_t.c.at))
                .where(event_t.c.finding_key.in_(part)).where(event_t.c.to_state == "closed")
                .group_by(event_t.c.finding_key)):
            out[key] = dt.date.fromisoformat(at[:10])
    return out


class Runs:
    """Storing runs and reading what earlier runs knew."""

    engine: sa.Engine

    def record_run(self, *, as_of: dt.date, contract_ids: list[str],
                   findings: list[models.Finding] | list[dict[str, Any]], library_hash: str, software_version: str,
                   started_at: dt.datetime, partitions: dict[tuple[str | None, str | None], tuple[str, int]],
                   actor: str | None = None, known_at: dt.datetime | None = None,
                   inputs: dict[str, dict[str, Any]] | None = None, reused: Iterable[str] = ()) -> RunSummary:
        """Store one run's findings against the previous ones, in one transaction, and say what changed.

        `contract_ids` are the contracts the run covered: their stored findings that no longer fire are resolved;
        findings of other contracts are left alone. `findings` are Finding models or their JSON form (as
        ``model_dump(mode="json")`` gives it). The evidence snapshot is `partitions`: (facility id, contract id or
        None) -> (digest, records) of the evidence partitions read, stored as shared parts.
        `inputs` maps each contract to what its findings depend on (``RunContractRow``'s inputs_hash, base_hash, units
        and evaluated). The findings of the `reused` contracts (inputs unchanged) are their stored findings still
        found, not in `findings`: only their lifecycle moves (a waiver expired, a new finding confirmed). Work is
        done in bulk: a few statements per run, not per finding."""
        actor = actor or current_user()
        summary = RunSummary(as_of=as_of, known_at=known_at or started_at)
        current = {p["key"]: p for p in (f if isinstance(f, dict) else f.model_dump(mode="json") for f in findings)}
        finding_t = FindingRow.__table__
        with Session(self.engine) as session, session.begin():
            connection = session.connection()
            parts = self._store_parts(connection, partitions, as_of, known_at)
            run = RunRow(as_of=as_of, known_at=known_at or started_at, started_at=started_at, finished_at=utc_now(),
                         started_by=actor, library_hash=library_hash, software_version=software_version,
                         evidence_hash=json_hash({"parts": sorted(parts)}), evidence_count=sum(parts.values()),
                         summary={})
            session.add(run)
            session.flush()
            assert run.id is not None
            covered = sorted(set(contract_ids))
            kept = set(reused)
            evaluated = [c for c in covered if c not in kept]
            stored: dict[str, Any] = {}
            for part in chunked(evaluated):
                stored.update((row.key, row) for row in connection.execute(
                    sa.select(finding_t.c.key, finding_t.c.state, finding_t.c.firing, finding_t.c.severity,
                              finding_t.c.verdict, finding_t.c.payload, finding_t.c.waived_until)
                    .where(finding_t.c.contract_id.in_(part))))
            counts: dict[str, int] = {}
            for payload in current.values():
                counts[payload["contract_id"]] = counts.get(payload["contract_id"], 0) + 1
            unchanged: list[Any] = []  # the findings of the reused contracts: their payloads stand
            kept_ids = sorted(kept)
            for part in chunked(kept_ids):
                unchanged += connection.execute(
                    sa.select(finding_t.c.key, finding_t.c.contract_id, finding_t.c.state, finding_t.c.firing,
                              finding_t.c.severity, finding_t.c.waived_until)
                    .where(finding_t.c.contract_id.in_(part))
                    .where(finding_t.c.firing.is_(True))).all()
            closed_on = _closed_on(connection, sorted({row.key for row in [*stored.values(), *unchanged]
                                                      if row.state == "closed"}))
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            states: dict[tuple[str, str], list[str]] = {}  # (from, to) -> the reused contracts' findings moved
            resolved: list[dict[str, Any]] = []
            moves: list[tuple[str, lifecycle.Move]] = []

            def noted(key: str, outcome: lifecycle.Outcome) -> lifecycle.Outcome:
                """The run's moves of one finding, kept for its history and counted in the summary."""
                moves.extend((key, move) for move in outcome.moves)
                getattr(summary, outcome.change).append(key)
                return outcome

            for key, payload in sorted(current.items()):
                row = stored.get(key)
                severity, verdict = models.Severity(payload["severity"]), payload["verdict"]
                if row is None:
                    outcome = noted(key, lifecycle.detected(as_of))
                    inserts.append(dict(key=key, rule_id=payload["rule_id"], contract_id=payload["contract_id"],
                                        facility_id=payload["facility_id"], severity=severity.value,
                                        verdict=verdict, state=outcome.state, firing=outcome.firing,
                                        first_run_id=run.id, last_run_id=run.id, payload=payload, waived_until=None,
                                        waiver_reason=None, waiver_approver=None))
                    continue
                if row.firing and row.payload.get("respond_by"):
                    # The deadline runs from when the finding was first found and stays put; a raised severity
                    # with a shorter deadline can only bring it forward.
                    payload = {**payload, "respond_by": min(payload["respond_by"], row.payload["respond_by"])}
                    current[key] = payload
                observed_on = payload.get("observed_on")
                outcome = noted(key, lifecycle.found_again(_stored(row, closed_on), severity, as_of,
                                                           observed_on and dt.date.fromisoformat(observed_on)))
                if (outcome.state, outcome.firing, severity.value, verdict, payload) \
                        != (row.state, row.firing, row.severity, row.verdict, row.payload):
                    updates.append(dict(k=key, state=outcome.state, severity=severity.value, verdict=verdict,
                                        payload=payload, firing=outcome.firing))
            for row in sorted(unchanged):
                counts[row.contract_id] = counts.get(row.contract_id, 0) + 1
                outcome = noted(row.key, lifecycle.found_again(_stored(row, closed_on), models.Severity(row.severity),
                                                               as_of))
                if outcome.state != row.state:
                    states.setdefault((row.state, outcome.state), []).append(row.key)
            for key, row in sorted(stored.items()):
                gone = lifecycle.not_found(_stored(row), as_of) if key not in current else None
                if gone is not None:
                    noted(key, gone)
                    resolved.append({"k": key})
            if inserts:
                connection.execute(sa.insert(finding_t), inserts)
            if updates:
                connection.execute(sa.update(finding_t).where(finding_t.c.key == sa.bindparam("k")).values(
                    state=sa.bindparam("state"), severity=sa.bindparam("severity"), verdict=sa.bindparam("verdict"),
                    payload=sa.bindparam("payload"), firing=sa.bindparam("firing")), updates)
            # When every reused finding in a state moves (most often: all are confirmed, new -> open), one statement
            # per 500 contracts moves them, else one per 500 findings.
            in_state = Counter(row.state for row in unchanged)
            for (before, after), keys in sorted(states.items()):
                if len(keys) == in_state[before]:
                    for part in chunked(kept_ids):
                        connection.execute(sa.update(finding_t).where(finding_t.c.firing.is_(True))
                                           .where(finding_t.c.state == before)
                                           .where(finding_t.c.contract_id.in_(part)).values(state=after))
                else:
                    for part in chunked(keys):
                        connection.execute(sa.update(finding_t).where(finding_t.c.key.in_(part)).values(state=after))
            if resolved:
                connection.execute(sa.update(finding_t).where(finding_t.c.key == sa.bindparam("k"))
                                   .values(firing=False), resolved)
            for part in chunked(covered):  # every finding still found was found by this run
                connection.execute(sa.update(finding_t).where(finding_t.c.firing.is_(True))
                                   .where(finding_t.c.contract_id.in_(part)).values(last_run_id=run.id))
            append_history(connection, moves, actor, run.id)
            if parts:
                connection.execute(sa.insert(RunPartRow.__table__),
                                   [{"run_id": run.id, "digest": d} for d in sorted(parts)])
            if inputs:
                connection.execute(sa.insert(RunContractRow.__table__), [
                    {**values, "run_id": run.id, "contract_id": c, "findings": counts.get(c, 0)}
                    for c, values in sorted(inputs.items())])
            run.summary = summary.counts()
            summary.run_id = run.id
        return summary

    def _store_parts(self, connection: Any, partitions: dict[tuple[str | None, str | None], tuple[str, int]],
                     as_of: dt.date, known_at: dt.datetime | None) -> dict[str, int]:
        """Store the evidence parts of a run that the store does not hold yet, in the run's transaction; returns
        the run's parts (digest -> records). Parts are shared by every run that reads them: an unchanged partition
        costs nothing. A part's rows are read again here and its digest computed from them (had an import
        committed in between, the part stored is the one the store holds now)."""
        part_t, record_t = EvidencePartRow.__table__, EvidencePartRecordRow.__table__
        digests = sorted({d for d, _n in partitions.values()})
        held: set[str] = set()
        for part in chunked(digests):
            held.update(connection.execute(sa.select(part_t.c.digest).where(part_t.c.digest.in_(part))).scalars())
        missing = {key: value for key, value in partitions.items() if value[0] not in held}
        out = {d: n for d, n in partitions.values() if d in held}
        sites = sorted({f for f, _c in missing if f is not None})
        batches: list[Any] = [lambda t, part=part: t.c.facility_id.in_(part) for part in chunked(sites, 100)]
        if any(f is None for f, _c in missing):
            batches.append(lambda t: t.c.facility_id.is_(None))
        for where in batches:
            rows: dict[tuple[str | None, str | None], list[tuple[str, str]]] = {}
            for query in evidence_queries(["facility_id", "contract_id", "id", "content_hash"], as_of, known_at,
                                          where):
                for batch in driver_batches(connection, query):
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

    def last_inputs(self, contract_ids: Iterable[str]) -> dict[str, RunContractRow]:
        """For each contract, what the latest run that covered it knew of it."""
        table = RunContractRow.__table__
        ids = sorted(set(contract_ids))
        out: dict[str, RunContractRow] = {}
        with self.engine.connect() as connection:
            for part in chunked(ids):
                latest = (sa.select(table.c.contract_id, sa.func.max(table.c.run_id).label("run_id"))
                          .where(table.c.contract_id.in_(part)).group_by(table.c.contract_id).subquery())
                for row in connection.execute(sa.select(table).join(latest, sa.and_(
                        latest.c.contract_id == table.c.contract_id, latest.c.run_id == table.c.run_id))).mappings():
                    out[row["contract_id"]] = RunContractRow(**row)
        return out

    def runs(self) -> list[RunRow]:
        """Every stored run, in the order they were stored (reports date findings by their runs' as-of dates)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(select(RunRow).order_by(RunRow.id)).all())

    # -- runs shared by several processes (PostgreSQL) ----------------------------------------------------------------

    def open_partitions(self, token: str, as_of: dt.date, known_at: dt.datetime, library_hash: str,
                        groups: list[list[str]]) -> None:
        """One partition per group of contracts (contracts that share facilities are evaluated together, so that
        their evidence is read once); a partition is named by its group's first contract."""
        with Session(self.engine) as session, session.begin():
            session.add_all(RunPartitionRow(token=token, contract_id=group[0], contracts=list(group), as_of=as_of,
                                            known_at=known_at, library_hash=library_hash)
                            for group in groups if group)

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
