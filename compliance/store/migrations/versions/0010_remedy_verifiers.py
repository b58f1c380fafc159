"""Remediation: who verified a remedy became a fixed set of codes (words read as the code, a code followed by more
words as that code - "monitoring_partner_payslip_sample" - anything else "other")

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

#: The codes as this revision introduced them (later ones may add codes; stored records keep theirs).
VERIFIERS = ("worker_driven_monitoring", "monitoring_partner", "union", "workers", "worker_survey", "closure_audit",
             "authority", "supplier", "contractor", "brand", "other")


def _code(text: str) -> str:
    from compliance.domain import models
    from compliance.domain.vocabulary import Vocabulary, spelling_key

    try:
        return Vocabulary(VERIFIERS, models.FIELD_ALIASES["verified_by"]).read(text)
    except ValueError:
        key = spelling_key(text)
        return next((code for code in VERIFIERS if key.startswith(code + "_")), "other")


def upgrade() -> None:
    # Amounts and counts a record stored stay as stored (a 0 imported is a 0); only verified_by changes.
    connection = op.get_bind()
    for name, key in (("evidence", "id"), ("evidence_version", "id")):
        table = sa.table(name, sa.column(key), sa.column("payload", sa.JSON), sa.column("content_hash"))
        for row_id, payload in connection.execute(sa.select(table.c[key], table.c.payload)).all():
            payload = json.loads(payload) if isinstance(payload, str) else payload
            verifier = payload.get("verified_by")
            if payload.get("type") != "remediation" or verifier is None or verifier in VERIFIERS:
                continue
            payload["verified_by"] = _code(str(verifier))
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
            connection.execute(sa.update(table).where(table.c[key] == row_id)
                               .values(payload=payload, content_hash=digest))


def downgrade() -> None:
    pass  # the codes are valid free text
