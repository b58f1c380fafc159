"""Stored findings: their lifecycle, their history (a hash chain per finding), officers' moves and escalation
decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from compliance.domain import lifecycle
from compliance.domain.lifecycle import Move
from compliance.errors import InputError, NotFound, Problem
from compliance.store.common import chunked, current_user, json_hash, utc_now
from compliance.store.tables import EscalationDecisionRow, FindingEventRow, FindingRow

#: The previous hash of a finding's first history entry.
GENESIS = "0" * 64


def event_hash(event: Any) -> str:
    """The hash of a history entry (a FindingEventRow, or anything with its fields): its content and the previous
    entry's hash."""
    return json_hash({"prev": event.prev_hash, "key": event.finding_key, "seq": event.seq, "at": event.at,
                      "actor": event.actor, "kind": event.kind, "from": event.from_state, "to": event.to_state,
                      "reason": event.reason, "run": event.run_id})


def _latest_entries(connection: Any, keys: list[str]) -> dict[str, tuple[int, str]]:
    """(sequence number, hash) of the latest history entry of each of these findings that has one."""
    event_t = FindingEventRow.__table__
    last: dict[str, tuple[int, str]] = {}
    for part in chunked(keys, 2000):
        latest = (sa.select(event_t.c.finding_key, sa.func.max(event_t.c.seq).label("seq"))
                  .where(event_t.c.finding_key.in_(part)).group_by(event_t.c.finding_key).subquery())
        for key, seq, digest in connection.execute(
                sa.select(event_t.c.finding_key, event_t.c.seq, event_t.c.hash)
                .join(latest, sa.and_(latest.c.finding_key == event_t.c.finding_key, latest.c.seq == event_t.c.seq))):
            last[key] = (seq, digest)
    return last


def history_entries(connection: Any, moves: list[tuple[str, Move]], actor: str,
                    run_id: int | None) -> list[dict[str, Any]]:
    """The history entries (finding_event columns) of `moves` (finding key, move), each chained to its finding's
    previous entry: the latest one stored, or the one before it in `moves`. The one place entries are made."""
    last = _latest_entries(connection, sorted({key for key, _move in moves}))
    entries = []
    for key, move in moves:
        seq, previous = last.get(key, (0, GENESIS))
        entry = SimpleNamespace(finding_key=key, seq=seq + 1, at=utc_now().isoformat(), actor=actor, kind=move.kind,
                                from_state=move.from_state, to_state=move.to_state, reason=move.reason,
                                run_id=run_id, prev_hash=previous, hash="")
        entry.hash = event_hash(entry)
        last[key] = (entry.seq, entry.hash)
        entries.append(vars(entry))
    return entries


def append_history(connection: Any, moves: list[tuple[str, Move]], actor: str, run_id: int | None) -> None:
    """Append the history entries of `moves` (finding key, move) in bulk: a run's."""
    if moves:
        connection.execute(sa.insert(FindingEventRow.__table__), history_entries(connection, moves, actor, run_id))


def record_move(session: Session, key: str, move: Move, actor: str) -> FindingEventRow:
    """Append the history entry of one move (an officer's, or a letter's) in the session's transaction; returns it
    as stored."""
    (values,) = history_entries(session.connection(), [(key, move)], actor, None)
    entry = FindingEventRow(**values)
    session.add(entry)
    session.flush()
    return entry


def refused(key: str, error: lifecycle.Refused) -> InputError:
    """A move the lifecycle refused, as the input error officers see."""
    return InputError([Problem("finding", None, key, str(error))])


class Findings:
    """Reading stored findings and their history, moving them, and officers' escalation decisions."""

    engine: sa.Engine

    def stored_findings(self, **filters: Any) -> list[FindingRow]:
        """Stored findings, filtered by column values (contract_id, facility_id, state, severity, rule_id)."""
        with Session(self.engine) as session:
            query = select(FindingRow)
            for name, value in filters.items():
                if value is not None:
                    query = query.where(getattr(FindingRow, name) == value)
            return list(session.exec(query.order_by(FindingRow.key)).all())

    def firing_counts(self, contract_ids: Iterable[str]) -> dict[str, int]:
        """How many stored findings of each contract the last run that covered it found."""
        table = FindingRow.__table__
        ids = sorted(set(contract_ids))
        out = dict.fromkeys(ids, 0)
        with self.engine.connect() as connection:
            for part in chunked(ids):
                out.update(connection.execute(
                    sa.select(table.c.contract_id, sa.func.count()).where(table.c.firing.is_(True))
                    .where(table.c.contract_id.in_(part)).group_by(table.c.contract_id)).all())
        return out

    def current_findings(self, contract_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The payloads of the findings the last run found (still firing), by contract."""
        table = FindingRow.__table__
        ids = sorted(set(contract_ids))
        out: dict[str, list[dict[str, Any]]] = {c: [] for c in ids}
        with self.engine.connect() as connection:
            for part in chunked(ids):
                for contract_id, payload in connection.execute(
                        sa.select(table.c.contract_id, table.c.payload).where(table.c.firing.is_(True))
                        .where(table.c.contract_id.in_(part)).order_by(table.c.key)):
                    out[contract_id].append(payload)
        return out

    def history(self, key: str) -> list[FindingEventRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(FindingEventRow).where(FindingEventRow.finding_key == key)
                                     .order_by(FindingEventRow.seq)).all())

    def move(self, key: str, to_state: str, reason: str, actor: str | None = None, *,
             waived_until: dt.date | None = None, approver: str | None = None) -> FindingEventRow:
        """Move a finding through its lifecycle; every move records who, when and why."""
        try:
            lifecycle.require_reason(reason)
        except lifecycle.Refused as error:
            raise refused(key, error) from None
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(FindingRow, key, with_for_update=True)
            if row is None:
                raise NotFound(f'no finding "{key}" in the store')
            try:
                move = lifecycle.officer_move(row.state, to_state, reason, waived_until=waived_until,
                                              approver=approver)
            except lifecycle.Refused as error:
                raise refused(key, error) from None
            if to_state == "waived":
                row.waived_until, row.waiver_reason, row.waiver_approver = waived_until, reason, approver
            entry = record_move(session, key, move, actor or current_user())
            row.state = move.to_state
            return entry

    def verify_history(self) -> list[str]:
        """Every break in the findings' hash chains: an edited, inserted or deleted history entry."""
        problems = []
        with Session(self.engine) as session:
            events = session.exec(select(FindingEventRow)
                                  .order_by(FindingEventRow.finding_key, FindingEventRow.seq)).all()
        previous: dict[str, FindingEventRow] = {}
        for entry in events:
            before = previous.get(entry.finding_key)
            expected_prev = before.hash if before else GENESIS
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

    def add_decision(self, finding_key: str, recommended_level: str, decision: str, level: str | None, reason: str,
                     decided_by: str | None = None) -> EscalationDecisionRow:
        row = EscalationDecisionRow(finding_key=finding_key, recommended_level=recommended_level, decision=decision,
                                    level=level, reason=reason, decided_by=decided_by or current_user())
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
