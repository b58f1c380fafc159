"""An evidence file's row as intake prepares it and the store keeps it: the record when it is valid, else its
problems (the quarantine keeps the row as read, see ``storable``)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from compliance.domain import models
from compliance.errors import FieldProblem

#: Longest cell accepted, in characters; a longer one is quarantined (its first characters are kept).
MAX_CELL = 20_000


@dataclass
class Row:
    """One row of an evidence file, prepared: the record when it is valid, else its problems. `raw` is the row as
    read, identities already pseudonymised (``storable`` makes the quarantine's copy of it)."""

    number: int
    raw: dict[str, Any]
    record: models.EvidenceBase | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    skipped: bool = False
    #: How `number` counts: "row" (CSV, XLSX: the spreadsheet's row) or "line" (JSON, JSON Lines, YAML).
    unit: str = "row"

    @property
    def type_name(self) -> str | None:
        value = self.raw.get("type")
        return storable(value[:40]) if isinstance(value, str) else None  # what the quarantine's column holds

    @property
    def record_id(self) -> str | None:
        value = self.raw.get("id")
        return storable(str(value)[:120]) if value not in (None, "") else None


def storable(value: Any) -> Any:
    """A row's value as the quarantine keeps it (JSON every store accepts), with over-long text cut, characters
    text may not hold written as \\uXXXX, and numbers JSON or a database cannot hold as text. Only refused rows
    need it."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        if len(value) > MAX_CELL:
            value = value[:200] + f" [cut: {len(value)} characters]"
        return models.BAD_CHARACTER.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    if isinstance(value, float) and not math.isfinite(value) or \
            isinstance(value, int) and not isinstance(value, bool) and abs(value) > models.MAX_WHOLE_NUMBER:
        return str(value) if isinstance(value, float) else f"a whole number of {value.bit_length()} bits"
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): storable(v) for k, v in value.items()}
    return value
