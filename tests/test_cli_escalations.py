"""Escalation and working-group commands as an officer runs them, on the shipped example data."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from compliance import api
from compliance.cli import cli
from compliance.store import Store

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2025-06-30"
COMMON = ["--as-of", AS_OF, "--rules", str(ROOT / "rules"), "--groups", str(ROOT / "contracts" / "working-groups.yaml")]


@pytest.fixture
def demo_url(store_url: str) -> str:
    store = Store(store_url)
    try:
        api.demo(store, ROOT / "contracts", ROOT / "rules")
    finally:
        store.close()
    return store_url


def run(url: str, *args: str):
    result = CliRunner().invoke(cli, ["--db", url, *args, *COMMON])
    assert result.exit_code == 0, result.output
    return result.output


def test_every_existing_group_gets_a_case_and_a_new_group_is_proposed(demo_url: str):
    recommendations = json.loads(run(demo_url, "escalations", "list", "--json"))
    routed = {route for r in recommendations for route in r["routes"]}
    assert {"apple", "cisco", "foa_cb"} <= routed
    assert "proposed:brand:Northwind" in routed
    for r in recommendations:
        assert r["reason"] and r["level"] in {"E0", "E1", "E2", "E3", "E4", "E5"}
        assert r["legal_review"] == (r["level"] in {"E4", "E5"})
    proposals = json.loads(run(demo_url, "groups", "proposals", "--json"))
    northwind = next(p for p in proposals if p["id"] == "proposed:brand:Northwind")
    assert len(northwind["consortia"]) >= 2 and northwind["findings"]
    text = run(demo_url, "groups", "proposals")
    assert "proposed:brand:Northwind: engage Northwind on its suppliers' findings" in text
    assert "would join: " in text


def test_a_decision_is_recorded_and_shown(demo_url: str):
    [first] = [r for r in json.loads(run(demo_url, "escalations", "list", "--json")) if r["routes"] == ["foa_cb", "cisco"]][:1]
    key = first["finding_key"]
    out = run(demo_url, "escalations", "decide", key, "--level", "E2", "--reason", "Monitor first", "--by", "officer_17")
    assert out == f"Recorded: change (E2) for {key}.\n"
    shown = run(demo_url, "escalations", "show", key)
    assert shown.startswith(f"{key}: E3 (foa_cb, cisco)")
    assert "by officer_17: change E2 - Monitor first" in shown


def test_decisions_need_a_level_or_a_verdict(demo_url: str):
    result = CliRunner().invoke(cli, ["--db", demo_url, "escalations", "decide", "X", "--reason", "r", *COMMON])
    assert result.exit_code == 2 and "say --accept, --reject or --level E0..E5" in result.output
    result = CliRunner().invoke(cli, ["--db", demo_url, "escalations", "decide", "X", "--accept", "--reason", "r", *COMMON])
    assert result.exit_code == 3 and f'no open finding "X" as of {AS_OF}' in result.output


def test_an_accepted_referral_becomes_a_contractual_remedy_later(demo_url: str):
    # The referral is dated today; 120 days on, the Priority finding is still open (on a contract still in its term
    # then: a contract is evaluated until its end and tail only).
    later_day = dt.date.today() + dt.timedelta(days=120)
    later_date = later_day.isoformat()
    store = Store(demo_url)
    try:
        in_term = {c.id for c in store.contracts() if c.period.outside(later_day) is None}
    finally:
        store.close()
    priority = [r for r in json.loads(run(demo_url, "escalations", "list", "--json")) if r["level"] == "E3"
                and r["severity"] == "priority" and r["contract_id"] in in_term][0]
    run(demo_url, "escalations", "decide", priority["finding_key"], "--accept", "--reason", "Refer to the group")
    later = CliRunner().invoke(cli, ["--db", demo_url, "escalations", "list", "--json", *COMMON[2:], "--as-of",
                                     later_date])
    assert later.exit_code == 0, later.output
    again = next(r for r in json.loads(later.output) if r["finding_key"] == priority["finding_key"])
    assert again["level"] == "E4" and again["legal_review"]
    assert "Legal review required" in again["reason"]


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_digests_are_aggregated_and_carry_no_worker_identifiers(demo_url: str, fmt: str):
    out = run(demo_url, "groups", "digest", "foa_cb", "--since", "2025-01-01", "--format", fmt)
    assert "GR-03" in out
    # Worker pseudonyms and group labels, and the evidence ids behind them, must not reach a digest.
    store = Store(demo_url)
    try:
        facility_records = [r for c in store.contracts()
                            for r in api.contract_facts(store, c, api.DEMO_AS_OF).display.values()]
    finally:
        store.close()
    identifiers = {value for r in facility_records for name, value in r.items()
                   if name in ("subject", "worker_group", "complainant") and value}
    identifiers |= {r["id"] for r in facility_records if r["type"] in ("protected_activity", "adverse_action")}
    assert identifiers  # the example data has them
    assert not [i for i in identifiers if i in out]
    if fmt == "json":
        assert json.loads(out)["group"]["id"] == "foa_cb"
    if fmt == "html":
        assert out.startswith("<!doctype html>") and "http" not in out


def test_groups_list_counts_open_cases(demo_url: str):
    out = run(demo_url, "groups", "list")
    for group in ("apple", "cisco", "foa_cb"):
        line = next(line for line in out.splitlines() if line.startswith(group))
        assert int(line.split()[2]) >= 1


def test_the_thresholds_come_from_the_working_groups_file(demo_url: str, tmp_path: Path):
    groups = tmp_path / "groups.yaml"
    text = (ROOT / "contracts" / "working-groups.yaml").read_text()
    groups.write_text(text.replace("min_consortia: 2 ", "min_consortia: 3 "))
    args = ["--db", demo_url, "groups", "proposals", "--json", *COMMON[:4], "--groups", str(groups)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "proposed:brand:Northwind" not in {p["id"] for p in json.loads(result.output)}
    groups.write_text(text.replace("min_consortia: 2 ", "min_consortia: two "))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3
    assert f"{groups}:" in result.output and "policy.min_consortia: must be a whole number of at least 0; found 'two'" \
        in result.output


def test_findings_explain_shows_the_values_behind_a_finding(demo_url: str):
    result = CliRunner().invoke(cli, ["--db", demo_url, "findings", "explain", "NET-CALLOFF-2024-088", "GR-03",
                                      *COMMON[:4]])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Two retaliation findings: Penang's, and Guadalajara's, correlated through the pseudonym of one employee number
    # written two ways in the worker-voice app export.
    assert "Finding 1 of 2: GR-03 fired on contract NET-CALLOFF-2024-088 as of 2025-06-30." in lines
    assert "Finding 2 of 2: GR-03 fired on contract NET-CALLOFF-2024-088 as of 2025-06-30." in lines
    assert "    date <= protected.date + window_days: adverse.date is 2025-03-03 [2025-08-09] -> true" in lines
    # What would have made it pass: each test that held, turned around, with the value it compared against.
    changes = lines[lines.index("  It would pass if any one of these were so:") + 1:]
    assert "    - adverse.date were on or before 2025-02-10" in changes  # not after the protected activity
    assert "    - adverse.date were after 2025-08-09" in changes  # outside the 180-day window
    # a documented prior reason, or an action against many workers (a collective case: GR-03-M or GR-03-HR)
    assert "    - (adverse.documented_prior_reason were true or adverse.n_affected were at least 10)" in changes


def test_findings_explain_says_which_record_would_have_made_an_absence_rule_pass(demo_url: str):
    result = CliRunner().invoke(cli, ["--db", demo_url, "findings", "explain", "NDNA-CALLOFF-2024-017", "TR-02",
                                      *COMMON[:4]])
    assert result.exit_code == 0, result.output
    # 180 days for the strategic components: signed 2024-03-04, so a disclosure by 2024-08-31 would have met it.
    assert ("    - a factory_disclosure record existed where model == item.model (= 'DT-300 G2'); "
            'tier == "strategic_component"; date <= contract.signed_on + disclosure_days (= 2024-08-31)') \
        in result.output.splitlines()
    assert "    - contract.signed_on were on or after 2025-01-01" in result.output.splitlines()


def test_findings_explain_says_why_a_rule_passed(demo_url: str):
    def explain(contract: str, rule: str) -> list[str]:
        result = CliRunner().invoke(cli, ["--db", demo_url, "findings", "explain", contract, rule, *COMMON[:4]])
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    disclosed = explain("NDNA-CALLOFF-2024-031", "TR-01")
    assert disclosed[0] == "TR-01 did not fire on contract NDNA-CALLOFF-2024-031 as of 2025-06-30."
    assert "factory_disclosure FD-NW-004 of 2024-11-25" in disclosed[1]
    assert "    tier == \"final_assembly\": factory_disclosure.tier is 'final_assembly' ['final_assembly'] -> true" \
        in disclosed
    assert explain("APL-CALLOFF-2023-019", "FL-04")[1] == "  There is no document_retention record (needed for retention)."
    assert explain("NDNA-CALLOFF-2023-002", "FL-06")[0].startswith("FL-06 does not apply to contract NDNA-CALLOFF-2023-002")
    unknown = CliRunner().invoke(cli, ["--db", demo_url, "findings", "explain", "APL-CALLOFF-2023-019", "GR-3",
                                       *COMMON[:4]])
    assert unknown.exit_code == 3 and 'no rule "GR-3"; did you mean "GR-03"?' in unknown.output


def test_leverage_per_facility_supplier_and_brand_counts_live_contracts_only(demo_url: str):
    result = CliRunner().invoke(cli, ["--db", demo_url, "escalations", "leverage", "--as-of", AS_OF, "--json"])
    assert result.exit_code == 0, result.output
    table = json.loads(result.output)
    northwind = table["brand"]["Northwind"]
    assert sorted(northwind["consortia"]) == ["LUPC", "NEUPC"]
    assert sorted(northwind["contracts"]) == ["NDNA-CALLOFF-2024-017", "NDNA-CALLOFF-2024-031"]  # not the expired one
    assert "Fabrikam" not in table["brand"]  # bought only on an expired contract
    thai = table["facility"]["TH2020112B8R4N8"]  # makes only Northwind's bought model
    assert (thai["contracts"], thai["value"]) == (northwind["contracts"], northwind["value"])
    text = CliRunner().invoke(cli, ["--db", demo_url, "escalations", "leverage", "--as-of", AS_OF]).output
    assert text.splitlines()[0] == "By facility"


def test_a_digest_for_an_unknown_group_says_which_exist(demo_url: str):
    result = CliRunner().invoke(cli, ["--db", demo_url, "groups", "digest", "foa", "--since", "2025-01-01", *COMMON])
    assert (result.exit_code, result.output) == (3, 'Error: no working group "foa"; did you mean "foa_cb"?\n')


def test_a_digest_renders_through_the_institutions_templates_and_the_sandbox(demo_url: str, tmp_path: Path):
    folder = tmp_path / "ours"
    folder.mkdir()
    (folder / "digest.md.j2").write_text("Digest for {{ group.secretariat }}: {{ findings }} findings\n")
    out = run(demo_url, "groups", "digest", "foa_cb", "--since", "2025-01-01", "--templates", str(folder))
    # The institution's template, not the shipped one, wrote it, with the digest's own count of findings.
    shown = re.fullmatch(r"Digest for Electronics Watch: (\d+) findings\n", out)
    assert shown is not None and int(shown.group(1)) > 0, out
    # The shipped HTML template is used where the folder has none.
    html = run(demo_url, "groups", "digest", "foa_cb", "--since", "2025-01-01", "--format", "html",
               "--templates", str(folder))
    assert html.startswith("<!doctype html>")
    (folder / "digest.md.j2").write_text("{{ group.__class__.__mro__ }}\n")
    result = CliRunner().invoke(cli, ["--db", demo_url, "groups", "digest", "foa_cb", "--since", "2025-01-01",
                                      "--templates", str(folder), *COMMON])
    assert result.exit_code == 3 and "not allowed in a template" in result.output


def test_a_digest_that_could_reveal_a_worker_is_refused(demo_url: str, tmp_path: Path):
    (tmp_path / "digest.md.j2").write_text("{{ group.name }}: three workers complained (wp_3c9e41a0).\n")
    result = CliRunner().invoke(cli, ["--db", demo_url, "groups", "digest", "foa_cb", "--since", "2025-01-01",
                                      "--templates", str(tmp_path), *COMMON])
    assert result.exit_code == 9, result.output
    assert "a worker pseudonym" in result.output and "a count below 5" in result.output
    assert "complained" not in result.output  # the digest itself is not printed
