"""The renewal dossier of one contract (DOMAIN §D.1), built from the store and the escalation report.

A document for people: a plain dict context (documented in the README, "Renewal dossier and portfolio report")
rendered by a template that an institution can override (`documents.environment`), checked by
`documents.redaction` before any file is written. Findings are described by `outbound.describe` (aggregate level:
no evidence ids, no free text, no day-precise date of a worker-related event, small counts as "a number of
workers"), never by their `message`. The dates printed are the buyer's own: when the engine first detected a
finding, contract dates, deadlines. Its sections on overdue corrective action, unremedied harm and other signals
list the findings whose rules carry the tags for them (`report_data.HARM`...). The recommendation is
`escalation.renewal.recommend`: the engine recommends; the officer decides.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from markupsafe import Markup

from compliance import __version__
from compliance.documents import charts, outbound
from compliance.documents import environment as documents
from compliance.documents.report_data import (
    AGE_BUCKETS,
    CATEGORIES,
    CONTRADICTION,
    HARM,
    NO_RESPONSE,
    OVERDUE_PLAN,
    SEVERITIES,
    STALE_RUN_DAYS,
    Item,
    Rendered,
    ReportData,
    age_bucket,
    age_rows,
    category_label,
    chart_rows,
    deadline,
    file_name,
    outbound_harm,
    redaction_guard,
    severity_counts_by,
    severity_rows,
    time_chart,
)
from compliance.domain import facts, models
from compliance.escalation import renewal
from compliance.escalation import routing as escalation
from compliance.rules import spec

DOSSIER_TEMPLATE = "reports/dossier.html.j2"

#: The Procurement Act 2023 applies to procurements started on or after this date.
PROCUREMENT_ACT_FROM = dt.date(2025, 2, 24)


def dossier_context(data: ReportData, contract: models.Contract, policy: escalation.Policy) -> dict[str, Any]:
    """The dossier's template variables (README: "Renewal dossier and portfolio report")."""
    as_of = data.as_of
    links = facts.linked(contract, data.links, data.as_of)
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

    categories = severity_counts_by(open_items, lambda i: i.categories)
    by_category = severity_rows(categories, CATEGORIES, category_label)
    by_age = age_rows(open_items)

    overdue = []
    harm = []
    for item in open_items:
        if OVERDUE_PLAN in item.tags:
            due = deadline(item.records)
            overdue.append({"number": item.number, "title": item.finding.title,
                            "facility": _facility_name(data, item.finding.facility_id), "due": due,
                            "days_overdue": (as_of - due).days if due and due < as_of else None})
        if HARM in item.tags:
            owed = outbound_harm(item.records)
            harm.append({"number": item.number, "title": item.finding.title,
                         "facility": _facility_name(data, item.finding.facility_id),
                         "outstanding": owed["outstanding"], "workers": owed["workers"], "due": owed["due"],
                         "days_overdue": (as_of - owed["due"]).days if owed["due"] and owed["due"] < as_of else None})

    signals = []
    for test, text in ((lambda i: i.repeat, "Repeat findings (the same problem again after it was closed)"),
                       (lambda i: CONTRADICTION in i.tags,
                        "Audits contradicted by worker-driven monitoring or workers' evidence"),
                       (lambda i: NO_RESPONSE in i.tags,
                        "No substantive response to a request or notice")):
        numbers = [str(i.number) for i in open_items if test(i)]
        if numbers:
            signals.append(f"{text}: finding{'s' if len(numbers) != 1 else ''} {renewal.join_and(numbers)}.")

    # A labour agency implicated in a breach elsewhere that also works at this contract's sites (routing: agencies).
    for m in getattr(data.report, "monitoring", []):
        here = [f for f in m.other_sites if f in facility_ids]
        if here:
            signals.append(f"Labour agency {m.agency}, implicated in breach findings ({', '.join(m.rules)}) at "
                           f"{renewal.join_and([_facility_name(data, f) or f for f in m.implicated_at])}, also "
                           f"works at {renewal.join_and([_facility_name(data, f) or f for f in here])}: "
                           "monitoring of those sites is recommended.")

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

    recommendation = renewal.recommend([data.recommendation_input(i) for i in open_items], as_of, policy)
    over_time = data.over_time(data.items)
    severity_counts = Counter(i.finding.severity.label for i in open_items)
    statuses = Counter(i.status for i in data.items)
    notes = []
    if contract.status != "active":
        notes.append(f"The contract is {contract.status}: runs evaluate active contracts only, so its stored "
                     "findings may be out of date.")
    if (as_of - data.latest_run.as_of).days > STALE_RUN_DAYS:
        notes.append(f"The latest stored run is as of {renewal.day_text(data.latest_run.as_of)}: findings that "
                     "appeared since are not in this dossier until the next run.")
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
                "chart-categories", "Open findings by severity and ILO category", chart_rows(by_category),
                SEVERITIES)),
            "over_time": time_chart("chart-time", "Findings over time", over_time),
        },
    }


def _facility_name(data: ReportData, facility_id: str | None) -> str | None:
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


def _facilities(data: ReportData, links: list[models.ProductionLink], evidence: list[models.EvidenceBase],
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
            templates: Path | None = None, language: str = "en", *, rules: Iterable[spec.Rule]) -> Rendered:
    """The renewal dossier of one contract, rendered and checked by the redaction guard (RedactionError if it could
    reveal a worker; nothing is written either way). `rules` (the rule library) gives each finding its rule's tags."""
    contract = store.contract(contract_id)
    data = ReportData(store, report, as_of, store.stored_findings(contract_id=contract_id), rules)
    context = dossier_context(data, contract, policy)
    env = documents.environment(templates, language)
    html = documents.render(env, DOSSIER_TEMPLATE, context)
    guard = redaction_guard(data, [contract], dossier_dates(context))
    # The records the dossier reads for its facility and transparency sections, besides the findings' evidence.
    linked = sorted({link.facility_id for link in facts.linked(contract, data.links, data.as_of)})
    guard.learn(None, store.evidence_for(contract, linked, as_of))
    checked = guard.require_clean(documents.readable_text(html, env), f"the renewal dossier for contract {contract_id}")
    return Rendered(file_name(f"dossier-{contract_id}-{as_of.isoformat()}"), context["title"], html, context,
                    checked, templates=templates)


def dossier_dates(context: dict[str, Any]) -> set[dt.date]:
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
