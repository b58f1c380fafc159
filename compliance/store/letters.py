"""Letters to suppliers: stored as drafts with their reference, approved, sent (moving the findings they cite)."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlmodel import Session, col, select

from compliance.domain import lifecycle
from compliance.errors import InputError, NotFound, Problem
from compliance.store.common import current_user, utc_now
from compliance.store.findings import record_move
from compliance.store.tables import FindingRow, LetterRow

#: Stands for a letter's reference in its text until the store gives it one (see Store.add_letter).
LETTER_REFERENCE = "LETTER-REFERENCE-PENDING"


class Letters:
    """The letters of the store."""

    engine: sa.Engine

    def add_letter(self, letter: LetterRow, prefix: str) -> LetterRow:
        """Store a generated letter as a draft, giving it the next reference PREFIX-YEAR-NNNN. The reference is
        already in the letter's text: `letter.text` holds the placeholder LETTER_REFERENCE, replaced here."""
        year = letter.dated.year
        letter.created_by = letter.created_by or current_user()
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
            row.state, row.approved_at, row.approved_by = "approved", utc_now(), actor or current_user()
        return row

    def send_letter(self, reference: str, actor: str | None = None) -> tuple[LetterRow, list[str]]:
        """approved -> sent, and the cited findings that can move to "notified" do, in the same transaction (each
        with a history entry naming the letter). Returns the letter and the keys of the findings moved."""
        actor = actor or current_user()
        moved = []
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = self._letter_for_update(session, reference, "approved", "sent")
            row.state, row.sent_at, row.sent_by = "sent", utc_now(), actor
            for key in row.finding_keys:
                finding = session.get(FindingRow, key, with_for_update=True)
                if finding is None:
                    continue
                move = lifecycle.letter_sent(finding.state, f"letter {row.reference} ({row.letter_type}) sent")
                if move is not None:
                    record_move(session, key, move, actor)
                    finding.state = move.to_state
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
