"""Batch runs and the findings lifecycle, as a user runs them: what changed, transitions, waivers, the audit chain.

Every test runs on a real SQLite file and, when COMPLIANCE_TEST_DATABASE_URL is set, on PostgreSQL; the tests of
the state machine itself (compliance.domain.lifecycle, pure functions) need no store.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import CONTRACTS, FACILITIES

from compliance.cli import cli
from compliance.domain import lifecycle
from compliance.domain.lifecycle import Move, Outcome, Stored
from compliance.domain.models import Severity
from compliance.store import Store

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")

AUDIT = """  - {type: audit_finding, id: VAP-1, facility_id: TH2020112B8R4N8, date: 2024-07-08, code_area: hours,
     classification: minor}
"""
FEE = """  - {type: recruitment_fee, id: RF-1, facility_id: TH2020112B8R4N8, date: 2024-09-30, worker_group: wg_mm,
     median_fee: MEDIAN, currency: THB, n_workers: WORKERS}
"""
AS_OF = "2025-01-31"


def evidence(tmp_path: Path, median: int = 20000, workers: int = 5, name: str = "evidence.yaml") -> str:
    path = tmp_path / name
    path.write_text("evidence:\n" + AUDIT + FEE.replace("MEDIAN", str(median)).replace("WORKERS", str(workers)))
    return str(path)


def cli_run(url: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", url, *args])


@pytest.fixture
def loaded(store_url: str, tmp_path: Path) -> str:
    (tmp_path / "contracts.yaml").write_text(CONTRACTS)
    (tmp_path / "facilities.yaml").write_text(FACILITIES)
    assert cli_run(store_url, "db", "init").exit_code == 0
    for kind, path in (("contracts", tmp_path / "contracts.yaml"), ("facilities", tmp_path / "facilities.yaml"),
                       ("evidence", evidence(tmp_path))):
        result = cli_run(store_url, "import", kind, str(path))
        assert result.exit_code == 0, result.output
    return store_url


def run_json(url: str, *extra: str) -> dict:
    result = cli_run(url, "run", "--as-of", AS_OF, "--rules", RULES, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def keys_of(url: str, rule_id: str) -> list[str]:
    result = cli_run(url, "findings", "list", "--rule", rule_id, "--json")
    return [row["key"] for row in json.loads(result.output)]


def test_a_second_run_reports_nothing_new(loaded: str):
    first = run_json(loaded)
    assert any(key.startswith("FL-01/K1/") for key in first["new"]) and first["still_open"] == []
    second = run_json(loaded)
    assert second["new"] == [] and sorted(second["still_open"]) == sorted(first["new"])
    assert second["resolved"] == second["worsened"] == second["reopened"] == []
    text = cli_run(loaded, "run", "--as-of", AS_OF, "--rules", RULES)
    assert text.output.startswith(f"Run 3 as of {AS_OF}: 0 new, {len(first['new'])} still open, 0 worsened, ")


def test_a_changed_evidence_record_is_worsened_then_resolved_then_reopened(loaded: str, tmp_path: Path):
    run_json(loaded)
    [fee] = keys_of(loaded, "FL-01")
    # More workers paid the fee: the same finding (same key) is raised to Priority for large-scale harm.
    assert cli_run(loaded, "import", "evidence", evidence(tmp_path, workers=40, name="e2.yaml")).exit_code == 0
    changed = run_json(loaded)
    assert changed["worsened"] == [fee] and changed["new"] == [] and changed["resolved"] == []
    # The fee turns out to be zero: the finding no longer fires and is resolved, not deleted.
    assert cli_run(loaded, "import", "evidence", evidence(tmp_path, median=0, name="e3.yaml")).exit_code == 0
    resolved = run_json(loaded)
    assert resolved["resolved"] == [fee] and resolved["new"] == []
    listed = json.loads(cli_run(loaded, "findings", "list", "--rule", "FL-01", "--json").output)
    assert [(row["key"], row["firing"]) for row in listed] == [(fee, False)]
    # And the fee is reported again: the same finding reopens.
    assert cli_run(loaded, "import", "evidence", evidence(tmp_path, name="e4.yaml")).exit_code == 0
    assert run_json(loaded)["reopened"] == [fee]
    history = cli_run(loaded, "findings", "show", fee).output
    for kind in ("detected", "confirmed", "worsened", "resolved", "reopened"):
        assert f": {kind} (" in history


def test_a_run_is_reproducible_later_from_the_moment_it_read_the_store(loaded: str, tmp_path: Path):
    """Evidence imported after a run, and a correction of a record it read, change nothing when the run is
    repeated with its as-of date and known-at moment; they do show in a run on the store as it is now."""
    first = run_json(loaded)
    known_at = first["known_at"]
    [fee] = keys_of(loaded, "FL-01")
    checked = json.loads(cli_run(loaded, "check", "K1", "--as-of", AS_OF, "--rules", RULES, "--json").output)
    # Later: a correction of the fee record (more workers: Priority) and a new audit finding dated before AS_OF.
    assert cli_run(loaded, "import", "evidence", evidence(tmp_path, workers=40, name="e2.yaml")).exit_code == 0
    late = tmp_path / "late.yaml"
    late.write_text("evidence:\n  - {type: audit_finding, id: VAP-9, facility_id: TH2020112B8R4N8, date: 2025-01-10, "
                    "code_area: forced_labour, classification: priority, ilo_indicator: retention_of_identity_documents}\n")
    assert cli_run(loaded, "import", "evidence", str(late)).exit_code == 0

    again = cli_run(loaded, "check", "K1", "--as-of", AS_OF, "--known-at", known_at, "--rules", RULES, "--json")
    assert json.loads(again.output) == checked  # the same findings, message for message
    repeated = run_json(loaded, "--known-at", known_at)
    assert repeated["known_at"] == known_at
    assert repeated["new"] == repeated["worsened"] == repeated["resolved"] == [] and fee in repeated["still_open"]
    now = run_json(loaded)
    assert fee in now["worsened"]
    store = Store(loaded)
    try:
        with store.engine.connect() as connection:
            runs = connection.execute(sa.text("SELECT id, evidence_hash, evidence_count, library_hash, "
                                              "software_version FROM run ORDER BY id")).all()
    finally:
        store.close()
    assert runs[0][1:] == runs[1][1:]  # the same evidence snapshot (ids and hashes), library and software
    assert runs[2][1] != runs[0][1]
    text = cli_run(loaded, "run", "--as-of", AS_OF, "--known-at", "2025-01-31", "--rules", RULES)
    assert "(the store as known at 2025-01-31 23:59:59 UTC)" in text.output.splitlines()[0]
    bad = cli_run(loaded, "run", "--as-of", AS_OF, "--known-at", "yesterday", "--rules", RULES)
    assert bad.exit_code == 2 and "is not a date or a date and time" in bad.output


def test_officers_move_findings_with_a_reason_and_only_along_the_lifecycle(loaded: str):
    run_json(loaded)
    [fee] = keys_of(loaded, "FL-01")
    moved = cli_run(loaded, "findings", "move", fee, "notified", "--reason", "Letter L2 sent", "--by", "officer_17")
    assert moved.exit_code == 0 and moved.output == f"{fee}: new -> notified (entry 2).\n"
    wrong = cli_run(loaded, "findings", "move", fee, "closed", "--reason", "Paid back")
    assert wrong.exit_code == 3
    assert 'cannot move from "notified" to "closed"; allowed: cap_requested, in_remediation, withdrawn, waived' \
        in wrong.output
    assert cli_run(loaded, "findings", "move", fee, "withdrawn").exit_code == 2  # --reason is required
    blank = cli_run(loaded, "findings", "move", fee, "withdrawn", "--reason", "  ")
    assert blank.exit_code == 3 and "a reason is required" in blank.output
    history = cli_run(loaded, "findings", "show", fee).output.splitlines()
    assert any("officer_17: moved (new -> notified) - Letter L2 sent" in line for line in history)


def test_a_waiver_needs_an_approver_and_expiry_stays_visible_and_expires(loaded: str):
    run_json(loaded)
    [fee] = keys_of(loaded, "FL-01")
    missing = cli_run(loaded, "findings", "move", fee, "waived", "--reason", "Factory closing")
    assert missing.exit_code == 3 and "a waiver needs a reason, an approver and an expiry date" in missing.output
    ok = cli_run(loaded, "findings", "move", fee, "waived", "--reason", "Factory closing", "--approver",
                 "Head of Procurement", "--until", "2025-01-15")
    assert ok.exit_code == 0, ok.output
    listed = cli_run(loaded, "findings", "list").output
    assert f"{fee}  MA  waived until 2025-01-15" in listed  # waived findings are never hidden
    # The waiver ended on 2025-01-15; the run as of 2025-01-31 reopens the finding and says so.
    assert run_json(loaded)["waiver_expired"] == [fee]
    assert "reopened" in cli_run(loaded, "findings", "list", "--state", "reopened").output


def test_a_rerun_moves_each_reused_finding_as_the_lifecycle_says(store_url: str):
    """Nothing changed, so every contract keeps its findings: the new ones are confirmed (open), a waiver that
    ended is reopened, a waiver that still runs stays."""
    assert cli_run(store_url, "demo", "--data", str(ROOT / "contracts"), "--rules", RULES).exit_code == 0

    def run(as_of: str = "2025-06-30") -> dict:
        result = cli_run(store_url, "run", "--as-of", as_of, "--rules", RULES, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    keys = sorted(run()["new"])
    assert len(keys) >= 3
    for key, until in ((keys[0], "2025-06-15"), (keys[1], "2025-12-31")):
        moved = cli_run(store_url, "findings", "move", key, "waived", "--reason", "Factory closing", "--approver",
                        "Head of Procurement", "--until", until)
        assert moved.exit_code == 0, moved.output
    again = run()
    assert again["evaluated"] == 0 and again["waiver_expired"] == [keys[0]]
    rows = json.loads(cli_run(store_url, "findings", "list", "--json").output)
    states = {row["key"]: row["state"] for row in rows if row["firing"]}
    assert states == {keys[0]: "reopened", keys[1]: "waived"} | {key: "open" for key in keys[2:]}
    assert cli_run(store_url, "audit", "verify").exit_code == 0


def test_run_fail_on_sets_the_exit_code_for_new_findings_at_or_above_a_severity(loaded: str):
    result = cli_run(loaded, "run", "--as-of", AS_OF, "--rules", RULES, "--fail-on", "major")
    assert result.exit_code == 1  # FL-01 is Major and new
    again = cli_run(loaded, "run", "--as-of", AS_OF, "--rules", RULES, "--fail-on", "major")
    assert again.exit_code == 0  # nothing new the second time


def test_audit_verify_detects_an_edited_or_removed_history_entry(loaded: str):
    run_json(loaded)
    [fee] = keys_of(loaded, "FL-01")
    cli_run(loaded, "findings", "move", fee, "notified", "--reason", "Letter L2 sent")
    assert cli_run(loaded, "audit", "verify").output == "The findings' history is intact.\n"
    store = Store(loaded)
    try:
        with store.engine.begin() as connection:
            connection.execute(sa.text("UPDATE finding_event SET reason = 'Nothing sent' "
                                       "WHERE finding_key = :k AND seq = 2"), {"k": fee})
        edited = cli_run(loaded, "audit", "verify")
        assert edited.exit_code == 6
        assert f"finding {fee}: entry 2 (" in edited.output and "was changed after it was written" in edited.output
        with store.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM finding_event WHERE finding_key = :k AND seq = 2"), {"k": fee})
        removed = cli_run(loaded, "audit", "verify")
        assert removed.exit_code == 6
        assert f"finding {fee}: its history ends in state new but the finding is notified" in removed.output
    finally:
        store.close()


def test_a_second_run_while_one_is_going_exits_7_or_waits(loaded: str):
    import threading

    store = Store(loaded)
    try:
        with store.run_lock():
            busy = cli_run(loaded, "run", "--as-of", AS_OF, "--rules", RULES)
            assert busy.exit_code == 7
            assert "another run is in progress on this store" in busy.output
            assert cli_run(loaded, "findings", "list").output == "0 findings.\n"  # it wrote nothing
        # With --wait the second run waits for the first to finish, then runs.
        results: list[object] = []
        with store.run_lock():
            waiting = threading.Thread(target=lambda: results.append(
                cli_run(loaded, "run", "--as-of", AS_OF, "--rules", RULES, "--wait")))
            waiting.start()
            waiting.join(timeout=1.0)
            assert waiting.is_alive()  # still waiting while the lock is held
        waiting.join(timeout=120)
        assert results and results[0].exit_code == 0 and "new" in results[0].output
    finally:
        store.close()


def test_a_run_killed_at_any_moment_leaves_the_store_consistent_and_the_next_run_completes(store_url: str):
    """SIGKILL a real `compliance run` at several moments; the store never shows a half-written run, the
    history stays intact, and the next run stores exactly the findings an uninterrupted run finds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    assert cli_run(store_url, "demo", "--data", str(ROOT / "contracts"), "--rules", RULES).exit_code == 0
    expected = json.loads(cli_run(store_url, "check", "--all", "--as-of", "2025-06-30", "--rules", RULES,
                                  "--json").output)
    expected_keys = sorted(f["key"] for contract in expected for f in contract["findings"])
    command = [sys.executable, "-m", "compliance", "--db", store_url, "run", "--as-of", "2025-06-30", "--rules",
               RULES, "--json"]
    for delay in (0.2, 0.6, 1.0, 1.5, 2.0):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        stored = json.loads(cli_run(store_url, "findings", "list", "--json").output)
        assert [row["key"] for row in stored] in ([], expected_keys), f"half a run is visible after {delay}s"
        assert cli_run(store_url, "audit", "verify").exit_code == 0
        if stored:  # the run had committed before the kill: the next one finds nothing new
            break
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    stored = json.loads(cli_run(store_url, "findings", "list", "--json").output)
    assert sorted(row["key"] for row in stored) == expected_keys
    assert sorted(summary["new"] + summary["still_open"]) == expected_keys


