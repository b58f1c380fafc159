"""Erasure: a chained log of what was erased from the store; evidence sources as codes (words read as the code,
anything else "other")

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import hashlib
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table('erasure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', AutoString(length=40), nullable=False),
    sa.Column('actor', AutoString(length=120), nullable=False),
    sa.Column('kind', AutoString(length=40), nullable=False),
    sa.Column('reason', AutoString(length=2000), nullable=False),
    sa.Column('changed', sa.JSON(), nullable=False),
    sa.Column('prev_hash', AutoString(length=64), nullable=False),
    sa.Column('hash', AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    # `source` became a fixed set of codes: stored records written in words take the code they spell, any other
    # value "other" (their content hash follows, so importing the same file again still changes nothing).
    from compliance.domain import models  # the vocabulary as this revision introduced it
    from compliance.domain.vocabulary import Vocabulary

    vocabulary = Vocabulary(models.EVIDENCE_SOURCES, models.FIELD_ALIASES["source"])
    connection = op.get_bind()
    for name, key in (("evidence", "id"), ("evidence_version", "id")):
        table = sa.table(name, sa.column(key), sa.column("payload", sa.JSON), sa.column("content_hash"))
        for row_id, payload in connection.execute(sa.select(table.c[key], table.c.payload)).all():
            payload = json.loads(payload) if isinstance(payload, str) else payload
            source = payload.get("source")
            if source is None or source in models.EVIDENCE_SOURCES:
                continue
            try:
                payload["source"] = vocabulary.read(source)
            except ValueError:
                payload["source"] = "other"
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
            connection.execute(sa.update(table).where(table.c[key] == row_id)
                               .values(payload=payload, content_hash=digest))


def downgrade() -> None:
    op.drop_table('erasure')
