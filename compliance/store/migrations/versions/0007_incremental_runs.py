"""Incremental runs: evidence snapshots shared between runs (parts), each run's inputs per contract, partitions
holding several contracts, an index to digest evidence partitions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table('evidence_part',
    sa.Column('digest', AutoString(length=64), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    op.create_table('evidence_part_record',
    sa.Column('digest', AutoString(length=64), nullable=False),
    sa.Column('evidence_id', AutoString(length=120), nullable=False),
    sa.Column('content_hash', AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('digest', 'evidence_id')
    )
    op.create_table('run_part',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('digest', AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('run_id', 'digest')
    )
    op.create_table('run_contract',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', AutoString(length=120), nullable=False),
    sa.Column('inputs_hash', AutoString(length=64), nullable=False),
    sa.Column('findings', sa.Integer(), nullable=False),
    sa.Column('evaluated', sa.Boolean(), nullable=False),
    sa.Column('base_hash', AutoString(length=64), nullable=False),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('run_id', 'contract_id')
    )
    op.create_index(op.f('ix_run_contract_contract_id'), 'run_contract', ['contract_id'], unique=False)
    with op.batch_alter_table('run_partition') as batch:
        batch.add_column(sa.Column('contracts', sa.JSON(), nullable=True))
    # Runs digest the evidence partitions from this index alone.
    op.create_index('ix_evidence_partition', 'evidence',
                    ['facility_id', 'contract_id', 'date', 'imported_at', 'id', 'content_hash'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_evidence_partition', table_name='evidence')
    with op.batch_alter_table('run_partition') as batch:
        batch.drop_column('contracts')
    op.drop_index(op.f('ix_run_contract_contract_id'), table_name='run_contract')
    op.drop_table('run_contract')
    op.drop_table('run_part')
    op.drop_table('evidence_part_record')
    op.drop_table('evidence_part')
