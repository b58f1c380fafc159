"""The renewal dossier (DOMAIN §D.1) and the portfolio report, built from the store and the escalation report.

Both are documents for people: a plain dict context (documented in the README, "Renewal dossier and portfolio
report") rendered by a template that an institution can override (`documents.environment`), checked by
`compliance.redaction` before any file is written. Findings are described by `outbound.describe` (aggregate level:
no evidence ids, no free text, no day-precise date of a worker-related event, small counts as "a number of
workers"), never by their `message`. The dates printed are the buyer's own: when the engine first detected a
finding, contract dates, deadlines.

The recommendation (`recommend`) is explainable by construction: each outcome comes with its reasons, one sentence
each, and the conditions that renewal would carry. The engine recommends; the officer decides.
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

from compliance import __version__
from compliance.documents import charts, outbound, redaction
from compliance.documents import environment as documents
from compliance.domain import facts, lifecycle, models
from compliance.domain.models import FPRW, Severity
from compliance.errors import NotFound
from compliance.escalation import routing as escalation

DOSSIER_TEMPLATE = "reports/dossier.html.j2"
PORTFOLIO_TEMPLATE = "reports/portfolio.html.j2"

#: The outcomes of the recommendation, from the most to the least cautious.
OUTCOMES = {
    "legal_review": "Legal review for contractual remedy",
    "defer": "Defer pending working-group engagement",
    "renew_with_conditions": "Renew with conditions",
    "renew": "Renew",
}
#: Days the conditions of renewal give, counted from the dossier's date: a corrective action plan gets the
#: finding's own response period (7 days for Priority, 14 for Major and Minor); the rest this many days.
CONDITION_DAYS = 30

#: Rules whose findings are overdue corrective action, unremedied harm, audit contradictions and non-responses.
OVERDUE_PLAN_RULES = frozenset({"PM-02", "PM-03"})
HARM_RULES = frozenset({"FL-02", "FL-02-P", "GR-04"})
CONTRADICTION_RULES = frozenset({"MO-03", "WH-03-HRS"})
NO_RESPONSE_RULES = frozenset({"PM-01"})
#: Verdicts that are data gaps: the condition is the missing evidence.
DATA_GAPS = frozenset({"insufficient_evidence", "evidence_expired", "not_yet_due"})

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
#: The Procurement Act 2023 applies to procurements started on or after this date.
PROCUREMENT_ACT_FROM = dt.date(2025, 2, 24)

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


def day_text(day: dt.date) -> str:
    """A buyer-side date in words (30 June 2025), as the templates' `date` filter writes it in English."""
    return f"{day.day} {outbound.MONTHS[day.month - 1]} {day.year}"


# ---------------------------------------------------------------------------------------------------------------------
# The recommendation


@dataclass(frozen=True)
class Status:
    """What the recommendation reads of one open finding."""

    number: int
    title: str
    severity: Severity
    verdict: str = "breach"
    #: Days since the engine first detected it (a buyer-side date).
    age_days: int = 0
    #: The escalation level the engine recommends now (E0-E5), if any.
    recommended: str | None = None
    #: The level an officer decided in the latest decision on it, if any.
    decided: str | None = None
    #: The latest decision rejected the recommendation.
    rejected: bool = False
    #: The working groups it is routed to, by name.
    groups: tuple[str, ...] = ()
    overdue_plan: bool = False
    #: Harm confirmed and not remedied: what is outstanding ("6,600,000 THB"), or "" when the amount is not known.
    harm: str | None = None

    @property
    def name(self) -> str:
        return f"finding {self.number} ({self.title})"

    def levels(self) -> list[tuple[str, str]]:
        """The escalation levels that count, with who set them."""
        out = []
        if self.recommended and not self.rejected:
            out.append((self.recommended, "as the engine recommends"))
        if self.decided:
            out.append((self.decided, "as an officer decided"))
        return out


@dataclass
class Recommendation:
    outcome: str
    reasons: list[str]
    conditions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return OUTCOMES[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "label": self.label, "reasons": self.reasons, "conditions": self.conditions}


