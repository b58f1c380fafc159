"""The portfolio report across every contract: brand x ILO category, open findings by severity and age,
working-group case load, findings over time and each contract's renewal recommendation.

Like the dossier (`renewal_dossier`), a plain dict context rendered by a template an institution can override, and
spreadsheet sheets; both are checked by the redaction guard before anything is written. No finding messages, no
evidence ids.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from markupsafe import Markup

from compliance import __version__
from compliance.documents import charts
from compliance.documents import environment as documents
from compliance.documents.report_data import (
    AGE_BUCKETS,
    CATEGORIES,
    SEVERITIES,
    STALE_RUN_DAYS,
    Rendered,
    ReportData,
    age_bucket,
    age_rows,
    category_label,
    cell_text,
    chart_rows,
    file_name,
    redaction_guard,
    severity_counts_by,
    severity_rows,
    time_chart,
)
from compliance.domain import models
from compliance.domain.models import FPRW, Severity
from compliance.escalation import renewal
from compliance.escalation import routing as escalation
from compliance.rules import spec

PORTFOLIO_TEMPLATE = "reports/portfolio.html.j2"


def portfolio_context(data: ReportData, policy: escalation.Policy) -> dict[str, Any]:
    """The portfolio report's template variables (README: "Renewal dossier and portfolio report")."""
    open_items = data.open()
    severity_counts = Counter(i.finding.severity.label for i in open_items)
    brands = severity_counts_by(open_items, data.brands_of)
    by_brand = severity_rows(brands, sorted(brands), str)
    by_category = severity_rows(severity_counts_by(open_items, lambda i: i.categories), CATEGORIES, category_label)
    by_age = age_rows(open_items)

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
        outcome = (renewal.recommend([data.recommendation_input(i) for i in mine], data.as_of, policy) if stored
                   else None)
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
        notes.append(f"The latest stored run is as of {renewal.day_text(data.latest_run.as_of)}: findings that "
                     "appeared since are not in this report until the next run.")
    return {
        "title": f"Portfolio report as of {renewal.day_text(data.as_of)}",
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
                                                            chart_rows(by_brand), SEVERITIES, label_width=200)),
            "severity_by_category": Markup(charts.stacked_bars(
                "chart-categories", "Open findings by ILO category and severity", chart_rows(by_category),
                SEVERITIES)),
            "age_by_severity": Markup(charts.stacked_bars(
                "chart-ages", "Open findings by severity and age", [
                    (row["label"], row["counts"]) for row in by_age],
                [label for _, _, label in AGE_BUCKETS], ["#d1e5f0", "#92c5de", "#ef8a62", "#b2182b"],
                label_width=140)),
            "over_time": time_chart("chart-time", "Findings over time, all contracts", over_time),
        },
    }


def portfolio_sheets(data: ReportData, context: dict[str, Any]) -> dict[str, list[list[Any]]]:
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
              language: str = "en", *, rules: Iterable[spec.Rule]) -> Rendered:
    """The portfolio report across every contract, rendered (HTML, and the XLSX sheets) and checked by the
    redaction guard before anything is written. `rules` (the rule library) gives each finding its rule's tags."""
    data = ReportData(store, report, as_of, store.stored_findings(), rules)
    context = portfolio_context(data, policy)
    sheets = portfolio_sheets(data, context)
    env = documents.environment(templates, language)
    html = documents.render(env, PORTFOLIO_TEMPLATE, context)
    # Its own dates, the latest run's, renewal decisions and when each finding was first detected (XLSX).
    dates = {as_of, data.latest_run.as_of, *(c["renewal_decision_on"] for c in context["contracts"]),
             *(i.first_detected for i in data.items)}
    guard = redaction_guard(data, data.contracts.values(), {d for d in dates if d is not None})
    cells = "\n".join(cell_text(value) for rows in sheets.values() for row in rows for value in row)
    checked = guard.require_clean(documents.readable_text(html, env) + "\n" + cells, "the portfolio report")
    return Rendered(file_name(f"portfolio-{as_of.isoformat()}"), context["title"], html, context, checked, sheets,
                    templates=templates)
