"""What both reports read from the store, once, and the parts they share.

`ReportData` reads the runs, decisions, evidence, facilities and the escalation report for a set of stored findings
(`Item`: one finding with its first detection, escalation, the officer's latest decision, its evidence and its
rule's tags). The rest is shared by the dossier (`renewal_dossier`) and the portfolio report (`portfolio_report`):
age buckets and ILO categories, the tables by severity, harm still owed and deadlines as the evidence may show
them, the redaction guard of a report, and `Rendered`, a report that passed the check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from compliance.documents import charts, outbound, redaction
from compliance.domain import lifecycle, models
from compliance.domain.models import FPRW, Severity
from compliance.errors import NotFound
from compliance.escalation import renewal
from compliance.escalation import routing as escalation
from compliance.rules import spec

#: The rule tags (`tags:` in the rule language, `spec.RULE_TAGS`) that put a rule's findings under overdue corrective
#: action, unremedied harm, audit contradictions and non-responses. A finding's tags are its rule's in the library.
OVERDUE_PLAN, HARM, CONTRADICTION, NO_RESPONSE = "overdue_plan", "harm", "contradiction", "non_response"

#: Age buckets (days since the engine first detected a finding): (first day, last day or None, label).
AGE_BUCKETS = ((0, 29, "under 30 days"), (30, 89, "30-89 days"), (90, 179, "90-179 days"),
               (180, None, "180 days or more"))
#: The ILO categories in their order (a)-(e), then findings outside them.
CATEGORY_LETTERS = dict(zip(FPRW, "abcde"))
SEVERITIES = [s.label for s in Severity]
#: Months of history the "over time" chart shows at most.
HISTORY_MONTHS = 24
#: A run older than this (days before the report's date) is flagged: the stored findings may be out of date.
STALE_RUN_DAYS = 7

FINAL = frozenset(lifecycle.FINAL_STATES)


def category_label(category: FPRW | None) -> str:
    if category is None:
        return outbound.NO_FPRW
    return f"({CATEGORY_LETTERS[category]}) {outbound.FPRW_LABELS[category]}"


CATEGORIES: list[FPRW | None] = [*FPRW, None]


def age_bucket(days: int) -> str:
    for first, last, label in AGE_BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    return AGE_BUCKETS[0][2]


# ---------------------------------------------------------------------------------------------------------------------
# Stored findings as reports see them


@dataclass
class Item:
    """One stored finding, with its first detection, its escalation and the officer's latest decision."""

    row: Any  # db.FindingRow
    finding: models.Finding
    first_detected: dt.date | None
    age_days: int
    recommendation: escalation.EscalationRecommendation | None
    decided: str | None
    rejected: bool
    records: list[models.EvidenceBase]
    number: int = 0
    #: Its rule's tags in the rule library (none when the rule is no longer in it).
    tags: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return self.finding.key

    @property
    def status(self) -> str:
        """open, waived, awaiting closure (no longer found, not closed yet), closed or withdrawn."""
        if self.row.state in FINAL:
            return self.row.state
        if self.row.state == "waived":
            return "waived"
        return "open" if self.row.firing else "awaiting closure"

    @property
    def categories(self) -> list[FPRW | None]:
        return list(self.finding.fprw) or [None]

    @property
    def repeat(self) -> bool:
        return any(m.startswith("repeat") for m in self.finding.modifiers)