def recommend(findings: Iterable[Status], as_of: dt.date, policy: escalation.Policy = escalation.Policy()
              ) -> Recommendation:
    """Renew, renew with conditions, defer pending working-group engagement, or legal review, with the reasons.

    The most cautious outcome whose test holds wins: legal review when a finding is at E4/E5 (recommended, unless
    an officer rejected it, or decided) or a Priority finding has been open longer than the policy's
    `priority_remedy_days`; defer while a Priority finding or a working-group referral (E3) is open; renew with
    conditions while Major or Minor findings are open, corrective actions are overdue or harm is unremedied;
    renew otherwise. Observations never stand in the way. `findings` are the contract's open findings."""
    findings = list(findings)
    legal: list[str] = []
    defer: list[str] = []
    conditional: list[str] = []
    for f in findings:
        name = f.name
        levels = f.levels()
        remedy = next(((level, who) for level, who in levels if level in ("E4", "E5")), None)
        if remedy:
            legal.append(f"{_cap(name)} is at {remedy[0]} ({escalation.LEVELS[remedy[0]]}) {remedy[1]}: a contractual "
                         "remedy needs legal review before anything is done.")
        priority = f.severity is Severity.PRIORITY
        if priority and f.age_days > policy.priority_remedy_days:
            legal.append(f"Priority {name} has been open for {f.age_days} days since it was first detected, longer "
                         f"than the {policy.priority_remedy_days} days the policy allows for its remedy.")
        referred = any(level == "E3" for level, _ in levels)
        where = _and(f.groups) or "a working group"
        if priority:
            defer.append(f"Priority {name} is open" + (f" and referred to {where}." if referred else "."))
        elif referred:
            defer.append(f"{_cap(name)} is referred to {where} (E3, working-group referral) and still open.")
        if f.severity in (Severity.MAJOR, Severity.MINOR):
            conditional.append(f"{f.severity.label} {name} is open.")
        if f.overdue_plan:
            conditional.append(f"Corrective action for {name} is overdue.")
        if f.harm is not None:
            conditional.append(f"Harm found in {name} is not remedied" + (f": {f.harm} outstanding." if f.harm
                                                                          else "."))
    conditions = [c for f in findings if (c := _condition(f, as_of))]
    if legal:
        return Recommendation("legal_review", legal, conditions)
    if defer:
        return Recommendation("defer", defer, conditions)
    if conditional:
        return Recommendation("renew_with_conditions", conditional, conditions)
    observations = sum(1 for f in findings if f.severity is Severity.OBSERVATION)
    reasons = ["No Priority, Major or Minor finding is open, no corrective action is overdue and no harm is "
               "unremedied."]
    if observations:
        reasons.append(f"Open observations ({observations}) are monitored, not conditions of renewal.")
    return Recommendation("renew", reasons, conditions)


def _condition(f: Status, as_of: dt.date) -> dict[str, Any] | None:
    """The SMART condition renewal would carry for one open finding, with its date; None for an observation."""
    later = as_of + dt.timedelta(days=CONDITION_DAYS)
    name = f.name
    if f.harm is not None:
        owed = f" ({f.harm} outstanding)" if f.harm else ""
        text, by = f"Remedy for {name} paid in full to all affected workers{owed} and verified", later
    elif f.overdue_plan:
        text, by = (f"The overdue corrective actions of {name} completed and verified by the workers' side or a "
                    "closure audit", later)
    elif f.severity is Severity.OBSERVATION:
        return None
    elif f.verdict == "due_diligence_shown":
        text, by = (f"Continued due diligence on {name}: the contractor's renewed formal request to the brand, and "
                    "the brand's answer, provided", later)
    elif f.verdict in DATA_GAPS:
        text, by = f"The evidence missing for {name} provided", later
    elif f.severity is Severity.PRIORITY:
        text, by = (f"Containment of {name} confirmed and its corrective action plan approved",
                    as_of + dt.timedelta(days=f.severity.response_days))
    else:
        text, by = (f"A corrective action plan for {name} approved",
                    as_of + dt.timedelta(days=f.severity.response_days))
    return {"finding": f.number, "text": f"{text} by {day_text(by)}.", "by": by}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _and(items: Sequence[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


# ---------------------------------------------------------------------------------------------------------------------
# Stored findings as reports see them


@dataclass
class Item:
    """One stored finding, with its first detection, its escalation and the officer's latest decision."""

    row: Any  # db.FindingRow
    finding: models.Finding
    first_detected: dt.date | None
    age_days: int
    recommendation: escalation.Recommendation | None
    decided: str | None
    rejected: bool
    records: list[models.EvidenceBase]
    number: int = 0

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


class Data:
    """What both reports read from the store, once: runs, decisions, evidence, facilities, the escalation report."""

    def __init__(self, store: Any, report: Any, as_of: dt.date, rows: list[Any]):
        self.store, self.report, self.as_of = store, report, as_of
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
                [self.evidence[i] for i in finding.evidence_ids if i in self.evidence]))
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

    def recommendation_input(self, item: Item) -> Status:
        """What the recommendation reads of an open finding."""
        harm = None
        if item.finding.rule_id in HARM_RULES:
            harm = outbound_harm(item.records)["outstanding"] or ""
        return Status(
            number=item.number, title=item.finding.title, severity=item.finding.severity,
            verdict=item.finding.verdict, age_days=item.age_days,
            recommended=item.recommendation.level if item.recommendation else None, decided=item.decided,
            rejected=item.rejected, groups=tuple(self.groups_of(item)),
            overdue_plan=item.finding.rule_id in OVERDUE_PLAN_RULES, harm=harm)

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
        if record.amount_due > record.amount_paid:
            currency = record.currency or ""
            owed[currency] = owed.get(currency, 0) + record.amount_due - record.amount_paid
        if record.workers_due is not None:
            unpaid += max(record.workers_due - (record.workers_paid or 0), 0)
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
        elif isinstance(record, models.Remediation):
            dates.append(record.due_date)
        elif isinstance(record, models.Correspondence) and record.due_on:
            dates.append(record.due_on)
    return max(dates) if dates else None


