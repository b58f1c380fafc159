"""What makes a run fast must not change what it finds: incremental runs, the shared evidence snapshot, --full.

Each test runs on a real SQLite file and, when COMPLIANCE_TEST_DATABASE_URL is set, on PostgreSQL. No test
asserts a timing (the benchmark, bench/run_bench.py, measures them). Several processes evaluating the contracts
give the findings of one: see test_lifecycle (test_several_processes_share_a_run...).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from compliance import api
from compliance.cli import cli
from compliance.domain import facts
from compliance.store import Store, partition_digest

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
AS_OF = "2025-06-30"
#: A facility linked to the products of NDNA-CALLOFF-2024-017 (and of other contracts).
PLANT = "TH2020112B8R4N8"


def cli_run(url: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", url, *args])


def run(url: str, *extra: str, rules: str = RULES, as_of: str = AS_OF) -> dict:
    result = cli_run(url, "run", "--as-of", as_of, "--rules", rules, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def snapshot(store: Store, run_id: int) -> dict[str, str]:
    """The evidence a run read, record id -> content hash: the records of the evidence parts it stored."""
    with store.engine.connect() as connection:
        return dict(connection.execute(sa.text(
            "SELECT r.evidence_id, r.content_hash FROM evidence_part_record r JOIN run_part p ON p.digest = r.digest "
            "WHERE p.run_id = :r"), {"r": run_id}).all())


def stored(url: str) -> dict[str, dict]:
    """The findings the last run found, by key, as stored."""
    rows = json.loads(cli_run(url, "findings", "list", "--json").output)
    return {row["key"]: row["finding"] for row in rows if row["firing"]}


def checked(url: str) -> dict[str, dict]:
    """Every active contract evaluated from scratch (`check` stores nothing and reuses nothing)."""
    result = cli_run(url, "check", "--all", "--as-of", AS_OF, "--rules", RULES, "--json")
    return {f["key"]: f for contract in json.loads(result.output) for f in contract["findings"]}


@pytest.fixture
def demo(store_url: str) -> str:
    assert cli_run(store_url, "demo", "--data", str(ROOT / "contracts"), "--rules", RULES).exit_code == 0
    return store_url


def test_a_rerun_with_nothing_changed_evaluates_nothing_and_keeps_the_same_findings(demo: str):
    first = run(demo)
    assert first["evaluated"] > 1 and first["reused"] == 0 and first["new"]
    findings = stored(demo)
    assert findings == checked(demo)
    again = run(demo)
    assert again["evaluated"] == 0 and again["reused"] == first["evaluated"]
    assert sorted(again["still_open"]) == sorted(first["new"]) and again["new"] == again["resolved"] == []
    assert stored(demo) == findings  # message for message
    store = Store(demo)
    try:
        # The partitions' digests (read from an index) are those of the parts stored (read from the rows).
        with store.engine.connect() as connection:
            parts = set(connection.execute(sa.text("SELECT digest FROM run_part WHERE run_id = :r"),
                                           {"r": again["run_id"]}).scalars())
        digests = {partition_digest(rows) for _f, _c, rows in store.evidence_partitions(dt.date(2025, 6, 30))}
        assert parts and parts <= digests
        read_again = snapshot(store, again["run_id"])
        assert read_again == snapshot(store, first["run_id"]) and read_again
        # The snapshot is every record the run read: the evidence of every active contract.
        read: dict[str, str] = {}
        for contract in store.contracts(statuses=["active"]):
            bundle = api.contract_facts(store, contract, api.DEMO_AS_OF, snapshot=read)
            assert bundle.contract.id == contract.id
        assert read_again == read
    finally:
        store.close()


def test_a_changed_record_re_evaluates_only_the_contracts_that_read_it(demo: str, tmp_path: Path):
    run(demo)
    # A letter naming one contract: only that contract reads it.
    letter = tmp_path / "letter.yaml"
    letter.write_text("evidence:\n  - {type: correspondence, id: LTR-NEW-1, contract_id: NET-CALLOFF-2024-088, "
                      "date: 2025-03-01, kind: information_request, subject_matter: compliance_findings}\n")
    assert cli_run(demo, "import", "evidence", str(letter)).exit_code == 0
    after = run(demo)
    assert after["evaluated"] == 1
    assert any(key.startswith("TR-04/NET-CALLOFF-2024-088/") for key in after["new"])  # unanswered for 30 days
    assert stored(demo) == checked(demo)
    # A record about a facility: every contract linked to it, and no other.
    audit = tmp_path / "audit.yaml"
    audit.write_text(f"evidence:\n  - {{type: audit_finding, id: VAP-NEW-1, facility_id: {PLANT}, date: 2025-06-01, "
                     "code_area: working_hours, classification: conformance}\n")
    assert cli_run(demo, "import", "evidence", str(audit)).exit_code == 0
    store = Store(demo)
    try:
        linked = sorted(c.id for c in store.contracts(statuses=["active"])
                        if PLANT in {k.facility_id for k in facts.linked(c, store.production_links(), dt.date.fromisoformat(AS_OF))})
    finally:
        store.close()
    again = run(demo)
    assert 0 < again["evaluated"] == len(linked) < again["evaluated"] + again["reused"]
    assert stored(demo) == checked(demo)


def test_full_evaluates_every_contract_and_finds_the_same(demo: str):
    first = run(demo)
    full = run(demo, "--full")
    assert full["evaluated"] == first["evaluated"] and full["reused"] == 0
    assert full["new"] == full["resolved"] == [] and sorted(full["still_open"]) == sorted(first["new"])
    assert stored(demo) == checked(demo)


def test_another_date_or_another_rule_library_is_a_change(demo: str, tmp_path: Path):
    first = run(demo)
    assert run(demo, as_of="2025-07-31")["reused"] == 0  # as of another date: everything again
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    hours = rules / "hours-and-wages.yaml"
    hours.write_text(hours.read_text().replace("max_week_hours: 72", "max_week_hours: 70", 1))
    changed = run(demo, rules=str(rules))
    assert changed["reused"] == 0 and changed["evaluated"] == first["evaluated"]
    assert run(demo, rules=str(rules))["evaluated"] == 0  # and then nothing changed again
