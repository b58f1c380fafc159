"""Initial schema: contracts, facilities, production links, evidence, import batches

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('source_file', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('imported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('imported_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('contract',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('ocid', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('supplier_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_ocid'), ['ocid'], unique=False)

    op.create_table('facility',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('evidence',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('sensitivity', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source_file', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], ),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_date'), ['date'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_facility_id'), ['facility_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_type'), ['type'], unique=False)

    op.create_table('production_link',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('brand', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], ),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('production_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_production_link_brand'), ['brand'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('production_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_production_link_brand'))

    op.drop_table('production_link')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_type'))
        batch_op.drop_index(batch_op.f('ix_evidence_facility_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_date'))
        batch_op.drop_index(batch_op.f('ix_evidence_contract_id'))

    op.drop_table('evidence')
    op.drop_table('facility')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_ocid'))

    op.drop_table('contract')
    op.drop_table('import_batch')
