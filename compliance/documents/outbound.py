"""What may leave the buyer: findings described at aggregate level, for letters to suppliers and for reports.

Worker protection (DOMAIN §D.4) is built in here, by construction: a finding is described by its rule (title,
clause, Code area, severity), where the facility is, what kind of evidence it rests on and the months it covers,
how many workers it affects when at least five (otherwise "a number of workers") and any harm still owed. No
evidence id, free text, pseudonym, exact date of a worker-related event, count from a restricted record or name of
a monitoring partner is ever put in. `compliance.documents.redaction` then checks the finished document, failing closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from compliance.domain import models
from compliance.escalation.renewal import MONTHS  # the month names dates are written with, defined once

#: Counts below this are never written; "a number of workers" is written instead.
MIN_CELL = 5
A_NUMBER = "a number of workers"

#: How the kind of evidence is described to a supplier: by source when the record says, else by its type's
#: `label` (a class attribute of the evidence models, with what else each type declares about itself).
SOURCE_LABELS = {
    "worker_driven_monitoring": "independent worker-driven monitoring",
    "monitoring_organisation": "independent monitoring",
    "social_audit": "social audit evidence",
    "audit": "social audit evidence",
    "supplier": "information supplied by the contractor",
    "contractor": "information supplied by the contractor",
    "grievance": "worker grievances",
    "authority": "information from public authorities",
    "media": "published reports",
    "ngo": "reports by civil-society organisations",
    "brand_statement": "statements by the brand",
}
#: The vague label, for a record that says nothing of where it came from.
DEFAULT_LABEL = "information received"
#: Records whose content never goes out (only their kind and month).
CLOSED_SENSITIVITIES = frozenset({models.Sensitivity.RESTRICTED, models.Sensitivity.WORKER_SAFETY})

FPRW_LABELS = {
    models.FPRW.FREEDOM_OF_ASSOCIATION: "Freedom of association and collective bargaining",
    models.FPRW.FORCED_LABOUR: "Forced labour",
    models.FPRW.CHILD_LABOUR: "Child labour",
    models.FPRW.DISCRIMINATION: "Discrimination",
    models.FPRW.HEALTH_AND_SAFETY: "Safe and healthy working environment",
}
NO_FPRW = "Due diligence and contract management"



def workers_text(count: int | None) -> str | None:
    """A count of workers as it may be written: the number from five up, else "a number of workers"."""
    if count is None:
        return None
    return f"{count:,} workers" if count >= MIN_CELL else A_NUMBER


def month_text(day: dt.date) -> str:
    return f"{MONTHS[day.month - 1]} {day.year}"


def period_text(first: dt.date, last: dt.date) -> str:
    """A span of dates as months: "March 2025", "June-September 2024", "November 2024-February 2025"."""
    if (first.year, first.month) == (last.year, last.month):
        return month_text(first)
    if first.year == last.year:
        return f"{MONTHS[first.month - 1]}\u2013{month_text(last)}"
    return f"{month_text(first)}\u2013{month_text(last)}"


def fprw_text(fprw: Iterable[models.FPRW | str]) -> str:
    labels = [FPRW_LABELS[models.FPRW(f)] for f in fprw]
    return "; ".join(labels) or NO_FPRW


def and_list(items: Iterable[str]) -> str:
    """"a", "a and b", "a, b and c"; the vague "information received" only when there is nothing else."""
    items = list(dict.fromkeys(items))
    if len(items) > 1 and DEFAULT_LABEL in items:
        items.remove(DEFAULT_LABEL)
    if not items:
        return DEFAULT_LABEL
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def basis_label(record: models.EvidenceBase, named_monitors: frozenset[str] = frozenset()) -> str:
    """The kind of evidence a record is, as a supplier may read it; its monitoring partner only when cleared."""
    source = (record.source or "").strip().lower()
    label = SOURCE_LABELS.get(source) or type(record).label
    monitor = getattr(record, "monitor", None)
    return f"{label} by {monitor}" if monitor and monitor in named_monitors else label


def basis_labels(records: Iterable[models.EvidenceBase], named_monitors: frozenset[str] = frozenset()) -> list[str]:
    return list(dict.fromkeys(basis_label(r, named_monitors) for r in records))


@dataclass
class OutboundFinding:
    """One finding as it may be shown outside: every field is safe to print."""

    key: str  # the store's key: for records and traceability, never printed by the shipped templates
    number: int
    rule_id: str
    title: str
    clause: str
    code_area: str
    severity: str
    severity_code: str
    verdict: str
    facility: dict[str, str] | None
    evidence_basis: str
    period: str | None
    workers: str | None
    harm_outstanding: str | None
    description: str
    actions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def describe(number: int, finding: models.Finding, records: list[models.EvidenceBase],
             facility: models.Facility | None, named_monitors: frozenset[str] = frozenset()) -> OutboundFinding:
    """`finding` at aggregate level, from the evidence `records` behind it. A monitoring partner is named only if
    it is in `named_monitors` (every record of it allows naming)."""
    labels = basis_labels(records, named_monitors)
    dates = [r.date for r in records]
    open_records = [r for r in records if r.sensitivity not in CLOSED_SENSITIVITIES]
    # Each type names its fields that count affected workers; the largest is reported (records overlap).
    counts = [getattr(r, name) for r in open_records for name in type(r).worker_count_fields
              if isinstance(getattr(r, name, None), int)]
    workers = workers_text(max(counts)) if counts else None
    latest: dict[tuple[str | None, str], models.Remediation] = {}  # each liability's latest report counts
    for record in sorted((r for r in open_records if isinstance(r, models.Remediation)), key=lambda r: (r.date, r.id)):
        latest[(record.finding_ref, record.kind)] = record
    owed: dict[str, float] = {}
    for record in latest.values():
        if record.amount_outstanding:  # unknown amounts are left out, not counted as 0
            currency = record.currency or ""
            owed[currency] = owed.get(currency, 0) + record.amount_outstanding
    harm = "; ".join(f"{amount:,.0f} {currency}".strip() for currency, amount in sorted(owed.items())) or None
    description = finding.title[0].upper() + finding.title[1:]
    if workers:
        description += f", affecting {'at least ' if workers != A_NUMBER else ''}{workers}"
    if harm:
        description += f"; outstanding remedy {harm}"
    return OutboundFinding(
        key=finding.key, number=number, rule_id=finding.rule_id, title=finding.title, clause=finding.clause,
        code_area=fprw_text(finding.fprw), severity=finding.severity.label, severity_code=finding.severity.code,
        verdict=models.VERDICT_LABELS[finding.verdict],
        facility=None if facility is None else {"name": facility.name, "country": facility.country,
                                                "os_id": facility.id if not facility.id.startswith("FAC-") else ""},
        evidence_basis=and_list(labels),
        period=period_text(min(dates), max(dates)) if dates else None,
        workers=workers, harm_outstanding=harm, description=description,
        actions=list(finding.required_actions))


def monitors_cleared(records: Iterable[models.EvidenceBase]) -> frozenset[str]:
    """Monitoring partners that may be named: every record naming the partner allows it."""
    allowed: dict[str, bool] = {}
    for record in records:
        monitor = getattr(record, "monitor", None)
        if monitor:
            allowed[monitor] = allowed.get(monitor, True) and bool(getattr(record, "monitor_may_be_named", False))
    return frozenset(name for name, ok in allowed.items() if ok)
