"""The command line as a user runs it: output, exit codes, and nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import CONTRACTS, FACILITIES

from compliance.cli import cli
from compliance.domain.models import FPRW, Severity
from compliance.rules.library import load_rules
from compliance.store import Store

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")

EVIDENCE = """evidence:
  - {type: audit_finding, id: VAP-1, facility_id: TH2020112B8R4N8, date: 2024-07-08, code_area: working_hours,
     classification: conformance}
  - {type: protected_activity, id: PA-55, facility_id: TH2020112B8R4N8, date: 2024-09-10, subject: wg_line_b,
     activity: spoke_to_monitors}
  - {type: adverse_action, id: AA-12, facility_id: TH2020112B8R4N8, date: 2024-10-02, subject: wg_line_b,
     action: contract_non_renewal}
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("contracts.yaml", CONTRACTS), ("facilities.yaml", FACILITIES),
                       ("evidence.yaml", EVIDENCE.replace("contract_non_renewal", "non_renewal"))):
        out[name] = tmp_path / name
        out[name].write_text(text)
    return out


def invoke(runner: CliRunner, url: str, *args: str):
    return runner.invoke(cli, ["--db", url, *args])


@pytest.fixture
def loaded(runner: CliRunner, store_url: str, files: dict[str, Path]) -> str:
    assert invoke(runner, store_url, "db", "init").exit_code == 0
    for kind, name in (("contracts", "contracts.yaml"), ("facilities", "facilities.yaml"), ("evidence", "evidence.yaml")):
        result = invoke(runner, store_url, "import", kind, str(files[name]))
        assert result.exit_code == 0, result.output
    return store_url


def test_check_prints_findings_with_their_explanation_and_exits_1(runner: CliRunner, loaded: str):
    result = invoke(runner, loaded, "check", "K1", "--as-of", "2025-01-31", "--rules", RULES)
    assert result.exit_code == 1, result.output
    assert "Contract K1 (ocds-h6vhtk-000001) - Example IT Reseller Ltd - Northwind - as of 2025-01-31: 1 finding" \
        in result.output
    assert "P   GR-03  Retaliation after a complaint, monitor contact or union activity [facility TH2020112B8R4N8]" \
        in result.output
    assert "Adverse action AA-12 (non renewal) on 2024-10-02, 22 days after protected activity PA-55" in result.output
    assert "evidence: AA-12, PA-55; respond by 2025-02-02; letter L2-P" in result.output
    assert result.output.rstrip().endswith("1 contract checked: 1 finding.")


def test_check_json_is_for_machines(runner: CliRunner, loaded: str):
    result = invoke(runner, loaded, "check", "--all", "--as-of", "2025-01-31", "--rules", RULES, "--json")
    assert result.exit_code == 1
    [contract] = json.loads(result.output)
    [finding] = contract["findings"]
    assert (contract["contract_id"], finding["rule_id"], finding["severity"], finding["evidence_ids"]) == (
        "K1", "GR-03", "priority", ["AA-12", "PA-55"])
    assert contract["engine_faults"] == []


def test_check_before_the_evidence_exists_finds_nothing_and_exits_0(runner: CliRunner, loaded: str):
    result = invoke(runner, loaded, "check", "K1", "--as-of", "2024-09-30", "--rules", RULES)
    assert result.exit_code == 0, result.output
    assert "as of 2024-09-30: 0 findings" in result.output


def test_importing_the_same_file_twice_adds_nothing(runner: CliRunner, loaded: str, files: dict[str, Path]):
    result = invoke(runner, loaded, "import", "evidence", str(files["evidence.yaml"]))
    assert result.exit_code == 0
    assert result.output == f"{files['evidence.yaml']}: 0 evidence records added, 0 updated, 3 unchanged\n"


def test_a_bad_evidence_row_is_reported_with_its_place_and_quarantined_and_the_good_row_kept(
        runner: CliRunner, loaded: str, tmp_path: Path):
    bad = tmp_path / "hours.csv"
    bad.write_text("type,id,facility_id,date,max_week_hours\n"
                   "working_hours,WH-1,TH2020112B8R4N8,2025-01-05,61\n"
                   "working_hours,WH-2,TH2020112B8R4N8,2025-02-30,80\n")
    result = invoke(runner, loaded, "import", "evidence", str(bad))
    assert result.exit_code == 8
    assert result.output.splitlines()[:2] == [
        f"{bad}: 1 evidence records added, 0 updated, 0 unchanged, 1 quarantined",
        f"  quarantined: {bad}: row 3: date: expected a valid date or datetime, day value is outside "
        "expected range; found '2025-02-30'",
    ]
    store = Store(loaded)
    try:
        assert store.counts()["evidence records"] == 4  # WH-1 was kept
        [entry] = store.quarantine()
        assert (entry.source_row, entry.record_id, entry.raw["date"]) == (3, "WH-2", "2025-02-30")
    finally:
        store.close()


