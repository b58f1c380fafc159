"""Erasure: a raw value, or a whole evidence record, taken out of every table that may hold it, and the erasure
recorded in a chained log (who, when, what kind, why, how many rows of each table; never the value).

Where a value may sit: evidence records and their earlier versions (any text, the record's id, its source file's
name), quarantine entries (the row as read, its problems, its record id, its file's name), findings (their message
and the ids of the evidence behind them), the evidence snapshots of runs (record ids) and import batches (file
names). An evidence id that holds the value is renamed ERASED-<random> everywhere, consistently. The findings'
history (its hash chain) is not touched: its entries hold states, dates and officers' reasons, never evidence
content or ids, so `audit verify` still passes; the erasure log is chained the same way and verified with it.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from compliance.errors import InputError, Problem
from compliance.store.common import current_user, json_hash, json_value, utc_now
from compliance.store.findings import GENESIS
from compliance.store.tables import (
    ErasureRow,
    EvidencePartRecordRow,
    EvidenceRow,
    EvidenceVersionRow,
    FindingRow,
    ImportBatchRow,
    QuarantineRow,
    RunEvidenceRow,
)

#: Rows read and rewritten per statement.
BATCH = 2000


def erasure_hash(entry: Any) -> str:
    """The hash of an erasure log entry: its content and the previous entry's hash."""
    return json_hash({"prev": entry.prev_hash, "seq": entry.seq, "at": entry.at, "actor": entry.actor,
                      "kind": entry.kind, "reason": entry.reason, "changed": entry.changed})


class _Cleaner:
    """Rewrites stored values: renamed evidence ids, and the erased value in any text."""

    def __init__(self, replace: Callable[[str], str] | None, renamed: dict[str, str]) -> None:
        self.replace, self.renamed = replace, renamed

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.renamed:
                return self.renamed[value]
            text = self.replace(value) if self.replace is not None else value
            for old, new in self.renamed.items():  # ids quoted in messages
                if old in text:
                    text = text.replace(old, new)
            return text
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


