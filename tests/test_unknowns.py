"""Unknown is not zero, and remedy is owed before it is quantified: run as an officer runs them, through the
command line on a real SQLite store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import CONTRACTS, FACILITIES

from compliance.cli import cli
from compliance.domain import models
from compliance.store import Store

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
FACILITY = "TH2020112B8R4N8"
HEADER = "type,id,date,facility_id"


def invoke(url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", url, *args])


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert invoke(url, "db", "init").exit_code == 0
    for kind, text in (("contracts", CONTRACTS), ("facilities", FACILITIES)):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(text)
        result = invoke(url, "import", kind, str(path))
        assert result.exit_code == 0, result.output
    return url


def check(url: str, tmp_path: Path, name: str, csv: str) -> list[dict]:
    """Import one CSV of evidence and check K1 as of 2025-01-31: the findings, as --json gives them."""
    path = tmp_path / name
    path.write_text(csv)
    result = invoke(url, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    result = invoke(url, "check", "K1", "--as-of", "2025-01-31", "--rules", RULES, "--json")
    assert result.exit_code in (0, 1), result.output
    [contract] = json.loads(result.output)
    return contract["findings"]


def of(findings: list[dict], rule_id: str) -> list[dict]:
    return [f for f in findings if f["rule_id"] == rule_id]


def test_a_remediation_without_amount_or_due_date_is_remedy_owed(store: str, tmp_path: Path):
    findings = check(store, tmp_path, "remedy.csv", "type,id,date,facility_id,finding_ref,kind,worker_group,"
                     "former_workers,confirmed_on\n"
                     f"remediation,REM-1,2024-12-01,{FACILITY},EW-F-4,back_pay,wg_line_3,true,2024-11-20\n")
    [finding] = of(findings, "GR-04")
    assert finding["verdict"] == "breach" and finding["evidence_ids"] == ["REM-1"]
    message = finding["message"]
    assert message.startswith("Back pay owed to wg_line_3 (former workers among them) for EW-F-4 has been owed since "
                              "2024-11-20 with no due date agreed (72 days; limit 30)"), message
    assert "not quantified" in message
    assert not re.search(r"\b0 of 0\b", message)


def test_full_payment_verified_only_by_the_supplier_stays_open_and_never_reads_0_of_0(store: str, tmp_path: Path):
    findings = check(store, tmp_path, "remedy.csv", "type,id,date,facility_id,finding_ref,kind,due_date,amount_due,"
                     "amount_paid,verified_by\n"
                     f"remediation,REM-1,2024-12-01,{FACILITY},F1,back_pay,2024-12-15,0,0,Factory\n"
                     f"remediation,REM-2,2024-12-01,{FACILITY},F2,back_pay,2024-12-15,500,500,Independent monitor\n")
    [finding] = of(findings, "GR-04")  # REM-2 is verified by the monitoring partner: closed
    assert finding["evidence_ids"] == ["REM-1"]
    assert finding["message"] == ("Back pay for F1 was due on 2024-12-15: it is reported complete, but verified only "
                                  "by the supplier (reported 2024-12-01).")
    assert "0 of 0" not in json.dumps(findings)


def test_a_workforce_record_without_interns_is_insufficient_evidence_not_a_pass(store: str, tmp_path: Path):
    findings = check(store, tmp_path, "workforce.csv", "type,id,date,facility_id,total_workers\n"
                     f"workforce_composition,WC-1,2024-09-15,{FACILITY},10001\n")
    assert of(findings, "YS-04") == []
    [finding] = of(findings, "YS-04-IE")
    assert (finding["verdict"], finding["severity"], finding["letter_type"]) == (
        "insufficient_evidence", "observation", "L1")
    assert "it does not count student interns; it does not count dispatch workers" in finding["message"]
    assert " 0 " not in finding["message"] and "0 interns" not in finding["message"]


def test_a_size_band_is_read_as_bounds_and_estimates_are_named(store: str, tmp_path: Path):
    findings = check(store, tmp_path, "workforce.csv", "type,id,date,facility_id,total_workers_band,student_interns,"
                     "dispatch_workers,estimated,estimate_basis\n"
                     f'workforce_composition,WC-1,2024-09-15,{FACILITY},"1,000 to 4,999",600,0,student_interns,'
                     "two lines counted and scaled up\n")
    [finding] = of(findings, "YS-04")
    # The facility is in Thailand, whose jurisdiction pack sets no legal share of dispatch workers (100%).
    assert finding["message"] == (
        "The workforce record of 2024-09-15 shows student interns at 12% or more of 1,000 to 4,999 workers (limit "
        "10%), dispatch workers at 0% (limit 100%) (estimated: student interns - two lines counted and scaled up).")
    assert of(findings, "YS-04-IE") == []


def test_a_size_band_that_does_not_read_is_quarantined_at_its_field(store: str, tmp_path: Path):
    path = tmp_path / "workforce.csv"
    path.write_text("type,id,date,facility_id,total_workers_band\n"
                    f"workforce_composition,WC-1,2024-09-15,{FACILITY},about a thousand\n")
    result = invoke(store, "import", "evidence", str(path))
    assert result.exit_code == 8, result.output
    assert "total_workers_band" in result.output and "cannot read 'about a thousand'" in result.output


def test_an_age_check_without_its_result_asks_for_it(store: str, tmp_path: Path):
    findings = check(store, tmp_path, "ages.csv", "type,id,date,facility_id,workers_checked\n"
                     f"age_verification,AV-1,2024-11-20,{FACILITY},400\n")
    assert of(findings, "YS-01") == []
    [finding] = of(findings, "YS-01-IE")
    assert finding["verdict"] == "insufficient_evidence"
    assert finding["message"].startswith("The age verification of 2024-11-20 (400 workers checked) does not record")


def test_upgrading_a_store_reads_stored_remedy_verifiers_as_codes_and_keeps_stored_zeros(tmp_path: Path):
    """Revision 0010: verified_by in words takes its code ("monitoring_partner_payslip_sample" its first code),
    anything else "other"; a stored amount_paid of 0 stays 0."""
    from alembic import command

    from compliance.store.common import json_hash

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        command.upgrade(store._alembic_config(), "0008")
        words = {"R-1": "monitoring_partner_payslip_sample", "R-2": "Trade union", "R-3": "the EW partner said so",
                 "R-4": None}
        with store.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO import_batch (id, kind, source_file, content_hash, imported_at, imported_by, added, "
                "updated, unchanged, status, quarantined, skipped) VALUES (1, 'evidence', 'old.csv', 'x', "
                "'2025-01-01 00:00:00', 'someone', 4, 0, 0, 'complete', 0, 0)"))
            for record_id, verifier in words.items():
                payload = {"id": record_id, "type": "remediation", "facility_id": None, "contract_id": None,
                           "date": "2025-01-01", "source": None, "sensitivity": "buyer_only", "kind": "back_pay",
                           "finding_ref": None, "confirmed_on": None, "due_date": "2025-01-01", "amount_due": 10.0,
                           "amount_paid": 0.0, "currency": None, "workers_due": None, "workers_paid": None,
                           "verified_by": verifier}
                connection.execute(sa.text(
                    "INSERT INTO evidence (id, type, date, sensitivity, payload, content_hash, source_file, batch_id, "
                    "version, imported_at) VALUES (:id, 'remediation', '2025-01-01', 'buyer_only', :payload, :hash, "
                    "'old.csv', 1, 1, '2025-01-01 00:00:00')"),
                    {"id": record_id, "payload": json.dumps(payload), "hash": json_hash(payload)})
        store.upgrade()
        with store.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, payload, content_hash FROM evidence ORDER BY id")).all()
    finally:
        store.close()
    payloads = {i: json.loads(p) if isinstance(p, str) else p for i, p, _h in rows}
    assert {i: p["verified_by"] for i, p in payloads.items()} == {
        "R-1": "monitoring_partner", "R-2": "union", "R-3": "other", "R-4": None}
    assert all(h == json_hash(payloads[i]) for i, _p, h in rows)
    records = [models.EVIDENCE_ADAPTER.validate_python(p) for p in payloads.values()]
    assert {r.amount_paid for r in records} == {0.0}  # imported as 0: still 0, not unknown
    assert [r.remedy_complete for r in records] == [False] * 4


def test_a_message_names_only_the_estimates_its_rule_reads():
    from helpers import evidence, messages, run

    record = evidence("workforce_composition", id="WC-1", date="2024-09-15", total_workers=1000, student_interns=250,
                      dispatch_workers=0, interns_on_night_shift=12, estimated=["interns_on_night_shift"],
                      estimate_basis="from worker interviews")
    result = run([record])
    [shares] = messages(result, "YS-04")  # reads the shares, not the night shifts
    assert "estimated" not in shares
    [nights] = messages(result, "YS-03")
    assert nights.endswith("shows 12 interns on night shifts (estimated: interns on night shift - from worker "
                           "interviews)."), nights


@pytest.mark.parametrize("payload", [
    {"type": "remediation", "kind": "back_pay", "due_date": "2024-11-15", "amount_due": 100.0, "amount_paid": 0.0,
     "finding_ref": None, "confirmed_on": None, "currency": None, "workers_due": None, "workers_paid": None,
     "verified_by": None},
    {"type": "workforce_composition", "total_workers": 1000, "student_interns": 0, "dispatch_workers": 0,
     "max_intern_share_in_position": None, "interns_on_night_shift": None, "intern_weekly_hours_max": None,
     "internship_related_to_study": None, "intern_coercion": None},
    {"type": "recruitment_fee", "worker_group": "wg_a", "n_workers": None, "median_fee": 0.0, "currency": None,
     "legal_limit": None, "standard_applied": "zero_fee", "via_wage_deduction": None, "monthly_basic_wage": 300.0,
     "loans_reported": None},
    {"type": "age_verification", "workers_checked": 10, "legal_minimum_age": 15, "under_minimum_age": 0,
     "youngest_age": None, "under_18_night_shift": None, "under_18_overtime": None,
     "under_18_hazardous_work": None, "forged_documents": None},
], ids=lambda p: p["type"])
def test_a_payload_stored_before_the_new_fields_reads_as_it_did(payload: dict):
    """Stored payloads keep working on both reading paths (the model, and the facts derived without it), and a 0
    they stored stays 0."""
    import datetime as dt

    from compliance.domain import facts
    from compliance.rules import relevance

    stored = {"id": "OLD-1", "date": "2024-10-01", "facility_id": None, "contract_id": None, "source": None,
              "sensitivity": "buyer_only", **payload}
    as_of = dt.date(2025, 1, 31)
    record = models.EVIDENCE_ADAPTER.validate_python(stored)
    fact = relevance.fact_from_payload(stored, as_of)
    expected = facts.normalise(models.known_on(record, as_of).model_dump())
    common = set(models.EvidenceBase.model_fields)  # (defaults of the common fields are not this test's concern)
    assert {k: v for k, v in fact.items() if k not in common} == {k: v for k, v in expected.items() if k not in common}
    assert all(fact[name] == 0 for name in ("amount_paid", "student_interns", "median_fee", "under_minimum_age")
               if name in payload)
