"""Escalation decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('escalation_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('recommended_level', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('escalation_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_decision_finding_key'), ['finding_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('escalation_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_decision_finding_key'))

    op.drop_table('escalation_decision')