class ReportData:
    """What both reports read from the store, once: runs, decisions, evidence, facilities, the escalation report."""

    def __init__(self, store: Any, report: Any, as_of: dt.date, rows: list[Any], rules: Iterable[spec.Rule]):
        self.store, self.report, self.as_of = store, report, as_of
        tags = {rule.id: frozenset(rule.tags) for rule in rules}
        self.runs = {run.id: run for run in store.runs()}
        if not self.runs:
            raise NotFound("no run is stored yet, so there are no findings to report: run `compliance run --as-of "
                           "DATE` first")
        self.latest_run = max(self.runs.values(), key=lambda r: r.id)
        self.facilities = store.facilities()
        self.links = store.production_links()
        self.contracts = {c.id: c for c in store.contracts()}
        self.portfolio = escalation.ContractNetwork(list(self.contracts.values()), self.links, as_of)
        self.group_names = {g.id: g.name for g in report.groups}
        recommendations = {r.finding.key: r for r in report.recommendations}
        latest: dict[str, Any] = {}
        self.decision_count: Counter[str] = Counter()
        for decision in store.decisions():  # oldest first: the latest one counts
            latest[decision.finding_key] = decision
            self.decision_count[decision.finding_key] += 1
        findings = [models.Finding.model_validate(row.payload) for row in rows]
        self.evidence = store.evidence_records(i for f in findings for i in f.evidence_ids)
        self.items: list[Item] = []
        for row, finding in zip(rows, findings):
            run = self.runs.get(row.first_run_id)
            first = run.as_of if run else None
            decision = latest.get(row.key)
            decided = decision.decided_level if decision is not None else None
            self.items.append(Item(
                row, finding, first, max((as_of - first).days, 0) if first else 0, recommendations.get(row.key),
                decided, decision is not None and decision.decision == "reject",
                [self.evidence[i] for i in finding.evidence_ids if i in self.evidence],
                tags=tags.get(finding.rule_id, frozenset())))
        self.items.sort(key=lambda i: ({"open": 0, "waived": 1}.get(i.status, 2), i.finding.severity.rank,
                                       -i.age_days, i.finding.rule_id, i.key))
        for number, item in enumerate(self.items, 1):
            item.number = number

    def shown(self) -> list[Item]:
        """The findings a report lists: open and waived ones."""
        return [i for i in self.items if i.status in ("open", "waived")]

    def open(self) -> list[Item]:
        return [i for i in self.items if i.status == "open"]

    def groups_of(self, item: Item) -> list[str]:
        if item.recommendation is None:
            return []
        return [self.route_name(route) for route in item.recommendation.routes]

    def route_name(self, route: str) -> str:
        if route.startswith("proposed:"):
            _kind, _, scope = route.removeprefix("proposed:").partition(":")
            return f"proposed new group: {scope}"
        return self.group_names.get(route, route)

    def brands_of(self, item: Item) -> list[str]:
        """The brands made at the finding's facility for live contracts, else its contract's brands."""
        brands = list(self.portfolio.brands_at(item.finding.facility_id)) if item.finding.facility_id else []
        if not brands and item.finding.contract_id in self.contracts:
            brands = sorted(self.contracts[item.finding.contract_id].brands)
        return brands or ["(unknown brand)"]

    def recommendation_input(self, item: Item) -> renewal.Status:
        """What the recommendation reads of an open finding."""
        harm = None
        if HARM in item.tags:
            harm = outbound_harm(item.records)["outstanding"] or ""
        return renewal.Status(
            number=item.number, title=item.finding.title, severity=item.finding.severity,
            verdict=item.finding.verdict, age_days=item.age_days,
            recommended=item.recommendation.level if item.recommendation else None, decided=item.decided,
            rejected=item.rejected, groups=tuple(self.groups_of(item)),
            overdue_plan=OVERDUE_PLAN in item.tags, harm=harm)

    def run_info(self) -> dict[str, Any]:
        run = self.latest_run
        return {"id": run.id, "as_of": run.as_of, "stale": (self.as_of - run.as_of).days > STALE_RUN_DAYS}

    def over_time(self, items: Iterable[Item]) -> list[dict[str, Any]]:
        """Per month, from the findings' history: how many were first detected by a run dated in the month, and how
        many the month's last run still found (None when no run is dated in the month)."""
        runs = sorted((r for r in self.runs.values() if r.as_of <= self.as_of), key=lambda r: r.id)
        if not runs:
            return []
        wanted = {r.id for r in runs}
        changes: dict[int, list[tuple[str, bool]]] = {}
        detected: Counter[tuple[int, int]] = Counter()
        for item in items:
            for event in self.store.history(item.key):
                if event.run_id not in wanted:
                    continue
                if event.kind == "detected":
                    run = self.runs[event.run_id]
                    detected[(run.as_of.year, run.as_of.month)] += 1
                if event.kind in ("detected", "reopened", "resolved"):
                    changes.setdefault(event.run_id, []).append((item.key, event.kind != "resolved"))
        found: set[str] = set()
        found_by_month: dict[tuple[int, int], int] = {}
        for run in runs:  # in the order they were stored; a month's last stored run gives its count
            for key, firing in changes.get(run.id, []):
                (found.add if firing else found.discard)(key)
            found_by_month[(run.as_of.year, run.as_of.month)] = len(found)
        first = min((r.as_of.year, r.as_of.month) for r in runs)
        months = []
        year, month = first
        while (year, month) <= (self.as_of.year, self.as_of.month):
            months.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return [{"month": f"{y}-{m:02d}", "detected": detected.get((y, m), 0), "found": found_by_month.get((y, m))}
                for y, m in months[-HISTORY_MONTHS:]]


