"""Fixed values: a field with a closed set of values takes them as people write them ("In progress" is
in_progress) and refuses any other value with the allowed ones and the closest, on every way in: evidence files
(CSV, XLSX, JSON, JSON Lines) imported with `compliance import evidence`, and rule test cases. The ILO's eleven
indicators of forced labour are such a set."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from helpers import CONTRACTS, FACILITIES, ROOT, make_contract

from compliance.cli import cli
from compliance.domain import models
from compliance.domain.vocabulary import literal_values
from compliance.sources import evidence_template
from compliance.store import Store

PLANT = "TH2020112B8R4N8"  # the facility in helpers.FACILITIES
GRIEVANCE_STATUSES = "open, acknowledged, in_progress, resolved, closed"


def invoke(url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", url, *args])


@pytest.fixture
def seeded(store_url: str, tmp_path: Path) -> str:
    """A store holding contract K1 and its factory, imported as an officer imports them."""
    assert invoke(store_url, "db", "init").exit_code == 0
    for kind, text in (("contracts", CONTRACTS), ("facilities", FACILITIES)):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(text)
        assert invoke(store_url, "import", kind, str(path)).exit_code == 0
    return store_url


def stored_payloads(url: str, ids: list[str]) -> dict[str, dict]:
    """The stored payload (as kept, not read through the models again) of each record."""
    store = Store(url)
    try:
        return {record_id: store.evidence_versions(record_id)[-1]["payload"] for record_id in ids}
    finally:
        store.close()


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    """Evidence rows as a file of the format its extension names; CSV and XLSX carry every row's columns."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".xlsx":
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(name) for name in columns])
        workbook.save(path)
    elif path.suffix == ".json":
        path.write_text(json.dumps({"evidence": rows}, indent=1), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Spelling variants are read as the allowed value, through the real import


def spelt_as_people_write(value: str, turn: int) -> str:
    """The allowed value as a person might type it, in one of three ways."""
    words = value.split("_")
    return (" ".join(words).capitalize(), "-".join(words).upper(), " ".join(words).title())[turn % 3]


def variant_rows() -> list[tuple[dict[str, str], str, str]]:
    """For every allowed value of every closed field of every evidence type: the type's template example with that
    value spelt differently, as (row, field, allowed value)."""
    out = []
    for type_name, cls in sorted(models.EVIDENCE_TYPES.items()):
        for name, info in cls.model_fields.items():
            values = literal_values(info.annotation)
            if name == "type" or values is None:
                continue
            for value in values:
                row = {**evidence_template.example_row(type_name), "id": f"V-{len(out)}", "facility_id": PLANT}
                if row.get("contract_id"):
                    row["contract_id"] = "K1"
                row[name] = spelt_as_people_write(value, len(out))
                assert row[name] != value
                out.append(({k: v for k, v in row.items() if v != ""}, name, value))
    return out


def test_every_closed_field_of_every_evidence_type_is_covered():
    covered = {(row["type"], name) for row, name, _value in variant_rows()}
    assert ("grievance", "status") in covered and ("corrective_action", "status") in covered
    assert ("adverse_action", "action") in covered and ("practice_observation", "practice") in covered
    assert ("monitoring_finding", "ilo_indicator") in covered and ("audit_finding", "ilo_indicator") in covered
    assert ("wage_record", "unlawful_deductions") not in covered  # booleans are not a vocabulary


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".json", ".jsonl"])
def test_spelling_variants_are_stored_as_the_allowed_value(seeded: str, tmp_path: Path, suffix: str):
    cases = variant_rows()
    path = write_rows(tmp_path / f"variants{suffix}", [row for row, _name, _value in cases])
    result = invoke(seeded, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{path}: {len(cases)} evidence records added, 0 updated, 0 unchanged")
    payloads = stored_payloads(seeded, [row["id"] for row, _name, _value in cases])
    wrong = [(row["type"], name, row[name], payloads[row["id"]][name]) for row, name, value in cases
             if payloads[row["id"]][name] != value]
    assert wrong == []


def test_surrounding_spaces_case_and_hyphens_are_ignored_in_json(seeded: str, tmp_path: Path):
    """JSON keeps a value's spaces (CSV cells are trimmed before anything else), so the model trims them."""
    rows = [
        {"type": "grievance", "id": "G-1", "facility_id": PLANT, "date": "2025-01-10", "issue_categories": ["wages"],
         "status": "Acknowledged"},
        {"type": "grievance", "id": "G-2", "facility_id": PLANT, "date": "2025-01-10", "issue_categories": ["wages"],
         "status": "in progress"},
        {"type": "grievance", "id": "G-3", "facility_id": PLANT, "date": "2025-01-10", "issue_categories": ["wages"],
         "status": "In-Progress"},
        {"type": "corrective_action", "id": "CA-1", "facility_id": PLANT, "date": "2025-01-10", "cap_id": "CAP-1",
         "action_ref": "a1", "due_date": "2025-02-10", "status": " completed ", "verified_by": "Closure Audit"},
    ]
    path = write_rows(tmp_path / "variants.json", rows)
    result = invoke(seeded, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    payloads = stored_payloads(seeded, ["G-1", "G-2", "G-3", "CA-1"])
    assert [payloads[i]["status"] for i in ("G-1", "G-2", "G-3", "CA-1")] == \
        ["acknowledged", "in_progress", "in_progress", "completed"]
    assert payloads["CA-1"]["verified_by"] == "closure_audit"


def test_contracts_and_facilities_read_variants_too():
    assert make_contract(status="Terminated").status == "terminated"
    assert make_contract(supplier={"id": "S1", "name": "Brand Ltd", "role": "Brand direct"}).supplier.role == \
        "brand_direct"
    assert models.Facility(id="FAC-1", name="Plant", country="TH", risk_level=" HIGH ").risk_level == "high"


# ---------------------------------------------------------------------------------------------------------------------
# Unknown values are refused at their row, with the allowed values and a did-you-mean; the good rows are kept


def test_unknown_values_are_quarantined_with_their_row_and_a_did_you_mean(seeded: str, tmp_path: Path):
    path = tmp_path / "grievances.csv"
    path.write_text("type,id,facility_id,date,issue_categories,status\n"
                    f"grievance,G-1,{PLANT},2025-01-10,wages,Acknowledged\n"
                    f"grievance,G-2,{PLANT},2025-01-11,wages,acknowledgd\n"
                    f"grievance,G-3,{PLANT},2025-01-12,wages;fees,In-Progress\n"
                    f"grievance,G-4,{PLANT},2025-02-30,wages,xyz\n", encoding="utf-8")
    result = invoke(seeded, "import", "evidence", str(path))
    assert result.exit_code == 8
    lines = result.output.splitlines()
    assert lines[0] == f"{path}: 2 evidence records added, 0 updated, 0 unchanged, 2 quarantined"
    assert (f"  quarantined: {path}: row 3: status: expected one of {GRIEVANCE_STATUSES}; did you mean "
            "\"acknowledged\"?; found 'acknowledgd'") in lines
    # A value close to nothing gets no suggestion, and the row's other problems are reported with it.
    row_5 = [line for line in lines if f"{path}: row 5:" in line]
    assert f"  quarantined: {path}: row 5: status: expected one of {GRIEVANCE_STATUSES}; found 'xyz'" in row_5
    assert any("date: expected a valid date or datetime, day value is outside expected range" in line
               for line in row_5)
    assert [p["status"] for p in stored_payloads(seeded, ["G-1", "G-3"]).values()] == ["acknowledged", "in_progress"]

    # The quarantine keeps the reason readably, and the officer's correction imports.
    store = Store(seeded)
    try:
        entries = store.quarantine()
    finally:
        store.close()
    assert [(entry.source_row, entry.record_id) for entry in entries] == [(3, "G-2"), (5, "G-4")]
    shown = invoke(seeded, "quarantine", "show", str(entries[0].id)).output
    assert f'status: expected one of {GRIEVANCE_STATUSES}; did you mean "acknowledged"?' in shown
    export = tmp_path / "to-correct.csv"
    assert invoke(seeded, "quarantine", "export", "-o", str(export)).exit_code == 0
    exported = list(csv.DictReader(io.StringIO(export.read_text(encoding="utf-8-sig"))))
    assert [row["id"] for row in exported] == ["G-2", "G-4"]
    assert 'did you mean "acknowledged"?' in exported[0]["quarantine_reason"]
    exported[0]["status"], exported[1]["status"], exported[1]["date"] = "acknowledged", "Closed", "2025-02-28"
    with export.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(exported[0]))
        writer.writeheader()
        writer.writerows(exported)
    corrected = invoke(seeded, "import", "evidence", str(export))
    assert corrected.exit_code == 0, corrected.output
    assert stored_payloads(seeded, ["G-4"])["G-4"]["status"] == "closed"


def test_a_value_that_is_not_text_is_refused_with_the_allowed_values(seeded: str, tmp_path: Path):
    path = write_rows(tmp_path / "g.jsonl", [
        {"type": "grievance", "id": "G-1", "facility_id": PLANT, "date": "2025-01-10", "issue_categories": ["wages"],
         "status": 3},
        {"type": "grievance", "id": "G-2", "facility_id": PLANT, "date": "2025-01-10", "issue_categories": ["wages"],
         "status": "resolved"},
    ])
    result = invoke(seeded, "import", "evidence", str(path))
    assert result.exit_code == 8
    lines = result.output.splitlines()
    assert f"  quarantined: {path}:1: status: expected one of {GRIEVANCE_STATUSES}; found 3" in lines
    assert result.output.startswith(f"{path}: 1 evidence records added")


# ---------------------------------------------------------------------------------------------------------------------
# The ILO's indicators of forced labour


ELEVEN = ["abuse_of_vulnerability", "deception", "restriction_of_movement", "isolation",
          "physical_and_sexual_violence", "intimidation_and_threats", "retention_of_identity_documents",
          "withholding_of_wages", "debt_bondage", "abusive_working_and_living_conditions", "excessive_overtime"]


def test_the_ilo_indicators_are_the_vocabulary_of_both_findings():
    assert list(models.ILO_INDICATORS) == ELEVEN
    for cls in (models.AuditFinding, models.MonitoringFinding):
        info = cls.model_fields["ilo_indicator"]
        assert literal_values(info.annotation) == models.ILO_INDICATORS
        assert not info.is_required()


def test_ilo_indicators_as_written_are_stored_canonical_and_a_misspelling_is_refused(seeded: str, tmp_path: Path):
    def finding(record_id: str, indicator: str | None, type_name: str = "monitoring_finding") -> dict:
        row = {"type": type_name, "id": record_id, "facility_id": PLANT, "date": "2025-01-10", "code_area": "fees"}
        if type_name == "audit_finding":
            row["classification"] = "major"
        return row if indicator is None else {**row, "ilo_indicator": indicator}

    rows = [finding("M-1", "Debt bondage"), finding("M-2", "debt-bondage"), finding("M-3", "debt bondge"),
            finding("M-4", "Retention of identity documents"), finding("M-5", None),
            finding("A-1", "EXCESSIVE OVERTIME", "audit_finding"), finding("A-2", "forced overtime", "audit_finding"),
            finding("A-3", "retention_of_documents", "audit_finding")]
    path = write_rows(tmp_path / "findings.jsonl", rows)
    result = invoke(seeded, "import", "evidence", str(path))
    assert result.exit_code == 8
    lines = result.output.splitlines()
    assert lines[0] == f"{path}: 6 evidence records added, 0 updated, 0 unchanged, 2 quarantined"
    allowed = ", ".join(ELEVEN)
    assert (f'  quarantined: {path}:3: ilo_indicator: expected one of {allowed}; did you mean "debt_bondage"?; '
            "found 'debt bondge'") in lines
    assert f"  quarantined: {path}:7: ilo_indicator: expected one of {allowed}" in " ".join(lines)
    payloads = stored_payloads(seeded, ["M-1", "M-2", "M-4", "M-5", "A-1", "A-3"])
    assert {record_id: payload.get("ilo_indicator") for record_id, payload in payloads.items()} == {
        "M-1": "debt_bondage", "M-2": "debt_bondage", "M-4": "retention_of_identity_documents", "M-5": None,
        "A-1": "excessive_overtime", "A-3": "retention_of_identity_documents"}


def test_the_readme_lists_the_ilo_indicators_and_the_accepted_variants():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**ILO indicators.**"):readme.index("**Validity.**")]
    assert [name for name in ELEVEN if f"`{name}`" not in section] == []
    assert "case, spaces around the value, and spaces or hyphens between its words do not" in readme


# ---------------------------------------------------------------------------------------------------------------------
# Rule test cases read evidence the same way


FL06_CASES = """cases:
  - name: two indicators as people write them are two distinct indicators
    rule: FL-06
    as_of: 2025-01-31
    evidence:
      - {type: monitoring_finding, id: M-1, date: 2024-09-01, code_area: fees, worker_group: wg_mm,
         ilo_indicator: Debt bondage}
      - {type: monitoring_finding, id: M-2, date: 2024-10-01, code_area: documents, worker_group: wg_mm,
         ilo_indicator: retention-of-identity-documents}
    expect:
      - {evidence: [M-1, M-2]}
  - name: one indicator spelt two ways is one indicator
    rule: FL-06
    as_of: 2025-01-31
    evidence:
      - {type: monitoring_finding, id: M-1, date: 2024-09-01, code_area: fees, worker_group: wg_mm,
         ilo_indicator: Debt bondage}
      - {type: monitoring_finding, id: M-2, date: 2024-10-01, code_area: fees, worker_group: wg_mm,
         ilo_indicator: debt_bondage}
    expect: []
"""


def rules_with(tmp_path: Path, cases: str) -> Path:
    """The shipped rule files with one test file of our own beside them."""
    rules = tmp_path / "rules"
    rules.mkdir(parents=True)
    for path in (ROOT / "rules").glob("*.yaml"):
        shutil.copy(path, rules / path.name)
    (rules / "cases.yaml").write_text(cases)
    return rules


def test_rule_test_cases_read_variants_and_refuse_misspellings(tmp_path: Path):
    rules = rules_with(tmp_path, FL06_CASES)
    result = CliRunner().invoke(cli, ["rules", "test", str(rules)])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("0 failed.")

    misspelt = rules_with(tmp_path / "misspelt", FL06_CASES.replace("ilo_indicator: Debt bondage}", "ilo_indicator: "
                                                                    "debt bondge}", 1))
    result = CliRunner().invoke(cli, ["rules", "validate", str(misspelt)])
    assert result.exit_code == 3
    assert (f"{misspelt / 'cases.yaml'}:2: case 'two indicators as people write them are two distinct indicators': "
            f"ilo_indicator: expected one of {', '.join(ELEVEN)}; did you mean \"debt_bondage\"?; found 'debt bondge'"
            ) in result.output