def test_findings_export_as_csv_xlsx_and_json_with_the_documented_columns(loaded: str, tmp_path: Path):
    import csv
    import io

    import openpyxl

    from compliance.documents import export

    # A worker group label that a spreadsheet would run as a formula must come out as text.
    path = tmp_path / "evil.yaml"
    path.write_text("evidence:\n" + AUDIT + FEE.replace("MEDIAN", "20000").replace("WORKERS", "5")
                    .replace("worker_group: wg_mm", "worker_group: \"=cmd|' /C calc'!A0\"")
                    .replace("id: RF-1", "id: \"=HYPERLINK(1)\""))
    assert cli_run(loaded, "import", "evidence", str(path)).exit_code == 0
    run_json(loaded)
    columns = [name for name, _ in export.COLUMNS]
    text = cli_run(loaded, "findings", "export", "--format", "csv").output
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == columns
    [fee] = [row for row in table if row["rule_id"] == "FL-01" and "=" in row["evidence_ids"]]
    assert fee["severity"] == "Major" and fee["state"] == "new" and fee["found"] == "yes"
    assert fee["message"].startswith("Workers in =cmd")  # inside the sentence: harmless
    assert fee["evidence_ids"] == "'=HYPERLINK(1)"  # at the start of a cell: written as text
    assert all(not cell.startswith(("=", "+", "@")) for row in table for cell in row.values())
    assert json.loads(cli_run(loaded, "findings", "export", "--format", "json").output)[0].keys() == set(columns)
    out = tmp_path / "findings.xlsx"
    assert cli_run(loaded, "findings", "export", "--format", "xlsx", "--sheets", "severity", "-o", str(out)).exit_code \
        == 0
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["Priority", "Major", "Minor", "Observation"]
    header = [cell.value for cell in workbook["Major"][1]]
    assert header == columns
    assert any(row[columns.index("rule_id")] == "FL-01" for row in workbook["Major"].iter_rows(values_only=True))
    by_contract = tmp_path / "by-contract.xlsx"
    assert cli_run(loaded, "findings", "export", "--format", "xlsx", "-o", str(by_contract)).exit_code == 0
    assert openpyxl.load_workbook(by_contract).sheetnames == ["K1"]
    assert cli_run(loaded, "findings", "export", "--format", "xlsx").exit_code == 2  # xlsx needs --output


