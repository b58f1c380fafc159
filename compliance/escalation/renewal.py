"""The renewal recommendation: renew, renew with conditions, defer, or legal review, with the reasons.

The recommendation is explainable by construction: each outcome comes with its reasons, one sentence each, and the
conditions that renewal would carry (each with its date). It reads what the renewal dossier and the portfolio
report know of a contract's open findings (`Status`: severity, verdict, age, escalation level recommended and
decided, working groups, overdue corrective action, unremedied harm). The engine recommends; the officer decides.

Pure functions over those statuses: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compliance.domain.models import Severity
from compliance.escalation import verdicts
from compliance.escalation.routing import LEVELS, Policy

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
#: Verdicts that are data gaps: the condition is the missing evidence.
DATA_GAPS = verdicts.DATA_GAPS

#: How the reasons name the verdicts that are not yet a breach.
VERDICT_WORDS = {"alleged": "alleged", "disputed": "disputed by the supplier", "human_review": "for human review"}

#: The month names dates are written with (the documents use them too: `outbound.MONTHS`).
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def day_text(day: dt.date) -> str:
    """A buyer-side date in words (30 June 2025), as the templates' `date` filter writes it in English."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


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
class RenewalRecommendation:
    outcome: str
    reasons: list[str]
    conditions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return OUTCOMES[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "label": self.label, "reasons": self.reasons, "conditions": self.conditions}


def recommend(findings: Iterable[Status], as_of: dt.date, policy: Policy = Policy()) -> RenewalRecommendation:
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
        if f.verdict in verdicts.NOT_YET_BREACH:  # not a breach: an open question, settled before the decision
            conditional.append(f"{_cap(name)} is {VERDICT_WORDS[f.verdict]}, not a breach: it needs "
                               f"{verdicts.what_it_needs(f.verdict)}.")
            continue
        levels = f.levels()
        remedy = next(((level, who) for level, who in levels if level in ("E4", "E5")), None)
        if remedy:
            legal.append(f"{_cap(name)} is at {remedy[0]} ({LEVELS[remedy[0]]}) {remedy[1]}: a contractual "
                         "remedy needs legal review before anything is done.")
        priority = f.severity is Severity.PRIORITY
        if priority and f.age_days > policy.priority_remedy_days:
            legal.append(f"Priority {name} has been open for {f.age_days} days since it was first detected, longer "
                         f"than the {policy.priority_remedy_days} days the policy allows for its remedy.")
        referred = any(level == "E3" for level, _ in levels)
        where = join_and(f.groups) or "a working group"
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
        return RenewalRecommendation("legal_review", legal, conditions)
    if defer:
        return RenewalRecommendation("defer", defer, conditions)
    if conditional:
        return RenewalRecommendation("renew_with_conditions", conditional, conditions)
    observations = sum(1 for f in findings if f.severity is Severity.OBSERVATION)
    reasons = ["No Priority, Major or Minor finding is open, no corrective action is overdue and no harm is "
               "unremedied."]
    if observations:
        reasons.append(f"Open observations ({observations}) are monitored, not conditions of renewal.")
    return RenewalRecommendation("renew", reasons, conditions)


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
    elif f.verdict in verdicts.HUMAN_REVIEW:
        text, by = f"The human review of {name} completed and its outcome recorded", later
    elif f.verdict in verdicts.NEEDS_VERIFICATION:
        text, by = f"The information requested to verify {name} provided", later
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


def join_and(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c" (each item once); "" for none."""
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""
