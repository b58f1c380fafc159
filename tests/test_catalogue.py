"""The library against the catalogue: coverage of the 40 entries, rules that read findings, what is dated later.

Rules reading findings are checked by `rules validate` (whose findings they read, no cycles), evaluated after the
rules they read on both paths (the differential tests cross-check them), and explained with the finding they read.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT, bundle, evidence, example_store, library

from compliance import api
from compliance.cli import cli
from compliance.evaluation.contract import Evaluator
from compliance.rules import catalogue

COMMON = ["--as-of", "2025-06-30", "--rules", str(ROOT / "rules")]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


# ---------------------------------------------------------------------------------------------------------------------
# The catalogue


def test_every_catalogue_entry_has_rules_or_says_where_it_is_implemented():
    entries = catalogue.entries(library())
    assert [e["entry"] for e in entries[:40]] == list(catalogue.CATALOGUE)
    assert len(catalogue.CATALOGUE) == 40
    for entry in entries[:40]:
        assert entry["rules"] or entry["entry"] in catalogue.ELSEWHERE, entry
    beyond = entries[40]
    assert beyond["entry"] == "beyond the catalogue" and "EV-01" in beyond["rules"]


def test_the_readme_holds_the_catalogue_coverage_as_the_command_prints_it():
    result = invoke("rules", "coverage", "--catalogue", str(ROOT / "rules"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("| Entry | Rules | Deliberate differences from the catalogue |")
    assert result.output in (ROOT / "README.md").read_text(), \
        "the README's catalogue table differs from `compliance rules coverage --catalogue rules`: run make readme-catalogue"
    data = json.loads(invoke("rules", "coverage", "--catalogue", "--json", str(ROOT / "rules")).output)
    assert {e["entry"]: e["rules"] for e in data}["PM-03"] == ["PM-03", "PM-03-R"]


def test_a_rule_states_its_deliberate_differences():
    rows = {e["entry"]: e for e in catalogue.entries(library())}
    assert any(d.startswith("WH-01: ") and "FL-06" in d for d in rows["WH-01"]["differences"])
    assert rows["PM-04"]["differences"][0] == catalogue.ELSEWHERE["PM-04"]


# ---------------------------------------------------------------------------------------------------------------------
# Rules that read findings

RULE = """
  - id: {id}
    version: "1"
    title: {id}
    clause: c
    severity: minor
    when:
      match:
        - as: f
          fact: {fact}
          where: [{where}]
    then:
      message: "{id} fired"
"""


def library_file(tmp_path: Path, *rules: tuple[str, str, str]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:" + "".join(RULE.format(id=i, fact=f, where=w) for i, f, w in rules))
    return path


def test_rules_reading_each_others_findings_are_refused_with_the_cycle_named(tmp_path: Path):
    path = library_file(tmp_path, ("X-01", "finding", 'rule_id == "X-02"'), ("X-02", "finding", 'rule_id == "X-03"'),
                        ("X-03", "finding", 'rule_family == "X-01"'))
    result = invoke("rules", "validate", str(path))
    assert result.exit_code == 3, result.output
    assert f"{path}:11: rule X-01: when.match[0].where: these rules read each other's findings: X-01 reads X-02 " \
        "reads X-03 reads X-01; a rule can read only findings of rules evaluated before it" in result.output


def test_a_rule_reading_its_own_findings_is_refused(tmp_path: Path):
    path = library_file(tmp_path, ("X-01", "finding", 'rule_id == "X-01"'))
    result = invoke("rules", "validate", str(path))
    assert result.exit_code == 3
    assert "rule X-01: when.match[0].where: rule X-01 reads its own findings" in result.output


def test_a_finding_pattern_must_say_whose_findings_it_reads(tmp_path: Path):
    path = library_file(tmp_path, ("X-01", "finding", 'severity == "priority"'), ("X-02", "finding", 'rule_id == "X-9"'),
                        ("X-03", "grievance", 'status == "open"'))
    result = invoke("rules", "validate", str(path))
    assert result.exit_code == 3
    assert 'rule X-01: when.match[0].where: a pattern of fact "finding" must say whose findings it reads' \
        in result.output
    assert "rule X-02: when.match[0].where: no rule of the library has the findings this pattern reads" \
        in result.output


def test_a_modifier_searches_findings_only(tmp_path: Path):
    path = library_file(tmp_path, ("X-01", "grievance", 'status == "open"'))
    path.write_text(path.read_text() + "      modifiers:\n        - reason: r\n"
                    "          exists: {fact: grievance, where: ['status == \"closed\"']}\n")
    result = invoke("rules", "validate", str(path))
    assert result.exit_code == 3
    assert "then.modifiers[0].exists.fact: a modifier's \"exists\" searches findings of other rules" in result.output


def test_a_chain_of_rules_reading_findings_is_evaluated_in_order(tmp_path: Path):
    """X-03 reads X-02's findings, which read X-01's, which read evidence: each stratum sees the one before."""
    path = library_file(tmp_path, ("X-03", "finding", 'rule_id == "X-02"'), ("X-02", "finding", 'rule_id == "X-01"'),
                        ("X-01", "grievance", 'status == "open"'))
    evaluator = Evaluator(api.load_library([path]))
    assert evaluator.layers == [["X-01"], ["X-02"], ["X-03"]]
    result = evaluator.evaluate(bundle([evidence("grievance", id="G-1", date=dt.date(2025, 1, 2),
                                                 issue_categories=["wages"])]))
    assert result.faults == []
    assert [(f.rule_id, f.evidence_ids) for f in sorted(result.findings, key=lambda f: f.rule_id)] == [
        ("X-01", ["G-1"]), ("X-02", ["G-1"]), ("X-03", ["G-1"])]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return example_store(tmp_path_factory.mktemp("demo") / "demo.db")


def test_findings_explain_names_the_finding_a_rule_read(demo_url: str):
    result = invoke("--db", demo_url, "findings", "explain", "KBU-ICT-2025-004", "PM-02-P", *COMMON)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Finding 1 of 1: PM-02-P fired on contract KBU-ICT-2025-004 as of 2025-06-30."
    [read] = [line for line in lines if line.startswith("  priority: finding ")]
    key = read.split()[2]
    assert key.split("/")[1] == "KBU-ICT-2025-004"  # the finding's own key, with its rule
    assert f"({key.split('/')[0]}, priority, breach, at facility MY2021045K7Q2MV)" in read
    assert "    severity == \"priority\": priority.severity is 'priority' ['priority'] -> true" in lines


def test_fl06_counts_indicators_of_different_evidence_for_one_worker_group(demo_url: str):
    result = invoke("--db", demo_url, "findings", "explain", "NDNA-CALLOFF-2024-017", "FL-06", *COMMON)
    assert result.exit_code == 0, result.output
    assert "fired on contract NDNA-CALLOFF-2024-017" in result.output


# ---------------------------------------------------------------------------------------------------------------------
# What is dated after the as-of date


def contracts_only(tmp_path: Path) -> str:
    """A store with the example contracts and facilities and no evidence, set up as a user does; its URL."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert invoke("--db", url, "db", "init").exit_code == 0
    for kind, name in (("contracts", "contracts.yaml"), ("facilities", "facilities.yaml")):
        assert invoke("--db", url, "import", kind, str(ROOT / "contracts" / name)).exit_code == 0
    return url


