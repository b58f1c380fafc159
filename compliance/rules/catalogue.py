"""The 40-entry rule catalogue the library implements, and where each entry's rules differ from it on purpose.

The catalogue (TR-01 ... PM-07) is the specification of the contract conditions. A rule implements the entry of
its family (``strata.family``: FL-02-P implements FL-02) and states in ``differences`` every deliberate difference
from the entry, with its reason. ``table`` renders the coverage officers and auditors read (``compliance rules
coverage --catalogue``, and the README's copy, which a test keeps equal to it).
"""

from __future__ import annotations

from typing import Any

from compliance.rules.strata import family

#: The catalogue's entries, in its order: id -> title.
CATALOGUE: dict[str, str] = {
    "TR-01": "Final-assembly factory disclosure",
    "TR-02": "Strategic-component factory disclosure",
    "TR-03": "Disclosure data quality and freshness",
    "TR-04": "Sharing of compliance findings",
    "TR-05": "Upon-breach information package",
    "MO-01": "Monitor access and engagement",
    "MO-02": "Worker-driven coverage gap",
    "MO-03": "Audit contradicted by worker-driven evidence",
    "GR-01": "Operational grievance mechanism",
    "GR-02": "Grievance responsiveness",
    "GR-03": "Retaliation after complaint, monitor contact or union activity",
    "GR-04": "Unremedied harm",
    "GR-05": "Closure not verified by workers",
    "FL-01": "Worker-paid recruitment fees",
    "FL-02": "Fee reimbursement overdue",
    "FL-03": "Debt-bondage indicator",
    "FL-04": "Retention of identity documents",
    "FL-05": "Penalties for resigning / restrictions on movement",
    "FL-06": "Forced-labour indicator cluster",
    "WH-01": "Excessive hours / no rest day",
    "WH-02": "Involuntary overtime",
    "WH-03": "Falsified records / double books",
    "WH-04": "Wage arrears, underpayment and unlawful deductions",
    "YS-01": "Child labour",
    "YS-02": "Young-worker protections",
    "YS-03": "Student-intern abuse",
    "YS-04": "Precarious-labour share limits",
    "DI-01": "Discriminatory hiring, testing, pay or termination",
    "HS-01": "Serious OSH incident",
    "HS-02": "Hazard communication and chemical safety",
    "HS-03": "Dormitories and food",
    "FA-01": "Dismissal or discipline of union officers/organisers",
    "FA-02": "Interference with FoA/CB",
    "PM-01": "Supplier non-response",
    "PM-02": "CAP not submitted on time",
    "PM-03": "CAP action overdue",
    "PM-04": "Repeat or displaced finding",
    "PM-05": "Systemic pattern -> working-group routing",
    "PM-06": "Renewal / extension gate",
    "PM-07": "External signal correlation",
}

#: Entries implemented outside the rule files, and how.
ELSEWHERE: dict[str, str] = {
    "PM-04": "a severity modifier on every breach finding (a repeat of a problem closed and verified at the same "
             "facility within 730 days raises it one level), not a rule of its own; the displaced-practice "
             "substitution map is not encoded",
    "PM-05": "the working-group routing of `compliance escalations` and `groups proposals`, not a rule",
}

#: Differences of every rule, whatever it implements (the rule language's own semantics).
GENERAL = (
    "Months in the catalogue are counted as days (12 months = 365 days, 24 months = 730 days): the rule language "
    "has no calendar months, so a window across a leap day is one day shorter than twelve calendar months.",
    "Every rule ignores what a record dates after the as-of date (an acknowledgement, a response, a payment, "
    "access granted): a check as of a past date sees what was known then.",
    "A finding read by another rule (PM-03's Priority, FL-06's indicators...) is a finding of the same evaluation, "
    "whatever its lifecycle state: waived or closed findings still count while the evidence shows them.",
)


def entries(library: Any) -> list[dict[str, Any]]:
    """Each catalogue entry with the rules that implement it and their stated differences, then the rules beyond
    the catalogue."""
    by_family: dict[str, list[Any]] = {}
    for rule in sorted(library.rules, key=lambda r: r.id):
        by_family.setdefault(family(rule.id), []).append(rule)
    out = []
    for entry, title in CATALOGUE.items():
        rules = by_family.get(entry, [])
        differences = [f"{rule.id}: {text}" for rule in rules for text in rule.differences]
        if entry in ELSEWHERE:
            differences.insert(0, ELSEWHERE[entry])
        out.append({"entry": entry, "title": title, "rules": [r.id for r in rules], "differences": differences})
    beyond = [rule for name, rules in sorted(by_family.items()) if name not in CATALOGUE for rule in rules]
    if beyond:
        out.append({"entry": "beyond the catalogue", "title": "evidence gaps and freshness, added checks",
                    "rules": [r.id for r in beyond],
                    "differences": [f"{rule.id}: {text}" for rule in beyond for text in rule.differences]})
    return out


def table(library: Any) -> str:
    """The coverage as a Markdown table, with the differences every rule shares below it."""
    lines = ["| Entry | Rules | Deliberate differences from the catalogue |", "|---|---|---|"]
    for item in entries(library):
        rules = ", ".join(item["rules"]) or "none"
        differences = "<br>".join(_cell(d) for d in item["differences"]) or "none"
        lines.append(f"| {item['entry']} {_cell(item['title'])} | {rules} | {differences} |")
    lines.append("")
    lines += [f"* {text}" for text in GENERAL]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "/").split())