def _counts(items: Iterable[Item], key: Any) -> dict[Any, list[int]]:
    """Open findings per `key(item)` value (a list of values: the item counts once under each), per severity."""
    out: dict[Any, list[int]] = {}
    for item in items:
        for value in key(item):
            out.setdefault(value, [0] * len(SEVERITIES))[item.finding.severity.rank] += 1
    return out


def _severity_rows(counts: dict[Any, list[int]], order: Iterable[Any], label: Any) -> list[dict[str, Any]]:
    return [{"label": label(value), "counts": counts.get(value, [0] * len(SEVERITIES)),
             "total": sum(counts.get(value, []))} for value in order]


def _age_rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    """Per severity: open findings per age bucket."""
    buckets = [label for _, _, label in AGE_BUCKETS]
    rows = []
    for severity in Severity:
        ages = Counter(age_bucket(i.age_days) for i in items if i.finding.severity is severity)
        counts = [ages.get(b, 0) for b in buckets]
        rows.append({"label": severity.label, "counts": counts, "total": sum(counts)})
    return rows


def _chart_rows(rows: list[dict[str, Any]]) -> list[tuple[str, list[int]]]:
    return [(r["label"], r["counts"]) for r in rows]


def _time_chart(ident: str, title: str, points: list[dict[str, Any]]) -> Markup:
    return Markup(charts.bars_and_line(ident, title, [(p["month"], p["detected"], p["found"]) for p in points],
                                       "first detected in the month", "still found by the month's last run"))


# ---------------------------------------------------------------------------------------------------------------------
# The renewal dossier


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


