"""Production links in time and with their source: columns source, valid_from, valid_to; stored link sources as
codes (words read as the code they spell, anything else "research": a link of unknown origin is asked to be
confirmed rather than taken as disclosed)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

import hashlib
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('production_link', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('valid_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('valid_to', sa.Date(), nullable=True))

    from compliance.domain import models  # the vocabulary as this revision introduced it
    from compliance.domain.vocabulary import Vocabulary

    vocabulary = Vocabulary(models.LINK_SOURCES, models.FIELD_ALIASES["source"])

    def code(source: object) -> object:
        if source is None or source in models.LINK_SOURCES:
            return source
        try:
            return vocabulary.read(source)
        except ValueError:
            return "research"

    def digest(payload: dict) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    connection = op.get_bind()
    links = sa.table('production_link', sa.column('id'), sa.column('payload', sa.JSON), sa.column('content_hash'),
                     sa.column('source'))
    for row_id, payload in connection.execute(sa.select(links.c.id, links.c.payload)).all():
        payload = json.loads(payload) if isinstance(payload, str) else payload
        values: dict = {"source": code(payload.get("source"))}
        if values["source"] != payload.get("source"):
            payload["source"] = values["source"]
            values.update(payload=payload, content_hash=digest(payload))
        connection.execute(sa.update(links).where(links.c.id == row_id).values(**values))
    # Earlier versions of links are read by runs "as known at" a past moment: their sources are codes too.
    older = sa.table('superseded_record', sa.column('id'), sa.column('kind'), sa.column('payload', sa.JSON),
                     sa.column('content_hash'))
    for row_id, payload in connection.execute(sa.select(older.c.id, older.c.payload)
                                              .where(older.c.kind == 'production_link')).all():
        payload = json.loads(payload) if isinstance(payload, str) else payload
        source = code(payload.get("source"))
        if source != payload.get("source"):
            payload["source"] = source
            connection.execute(sa.update(older).where(older.c.id == row_id)
                               .values(payload=payload, content_hash=digest(payload)))


def downgrade() -> None:
    with op.batch_alter_table('production_link', schema=None) as batch_op:
        batch_op.drop_column('valid_to')
        batch_op.drop_column('valid_from')
        batch_op.drop_column('source')
