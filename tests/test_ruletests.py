"""Rule tests as data: `compliance rules test` and `rules coverage` as a rule author runs them."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from compliance.cli import cli
from compliance.domain import models

ROOT = Path(__file__).resolve().parent.parent

CASES = """cases:
  - name: fires
    rule: FL-04
    as_of: 2025-01-31
    evidence:
      - {type: document_retention, id: DR-1, date: 2025-01-10, worker_group: wg_a, documents: [passport],
         holder: labour_agency, access_on_request: false}
    expect:
      - {evidence: [DR-1]}
  - name: near miss that wrongly expects nothing
    rule: FL-04
    as_of: 2025-01-31
    evidence:
      - {type: document_retention, id: DR-2, date: 2025-01-10, worker_group: wg_a, documents: [passport],
         holder: employer, access_on_request: false}
    expect: []
"""


def library_with(tmp_path: Path, text: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in (ROOT / "rules").glob("*.yaml"):
        shutil.copy(path, rules / path.name)
    (rules / "cases.yaml").write_text(text)
    return rules


def test_the_shipped_rule_tests_pass_and_cover_every_rule():
    result = CliRunner().invoke(cli, ["rules", "test", str(ROOT / "rules")])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("0 failed.")
    coverage = json.loads(CliRunner().invoke(cli, ["rules", "coverage", str(ROOT / "rules"), "--json"]).output)
    assert all(entry["untested"] == [] for kind in coverage.values() for entry in kind.values())


def test_a_missing_or_unexpected_finding_fails_with_junit_xml(tmp_path: Path):
    rules = library_with(tmp_path, CASES)
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(cli, ["rules", "test", str(rules), "--junit", str(junit)])
    assert result.exit_code == 1
    assert result.output == (
        f"FAIL {rules / 'cases.yaml'}:10: FL-04: near miss that wrongly expects nothing: "
        "unexpected FL-04 [DR-2] Priority\n"
        "2 cases for 1 rules: 1 passed, 1 failed.\n")
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["near miss that wrongly expects nothing"]


def test_a_case_for_an_unknown_rule_or_field_is_a_validation_error(tmp_path: Path):
    rules = library_with(tmp_path, CASES.replace("rule: FL-04\n    as_of: 2025-01-31\n    evidence:\n      - {type: "
                                                 "document_retention, id: DR-2", "rule: FL-4\n    as_of: 2025-01-31\n"
                                                 "    evidence:\n      - {type: document_retention, id: DR-2")
                         .replace("  - name: fires", "  - name: fires\n    expectt: []"))
    result = CliRunner().invoke(cli, ["rules", "validate", str(rules)])
    assert result.exit_code == 3
    assert f'{rules / "cases.yaml"}:3: cases[0].expectt: unknown field "expectt"; did you mean "expect"?' in result.output


def test_the_shipped_library_covers_every_category_and_objective():
    coverage = json.loads(CliRunner().invoke(cli, ["rules", "coverage", str(ROOT / "rules"), "--json"]).output)
    assert set(coverage["fprw"]) == {c.value for c in models.FPRW}
    assert set(coverage["hrdd_objective"]) == {"1", "2", "3", "4", "5"}
    assert all(entry["rules"] for kind in ("fprw", "hrdd_objective") for entry in coverage[kind].values())


def test_coverage_names_categories_without_rules(tmp_path: Path):
    rules = tmp_path / "rules"
    rules.mkdir()
    # GR-04 reads findings of forced-labour and health-and-safety rules, so those files come with it.
    for name in ("grievance-and-remedy.yaml", "forced-labour.yaml", "health-and-safety.yaml"):
        shutil.copy(ROOT / "rules" / name, rules / name)
    result = CliRunner().invoke(cli, ["rules", "coverage", str(rules)])
    assert result.exit_code == 0, result.output
    assert "  child_labour: NO RULES" in result.output and "  discrimination: NO RULES" in result.output
    assert "  freedom_of_association: GR-03" in result.output


def test_invalid_evidence_in_a_case_is_reported_when_validating(tmp_path: Path):
    rules = library_with(tmp_path, CASES.replace("holder: employer", "holder: boss"))
    result = CliRunner().invoke(cli, ["rules", "validate", str(rules)])
    assert result.exit_code == 3
    assert f"{rules / 'cases.yaml'}:10: case 'near miss that wrongly expects nothing': holder: expected one of " \
        "worker, employer, labour_agency, recruitment_agent, dormitory_operator, other; found 'boss'" in result.output


def test_the_readme_lists_every_shipped_rule():
    readme = (ROOT / "README.md").read_text()
    library = json.loads(CliRunner().invoke(cli, ["rules", "list", str(ROOT / "rules"), "--json"]).output)
    missing = [r["id"] for r in library if r["id"] not in readme]
    assert missing == [], f"README's rule library table lacks {missing}"
