"""Evidence as it really arrives, through the CLI: allegations and their confirmation, approximate dates, reports
coded by area without figures, one report about several facilities, and closure over time.

Each test imports what an officer would record into a real store (SQLite, and PostgreSQL when configured) and
reads the findings a run or a check makes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import CONTRACTS, FACILITIES

from compliance.cli import cli
from compliance.domain import facts, models

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
SITE = "TH2020112B8R4N8"


def cli_run(url: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", url, *args])


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> str:
    # A term long enough for evidence dated after today (a closure is dated the day an officer records it).
    (tmp_path / "contracts.yaml").write_text(CONTRACTS.replace("end: 2026-03-03", "end: 2030-03-03"))
    (tmp_path / "facilities.yaml").write_text(FACILITIES)
    assert cli_run(store_url, "db", "init").exit_code == 0
    for kind in ("contracts", "facilities"):
        result = cli_run(store_url, "import", kind, str(tmp_path / f"{kind}.yaml"))
        assert result.exit_code == 0, result.output
    return store_url


def add(url: str, tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    result = cli_run(url, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    return result.output


def check(url: str, as_of: str) -> list[dict]:
    result = cli_run(url, "check", "K1", "--as-of", as_of, "--rules", RULES, "--json")
    assert result.exit_code in (0, 1), result.output
    [contract] = json.loads(result.output)
    return contract["findings"]


def run(url: str, as_of: str) -> dict:
    result = cli_run(url, "run", "--as-of", as_of, "--rules", RULES, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def only(findings: list[dict], rule_id: str) -> dict:
    [finding] = [f for f in findings if f["rule_id"] == rule_id]
    return finding


REPORT = f"""evidence:
  - {{type: monitoring_finding, id: MF-1, facility_id: {SITE}, date: "2024-10", code_area: Discrimination,
     classification: major, source: media, verification: VERIFICATION}}
"""


def test_an_allegation_asks_for_verification_and_its_confirmation_is_the_same_finding_as_a_breach(
        store: str, tmp_path: Path):
    add(store, tmp_path, "alleged.yaml", REPORT.replace("VERIFICATION", "alleged"))
    alleged = only(check(store, "2025-01-31"), "DI-01-WDM")
    assert (alleged["verdict"], alleged["severity"], alleged["letter_type"]) == ("alleged", "major", "L1")
    assert alleged["message"].startswith("Alleged, not yet verified: worker-driven monitoring reported on 2024-10 ")
    assert ["account of what is alleged" in action for action in alleged["required_actions"]] == [True]
    # The supplier denies it and nobody has verified it independently: disputed, never a breach.
    add(store, tmp_path, "denied.yaml", REPORT.replace("VERIFICATION", "Denied by supplier"))
    disputed = only(check(store, "2025-01-31"), "DI-01-WDM")
    assert (disputed["key"], disputed["verdict"]) == (alleged["key"], "disputed")
    # Verified: the same finding, now the breach with the rule's own letter.
    add(store, tmp_path, "verified.yaml", REPORT.replace("VERIFICATION", "verified"))
    breach = only(check(store, "2025-01-31"), "DI-01-WDM")
    assert (breach["key"], breach["verdict"], breach["letter_type"]) == (alleged["key"], "breach", "L2")
    assert any("withdraw the discriminatory criterion" in action for action in breach["required_actions"])
    # Withdrawn by whoever reported it: it counts for nothing.
    add(store, tmp_path, "withdrawn.yaml", REPORT.replace("VERIFICATION", "withdrawn"))
    assert [f for f in check(store, "2025-01-31") if f["rule_id"].startswith("DI-01")] == []


def test_a_record_dated_by_its_month_is_known_from_its_first_day_and_late_only_from_its_last(
        store: str, tmp_path: Path):
    # A grievance received "in March 2024" is late for acknowledgement (7 days) only once 7 days after 31 March
    # have passed.
    add(store, tmp_path, "g.yaml", f"""evidence:
  - {{type: grievance, id: G-1, facility_id: {SITE}, date: 2024-03, issue_categories: [wages], complainant: wp_x}}
