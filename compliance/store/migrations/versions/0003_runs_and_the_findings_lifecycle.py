"""Runs and the findings lifecycle

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('library_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('software_version', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('evidence_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('evidence_count', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('finding',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('severity', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('firing', sa.Boolean(), nullable=False),
    sa.Column('first_run_id', sa.Integer(), nullable=False),
    sa.Column('last_run_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('waived_until', sa.Date(), nullable=True),
    sa.Column('waiver_reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('waiver_approver', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.ForeignKeyConstraint(['first_run_id'], ['run.id'], ),
    sa.ForeignKeyConstraint(['last_run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_facility_id'), ['facility_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_state'), ['state'], unique=False)

    op.create_table('finding_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('finding_key', 'seq')
    )
    with op.batch_alter_table('finding_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_event_finding_key'), ['finding_key'], unique=False)

    op.create_table('run_evidence',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('run_id', 'evidence_id')
    )


def downgrade() -> None:
    op.drop_table('run_evidence')
    with op.batch_alter_table('finding_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_event_finding_key'))

    op.drop_table('finding_event')
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_state'))
        batch_op.drop_index(batch_op.f('ix_finding_rule_id'))
        batch_op.drop_index(batch_op.f('ix_finding_facility_id'))
        batch_op.drop_index(batch_op.f('ix_finding_contract_id'))

    op.drop_table('finding')
    op.drop_table('run')
