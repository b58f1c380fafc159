"""Evidence intake: provenance, superseded versions, the quarantine, the pseudonym key fingerprint, known-at runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('import_batch') as batch:
        batch.add_column(sa.Column('status', AutoString(length=12), nullable=False, server_default='complete'))
        batch.add_column(sa.Column('finished_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('quarantined', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('skipped', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('options', sa.JSON(), nullable=True))
    # Records imported before this revision were known from their batch's import time.
    for table in ('contract', 'facility', 'production_link', 'evidence'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('imported_at', UTCDateTime(), nullable=True))
        op.execute(f"UPDATE {table} SET imported_at = (SELECT imported_at FROM import_batch "
                   f"WHERE import_batch.id = {table}.batch_id)")
        with op.batch_alter_table(table) as batch:
            batch.alter_column('imported_at', existing_type=UTCDateTime(), nullable=False)
    with op.batch_alter_table('evidence') as batch:
        batch.add_column(sa.Column('source_row', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch.create_index('ix_evidence_imported_at', ['imported_at'], unique=False)
    with op.batch_alter_table('run') as batch:
        batch.add_column(sa.Column('known_at', UTCDateTime(), nullable=True))
    with op.batch_alter_table('run_partition') as batch:
        batch.add_column(sa.Column('known_at', UTCDateTime(), nullable=True))
    op.create_table('evidence_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', AutoString(length=120), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('type', AutoString(length=40), nullable=False),
    sa.Column('contract_id', AutoString(length=120), nullable=True),
    sa.Column('facility_id', AutoString(length=64), nullable=True),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('sensitivity', AutoString(length=20), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('content_hash', AutoString(length=64), nullable=False),
    sa.Column('source_file', AutoString(length=500), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('valid_from', UTCDateTime(), nullable=False),
    sa.Column('valid_to', UTCDateTime(), nullable=False),
    sa.Column('superseded_by_batch', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.ForeignKeyConstraint(['superseded_by_batch'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_evidence_version_evidence_id', 'evidence_version', ['evidence_id'], unique=False)
    op.create_index('ix_evidence_version_contract_id', 'evidence_version', ['contract_id'], unique=False)
    op.create_index('ix_evidence_version_facility_id', 'evidence_version', ['facility_id'], unique=False)
    op.create_table('superseded_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', AutoString(length=20), nullable=False),
    sa.Column('record_id', AutoString(length=400), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('content_hash', AutoString(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('valid_from', UTCDateTime(), nullable=False),
    sa.Column('valid_to', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_superseded_record_record_id', 'superseded_record', ['record_id'], unique=False)
    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('source_file', AutoString(length=500), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=True),
    sa.Column('unit', AutoString(length=8), nullable=False),
    sa.Column('record_id', AutoString(length=120), nullable=True),
    sa.Column('evidence_type', AutoString(length=40), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('status', AutoString(length=10), nullable=False),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('resolved_by_batch', sa.Integer(), nullable=True),
    sa.Column('resolution', AutoString(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.ForeignKeyConstraint(['resolved_by_batch'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_quarantine_batch_id', 'quarantine', ['batch_id'], unique=False)
    op.create_index('ix_quarantine_record_id', 'quarantine', ['record_id'], unique=False)
    op.create_index('ix_quarantine_status', 'quarantine', ['status'], unique=False)
    op.create_table('store_setting',
    sa.Column('name', AutoString(length=60), nullable=False),
    sa.Column('value', AutoString(length=2000), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('store_setting')
    op.drop_index('ix_quarantine_status', table_name='quarantine')
    op.drop_index('ix_quarantine_record_id', table_name='quarantine')
    op.drop_index('ix_quarantine_batch_id', table_name='quarantine')
    op.drop_table('quarantine')
    op.drop_index('ix_superseded_record_record_id', table_name='superseded_record')
    op.drop_table('superseded_record')
    op.drop_index('ix_evidence_version_facility_id', table_name='evidence_version')
    op.drop_index('ix_evidence_version_contract_id', table_name='evidence_version')
    op.drop_index('ix_evidence_version_evidence_id', table_name='evidence_version')
    op.drop_table('evidence_version')
    with op.batch_alter_table('run_partition') as batch:
        batch.drop_column('known_at')
    with op.batch_alter_table('run') as batch:
        batch.drop_column('known_at')
    with op.batch_alter_table('evidence') as batch:
        batch.drop_index('ix_evidence_imported_at')
        batch.drop_column('version')
        batch.drop_column('source_row')
    for table in ('contract', 'facility', 'production_link', 'evidence'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('imported_at')
    with op.batch_alter_table('import_batch') as batch:
        for column in ('options', 'skipped', 'quarantined', 'finished_at', 'status'):
            batch.drop_column(column)