def test_a_broken_rule_file_is_reported_with_file_line_and_field(runner: CliRunner, tmp_path: Path):
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (ROOT / "rules" / "forced-labour.yaml").read_text().replace("holder != \"worker\"", "holdr != \"worker\"")
    (rules / "forced-labour.yaml").write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "holdr" in row)
    result = runner.invoke(cli, ["rules", "validate", str(rules)])
    assert result.exit_code == 3
    assert result.output == (
        f'Error: {rules / "forced-labour.yaml"}:{line}: rule FL-04: when.match[0].where[0]: "document_retention" has '
        'no field "holdr"; did you mean "holder"?\n1 problem found; nothing was changed.\n')


def test_the_shipped_rules_validate(runner: CliRunner):
    result = runner.invoke(cli, ["rules", "validate", RULES])
    assert result.exit_code == 0, result.output
    library = load_rules([Path(RULES)])
    assert result.output.startswith(f"{len(library.rules)} rules, 2 clause sets and {len(library.cases)} test cases")
    assert " test cases in " in result.output and " files are valid (" in result.output


def test_an_unknown_contract_is_an_input_error(runner: CliRunner, loaded: str):
    result = invoke(runner, loaded, "check", "K11", "--rules", RULES)
    assert (result.exit_code, result.output) == (3, 'Error: no contract "K11" in the store; did you mean "K1"?\n')


def test_an_uninitialised_store_says_what_to_run(runner: CliRunner, tmp_path: Path):
    result = runner.invoke(cli, ["--db", str(tmp_path / "new.db"), "check", "K1", "--rules", RULES])
    assert result.exit_code == 5
    assert result.output.endswith("is not initialised. Run 'compliance db init' first.\n")


@pytest.mark.parametrize("args, message", [
    (["check", "--rules", RULES], "name one or more contract ids, or use --all (not both)"),
    (["check", "K1", "--as-of", "30/06/2025", "--rules", RULES], "'30/06/2025' is not a date; use YYYY-MM-DD"),
])
def test_usage_errors_exit_2(runner: CliRunner, args: list[str], message: str):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.output


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