def test_a_cell_that_would_run_as_a_formula_is_written_as_text():
    from compliance.documents.export import safe_cell

    assert [safe_cell(v) for v in ("=1+1", "+44 20", "-5", "@SUM(A1)", "wg_a", 5)] == [
        "'=1+1", "'+44 20", "'-5", "'@SUM(A1)", "wg_a", 5]


def test_the_readme_documents_the_export_columns_in_order():
    import re

    from compliance.documents import export

    readme = (ROOT / "README.md").read_text()
    documented = re.findall(r"^\| `([a-z_]+)` \| .* \|$", readme.split("**Exports.**", 1)[1].split("**Lifecycle.**")[0],
                            flags=re.M)
    assert documented == [name for name, _ in export.COLUMNS]


def test_run_is_quiet_from_cron_lists_changes_on_request_and_logs_json_lines(loaded: str):
    quiet = cli_run(loaded, "run", "--as-of", AS_OF, "--rules", RULES)  # not a terminal: one summary line
    assert quiet.exit_code == 0 and len(quiet.stdout.splitlines()) == 1
    assert quiet.stdout.startswith(f"Run 1 as of {AS_OF}: ")
    assert cli_run(loaded, "findings", "move", keys_of(loaded, "FL-01")[0], "waived", "--reason", "Line closed",
                   "--approver", "Head of Procurement", "--until", "2025-01-01").exit_code == 0
    verbose = cli_run(loaded, "run", "--as-of", AS_OF, "--rules", RULES, "-v", "--log-json")
    assert any(line.startswith("  waiver expired: FL-01/K1/") for line in verbose.stdout.splitlines())
    events = [json.loads(line) for line in verbose.stderr.splitlines()]
    # Nothing K1 reads changed (a waiver is not an input): its findings are kept, and the waiver still expires.
    assert [e["event"] for e in events] == ["taking_lock", "run_started", "inputs_read", "contract_reused",
                                            "contracts_evaluated", "run_stored"]
    assert events[3]["contract_id"] == "K1" and events[5]["waiver_expired"] == 1


