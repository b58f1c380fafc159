"""Corrective-action letters to contractors (DOMAIN §D.3): which findings a letter cites, its deadlines as calendar
dates, and the variables its template receives.

A letter goes to the contractual counterparty (usually a reseller) about one contract, combining that contractor's
relevant findings; it asks for cascade to the brand and factory, states non-retaliation and is "without
prejudice". Findings are described by `compliance.documents.outbound` (aggregate level) and the finished letter passes
`compliance.documents.redaction` before it is stored or written.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from compliance.documents import outbound
from compliance.domain import models
from compliance.errors import InputError, Problem
from compliance.escalation import verdicts


@dataclass(frozen=True)
class LetterKind:
    code: str
    name: str
    #: The period that applies to actions without their own ("Within 48 hours, ..."), by name, or None.
    deadline: str | None
    #: Whether the letter asks for a corrective action plan.
    asks_for_plan: bool = False


LETTER_KINDS: dict[str, LetterKind] = {k.code: k for k in (
    LetterKind("L1", "Information request", "information"),
    LetterKind("L2", "Notice of concern and request for a corrective action plan", "cap", asks_for_plan=True),
    LetterKind("L2-P", "Priority notice: containment and corrective action plan", "cap", asks_for_plan=True),
    LetterKind("L3", "Reminder: overdue response", "reminder"),
    LetterKind("L4", "Notice of escalation to the working group", None),
    LetterKind("L5", "Formal notice of default", "cure", asks_for_plan=True),
    LetterKind("L6", "Closure letter", None),
)}

#: States in which a finding is worked with the contractor (the letters L1-L5 cite findings in these states).
ACTIVE_STATES = ("new", "open", "notified", "cap_requested", "in_remediation", "closure_claimed", "reopened")

_INNER_WITHIN = re.compile(r"\bwithin\s+(\d+)\s+(hours?|days?|working\s+days?|weeks?)\b", re.IGNORECASE)
_WITHIN = re.compile(r"^\s*within\s+(\d+)\s+(hours?|days?|working\s+days?|weeks?)\s*,?\s*(.*)$", re.IGNORECASE | re.DOTALL)


# ---------------------------------------------------------------------------------------------------------------------
# Deadlines


@functools.lru_cache(maxsize=32)
def _holidays(calendar: str, year: int) -> frozenset[dt.date]:
    import holidays  # imported when a deadline is computed, not when the CLI starts

    country, _, subdivision = calendar.partition("-")
    try:
        days = holidays.country_holidays(country, subdiv=subdivision or None, years=[year, year + 1])
    except NotImplementedError:
        raise InputError([Problem("calendar", None, calendar, "unknown holiday calendar; use an ISO country code "
                                  "and optional subdivision, e.g. GB-ENG, GB-SCT, GB-WLS, GB-NIR")]) from None
    return frozenset(days)


def add_days(start: dt.date, days: int, working_days: bool = False, calendar: str = models.DEFAULT_HOLIDAY_CALENDAR
             ) -> dt.date:
    """`start` plus `days`: calendar days, or working days (weekends and the calendar's public holidays skipped)."""
    if not working_days:
        return start + dt.timedelta(days=days)
    day, left = start, days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in _holidays(calendar, day.year):
            left -= 1
    return day


@dataclass(frozen=True)
class Deadlines:
    """The periods of one contract: shipped defaults < its clause set's < its own."""

    periods: dict[str, models.Deadline]
    calendar: str

    @classmethod
    def of(cls, contract: models.Contract, clause_set: Any | None) -> Deadlines:
        periods = {name: default for name, (default, _) in models.DEADLINE_DEFAULTS.items()}
        calendar = models.DEFAULT_HOLIDAY_CALENDAR
        for level in (clause_set, contract):
            if level is not None:
                periods.update(level.deadlines)
                calendar = level.calendar or calendar
        return cls(periods, calendar)

    def due(self, name: str, start: dt.date) -> dt.date:
        period = self.periods[name]
        return add_days(start, period.days, period.working_days, self.calendar)

    def describe(self, name: str) -> str:
        period = self.periods[name]
        return f"{period.days} {'working ' if period.working_days else ''}day{'s' if period.days != 1 else ''}"

    def for_finding(self, finding: models.Finding, start: dt.date) -> dt.date:
        """When the contractor's plan or response on `finding` is due: by its severity."""
        name = {"priority": "cap_priority", "observation": "observation"}.get(finding.severity.value, "cap")
        return self.due(name, start)


def action_due(action: str, start: dt.date, fallback: dt.date, deadlines: Deadlines) -> tuple[str, dt.date]:
    """An action's text and date. "Within N hours/days/working days/weeks, do X" becomes ("Do X", the date); a
    period inside the text ("... and confirm it in writing within 7 days") becomes "by <date>" and sets the date;
    any other action gets `fallback`. Deadlines go out as dates, never as "within 14 days"."""
    text, dates = action.strip(), []
    match = _WITHIN.match(text)
    if match:
        dates.append(_period_end(start, int(match.group(1)), match.group(2), deadlines))
        rest = match.group(3).strip()
        text = rest[:1].upper() + rest[1:] if rest else text

    def dated(inner: re.Match[str]) -> str:
        day = _period_end(start, int(inner.group(1)), inner.group(2), deadlines)
        dates.append(day)
        return f"by {day.day} {outbound.MONTHS[day.month - 1]} {day.year}"

    text = _INNER_WITHIN.sub(dated, text)
    return text, min(dates) if dates else fallback


def _period_end(start: dt.date, amount: int, unit: str, deadlines: Deadlines) -> dt.date:
    unit = unit.lower()
    if unit.startswith("hour"):
        return add_days(start, math.ceil(amount / 24))
    if unit.startswith("week"):
        return add_days(start, amount * 7)
    return add_days(start, amount, unit.startswith("working"), deadlines.calendar)


# ---------------------------------------------------------------------------------------------------------------------
# Which findings a letter cites


def default_findings(kind: str, rows: Iterable[Any], levels: dict[str, str] | None = None) -> list[Any]:
    """The stored findings (FindingRow) of one contract that a letter of `kind` cites when the officer names none.

    L1, L2, L2-P and L3 cite the firing findings whose rule asks for that letter; L4 the findings recommended or
    decided for a working-group referral (E3) and L5 for contractual remedy (E4/E5), from `levels` (finding key ->
    escalation level); L6 the closed findings. Findings that are waived or withdrawn are never cited."""
    levels = levels or {}
    out = []
    for row in rows:
        payload = row.payload
        if kind == "L6":
            if row.state == "closed":
                out.append(row)
            continue
        if row.state not in ACTIVE_STATES or not row.firing or payload.get("verdict") == "not_yet_due":
            continue
        if kind == "L4" and levels.get(row.key) == "E3":
            out.append(row)
        elif kind == "L5" and levels.get(row.key) in ("E4", "E5"):
            out.append(row)
        elif kind not in ("L4", "L5") and letter_kind_of(payload) == kind:
            out.append(row)
    return out


def letter_kind_of(payload: dict[str, Any]) -> str | None:
    """The letter a stored finding calls for: its rule's, except that a notice of concern about a finding raised to
    Priority (a modifier) is a Priority notice, and a finding not yet a breach calls for an information request
    (alleged, disputed) or no letter (human review: `verdicts.letter_kind`)."""
    kind = verdicts.letter_kind(payload.get("verdict"), payload.get("letter_type"))
    if kind == "L2" and payload.get("severity") == "priority":
        return "L2-P"
    return kind


# ---------------------------------------------------------------------------------------------------------------------
# The template's variables: documented here once, listed in the README, and checked against the context built.

LETTER_VARIABLES: dict[str, str] = {
    "letter": "the letter: reference, kind (L1...L6), name, date, subject, marking",
    "buyer": "the contracting authority writing: name, id (the contract's first buyer)",
    "buyers": "every buyer on the contract: list of {name, id}",
    "contractor": "the contractual counterparty: name, id, role (reseller or brand_direct)",
    "contract": "id, ocid, title, framework (reference or empty), clause_set, clause_set_version, end",
    "brands": "the brands on the contract (list of names)",
    "facilities": "the production sites the findings concern: list of {name, country, os_id}",
    "clauses": "the contract clauses the findings cite (list, each once)",
    "code_areas": "the Code areas concerned (ILO categories), each once",
    "evidence_basis": "the kinds of evidence, described generically (monitoring partners unnamed unless agreed)",
    "findings": "list of findings at aggregate level: number, rule_id, title, clause, code_area, severity, "
                "severity_code, verdict, facility, evidence_basis, period (months), workers, harm_outstanding, "
                "description, actions",
    "actions": "the numbered required actions: list of {number, text, due (a date), findings (their numbers)}",
    "deadlines": "dates: plan (corrective action plan), cascade (forwarding confirmed), response (the letter's "
                 "main date); plan_period and cascade_period as words (e.g. '10 working days')",
    "working_groups": "the working groups the findings are referred to (L4): list of names",
    "secretariat": "the working groups' secretariat (Electronics Watch)",
    "contact": "the named officer to reply to (--contact), or empty",
    "priority": "true when a cited finding is Priority",
    "previous": "earlier letters sent on these findings (L3, L5): list of {reference, date}",
    "language": "the language asked for (--language), e.g. en, cy",
}
FINDING_FIELDS = ("number", "rule_id", "title", "clause", "code_area", "severity", "severity_code", "verdict",
                  "facility", "evidence_basis", "period", "workers", "harm_outstanding", "description", "actions")


def context(kind: str, contract: models.Contract, clause_set: Any | None, findings: list[models.Finding],
            evidence: dict[str, models.EvidenceBase], facilities: dict[str, models.Facility], dated: dt.date,
            reference: str, working_groups: list[str], contact: str = "", secretariat: str = "Electronics Watch"
            ) -> dict[str, Any]:
    """The variables of a letter template (LETTER_VARIABLES), all safe to print."""
    letter_kind = LETTER_KINDS[kind]
    deadlines = Deadlines.of(contract, clause_set)
    findings = sorted(findings, key=lambda f: (f.severity.rank, f.facility_id or "", f.rule_id, f.key))
    cited = [evidence[i] for f in findings for i in f.evidence_ids if i in evidence]
    cleared = outbound.monitors_cleared(cited)
    views = [outbound.describe(n, f, [evidence[i] for i in f.evidence_ids if i in evidence],
                               facilities.get(f.facility_id or ""), cleared) for n, f in enumerate(findings, 1)]
    priority = any(f.severity is models.Severity.PRIORITY for f in findings)
    plan_name = "cap_priority" if priority else "cap"
    plan_due = deadlines.due(plan_name, dated)
    cascade_due = deadlines.due("cascade", dated)
    actions: list[dict[str, Any]] = []
    if kind not in ("L4", "L6"):
        for finding, view in zip(findings, views):
            fallback = (deadlines.due(letter_kind.deadline, dated) if letter_kind.deadline not in (None, "cap")
                        else deadlines.for_finding(finding, dated))
            if kind == "L2-P" and finding.severity is models.Severity.PRIORITY:
                fallback = min(fallback, deadlines.due("containment", dated))
            for action in finding.required_actions:
                text, due = action_due(action, dated, fallback, deadlines)
                text = text.rstrip(" .")
                same = next((a for a in actions if a["text"] == text), None)
                if same is not None:  # the same action for several findings: once, by the earliest date
                    same["due"] = min(same["due"], due)
                    same["findings"].append(view.number)
                else:
                    actions.append({"text": text, "due": due, "findings": [view.number]})
        if letter_kind.asks_for_plan:
            actions.append({"text": "Submit a corrective action plan covering every finding above, with the "
                                    "content set out below", "due": plan_due, "findings": [v.number for v in views]})
        if kind == "L1":
            actions.append({"text": "Where you cannot obtain the information, provide evidence of your due diligence: "
                                    "your dated formal request to the brand or manufacturer and its reply",
                            "due": deadlines.due("information", dated), "findings": [v.number for v in views]})
    if kind != "L6":
        actions.append({"text": "Forward this letter to the brand and the factory concerned and confirm to us that "
                                "you have done so", "due": cascade_due, "findings": []})
    actions.sort(key=lambda a: a["due"])
    for number, action in enumerate(actions, 1):
        action["number"] = number
    response = max((a["due"] for a in actions), default=dated)
    sites = []
    for view in views:
        if view.facility and view.facility not in sites:
            sites.append(view.facility)
    clauses = list(dict.fromkeys(f.clause for f in findings))
    subject = f"{letter_kind.name}: contract {contract.id}"
    if len(sites) == 1:
        site = sites[0]
        subject += f" \u2014 {site['name']}, {site['country']}" + (f" (OS ID {site['os_id']})" if site["os_id"] else "")
    elif sites:
        subject += f" \u2014 {len(sites)} production sites"
    framework = contract.framework.ref if contract.framework else ""
    return {
        "letter": {"reference": reference, "kind": kind, "name": letter_kind.name, "date": dated, "subject": subject,
                   "marking": "Confidential \u2013 contract management"},
        "buyer": {"name": contract.buyers[0].name, "id": contract.buyers[0].id},
        "buyers": [{"name": b.name, "id": b.id} for b in contract.buyers],
        "contractor": {"name": contract.supplier.name, "id": contract.supplier.id, "role": contract.supplier.role},
        "contract": {"id": contract.id, "ocid": contract.ocid, "title": contract.title or "", "framework": framework,
                     "clause_set": contract.clause_set.id, "clause_set_version": contract.clause_set.version,
                     "end": contract.period.end},
        "brands": list(contract.brands),
        "facilities": sites,
        "clauses": clauses,
        "code_areas": list(dict.fromkeys(area for v in views for area in v.code_area.split("; "))),
        "evidence_basis": outbound.and_list(outbound.basis_labels(cited, cleared)),
        "findings": [{name: getattr(v, name) for name in FINDING_FIELDS} for v in views],
        "actions": actions,
        "deadlines": {"plan": plan_due, "cascade": cascade_due, "response": response,
                      "plan_period": deadlines.describe(plan_name), "cascade_period": deadlines.describe("cascade")},
        "working_groups": working_groups,
        "secretariat": secretariat,
        "contact": contact,
        "priority": priority,
    }


def template_name(env: Any, kind: str, language: str) -> str:
    """The template of a letter kind: letters/L2.cy.html.j2 for Welsh when there is one, else letters/L2.html.j2."""
    import jinja2

    if language != "en":
        try:
            env.get_template(f"letters/{kind}.{language}.html.j2")
            return f"letters/{kind}.{language}.html.j2"
        except jinja2.TemplateNotFound:
            pass
    return f"letters/{kind}.html.j2"


def safe_dates(ctx: dict[str, Any]) -> set[dt.date]:
    """The dates a letter prints on purpose (its own date, deadlines, the contract's end)."""
    out = {ctx["letter"]["date"], ctx["contract"]["end"]}
    out |= {a["due"] for a in ctx["actions"]}
    out |= {v for v in ctx["deadlines"].values() if isinstance(v, dt.date)}
    return out
