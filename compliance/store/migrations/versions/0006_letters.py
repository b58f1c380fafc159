"""Letters to suppliers: what was generated, from which findings and template, and its state

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('letter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('letter_type', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('supplier_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('finding_keys', sa.JSON(), nullable=False),
    sa.Column('dated', sa.Date(), nullable=False),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('template_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('software_version', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('redaction', sa.JSON(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('sent_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference'),
    )
    op.create_index(op.f('ix_letter_contract_id'), 'letter', ['contract_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_letter_contract_id'), table_name='letter')
    op.drop_table('letter')