def test_findings_list_filters_by_supplier_and_ilo_category(loaded: str):
    run_json(loaded)
    forced = cli_run(loaded, "findings", "list", "--fprw", "forced_labour", "--json")
    assert {row["finding"]["rule_id"] for row in json.loads(forced.output)} == {"FL-01", "WH-01-AUDIT"}  # the audit's hours non-conformance
    assert cli_run(loaded, "findings", "list", "--supplier", "GB-COH-99999999").output == "0 findings.\n"
    all_rows = json.loads(cli_run(loaded, "findings", "list", "--json").output)
    mine = json.loads(cli_run(loaded, "findings", "list", "--supplier", "GB-COH-01234567", "--json").output)
    assert mine == all_rows and len(mine) >= 1


def test_several_processes_share_a_run_on_postgresql_with_the_same_result_as_one(store_url: str, tmp_path: Path):
    """Two workers, and a third process joining from the outside, give exactly the findings of a single run:
    no contract evaluated twice, none lost. On SQLite, --workers forks processes on this host: same findings."""
    import os
    import subprocess
    import sys

    assert cli_run(store_url, "demo", "--data", str(ROOT / "contracts"), "--rules", RULES).exit_code == 0
    single = json.loads(cli_run(store_url, "check", "--all", "--as-of", "2025-06-30", "--rules", RULES,
                                "--json").output)
    expected = sorted(f["key"] for contract in single for f in contract["findings"])
    args = ["run", "--as-of", "2025-06-30", "--rules", RULES, "--json", "--workers", "2"]
    if store_url.startswith("sqlite"):
        parallel = cli_run(store_url, *args, "--log-json")
        assert parallel.exit_code == 0, parallel.output
        assert sorted(json.loads(parallel.stdout)["new"]) == expected
        evaluated = [json.loads(line)["contract_id"] for line in parallel.stderr.splitlines()
                     if json.loads(line)["event"] == "contract_evaluated"]
        assert sorted(evaluated) == sorted(c["contract_id"] for c in single)  # each once
        stored = json.loads(cli_run(store_url, "findings", "list", "--json").output)
        assert sorted(row["key"] for row in stored) == expected
        return
    env = {**os.environ, "COMPLIANCE_DATABASE_URL": store_url}
    coordinator = subprocess.Popen([sys.executable, "-m", "compliance", *args, "--log-json"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    joiner = subprocess.run([sys.executable, "-m", "compliance", "run", "--join", "--rules", RULES], env=env,
                            capture_output=True, text=True, timeout=300)
    out, err = coordinator.communicate(timeout=300)
    assert coordinator.returncode == 0, err
    assert joiner.returncode == 0, joiner.stderr
    summary = json.loads(out)
    assert sorted(summary["new"]) == expected
    stored = json.loads(cli_run(store_url, "findings", "list", "--json").output)
    assert sorted(row["key"] for row in stored) == expected
    evaluated = [json.loads(line)["contract_id"] for line in err.splitlines()
                 if json.loads(line)["event"] == "contract_evaluated"]
    assert len(evaluated) == len(set(evaluated))  # the coordinator never evaluated a contract twice
    again = cli_run(store_url, "run", "--as-of", "2025-06-30", "--rules", RULES, "--json")
    assert json.loads(again.output)["new"] == []


def test_unknown_finding_keys_are_named_and_join_without_a_shared_run_does_nothing(loaded: str):
    for args in (("findings", "show", "FL-01/K9/nope"),
                 ("findings", "move", "FL-01/K9/nope", "notified", "--reason", "Letter sent")):
        result = cli_run(loaded, *args)
        assert result.exit_code == 3 and 'no finding "FL-01/K9/nope" in the store' in result.output
    joined = cli_run(loaded, "run", "--join", "--rules", RULES)
    assert joined.exit_code == 0 and joined.output == "Evaluated 0 contracts of the run in progress.\n"


# ---------------------------------------------------------------------------------------------------------------------
# The state machine, without a store

DAY = dt.date(2025, 1, 31)


def test_a_finding_found_for_the_first_time_is_new_then_confirmed_open_on_the_next_run():
    assert lifecycle.observe(None, Severity.MAJOR, DAY) == Outcome(
        "new", "new", True, (Move("detected", None, "new", "first found as of 2025-01-31"),))
    assert lifecycle.observe(Stored("new", True, Severity.MAJOR), Severity.MAJOR, DAY) == Outcome(
        "still_open", "open", True, (Move("confirmed", "new", "open", "still found on the next run"),))
    # Found again in a state an officer set: still open, no move.
    assert lifecycle.observe(Stored("notified", True, Severity.MAJOR), Severity.MAJOR, DAY) == Outcome(
        "still_open", "notified", True)


def test_a_finding_no_longer_found_is_resolved_once_and_reopened_when_it_fires_again():
    notified = Stored("notified", True, Severity.MAJOR)
    assert lifecycle.observe(notified, None, DAY) == Outcome(
        "resolved", "notified", False, (Move("resolved", "notified", "notified", "no longer found as of 2025-01-31"),))
    assert lifecycle.observe(Stored("notified", False, Severity.MAJOR), None, DAY) is None  # resolved already
    assert lifecycle.observe(None, None, DAY) is None
    assert lifecycle.observe(Stored("notified", False, Severity.MAJOR), Severity.MAJOR, DAY) == Outcome(
        "reopened", "reopened", True, (Move("reopened", "notified", "reopened", "fires again as of 2025-01-31"),))
    # Resolved while new, found again: reopened, not confirmed.
    assert lifecycle.observe(Stored("new", False, Severity.MINOR), Severity.MINOR, DAY).moves == (
        Move("reopened", "new", "reopened", "fires again as of 2025-01-31"),)


def test_a_closed_finding_found_again_is_reopened():
    assert lifecycle.observe(Stored("closed", True, Severity.MINOR), Severity.MINOR, DAY) == Outcome(
        "reopened", "reopened", True, (Move("reopened", "closed", "reopened", "fires again as of 2025-01-31"),))


def test_a_waiver_expires_the_day_after_its_last_day():
    waived = Stored("waived", True, Severity.MAJOR, waived_until=dt.date(2025, 1, 30))
    assert lifecycle.observe(waived, Severity.MAJOR, DAY) == Outcome(
        "waiver_expired", "reopened", True,
        (Move("waiver_expired", "waived", "reopened", "the waiver expired on 2025-01-30"),))
    still = Stored("waived", True, Severity.MAJOR, waived_until=DAY)
    assert lifecycle.observe(still, Severity.PRIORITY, DAY) == Outcome(
        "worsened", "waived", True, (Move("worsened", "waived", "waived", "severity raised from Major to Priority"),))


def test_a_more_serious_severity_is_worsened_a_less_serious_one_is_not():
    assert lifecycle.observe(Stored("open", True, Severity.MINOR), Severity.MAJOR, DAY) == Outcome(
        "worsened", "open", True, (Move("worsened", "open", "open", "severity raised from Minor to Major"),))
    assert lifecycle.observe(Stored("open", True, Severity.MAJOR), Severity.MINOR, DAY) == Outcome(
        "still_open", "open", True)
    # A new finding that worsened is also confirmed: two moves, in this order.
    assert [m.kind for m in lifecycle.observe(Stored("new", True, Severity.MINOR), Severity.MAJOR, DAY).moves] == [
        "worsened", "confirmed"]


def test_officers_move_only_along_the_transitions():
    assert lifecycle.officer_move("new", "notified", "Letter L2 sent") == Move(
        "moved", "new", "notified", "Letter L2 sent")
    with pytest.raises(lifecycle.Refused, match='^cannot move from "notified" to "closed"; allowed: cap_requested, '
                                                'in_remediation, withdrawn, waived$'):
        lifecycle.officer_move("notified", "closed", "Paid back")
    with pytest.raises(lifecycle.Refused, match="a reason is required for every change of state"):
        lifecycle.officer_move("new", "notified", "  ")


def test_a_final_state_allows_no_move_but_closed_can_be_reopened():
    assert set(lifecycle.FINAL_STATES) <= set(lifecycle.FINDING_STATES) == set(lifecycle.TRANSITIONS)
    assert all(to in lifecycle.FINDING_STATES for allowed in lifecycle.TRANSITIONS.values() for to in allowed)
    with pytest.raises(lifecycle.Refused, match=r'cannot move from "withdrawn" to "reopened"; allowed: none \(final\)'):
        lifecycle.officer_move("withdrawn", "reopened", "Found again")
    assert lifecycle.officer_move("closed", "reopened", "Found again").to_state == "reopened"
    assert lifecycle.letter_sent("withdrawn", "letter X sent") is None
    assert lifecycle.letter_sent("closed", "letter X sent") is None
    assert lifecycle.letter_sent("open", "letter X sent") == Move("moved", "open", "notified", "letter X sent")


def test_a_waiver_needs_an_approver_and_an_expiry_date_and_records_them_in_the_reason():
    with pytest.raises(lifecycle.Refused, match="a waiver needs a reason, an approver and an expiry date"):
        lifecycle.officer_move("open", "waived", "Factory closing", approver="Head of Procurement")
    with pytest.raises(lifecycle.Refused, match="a waiver needs a reason, an approver and an expiry date"):
        lifecycle.officer_move("open", "waived", "Factory closing", waived_until=DAY)
    assert lifecycle.officer_move("open", "waived", "Factory closing", waived_until=DAY,
                                  approver="Head of Procurement") == Move(
        "moved", "open", "waived", "Factory closing (approved by Head of Procurement, until 2025-01-31)")