def dossier_context(data: Data, contract: models.Contract, policy: escalation.Policy) -> dict[str, Any]:
    """The dossier's template variables (README: "Renewal dossier and portfolio report")."""
    as_of = data.as_of
    links = facts.linked(contract, data.links)
    facility_ids = sorted({link.facility_id for link in links})
    evidence = data.store.evidence_for(contract, facility_ids, as_of)
    shown = data.shown()
    open_items = data.open()
    described = {i.key: outbound.describe(i.number, i.finding, i.records, data.facilities.get(i.finding.facility_id
                                                                                              or ""),
                                          outbound.monitors_cleared(i.records)) for i in shown}
    findings = []
    for item in shown:
        d = described[item.key]
        rec = item.recommendation
        findings.append({
            "number": item.number, "severity": d.severity, "severity_code": d.severity_code, "rule_id": d.rule_id,
            "title": d.title, "category": d.code_area, "description": d.description,
            "facility": (f"{d.facility['name']} ({d.facility['country']})" if d.facility else None),
            "evidence_basis": d.evidence_basis, "period": d.period, "verdict": d.verdict,
            "state": item.row.state, "waived_until": item.row.waived_until, "first_detected": item.first_detected,
            "age_days": item.age_days, "age_bucket": age_bucket(item.age_days),
            "level": rec.level if rec else None, "level_name": escalation.LEVELS[rec.level] if rec else None,
            "decided_level": item.decided, "working_groups": data.groups_of(item), "repeat": item.repeat,
        })

    categories = _counts(open_items, lambda i: i.categories)
    by_category = _severity_rows(categories, CATEGORIES, category_label)
    by_age = _age_rows(open_items)

    overdue = []
    harm = []
    for item in open_items:
        if item.finding.rule_id in OVERDUE_PLAN_RULES:
            due = deadline(item.records)
            overdue.append({"number": item.number, "title": item.finding.title,
                            "facility": _facility_name(data, item.finding.facility_id), "due": due,
                            "days_overdue": (as_of - due).days if due and due < as_of else None})
        if item.finding.rule_id in HARM_RULES:
            owed = outbound_harm(item.records)
            harm.append({"number": item.number, "title": item.finding.title,
                         "facility": _facility_name(data, item.finding.facility_id),
                         "outstanding": owed["outstanding"], "workers": owed["workers"], "due": owed["due"],
                         "days_overdue": (as_of - owed["due"]).days if owed["due"] and owed["due"] < as_of else None})

    signals = []
    for test, text in ((lambda i: i.repeat, "Repeat findings (the same problem again after it was closed)"),
                       (lambda i: i.finding.rule_id in CONTRADICTION_RULES,
                        "Audits contradicted by worker-driven monitoring or workers' evidence"),
                       (lambda i: i.finding.rule_id in NO_RESPONSE_RULES,
                        "No substantive response to a request or notice")):
        numbers = [str(i.number) for i in open_items if test(i)]
        if numbers:
            signals.append(f"{text}: finding{'s' if len(numbers) != 1 else ''} {_and(numbers)}.")

    groups: dict[str, dict[str, Any]] = {}
    for item in open_items:
        for route in item.recommendation.routes if item.recommendation else ():
            if route.startswith("proposed:"):
                continue
            group = next(g for g in data.report.groups if g.id == route)
            entry = groups.setdefault(route, {"name": group.name, "status": group.status,
                                              "secretariat": group.secretariat, "findings": [], "levels": [],
                                              "decisions": 0})
            entry["findings"].append(item.number)
            if item.recommendation.level not in entry["levels"]:
                entry["levels"].append(item.recommendation.level)
            entry["decisions"] += data.decision_count[item.key]
    keys = {i.key for i in open_items}
    proposals = [{"scope": p.scope, "kind": p.kind, "institutions": len(p.institutions),
                  "consortia": list(p.consortia),
                  "findings": [i.number for i in open_items if i.key in p.findings]}
                 for p in data.report.proposals if keys & set(p.findings)]

    recommendation = recommend([data.recommendation_input(i) for i in open_items], as_of, policy)
    over_time = data.over_time(data.items)
    severity_counts = Counter(i.finding.severity.label for i in open_items)
    statuses = Counter(i.status for i in data.items)
    notes = []
    if contract.status != "active":
        notes.append(f"The contract is {contract.status}: runs evaluate active contracts only, so its stored "
                     "findings may be out of date.")
    if (as_of - data.latest_run.as_of).days > STALE_RUN_DAYS:
        notes.append(f"The latest stored run is as of {day_text(data.latest_run.as_of)}: findings that appeared "
                     "since are not in this dossier until the next run.")
    if not data.items:
        notes.append("No run has stored a finding for this contract.")
    return {
        "title": f"Renewal dossier: {contract.id}",
        "as_of": as_of,
        "software": f"compliance {__version__}",
        "latest_run": data.run_info(),
        "notes": notes,
        "contract": _contract_header(contract),
        "transparency": _transparency(contract, evidence, open_items),
        "facilities": _facilities(data, links, evidence, open_items),
        "summary": {"open": len(open_items), "by_severity": {s: severity_counts.get(s, 0) for s in SEVERITIES},
                    "waived": statuses.get("waived", 0), "awaiting_closure": statuses.get("awaiting closure", 0),
                    "closed": statuses.get("closed", 0), "withdrawn": statuses.get("withdrawn", 0)},
        "severities": SEVERITIES,
        "age_buckets": [label for _, _, label in AGE_BUCKETS],
        "findings": findings,
        "severity_by_category": by_category,
        "age_by_severity": by_age,
        "overdue_plans": overdue,
        "unremedied_harm": harm,
        "signals": signals,
        "working_groups": list(groups.values()),
        "proposals": proposals,
        "recommendation": recommendation.as_dict() | {"priority_remedy_days": policy.priority_remedy_days},
        "over_time": over_time,
        "charts": {
            "severity_by_category": Markup(charts.stacked_bars(
                "chart-categories", "Open findings by severity and ILO category", _chart_rows(by_category),
                SEVERITIES)),
            "over_time": _time_chart("chart-time", "Findings over time", over_time),
        },
    }