def outbound_harm(records: Iterable[models.EvidenceBase]) -> dict[str, Any]:
    """Harm still owed according to the remediation records that may be shown (not restricted or worker-safety):
    the amount outstanding by currency, the workers not yet paid (never fewer than five: "a number of workers"),
    and the latest due date."""
    latest: dict[tuple[str | None, str | None, str], models.Remediation] = {}
    for record in records:  # a remediation record is a status report: the latest per liability counts
        if isinstance(record, models.Remediation) and record.sensitivity not in outbound.CLOSED_SENSITIVITIES:
            liability = (record.facility_id, record.finding_ref, record.kind)
            if liability not in latest or (record.date, record.id) > (latest[liability].date, latest[liability].id):
                latest[liability] = record
    owed: dict[str, float] = {}
    unpaid = 0
    due: dt.date | None = None
    for record in latest.values():
        if record.amount_outstanding:  # unknown amounts are left out, not counted as 0
            currency = record.currency or ""
            owed[currency] = owed.get(currency, 0) + record.amount_outstanding
        if record.workers_due is not None:
            unpaid += max(record.workers_due - (record.workers_paid or 0), 0)
        if record.due_date is not None:
            due = max(due, record.due_date) if due else record.due_date
    outstanding = "; ".join(f"{amount:,.0f} {currency}".strip() for currency, amount in sorted(owed.items()))
    return {"outstanding": outstanding or None, "workers": outbound.workers_text(unpaid) if unpaid else None,
            "due": due}


def deadline(records: Iterable[models.EvidenceBase]) -> dt.date | None:
    """The latest deadline the evidence behind a finding set: a corrective action's (extended) due date, a
    remediation's due date or a letter's reply-by date."""
    dates = []
    for record in records:
        if isinstance(record, models.CorrectiveAction):
            dates.append(record.extended_to or record.due_date)
        elif isinstance(record, models.Remediation) and record.due_date is not None:
            dates.append(record.due_date)
        elif isinstance(record, models.Correspondence) and record.due_on:
            dates.append(record.due_on)
    return max(dates) if dates else None


def severity_counts_by(items: Iterable[Item], key: Any) -> dict[Any, list[int]]:
    """Open findings per `key(item)` value (a list of values: the item counts once under each), per severity."""
    out: dict[Any, list[int]] = {}
    for item in items:
        for value in key(item):
            out.setdefault(value, [0] * len(SEVERITIES))[item.finding.severity.rank] += 1
    return out


def severity_rows(counts: dict[Any, list[int]], order: Iterable[Any], label: Any) -> list[dict[str, Any]]:
    return [{"label": label(value), "counts": counts.get(value, [0] * len(SEVERITIES)),
             "total": sum(counts.get(value, []))} for value in order]


def age_rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    """Per severity: open findings per age bucket."""
    buckets = [label for _, _, label in AGE_BUCKETS]
    rows = []
    for severity in Severity:
        ages = Counter(age_bucket(i.age_days) for i in items if i.finding.severity is severity)
        counts = [ages.get(b, 0) for b in buckets]
        rows.append({"label": severity.label, "counts": counts, "total": sum(counts)})
    return rows


def chart_rows(rows: list[dict[str, Any]]) -> list[tuple[str, list[int]]]:
    return [(r["label"], r["counts"]) for r in rows]


def time_chart(ident: str, title: str, points: list[dict[str, Any]]) -> Markup:
    return Markup(charts.bars_and_line(ident, title, [(p["month"], p["detected"], p["found"]) for p in points],
                                       "first detected in the month", "still found by the month's last run"))


# ---------------------------------------------------------------------------------------------------------------------
# A checked report


@dataclass
class Rendered:
    """A report that passed the redaction check: its HTML, its context and (portfolio) its spreadsheet sheets."""

    name: str  # file name without extension
    title: str
    html: str
    context: dict[str, Any]
    redaction: dict[str, Any]
    sheets: dict[str, list[list[Any]]] = field(default_factory=dict)
    #: Engine faults of the escalation check the report used (the CLI prints them and exits 4).
    faults: list[str] = field(default_factory=list)
    #: The institution's template folder it was made with: its assets may appear in the PDF.
    templates: Path | None = None


def redaction_guard(data: ReportData, contracts: Iterable[models.Contract], dates: Iterable[dt.date]
                    ) -> redaction.Guard:
    """A redaction guard that allows what the report is meant to show (contracts, parties, facilities, its own
    dates) and denies what the evidence behind its findings could reveal."""
    guard = redaction.Guard(allowed_dates=set(dates))
    for contract in contracts:
        guard.allow(contract.id, contract.ocid, contract.award_id, contract.title, contract.supplier.id,
                    contract.supplier.name, contract.clause_set.id, *contract.brands,
                    *(b.name for b in contract.buyers), *(b.id for b in contract.buyers),
                    *(i.model for i in contract.items), *(i.description for i in contract.items))
        if contract.framework:
            guard.allow(contract.framework.ref, contract.framework.title, contract.framework.ocid)
    for facility in data.facilities.values():
        guard.allow(facility.id, facility.name, facility.parent_company)
    guard.allow(*(g.name for g in data.report.groups), *(g.secretariat for g in data.report.groups))
    for item in data.items:
        guard.learn(item.key, item.records)
    guard.deny_monitors(data.store.monitors(), outbound.monitors_cleared(data.evidence.values()))
    return guard


def file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