@pytest.mark.parametrize("path, command", list(all_commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_help_with_an_example(path: tuple[str, ...], command: click.Command):
    assert command.help, f"compliance {' '.join(path)} has no help"
    if not isinstance(command, click.Group):
        assert "Example:" in command.help, f"compliance {' '.join(path)} has no example"


def test_demo_runs_on_the_shipped_data_as_a_user_runs_it(tmp_path: Path):
    """`compliance demo` in a fresh directory: every shipped rule fires somewhere, with no engine fault."""
    result = subprocess.run(
        [sys.executable, "-m", "compliance", "demo", "--data", str(ROOT / "contracts"), "--rules", RULES, "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "compliance-demo.db").exists()
    results = json.loads(result.stdout)
    fired = {f["rule_id"] for r in results for f in r["findings"]}
    assert fired == {rule.id for rule in load_rules([Path(RULES)]).rules}  # the example shows every rule
    assert all(r["engine_faults"] == [] for r in results)
    assert all(r["as_of"] == "2025-06-30" for r in results)
    table = subprocess.run([sys.executable, "-m", "compliance", "demo", "--data", str(ROOT / "contracts"),
                            "--rules", RULES], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert table.returncode == 0
    assert "contracts checked:" in table.stdout and "ENGINE FAULT" not in table.stdout


def test_an_import_killed_midway_keeps_whole_chunks_and_the_next_import_completes_it(
        store_url: str, files: dict[str, Path], tmp_path: Path):
    """SIGKILL during an import: the store holds whole committed chunks, the batch stays marked "running", and
    importing the file again completes it (the rows already stored count as unchanged)."""
    import signal
    import time

    runner = CliRunner()
    assert invoke(runner, store_url, "db", "init").exit_code == 0
    for kind, name in (("contracts", "contracts.yaml"), ("facilities", "facilities.yaml")):
        assert invoke(runner, store_url, "import", kind, str(files[name])).exit_code == 0
    big = tmp_path / "hours.csv"
    rows = [f"working_hours,WH-{n},TH2020112B8R4N8,2025-01-{n % 28 + 1:02d},{50 + n % 30}" for n in range(20000)]
    big.write_text("type,id,facility_id,date,max_week_hours\n" + "\n".join(rows) + "\n")
    command = [sys.executable, "-m", "compliance", "--db", store_url, "import", "evidence", str(big)]
    for delay in (0.7, 1.4, 2.1):  # while opening, while validating, while writing
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        store = Store(store_url)
        try:
            assert store.counts()["evidence records"] % 2000 == 0  # whole chunks only
            # a batch claims to be complete only when every row of the file is in
            assert all(b.status == "running" or b.added + b.unchanged == 20000 for b in store.batches("evidence"))
        finally:
            store.close()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    store = Store(store_url)
    try:
        assert store.counts()["evidence records"] == 20000
        assert store.batches("evidence")[-1].status == "complete"
        assert store.batches("evidence")[-1].added + store.batches("evidence")[-1].unchanged == 20000
    finally:
        store.close()


def test_db_status_and_contracts_list(runner: CliRunner, store_url: str, loaded: str):
    head = Store(loaded)
    try:
        current = head.revisions()[1]
    finally:
        head.close()
    status = invoke(runner, loaded, "db", "status")
    assert status.exit_code == 0
    lines = status.output.splitlines()
    assert lines[1] == f"schema revision: {current} (current: {current})"
    assert "contracts: 1" in lines and "evidence records: 3" in lines
    listed = invoke(runner, loaded, "contracts", "list")
    assert listed.exit_code == 0
    assert listed.output.split()[:2] == ["K1", "active"]
    again = invoke(runner, loaded, "db", "upgrade")
    assert again.exit_code == 0 and again.output.endswith(f"is up to date (schema revision {current}).\n")


def test_db_status_on_a_new_database_says_to_initialise(runner: CliRunner, tmp_path: Path):
    result = runner.invoke(cli, ["--db", str(tmp_path / "new.db"), "db", "status"])
    assert result.exit_code == 0
    assert "schema revision: none (run compliance db init) (current: " in result.output


def test_rules_list_filters_by_area_category_and_severity(runner: CliRunner):
    result = runner.invoke(cli, ["rules", "list", RULES, "--fprw", "forced_labour", "--severity", "priority"])
    assert result.exit_code == 0
    library = load_rules([Path(RULES)])
    expected = [r.id for r in library.rules if FPRW.FORCED_LABOUR in r.fprw and r.severity == Severity.PRIORITY]
    assert "FL-04" in expected and "FL-01" not in expected  # FL-01 is Major
    assert [line.split()[0] for line in result.output.splitlines()[:-1]] == expected
    assert result.output.splitlines()[-1] == f"{len(expected)} of {len(library.rules)} rules."
    by_area = json.loads(runner.invoke(cli, ["rules", "list", RULES, "--area", "transparency", "--json"]).output)
    assert [r["id"] for r in by_area] == sorted(r.id for r in library.rules if library.area(r.id) == "transparency")
    assert {"TR-01", "TR-01-DD", "TR-01-NYD"} <= {r["id"] for r in by_area}
    assert {r["area"] for r in by_area} == {"transparency"}


def test_rules_show_explains_a_rule_in_plain_language(runner: CliRunner):
    result = runner.invoke(cli, ["rules", "show", "TR-01", "--rules", RULES])
    assert result.exit_code == 0
    out = result.output
    assert out.startswith("TR-01 (version 1.0): Final-assembly factories disclosed after signature\n")
    assert "  - A contract record (called contract) where signed_on < as_of - disclosure_days." in out
    assert "  - And no factory_disclosure record where model == item.model;" in out
    assert "Evidence it reads: contract, contract_item, correspondence, factory_disclosure." in out
    assert "  - disclosure_days = 90 - proposed default, confirm per contract (EWCC-v2-UK-NDNA 2.0: 60)" in out
    unknown = runner.invoke(cli, ["rules", "show", "TR-1", "--rules", RULES])
    assert (unknown.exit_code, unknown.output) == (3, 'Error: no rule "TR-1"; did you mean "TR-01"?\n')


def test_rules_schema_is_generated_from_the_language(runner: CliRunner):
    result = runner.invoke(cli, ["rules", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert set(schema["$defs"]["Rule"]["properties"]) >= {"id", "clause", "severity", "params", "when", "then"}
    assert "FIELD OP VALUE" in result.output


def test_import_evidence_with_a_type_for_rows_without_one(runner: CliRunner, loaded: str, tmp_path: Path):
    hours = tmp_path / "hours.csv"
    hours.write_text("id,facility_id,date,max_week_hours\nWH-9,TH2020112B8R4N8,2025-01-05,61\n")
    result = invoke(runner, loaded, "import", "evidence", str(hours), "--type", "working_hours")
    assert (result.exit_code, result.output) == (0, f"{hours}: 1 evidence records added, 0 updated, 0 unchanged\n")
    wrong = invoke(runner, loaded, "import", "evidence", str(hours), "--type", "working_hour")
    assert wrong.exit_code == 3
    assert 'type: unknown evidence type "working_hour"; did you mean "working_hours"?' in wrong.output


def test_a_verified_corrective_action_recorded_for_the_contract_not_a_facility_does_not_stop_the_check(
        runner: CliRunner, loaded: str, tmp_path: Path):
    """A closure that names no facility cannot make a finding a repeat (repeats are per facility); it used to
    stop the reduced evaluation of the whole contract with an internal error."""
    cap = tmp_path / "cap.yaml"
    cap.write_text("evidence:\n  - {type: corrective_action, id: CA-K1, contract_id: K1, date: 2024-08-01, "
                   "cap_id: CAP-1, action_ref: a1, rule_id: WH-01, status: completed, completed_on: 2024-07-30, "
                   "due_date: 2024-07-31, "
                   "verified_by: worker_survey}\n")
    assert invoke(runner, loaded, "import", "evidence", str(cap)).exit_code == 0
    before = invoke(runner, loaded, "check", "K1", "--as-of", "2024-11-01", "--rules", RULES, "--json")
    assert before.exit_code in (0, 1), before.output
    assert json.loads(before.output)[0]["engine_faults"] == []