def _facility_name(data: Data, facility_id: str | None) -> str | None:
    if not facility_id:
        return None
    facility = data.facilities.get(facility_id)
    return f"{facility.name} ({facility.country})" if facility else facility_id


def _contract_header(contract: models.Contract) -> dict[str, Any]:
    if contract.signed_on < PROCUREMENT_ACT_FROM:
        regime = "Public Contracts Regulations 2015 (signed before the Procurement Act 2023 applied)"
    else:
        regime = ("Procurement Act 2023 if the procurement started on or after 24 February 2025, otherwise the "
                  "Public Contracts Regulations 2015: check the procurement's start date")
    consortia = sorted({k for b in contract.buyers for k in b.consortia})
    return {
        "id": contract.id, "ocid": contract.ocid, "award_id": contract.award_id, "title": contract.title,
        "framework": (f"{contract.framework.ref}" + (f", {contract.framework.title}" if contract.framework.title
                                                      else "")) if contract.framework else None,
        "buyers": [b.name for b in contract.buyers], "consortia": consortia,
        "supplier": contract.supplier.name, "supplier_role": contract.supplier.role.replace("_", " "),
        "brands": list(contract.brands),
        "models": [f"{i.brand} {i.model}" + (f" ({i.description})" if i.description else "")
                   + ("" if i.disclosure_in_scope else ", not in disclosure scope") for i in contract.items],
        "value": contract.value, "currency": contract.currency or "",
        "signed_on": contract.signed_on, "start": contract.period.start, "end": contract.period.end,
        "max_extent": contract.period.max_extent, "renewal_decision_on": contract.renewal_decision_on,
        "clause_set": f"{contract.clause_set.id} version {contract.clause_set.version}",
        "status": contract.status, "regime": regime,
    }


def _transparency(contract: models.Contract, evidence: list[models.EvidenceBase], open_items: list[Item]
                  ) -> dict[str, Any]:
    disclosures = [r for r in evidence if isinstance(r, models.FactoryDisclosure)]
    in_scope = [i for i in contract.items if i.disclosure_in_scope]
    rows = []
    for item in in_scope:
        tiers = {d.tier for d in disclosures if d.model == item.model and d.brand in (None, item.brand)}
        rows.append({"model": f"{item.brand} {item.model}", "final_assembly": models.Tier.FINAL_ASSEMBLY in tiers,
                     "strategic_component": models.Tier.STRATEGIC_COMPONENT in tiers})

    def coverage(name: str) -> int | None:
        return round(100 * sum(r[name] for r in rows) / len(rows)) if rows else None

    notes = []
    for item in open_items:
        if item.finding.rule_id.startswith("TR-"):
            how = "outcome not achieved, due diligence shown" if item.finding.verdict == "due_diligence_shown" \
                else models.VERDICT_LABELS[item.finding.verdict]
            notes.append(f"Finding {item.number} ({item.finding.title}): {how}.")
    return {"models": rows, "final_assembly_coverage": coverage("final_assembly"),
            "strategic_component_coverage": coverage("strategic_component"),
            "last_disclosure": max((d.date for d in disclosures), default=None), "findings": notes}


def _facilities(data: Data, links: list[models.ProductionLink], evidence: list[models.EvidenceBase],
                open_items: list[Item]) -> list[dict[str, Any]]:
    out = []
    for facility_id in sorted({link.facility_id for link in links}):
        facility = data.facilities.get(facility_id)
        mine = [r for r in evidence if r.facility_id == facility_id]
        monitoring = [r.date for r in mine if isinstance(r, models.MonitoringFinding)]
        audits = [r for r in mine if isinstance(r, models.AuditFinding)]
        last_audit = max(audits, key=lambda r: (r.date, r.id)) if audits else None
        result = ""
        if last_audit is not None:
            same = [r for r in audits if (r.audit_id and r.audit_id == last_audit.audit_id) or r.date == last_audit.date]
            counts = Counter(r.classification for r in same)
            result = ", ".join(f"{counts[c]} {c}" for c in ("priority", "major", "minor", "observation", "conformance")
                               if counts[c])
        workers = None
        if facility and (facility.workers_min or facility.workers_max):
            low, high = facility.workers_min, facility.workers_max
            workers = f"{low:,}\u2013{high:,}" if low and high and low != high else f"{(high or low):,}"
        out.append({
            "name": facility.name if facility else facility_id,
            "os_id": facility_id if not facility_id.startswith("FAC-") else "",
            "country": facility.country if facility else "",
            "tiers": ", ".join(sorted({link.tier.value.replace("_", " ") for link in links
                                       if link.facility_id == facility_id})),
            "brands": sorted({link.brand for link in links if link.facility_id == facility_id}),
            "risk_level": facility.risk_level if facility else None,
            "workforce": workers,
            # Worker-driven monitoring is about workers: its date goes out as a month only.
            "last_monitoring": outbound.month_text(max(monitoring)) if monitoring else None,
            "last_audit": outbound.month_text(last_audit.date) if last_audit else None,
            "audit_result": result or None,
            "open_findings": sum(1 for i in open_items if i.finding.facility_id == facility_id),
        })
    return out