""")
    assert [f for f in check(store, "2024-02-29") if f["rule_id"] == "GR-02"] == []  # not yet known
    assert [f for f in check(store, "2024-04-07") if f["rule_id"] == "GR-02"] == []  # 7 days from 31 March
    late = only(check(store, "2024-04-08"), "GR-02")
    assert late["observed_on"] == "2024-03-31" and "received on 2024-03:" in late["message"]


def test_approximate_dates_are_kept_with_their_precision_and_shown_as_precisely_as_known():
    year = models.AuditFinding(id="A", date="2017", code_area="wages", classification="minor")
    month = models.AuditFinding(id="A", date=" 2016-10 ", code_area="wages", classification="minor")
    assert (year.date, year.date_precision, year.date_end) == (dt.date(2017, 1, 1), "year", dt.date(2017, 12, 31))
    assert (month.date, month.date_precision, month.date_end) == (dt.date(2016, 10, 1), "month", dt.date(2016, 10, 31))
    assert models.AuditFinding.model_validate(month.model_dump(exclude=set(models.AuditFinding.model_computed_fields))) == month
    read = models.known_on(month, dt.date(2016, 10, 20))
    assert (read.date, str(read.date)) == (dt.date(2016, 10, 20), "2016-10")  # the period has not ended
    assert str(models.known_on(year, dt.date(2025, 1, 1)).date) == "2017"
    with pytest.raises(ValueError):
        models.AuditFinding(id="A", date="2016-13", code_area="wages", classification="minor")


def test_an_audit_finding_in_words_is_the_breach_of_its_area_at_the_auditors_severity(store: str, tmp_path: Path):
    add(store, tmp_path, "audit.csv", "id,type,facility_id,date,code_area,classification,summary\n"
        f"AF-1,audit_finding,{SITE},2024-07-08,Wages and Benefits,Priority,Wages paid two months late\n"
        f"AF-2,audit_finding,{SITE},2024-07-08,Health & Safety,conformance,\n")
    findings = check(store, "2025-01-31")
    wages = only(findings, "WH-04-AUDIT")
    assert (wages["severity"], wages["verdict"], wages["evidence_ids"]) == ("priority", "breach", ["AF-1"])
    assert not [f for f in findings if f["rule_id"].startswith("HS-02")]  # a conformance is no breach


def test_one_report_about_several_facilities_is_a_record_per_facility(store: str, tmp_path: Path):
    (tmp_path / "other.yaml").write_text("facilities:\n  - {id: FAC-OTHER-1, name: Other Plant, country: TH}\n")
    assert cli_run(store, "import", "facilities", str(tmp_path / "other.yaml")).exit_code == 0
    output = add(store, tmp_path, "signal.csv", "id,type,date,facility_ids,source_type,issue,reliability\n"
                 f"ES-1,external_signal,2024-11-02,{SITE}; FAC-OTHER-1,media,wages,high\n")
    assert "2 evidence records added" in output
    for record_id in (f"ES-1@{SITE}", "ES-1@FAC-OTHER-1"):
        assert cli_run(store, "evidence", "history", record_id).exit_code == 0
    signal = only(check(store, "2025-01-31"), "PM-07")
    assert signal["evidence_ids"] == [f"ES-1@{SITE}"]


CLOSURE = f"""evidence:
  - {{type: corrective_action, id: CA-1, facility_id: {SITE}, date: 2024-12-20, cap_id: CAP-1, action_ref: "1",
     rule_id: WH-04, due_date: 2024-12-31, status: completed, completed_on: 2024-12-20, verified_by: VERIFIER}}
"""
WAGES = f"""evidence:
  - {{type: audit_finding, id: AF-W, facility_id: {SITE}, date: DATE, code_area: wages, classification: major}}
