"""Labour agencies, collective cases at component tier and human review, as an officer meets them at the command
line, on a small portfolio: two brands, each on a contract of its own consortium, two assembly plants, one
battery-cell factory both brands share (strategic component), and one plant that only declares its agency."""

from __future__ import annotations

import csv
import datetime as dt
import json
import secrets
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from compliance.cli import cli
from compliance.documents import letters
from compliance.domain import models
from compliance.escalation import renewal, routing
from compliance.escalation.renewal import Status

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2025-06-30"
RULES = ["--rules", str(ROOT / "rules")]
GROUPS = ["--as-of", AS_OF, *RULES, "--groups", str(ROOT / "contracts" / "working-groups.yaml")]

CONTRACTS = """contracts:
  - ocid: ocds-h6vhtk-000001
    id: K1
    buyers: [{id: GB-PPON-AAAA-1111-BBBB, name: University of Exampleshire, consortia: [LUPC]}]
    supplier: {id: GB-COH-01234567, name: Example IT Reseller Ltd}
    brands: [Northwind]
    items: [{id: "1", brand: Northwind, model: NB-450, disclosure_in_scope: false}]
    signed_on: 2024-03-04
    period: {start: 2024-03-04, end: 2026-03-03}
    clause_set: {id: EWCC-v2-UK, version: "2.0"}
  - ocid: ocds-h6vhtk-000002
    id: K2
    buyers: [{id: GB-PPON-NNNN-7777-PPPP, name: University of Eastmoor, consortia: [NEUPC]}]
    supplier: {id: GB-COH-07788990, name: Redline Systems Ltd}
    brands: [Southwind]
    items: [{id: "1", brand: Southwind, model: SW-1, disclosure_in_scope: false}]
    signed_on: 2024-03-04
    period: {start: 2024-03-04, end: 2026-03-03}
    clause_set: {id: EWCC-v2-UK, version: "2.0"}
"""
FACILITIES = """facilities:
  - {id: FAC-A, name: Assembly A, country: TH}
  - {id: FAC-B, name: Assembly B, country: MY}
  - {id: FAC-C, name: Battery cells C, country: CN}
  - {id: FAC-D, name: Assembly D, country: MY, agencies: [Example Manpower]}
production_links:
  - {brand: Northwind, model: NB-450, facility_id: FAC-A}
  - {brand: Southwind, model: SW-1, facility_id: FAC-B}
  - {brand: Southwind, model: SW-1, facility_id: FAC-D}
  - {brand: Northwind, facility_id: FAC-C, tier: strategic_component}
  - {brand: Southwind, facility_id: FAC-C, tier: strategic_component}
"""
#: One agency written three ways (and declared at FAC-D in a fourth), implicated in recruitment fees at FAC-A;
#: another agency at FAC-B only. At the shared battery-cell factory, 60 strikers dismissed nine days after the
#: strike, and passports held by an agency. Excessive hours at both brands' assembly plants.
EVIDENCE = """evidence:
  - {type: recruitment_fee, id: RF-A, date: 2025-03-10, facility_id: FAC-A, worker_group: wg_mm, n_workers: 40,
     median_fee: 20000, currency: THB, standard_applied: zero_fee, agency: Example Manpower Sdn. Bhd.,
     agency_role: Recruitment agency}
  - {type: workforce_composition, id: WC-B, date: 2025-03-12, facility_id: FAC-B, total_workers: 1000,
     dispatch_workers: 50, agency: EXAMPLE MANPOWER SDN BHD, agency_role: dispatch_employer}
  - {type: workforce_composition, id: WC-B2, date: 2025-03-13, facility_id: FAC-B, total_workers: 1000,
     dispatch_workers: 20, agency: Other Dispatch Co, agency_role: dispatch}
  - {type: protected_activity, id: PA-C, date: 2025-04-01, facility_id: FAC-C, subject: wg_line1, activity: strike}
  - {type: adverse_action, id: AA-C, date: 2025-04-10, facility_id: FAC-C, subject: wg_line1, action: dismissal,
     n_affected: 60}
  - {type: document_retention, id: DR-C, date: 2025-03-01, facility_id: FAC-C, worker_group: wg_cells,
     documents: [passport], holder: labour_agency, access_on_request: false, n_affected: 30}
  - {type: working_hours, id: WH-A, date: 2025-05-01, facility_id: FAC-A, sample_workers: 50, pct_weeks_over_60: 0.3}
  - {type: working_hours, id: WH-B, date: 2025-05-01, facility_id: FAC-B, sample_workers: 50, pct_weeks_over_60: 0.3}
"""