def dossier(store: Any, report: Any, policy: escalation.Policy, contract_id: str, as_of: dt.date,
            templates: Path | None = None, language: str = "en") -> Rendered:
    """The renewal dossier of one contract, rendered and checked by the redaction guard (RedactionError if it could
    reveal a worker; nothing is written either way)."""
    contract = store.contract(contract_id)
    data = Data(store, report, as_of, store.stored_findings(contract_id=contract_id))
    context = dossier_context(data, contract, policy)
    env = documents.environment(templates, language)
    html = documents.render(env, DOSSIER_TEMPLATE, context)
    guard = _guard(data, [contract], _dossier_dates(context))
    # The records the dossier reads for its facility and transparency sections, besides the findings' evidence.
    linked = sorted({link.facility_id for link in facts.linked(contract, data.links)})
    guard.learn(None, store.evidence_for(contract, linked, as_of))
    checked = guard.require_clean(documents.readable_text(html), f"the renewal dossier for contract {contract_id}")
    return Rendered(_file_name(f"dossier-{contract_id}-{as_of.isoformat()}"), context["title"], html, context,
                    checked)


def _guard(data: Data, contracts: Iterable[models.Contract], dates: Iterable[dt.date]) -> redaction.Guard:
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


def _dossier_dates(context: dict[str, Any]) -> set[dt.date]:
    """The dates a dossier prints on purpose, all buyer-side: its own, the latest run's, the contract's, when the
    engine first detected each finding, waivers, deadlines, disclosures and the dates of the conditions. (A worker
    event's date never enters a context: monitoring and audits are given as months, in text.)"""
    contract = context["contract"]
    dates = {context["as_of"], context["latest_run"]["as_of"], PROCUREMENT_ACT_FROM, contract["signed_on"],
             contract["start"], contract["end"], contract["max_extent"], contract["renewal_decision_on"],
             context["transparency"]["last_disclosure"]}
    dates |= {f[name] for f in context["findings"] for name in ("first_detected", "waived_until")}
    dates |= {row["due"] for row in context["overdue_plans"] + context["unremedied_harm"]}
    dates |= {c["by"] for c in context["recommendation"]["conditions"]}
    return {d for d in dates if d is not None}


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


# ---------------------------------------------------------------------------------------------------------------------
# The portfolio report