"""


@pytest.mark.parametrize("verifier, settled", [("monitoring_partner", True), ("supplier", False)])
def test_a_closure_verified_by_the_workers_side_settles_the_breach_it_covers(
        store: str, tmp_path: Path, verifier: str, settled: bool):
    add(store, tmp_path, "wages.yaml", WAGES.replace("DATE", "2024-07-08"))
    add(store, tmp_path, "closure.yaml", CLOSURE.replace("VERIFIER", verifier))
    assert bool([f for f in check(store, "2025-01-31") if f["rule_id"] == "WH-04-AUDIT"]) is not settled
    # New evidence dated after the closure makes the breach again, as a repeat.
    add(store, tmp_path, "again.yaml", WAGES.replace("AF-W", "AF-W2").replace("DATE", "2025-01-10"))
    again = [f for f in check(store, "2025-01-31") if f["rule_id"] == "WH-04-AUDIT"]
    assert any("AF-W2" in f["evidence_ids"] for f in again)
    assert any("repeat finding" in m for f in again for m in f["modifiers"]) is settled


def close(url: str, key: str) -> None:
    for state in ("notified", "in_remediation", "closure_claimed", "closed"):
        moved = cli_run(url, "findings", "move", key, state, "--reason", "verified by the monitor")
        assert moved.exit_code == 0, moved.output


def test_a_closed_finding_stays_closed_on_old_evidence_and_reopens_on_evidence_dated_after_the_closure(
        store: str, tmp_path: Path):
    add(store, tmp_path, "wages.yaml", WAGES.replace("DATE", "2024-07-08"))
    [key] = [k for k in run(store, "2025-01-31")["new"] if k.startswith("WH-04-AUDIT/")]
    close(store, key)
    again = run(store, "2025-02-28")
    assert again["stays_closed"] == [key] and again["reopened"] == []
    shown = json.loads(cli_run(store, "findings", "list", "--rule", "WH-04-AUDIT", "--json").output)
    assert [row["state"] for row in shown] == ["closed"]
    # A report dated after the day the finding was closed reopens it (the same problem, the same key).
    later = dt.date.today() + dt.timedelta(days=30)
    add(store, tmp_path, "later.yaml", WAGES.replace("DATE", later.isoformat()))
    assert run(store, later.isoformat())["reopened"] == [key]


def test_yaml_anchors_and_merge_keys_share_values_between_records(store: str, tmp_path: Path):
    output = add(store, tmp_path, "merged.yaml", f"""defaults: &site
  facility_id: {SITE}
  source: ngo
evidence:
  - <<: *site
    type: external_signal
    id: ES-9
    date: 2024-11
    source_type: ngo
    issue: wages
  - {{<<: *site, type: audit_finding, id: AF-9, date: 2024, code_area: hours, classification: minor}}
""")
    assert "2 evidence records added" in output
    history = cli_run(store, "evidence", "history", "AF-9").output
    assert f"facility_id: {SITE}" in history and "source: ngo" in history and "date_precision: year" in history


@pytest.mark.parametrize("type_name", sorted(models.EVIDENCE_TYPES))
def test_a_record_stored_before_verification_and_date_precision_existed_reads_as_confirmed_and_to_the_day(
        type_name: str):
    """Stores made before this release hold payloads without the new fields: validation reads them as confirmed,
    dated to the day, estimated nowhere; the run's fast path over stored payloads must read them alike."""
    from compliance.rules import relevance
    from compliance.sources import evidence_template
    from compliance.sources.intake import Options, prepare
    from compliance.store.evidence import evidence_payload

    example = {**{k: v for k, v in evidence_template.example_row(type_name).items() if v != ""},
               "id": "STORED-1"}  # not skipped as an example row
    row = prepare(2, example, Options(), lambda value, *_: "wp_x", set())
    assert row.record is not None, row.problems
    stored = evidence_payload(row.record)
    old = {k: v for k, v in stored.items()
           if k not in {"verification", "date_precision", "estimated", "estimate_basis", "agency", "agency_role"}}
    record = models.EVIDENCE_ADAPTER.validate_python(old)
    assert (record.verification, record.date_precision, record.estimated) == (
        "alleged" if type_name == "external_signal" else "confirmed", "day", [])
    as_of = record.date + dt.timedelta(days=30)
    assert relevance.fact_from_payload(old, as_of) == facts.normalise(models.known_on(record, as_of).model_dump())