def test_a_response_dated_after_the_as_of_date_is_not_known_yet(tmp_path: Path):
    """GR-02 as of day 18 after a grievance acknowledged on day 19 and answered on day 35: not acknowledged in 7
    days, and nothing said about what the check could not have known."""
    url = contracts_only(tmp_path)
    evidence = tmp_path / "grievances.csv"
    evidence.write_text("type,id,facility_id,date,issue_categories,status,acknowledged_on,responded_on\n"
                        "grievance,G-LATE,TH2020112B8R4N8,2025-02-10,wages,Resolved,2025-03-01,2025-03-17\n")
    imported = invoke("--db", url, "import", "evidence", str(evidence))
    assert imported.exit_code == 0, imported.output
    early = invoke("--db", url, "check", "NDNA-CALLOFF-2024-017", "--as-of", "2025-02-28", "--rules",
                   str(ROOT / "rules"), "--json")
    later = invoke("--db", url, "check", "NDNA-CALLOFF-2024-017", "--as-of", "2025-03-20", "--rules",
                   str(ROOT / "rules"), "--json")
    def gr02(result) -> list[str]:
        return [f["message"] for c in json.loads(result.output) for f in c["findings"] if f["rule_id"] == "GR-02"]
    [message] = gr02(early)
    assert "no acknowledgement is recorded 18 days later" in message
    assert "2025-03-17" not in message and "response came only" not in message
    [message] = gr02(later)  # known by then: acknowledged late, answered in time
    assert "it was acknowledged only on 2025-03-01, 19 days later" in message


def test_a_findings_response_deadline_stays_put_across_runs(tmp_path: Path):
    url = example_store(tmp_path / "store.db")
    store = api.open_store(url)
    try:
        lib = api.load_library([ROOT / "rules"])
        first = {f.key: f.respond_by for f in api.run(store, lib, dt.date(2025, 6, 30)).findings}
        api.run(store, lib, dt.date(2025, 7, 10))
        stored = {f["key"]: f["respond_by"] for c in store.current_findings(store_contracts(store)).values()
                  for f in c}
    finally:
        store.close()
    assert first and all(stored[key] == day.isoformat() for key, day in first.items() if key in stored)
    assert len(set(first) & set(stored)) > 50


def store_contracts(store) -> list[str]:
    return [c.id for c in store.contracts()]


def test_a_timestamp_where_a_date_is_expected_is_read_as_its_day(tmp_path: Path):
    url = contracts_only(tmp_path)
    evidence = tmp_path / "notices.csv"
    evidence.write_text("type,id,contract_id,facility_id,date,kind,subject_matter\n"
                        "correspondence,FN-T,NDNA-CALLOFF-2024-017,TH2020112B8R4N8,2025-01-01T23:30:00+07:00,"
                        "finding_notice,cap\n")
    imported = invoke("--db", url, "import", "evidence", str(evidence))
    assert imported.exit_code == 0, imported.output

    def pm02(as_of: str) -> list[str]:
        result = invoke("--db", url, "check", "NDNA-CALLOFF-2024-017", "--as-of", as_of, "--rules", str(ROOT / "rules"),
                        "--json")
        return [f["message"] for c in json.loads(result.output) for f in c["findings"] if f["rule_id"] == "PM-02"]
    assert pm02("2025-01-15") == []  # day 14: not late yet
    [message] = pm02("2025-01-16")
    assert "Finding notice FN-T of 2025-01-01 asked for a corrective action plan" in message