def portfolio_context(data: Data, policy: escalation.Policy) -> dict[str, Any]:
    """The portfolio report's template variables (README: "Renewal dossier and portfolio report")."""
    open_items = data.open()
    severity_counts = Counter(i.finding.severity.label for i in open_items)
    brands = _counts(open_items, data.brands_of)
    by_brand = _severity_rows(brands, sorted(brands), str)
    by_category = _severity_rows(_counts(open_items, lambda i: i.categories), CATEGORIES, category_label)
    by_age = _age_rows(open_items)

    matrix_counts: Counter[tuple[str, FPRW | None]] = Counter()
    for item in open_items:
        for brand in data.brands_of(item):
            for category in item.categories:
                matrix_counts[(brand, category)] += 1
    largest = max(matrix_counts.values(), default=0)
    matrix = []
    for brand in sorted(brands):
        counts = [matrix_counts.get((brand, c), 0) for c in CATEGORIES]
        matrix.append({"brand": brand, "counts": counts, "total": sum(brands[brand]),
                       "colours": [charts.heat(n, largest) for n in counts],
                       "inks": [charts.heat_ink(n, largest) for n in counts]})

    contracts = []
    for contract in sorted(data.contracts.values(), key=lambda c: c.id):
        mine = [i for i in open_items if i.finding.contract_id == contract.id]
        counts = Counter(i.finding.severity.label for i in mine)
        stored = any(i.finding.contract_id == contract.id for i in data.items)
        outcome = recommend([data.recommendation_input(i) for i in mine], data.as_of, policy) if stored else None
        contracts.append({"id": contract.id, "supplier": contract.supplier.name, "brands": list(contract.brands),
                          "status": contract.status, "renewal_decision_on": contract.renewal_decision_on,
                          "counts": [counts.get(s, 0) for s in SEVERITIES], "total": len(mine),
                          "outcome": outcome.label if outcome else None})

    cases = []
    for group in data.report.groups:
        routed = [r for r in data.report.recommendations if group.id in r.routes]
        levels = Counter(r.level for r in routed)
        severities = Counter(r.finding.severity.label for r in routed)
        cases.append({"name": group.name, "status": group.status, "secretariat": group.secretariat,
                      "cases": len(routed), "by_level": {level: levels.get(level, 0) for level in escalation.LEVELS},
                      "by_severity": [severities.get(s, 0) for s in SEVERITIES],
                      "institutions": len({inst for r in routed for inst in r.leverage.institutions}),
                      "decisions": sum(data.decision_count[r.finding.key] for r in routed)})
    proposals = [{"scope": p.scope, "kind": p.kind, "institutions": len(p.institutions),
                  "consortia": list(p.consortia), "cases": len(p.findings)} for p in data.report.proposals]
    over_time = data.over_time(data.items)
    notes = []
    if (data.as_of - data.latest_run.as_of).days > STALE_RUN_DAYS:
        notes.append(f"The latest stored run is as of {day_text(data.latest_run.as_of)}: findings that appeared "
                     "since are not in this report until the next run.")
    return {
        "title": f"Portfolio report as of {day_text(data.as_of)}",
        "as_of": data.as_of,
        "software": f"compliance {__version__}",
        "latest_run": data.run_info(),
        "notes": notes,
        "summary": {"open": len(open_items), "by_severity": {s: severity_counts.get(s, 0) for s in SEVERITIES},
                    "contracts": len(data.contracts), "facilities": len({i.finding.facility_id for i in open_items
                                                                          if i.finding.facility_id})},
        "severities": SEVERITIES,
        "categories": [category_label(c) for c in CATEGORIES],
        "age_buckets": [label for _, _, label in AGE_BUCKETS],
        "severity_codes": [s.code for s in Severity],
        "levels": [{"code": level, "name": name} for level, name in escalation.LEVELS.items()],
        "contracts": contracts,
        "brand_matrix": matrix,
        "severity_by_brand": by_brand,
        "severity_by_category": by_category,
        "age_by_severity": by_age,
        "working_groups": cases,
        "proposals": proposals,
        "over_time": over_time,
        "charts": {
            "severity_by_brand": Markup(charts.stacked_bars("chart-brands", "Open findings by brand and severity",
                                                            _chart_rows(by_brand), SEVERITIES, label_width=200)),
            "severity_by_category": Markup(charts.stacked_bars(
                "chart-categories", "Open findings by ILO category and severity", _chart_rows(by_category),
                SEVERITIES)),
            "age_by_severity": Markup(charts.stacked_bars(
                "chart-ages", "Open findings by severity and age", [
                    (row["label"], row["counts"]) for row in by_age],
                [label for _, _, label in AGE_BUCKETS], ["#d1e5f0", "#92c5de", "#ef8a62", "#b2182b"],
                label_width=140)),
            "over_time": _time_chart("chart-time", "Findings over time, all contracts", over_time),
        },
    }


