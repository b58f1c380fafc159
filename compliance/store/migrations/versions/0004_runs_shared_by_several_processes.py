"""Runs shared by several processes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_partition',
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('library_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('token', 'contract_id')
    )


def downgrade() -> None:
    op.drop_table('run_partition')