class Erasures:
    """Erasing values and records from the store, and the log of erasures."""

    engine: sa.Engine

    def erase(self, kind: str, reason: str, replace: Callable[[str], str] | None = None,
              record_id: str | None = None, actor: str | None = None) -> ErasureRow:
        """Erase from every table, in one transaction: with `replace` (text -> text with the value replaced), every
        occurrence of a value; with `record_id`, that evidence record, its earlier versions and its quarantine
        entries (ids of it elsewhere renamed). `kind` says what was erased (never the value); `reason` why."""
        if not reason.strip():
            raise InputError([Problem("erase", None, "reason", "a reason is required to erase")])
        if replace is not None and replace(reason) != reason:
            raise InputError([Problem("erase", None, "reason", "the reason holds the value being erased: describe "
                                      "the request without it (e.g. a case reference)")])
        changed: Counter[str] = Counter()
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            connection = session.connection()
            renamed = self._renamed(connection, replace, record_id)
            clean = _Cleaner(replace, renamed)
            if record_id is not None:
                for table, column in ((EvidenceRow, "id"), (EvidenceVersionRow, "evidence_id"),
                                      (QuarantineRow, "record_id")):
                    t = table.__table__
                    changed[f"{t.name} deleted"] += connection.execute(
                        sa.delete(t).where(t.c[column] == record_id)).rowcount
            changed["evidence"] += self._rewrite(connection, EvidenceRow, "id", clean,
                                                 {"id": None, "payload": True, "source_file": None})
            changed["evidence_version"] += self._rewrite(connection, EvidenceVersionRow, "id", clean,
                                                         {"evidence_id": None, "payload": True, "source_file": None})
            changed["quarantine"] += self._rewrite(connection, QuarantineRow, "id", clean,
                                                   {"record_id": None, "raw": None, "problems": None,
                                                    "source_file": None})
            changed["finding"] += self._rewrite(connection, FindingRow, "key", clean, {"payload": None})
            changed["import_batch"] += self._rewrite(connection, ImportBatchRow, "id", clean, {"source_file": None})
            for table in (RunEvidenceRow, EvidencePartRecordRow):
                t = table.__table__
                for old, new in renamed.items():
                    changed[t.name] += connection.execute(
                        sa.update(t).where(t.c.evidence_id == old).values(evidence_id=new)).rowcount
            last = session.exec(select(ErasureRow).order_by(ErasureRow.seq.desc()).limit(1)).first()  # type: ignore[attr-defined]
            entry = SimpleNamespace(seq=(last.seq + 1) if last else 1, at=utc_now().isoformat(),
                                    actor=actor or current_user(), kind=kind, reason=reason,
                                    changed={name: n for name, n in sorted(changed.items()) if n},
                                    prev_hash=last.hash if last else GENESIS, hash="")
            entry.hash = erasure_hash(entry)
            row = ErasureRow(**vars(entry))
            session.add(row)
        return row

    @staticmethod
    def _renamed(connection: Any, replace: Callable[[str], str] | None, record_id: str | None) -> dict[str, str]:
        """Evidence ids to rename (the erased record's, or those holding the value), each to a fresh ERASED-... id."""
        if record_id is not None:
            return {record_id: f"ERASED-{secrets.token_hex(6)}"}
        ids: set[str] = set()
        for table, column in ((EvidenceRow, "id"), (EvidenceVersionRow, "evidence_id"), (QuarantineRow, "record_id"),
                              (RunEvidenceRow, "evidence_id"), (EvidencePartRecordRow, "evidence_id")):
            c = table.__table__.c[column]
            ids.update(v for (v,) in connection.execute(sa.select(c).distinct()) if v is not None)
        assert replace is not None
        return {i: f"ERASED-{secrets.token_hex(6)}" for i in sorted(ids) if replace(i) != i}

    @staticmethod
    def _rewrite(connection: Any, table: Any, key: str, clean: _Cleaner, columns: dict[str, bool | None]) -> int:
        """Rewrite `columns` of every row of `table` through `clean`, `BATCH` rows at a time by `key`; a column marked
        True is an evidence payload whose content hash follows it. Returns how many rows changed."""
        t = table.__table__
        changed, last = 0, None
        while True:
            query = sa.select(t.c[key], *(t.c[c] for c in columns)).order_by(t.c[key]).limit(BATCH)
            if last is not None:
                query = query.where(t.c[key] > last)
            batch = connection.execute(query).all()
            if not batch:
                return changed
            for row in batch:
                values = {}
                for name, value in zip(columns, row[1:]):
                    value = json_value(value) if isinstance(t.c[name].type, sa.JSON) else value
                    new = clean(value)
                    if new != value:
                        values[name] = new
                        if columns[name]:
                            values["content_hash"] = json_hash(new)
                if values:
                    connection.execute(sa.update(t).where(t.c[key] == row[0]).values(**values))
                    changed += 1
            last = batch[-1][0]

    def erasures(self) -> list[ErasureRow]:
        with Session(self.engine) as session:
            rows = list(session.exec(select(ErasureRow).order_by(ErasureRow.seq)).all())
            for row in rows:
                session.expunge(row)
            return rows

    def verify_erasures(self) -> list[str]:
        """Every break in the erasure log's chain: an entry edited, inserted or removed."""
        problems, previous = [], None
        for entry in self.erasures():
            expected_seq, expected_prev = (previous.seq + 1, previous.hash) if previous else (1, GENESIS)
            if entry.seq != expected_seq or entry.prev_hash != expected_prev:
                problems.append(f"erasure log: entry {entry.seq} does not follow entry "
                                f"{previous.seq if previous else 0} (an entry was removed or inserted)")
            elif erasure_hash(entry) != entry.hash:
                problems.append(f"erasure log: entry {entry.seq} ({entry.at}) was changed after it was written")
            previous = entry
        return problems