def portfolio_sheets(data: Data, context: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The portfolio as spreadsheet sheets (first row: the headings); no finding messages, no evidence ids."""
    severities = context["severities"]
    sheets: dict[str, list[list[Any]]] = {
        "Contracts": [["Contract", "Supplier", "Brands", "Status", "Renewal decision", *severities, "Open",
                       "Recommendation"]] + [
            [c["id"], c["supplier"], ", ".join(c["brands"]), c["status"], c["renewal_decision_on"], *c["counts"],
             c["total"], c["outcome"] or "no stored findings"] for c in context["contracts"]],
        "Brand x category": [["Brand", *context["categories"], "Open findings"]] + [
            [row["brand"], *row["counts"], row["total"]] for row in context["brand_matrix"]],
        "Brand x severity": [["Brand", *severities, "Total"]] + [
            [row["label"], *row["counts"], row["total"]] for row in context["severity_by_brand"]],
        "Age": [["Severity", *context["age_buckets"], "Total"]] + [
            [row["label"], *row["counts"], row["total"]] for row in context["age_by_severity"]],
        "Working groups": [["Working group", "Status", "Secretariat", "Open cases", *escalation.LEVELS, *severities,
                            "Institutions linked", "Decisions recorded"]] + [
            [g["name"], g["status"], g["secretariat"], g["cases"], *g["by_level"].values(), *g["by_severity"],
             g["institutions"], g["decisions"]] for g in context["working_groups"]] + [
            [f"Proposed: {p['scope']}", "proposed", "", p["cases"], *[""] * len(escalation.LEVELS),
             *[""] * len(severities), p["institutions"], ""] for p in context["proposals"]],
        "Over time": [["Month", "First detected", "Still found by the month's last run"]] + [
            [p["month"], p["detected"], p["found"]] for p in context["over_time"]],
        "Open findings": [["Key", "Contract", "Supplier", "Brands", "Facility", "Country", "Rule", "Title",
                           "Severity", "ILO category", "Verdict", "State", "First detected", "Age (days)",
                           "Age bucket", "Escalation level", "Working groups"]],
    }
    for item in data.open():
        f = item.finding
        facility = data.facilities.get(f.facility_id or "")
        contract = data.contracts.get(f.contract_id)
        rec = item.recommendation
        sheets["Open findings"].append([
            f.key, f.contract_id, contract.supplier.name if contract else "", ", ".join(data.brands_of(item)),
            facility.name if facility else (f.facility_id or ""), facility.country if facility else "",
            f.rule_id, f.title, f.severity.label, "; ".join(category_label(c) for c in item.categories),
            models.VERDICT_LABELS[f.verdict], item.row.state, item.first_detected, item.age_days,
            age_bucket(item.age_days), item.decided or (rec.level if rec else ""), ", ".join(data.groups_of(item))])
    return sheets


def portfolio(store: Any, report: Any, policy: escalation.Policy, as_of: dt.date, templates: Path | None = None,
              language: str = "en") -> Rendered:
    """The portfolio report across every contract, rendered (HTML, and the XLSX sheets) and checked by the
    redaction guard before anything is written."""
    data = Data(store, report, as_of, store.stored_findings())
    context = portfolio_context(data, policy)
    sheets = portfolio_sheets(data, context)
    env = documents.environment(templates, language)
    html = documents.render(env, PORTFOLIO_TEMPLATE, context)
    # Its own dates, the latest run's, renewal decisions and when each finding was first detected (XLSX).
    dates = {as_of, data.latest_run.as_of, *(c["renewal_decision_on"] for c in context["contracts"]),
             *(i.first_detected for i in data.items)}
    guard = _guard(data, data.contracts.values(), {d for d in dates if d is not None})
    cells = "\n".join(_cell_text(value) for rows in sheets.values() for row in rows for value in row)
    checked = guard.require_clean(documents.readable_text(html) + "\n" + cells, "the portfolio report")
    return Rendered(_file_name(f"portfolio-{as_of.isoformat()}"), context["title"], html, context, checked, sheets)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------------------------------------------
# Writing


def write(rendered: Rendered, out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write a checked report as each format (html, pdf; xlsx for the portfolio) into `out_dir`."""
    written = []
    base = out_dir / rendered.name
    for fmt in formats:
        if fmt == "xlsx":
            out_dir.mkdir(parents=True, exist_ok=True)
            path = base.with_name(f"{base.name}.xlsx")
            write_xlsx(rendered.sheets, path)
            written.append(path)
        else:
            written += documents.write(rendered.html, base, [fmt], rendered.title)
    return written


def write_xlsx(sheets: dict[str, list[list[Any]]], path: Path) -> None:
    """One sheet per table, headings in bold and frozen; text cells made safe for spreadsheets."""
    from openpyxl import Workbook  # imported late: the CLI starts fast
    from openpyxl.styles import Font

    from compliance.documents.export import _sheet_title, safe_cell

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(_sheet_title(title))
        for n, row in enumerate(rows):
            sheet.append([safe_cell(value) for value in row])
            if n == 0:
                for cell in sheet[1]:
                    cell.font = Font(bold=True)
        sheet.freeze_panes = "B2"
        for column in sheet.columns:
            width = max(len(_cell_text(cell.value)) for cell in column)
            sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 60)
    workbook.save(path)