def cli_run(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--db", url, *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The portfolio imported into a SQLite file, with a run stored as of AS_OF; its URL."""
    folder = tmp_path_factory.mktemp("agencies")
    for name, text in (("contracts.yaml", CONTRACTS), ("facilities.yaml", FACILITIES), ("evidence.yaml", EVIDENCE)):
        (folder / name).write_text(text)
    url = f"sqlite:///{folder / 'store.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("COMPLIANCE_PSEUDONYM_KEY", secrets.token_hex(32))
    try:
        cli_run(url, "db", "init")
        cli_run(url, "import", "contracts", str(folder / "contracts.yaml"))
        cli_run(url, "import", "facilities", str(folder / "facilities.yaml"))
        cli_run(url, "import", "evidence", str(folder / "evidence.yaml"))
        cli_run(url, "run", "--as-of", AS_OF, *RULES)
    finally:
        mp.undo()
    return url


# ---------------------------------------------------------------------------------------------------------------------
# Labour agencies


def test_agencies_are_listed_once_whatever_the_spelling(portfolio: str):
    rows = json.loads(cli_run(portfolio, "agencies", "list", "--as-of", AS_OF, "--json"))
    assert [r["key"] for r in rows] == ["example_manpower", "other_dispatch"]
    manpower = rows[0]
    assert manpower["spellings"] == ["EXAMPLE MANPOWER SDN BHD", "Example Manpower", "Example Manpower Sdn. Bhd."]
    assert manpower["roles"] == ["dispatch_employer", "recruiter"]  # "Recruitment agency" is read as recruiter
    assert manpower["facilities"] == ["FAC-A", "FAC-B", "FAC-D"] and manpower["evidence"] == 2
    text = cli_run(portfolio, "agencies", "list", "--as-of", AS_OF)
    assert "2 agencies." in text and "also written:" in text


def test_an_agency_shows_its_sites_contracts_evidence_findings_and_other_sites_to_monitor(portfolio: str):
    report = json.loads(cli_run(portfolio, "agencies", "show", "example-manpower ltd", "--as-of", AS_OF, "--json"))
    assert {f["id"]: f["declared"] for f in report["facilities"]} == {"FAC-A": False, "FAC-B": False, "FAC-D": True}
    assert report["contracts"] == ["K1", "K2"]
    assert [(e["id"], e["type"], e["date"], e["role"]) for e in report["evidence"]] == [
        ("RF-A", "recruitment_fee", "2025-03-10", "recruiter"),
        ("WC-B", "workforce_composition", "2025-03-12", "dispatch_employer")]
    assert [f["rule_id"] for f in report["findings"]] == ["FL-01"]
    [advice] = report["monitoring"]
    assert advice["implicated_at"] == ["FAC-A"] and advice["other_sites"] == ["FAC-B", "FAC-D"]
    assert "FL-01" in advice["reason"] and "Example Manpower" in advice["reason"]
    text = cli_run(portfolio, "agencies", "show", "EXAMPLE MANPOWER", "--as-of", AS_OF)
    assert "FAC-D  Assembly D (MY)  [declared]" in text and "Monitoring recommended:" in text


def test_an_agency_with_no_breach_gets_no_monitoring_advice(portfolio: str):
    report = json.loads(cli_run(portfolio, "agencies", "show", "Other Dispatch Co.", "--as-of", AS_OF, "--json"))
    # Its workforce record leaves the dispatch share unknown (a data gap, YS-04-IE): no breach, so no advice.
    assert [f["verdict"] for f in report["findings"]] == ["insufficient_evidence"] and report["monitoring"] == []
    # Before the fees were recorded, nothing implicated Example Manpower either.
    early = json.loads(cli_run(portfolio, "agencies", "show", "Example Manpower", "--as-of", "2025-03-11", "--json"))
    assert [e["id"] for e in early["evidence"]] == ["RF-A"]


def test_an_unknown_agency_is_named_with_the_closest(portfolio: str):
    out = cli_run(portfolio, "agencies", "show", "Exampel Manpower", "--as-of", AS_OF, code=3)
    assert 'no labour agency "Exampel Manpower"' in out and 'did you mean "Example Manpower' in out


def test_the_escalation_report_and_the_dossier_recommend_monitoring_the_agencys_other_sites(
        portfolio: str, tmp_path: Path):
    [advice] = json.loads(cli_run(portfolio, "escalations", "monitoring", "--json", *GROUPS))
    assert advice["agency"].lower().startswith("example manpower") and advice["other_sites"] == ["FAC-B", "FAC-D"]
    assert advice["findings"] and all(key.startswith("FL-01/K1/") for key in advice["findings"])
    assert "1 labour agency implicated at one site" in cli_run(portfolio, "escalations", "list", *GROUPS)
    cli_run(portfolio, "report", "dossier", "K2", "--out", str(tmp_path), "--format", "html", *GROUPS)
    html = (tmp_path / f"dossier-K2-{AS_OF}.html").read_text()
    assert "Labour agency Example Manpower" in html and "Assembly B (MY)" in html
    cli_run(portfolio, "report", "dossier", "K1", "--out", str(tmp_path), "--format", "html", *GROUPS)
    assert "Labour agency" not in (tmp_path / f"dossier-K1-{AS_OF}.html").read_text()  # K1 has no other site


def test_evidence_templates_offer_the_agency_and_its_role(tmp_path: Path):
    out = tmp_path / "fees.csv"
    CliRunner().invoke(cli, ["evidence", "template", "recruitment_fee", "-o", str(out)], catch_exceptions=False)
    header, example = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    row = dict(zip(header, example))
    assert row["agency"] and row["agency_role"] == "recruiter"
    grievance = tmp_path / "grievance.csv"
    CliRunner().invoke(cli, ["evidence", "template", "grievance", "-o", str(grievance)], catch_exceptions=False)
    header, example = list(csv.reader(grievance.read_text(encoding="utf-8-sig").splitlines()))
    assert {"agency", "agency_role"} <= set(header) and dict(zip(header, example))["agency"] == ""
    book = tmp_path / "fees.xlsx"
    CliRunner().invoke(cli, ["evidence", "template", "recruitment_fee", "--format", "xlsx", "-o", str(book)],
                       catch_exceptions=False)
    sheet = openpyxl.load_workbook(book).active
    column = next(c.column_letter for c in sheet[1] if c.value == "agency_role")
    lists = [v for v in sheet.data_validations.dataValidation if str(v.sqref).startswith(f"{column}2")]
    assert lists and lists[0].formula1 == '"recruiter,dispatch_employer,other"'


# ---------------------------------------------------------------------------------------------------------------------
# Collective cases: issue proposals at component tier and across brands


def test_a_component_factory_shared_by_two_brands_and_one_issue_at_two_brands_plants_propose_issue_groups(
        portfolio: str):
    proposals = {p["id"]: p for p in json.loads(cli_run(portfolio, "groups", "proposals", "--json", *GROUPS))}
    component = proposals["proposed:issue:FL-04"]
    assert component["facilities"] == ["FAC-C"] and component["brands"] == ["Northwind", "Southwind"]
    assert {k.split("/")[1] for k in component["findings"]} == {"K1", "K2"}
    assert "component factory FAC-C" in component["reason"] and "Northwind, Southwind" in component["reason"]
    hours = proposals["proposed:issue:WH-01"]
    assert hours["facilities"] == ["FAC-A", "FAC-B"] and hours["brands"] == ["Northwind", "Southwind"]
    assert set(hours["consortia"]) == {"LUPC", "NEUPC"}
    # Recruitment fees at one brand's plant only: no group for that.
    assert "proposed:issue:FL-01" not in proposals


# ---------------------------------------------------------------------------------------------------------------------
# Human review


def test_mass_dismissal_after_a_strike_is_for_human_review_not_a_breach(portfolio: str):
    recommendations = json.loads(cli_run(portfolio, "escalations", "list", "--json", *GROUPS))
    about_strike = [r for r in recommendations if r["facility_id"] == "FAC-C" and r["rule_id"].startswith(("GR", "FA"))]
    assert {r["rule_id"] for r in about_strike} == {"GR-03-HR"}  # no GR-03 or FA-01-AA breach
    for r in about_strike:
        assert r["severity"] == "observation" and r["level"] == "E0" and r["routes"] == ["foa_cb"]
        assert "needs human review" in r["reason"] and "not a breach" in r["reason"]
    checked = json.loads(cli_run(portfolio, "check", "K1", "--as-of", AS_OF, *RULES, "--json", code=1))
    [finding] = [f for r in checked for f in r["findings"] if f["rule_id"] == "GR-03-HR"]
    assert finding["verdict"] == "human_review"
    for words in ("causation", "documented", "leaders", "timing", "60 workers"):
        assert words in finding["message"]


def _finding(verdict: str, severity: models.Severity = models.Severity.PRIORITY) -> models.Finding:
    day = dt.date(2025, 6, 30)
    return models.Finding(
        key=f"GR-03/K1/{verdict}", rule_id="GR-03", rule_version="1.0", title="Retaliation", clause="EW",
        contract_id="K1", ocid="ocds-h6vhtk-000001", supplier_id="GB-COH-01234567", facility_id="FAC-A", fprw=[models.FPRW.FREEDOM_OF_ASSOCIATION], hrdd_objectives=[4],
        severity=severity, message="m", evidence_ids=["AA-1"], verdict=verdict, respond_by=day, as_of=day)


@pytest.mark.parametrize("verdict, level, routes", [("alleged", "E1", ()), ("disputed", "E1", ()),
                                                     ("human_review", "E0", ("foa_cb",)), ("breach", "E2", ())])
def test_findings_not_yet_a_breach_are_not_routed_or_referred_as_one(verdict: str, level: str, routes: tuple):
    groups = [models.WorkingGroup(id="foa_cb", name="FoA", scope={"issues": ["freedom_of_association"]})]
    groups = [] if verdict == "breach" else groups  # a breach with no group: E2 containment (the contrast)
    network = routing.ContractNetwork([], [], dt.date(2025, 6, 30))
    [r], proposals = routing.recommend([_finding(verdict)], network, groups)
    assert (r.level, r.routes) == (level, routes) and proposals == []


def test_renewal_and_letters_treat_findings_not_yet_a_breach_as_open_questions():
    as_of = dt.date(2025, 6, 30)
    for verdict, words in (("human_review", "human review"), ("alleged", "information requested")):
        rec = renewal.recommend([Status(1, "Retaliation", models.Severity.PRIORITY, verdict=verdict,
                                        recommended="E3")], as_of)
        assert rec.outcome == "renew_with_conditions", rec.reasons
        assert words in rec.conditions[0]["text"]
    assert renewal.recommend([Status(1, "Retaliation", models.Severity.PRIORITY)], as_of).outcome == "defer"
    assert letters.letter_kind_of({"verdict": "human_review", "letter_type": "L2-P"}) is None
    assert letters.letter_kind_of({"verdict": "disputed", "letter_type": "L2-P", "severity": "priority"}) == "L1"
    assert letters.letter_kind_of({"verdict": "breach", "letter_type": "L2", "severity": "priority"}) == "L2-P"
