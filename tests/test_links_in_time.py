"""Contracts in their term, production links in time and with their source, links made by disclosures: through the
command line on a real SQLite store, as an officer runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from compliance.cli import cli
from compliance.store import Store

RULES = str(Path(__file__).resolve().parent.parent / "rules")

DISCLOSED = "TH2020112B8R4N8"   # Northwind NB-450, disclosed by the contractor
RESEARCHED = "FAC-RESEARCHED"   # Northwind NB-450, known from an NGO's research only
LEFT = "FAC-LEFT"               # made NB-450 until the end of 2024
NEW = "FAC-NEW"                 # no link: the contractor discloses it later

CONTRACTS = """contracts:
  - ocid: ocds-h6vhtk-000001
    id: K1
    buyers: [{id: GB-PPON-AAAA-1111-BBBB, name: University of Exampleshire}]
    supplier: {id: GB-COH-01234567, name: Example IT Reseller Ltd}
    brands: [Northwind]
    items: [{id: "1", brand: Northwind, model: NB-450, disclosure_in_scope: false}]
    signed_on: 2024-03-04
    period: {start: 2024-03-04, end: 2026-03-03}
    clause_set: {id: EWCC-v2-UK, version: "2.0"}
  - ocid: ocds-h6vhtk-000002
    id: K2
    buyers: [{id: GB-PPON-AAAA-1111-BBBB, name: University of Exampleshire}]
    supplier: {id: GB-COH-01234567, name: Example IT Reseller Ltd}
    brands: [Northwind]
    items: [{id: "1", brand: Northwind, model: NB-450, disclosure_in_scope: false}]
    signed_on: 2023-01-02
    period: {start: 2023-01-02, end: 2024-06-30}
    clause_set: {id: EWCC-v2-UK, version: "2.0"}
"""

FACILITIES = f"""facilities:
  - {{id: {DISCLOSED}, name: Example Electronics Plant 2, address: "99 Moo 4, Samut Sakhon", country: TH}}
  - {{id: {RESEARCHED}, name: Researched plant, address: "1 Road, Penang", country: MY}}
  - {{id: {LEFT}, name: Former plant, address: "2 Road, Penang", country: MY}}
  - {{id: {NEW}, name: New plant, address: "3 Road, Penang", country: MY}}
production_links:
  - {{brand: Northwind, model: NB-450, facility_id: {DISCLOSED}, source: contractor_disclosure}}
  - {{brand: Northwind, model: NB-450, facility_id: {RESEARCHED}, source: research}}
  - {{brand: Northwind, model: NB-450, facility_id: {LEFT}, source: brand_public_list, valid_to: 2024-12-31}}
"""

GROUPS = """working_groups:
  - id: northwind
    name: Northwind working group
    scope: {brands: [Northwind]}
    members: [GB-PPON-AAAA-1111-BBBB]
"""


def hours(record_id: str, facility_id: str, date: str) -> str:
    """Excessive hours at a facility: a WH-01 breach wherever it is linked."""
    return (f"  - {{type: working_hours, id: {record_id}, facility_id: {facility_id}, date: {date}, "
            "sample_workers: 40, pct_weeks_over_60: 0.3, max_week_hours: 80, max_consecutive_days: 13}\n")


EVIDENCE = "evidence:\n" + "".join(hours(f"WH-{site}", site, "2024-06-01") for site in (DISCLOSED, RESEARCHED, LEFT, NEW))


def cli_run(url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", url, *args])


@pytest.fixture
def loaded(store_url: str, tmp_path: Path) -> str:
    for name, text in (("contracts.yaml", CONTRACTS), ("facilities.yaml", FACILITIES), ("evidence.yaml", EVIDENCE),
                       ("groups.yaml", GROUPS)):
        (tmp_path / name).write_text(text)
    assert cli_run(store_url, "db", "init").exit_code == 0
    for kind, name in (("contracts", "contracts.yaml"), ("facilities", "facilities.yaml"),
                       ("evidence", "evidence.yaml")):
        result = cli_run(store_url, "import", kind, str(tmp_path / name))
        assert result.exit_code == 0, result.output
    return store_url


def check(url: str, contract_id: str, as_of: str) -> dict:
    result = cli_run(url, "check", contract_id, "--as-of", as_of, "--rules", RULES, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)[0]


def sites(result: dict, rule_id: str) -> set[str]:
    return {f["facility_id"] for f in result["findings"] if f["rule_id"] == rule_id}


# ---------------------------------------------------------------------------------------------------------------------
# Links in time


def test_a_link_valid_only_before_the_as_of_date_no_longer_links(loaded: str):
    assert LEFT in sites(check(loaded, "K1", "2024-12-31"), "WH-01")  # its last day
    assert LEFT not in sites(check(loaded, "K1", "2025-01-01"), "WH-01")
    assert DISCLOSED in sites(check(loaded, "K1", "2025-01-01"), "WH-01")  # an open link stays


def test_a_link_and_its_source_are_read_as_written_and_stored_as_codes(loaded: str):
    store = Store(loaded)
    try:
        links = {link.facility_id: link for link in store.production_links()}
        with store.engine.connect() as connection:
            columns = dict(connection.execute(sa.text(
                "SELECT facility_id, source FROM production_link")).all())
    finally:
        store.close()
    assert links[LEFT].source == "brand_supplier_list"  # the earlier name, read as the code
    assert str(links[LEFT].valid_to) == "2024-12-31"
    assert columns == {DISCLOSED: "contractor_disclosure", RESEARCHED: "research", LEFT: "brand_supplier_list"}


def test_a_link_source_outside_the_list_is_refused_with_its_place(loaded: str, tmp_path: Path):
    bad = tmp_path / "bad-links.yaml"
    bad.write_text(f"production_links:\n  - {{brand: Northwind, facility_id: {NEW}, source: rumour}}\n")
    result = cli_run(loaded, "import", "facilities", str(bad))
    assert result.exit_code == 3
    assert "source" in result.output and "contractor_disclosure" in result.output


def test_valid_to_before_valid_from_is_refused(loaded: str, tmp_path: Path):
    bad = tmp_path / "bad-days.yaml"
    bad.write_text(f"production_links:\n  - {{brand: Northwind, facility_id: {NEW}, valid_from: 2025-01-01, "
                   "valid_to: 2024-01-01}\n")
    result = cli_run(loaded, "import", "facilities", str(bad))
    assert result.exit_code == 3
    assert "valid_to (2024-01-01) is before valid_from (2025-01-01)" in result.output


# ---------------------------------------------------------------------------------------------------------------------
# Links known from research or the media


def test_a_link_known_only_from_research_is_a_request_to_confirm_it(loaded: str):
    result = check(loaded, "K1", "2025-01-31")
    confirm = [f for f in result["findings"] if f["rule_id"] == "TR-03-LINK"]
    assert [(f["facility_id"], f["verdict"], f["letter_type"]) for f in confirm] == [
        (RESEARCHED, "insufficient_evidence", "L1")]
    assert "only by research" in confirm[0]["message"]
    assert RESEARCHED in sites(result, "WH-01")  # the facility's evidence is still read


def test_an_unconfirmed_link_routes_to_no_brand_working_group(loaded: str, tmp_path: Path):
    result = cli_run(loaded, "escalations", "list", "--as-of", "2025-01-31", "--rules", RULES,
                     "--groups", str(tmp_path / "groups.yaml"), "--json")
    assert result.exit_code == 0, result.output
    hours_findings = {(r["contract_id"], r["facility_id"]): r for r in json.loads(result.output)
                      if r["rule_id"] == "WH-01"}
    disclosed, researched = hours_findings[("K1", DISCLOSED)], hours_findings[("K1", RESEARCHED)]
    assert disclosed["routes"] == ["northwind"] and disclosed["brands"] == ["Northwind"]
    assert researched["routes"] == [] and researched["brands"] == []
    assert "Northwind is linked to FAC-RESEARCHED only by research or the media" in researched["reason"]


# ---------------------------------------------------------------------------------------------------------------------
# Disclosures make links


def disclose(url: str, tmp_path: Path, facility_id: str, date: str, name: str = "disclosures.yaml"):
    path = tmp_path / name
    path.write_text("evidence:\n  - {type: factory_disclosure, id: FD-" + facility_id + ", contract_id: K1, "
                    f"facility_id: {facility_id}, date: {date}, model: NB-450}}\n")
    result = cli_run(url, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    return result


def test_a_disclosure_creates_the_link_it_discloses_from_its_date(loaded: str, tmp_path: Path):
    assert NEW not in sites(check(loaded, "K1", "2025-01-31"), "WH-01")  # not linked yet
    imported = disclose(loaded, tmp_path, NEW, "2024-10-01")
    assert "1 production link added or confirmed by disclosures" in imported.output
    assert NEW in sites(check(loaded, "K1", "2025-01-31"), "WH-01")
    assert NEW not in sites(check(loaded, "K1", "2024-09-30"), "WH-01")  # before the disclosure: not linked
    store = Store(loaded)
    try:
        link = next(k for k in store.production_links() if k.facility_id == NEW)
    finally:
        store.close()
    assert (link.brand, link.model, link.source, str(link.valid_from)) == (
        "Northwind", "NB-450", "contractor_disclosure", "2024-10-01")  # the brand from the contract's item


def test_a_disclosure_confirms_a_research_link_and_leaves_a_disclosed_one(loaded: str, tmp_path: Path):
    disclose(loaded, tmp_path, RESEARCHED, "2024-10-01", "first.yaml")
    again = disclose(loaded, tmp_path, DISCLOSED, "2024-10-01", "second.yaml")
    assert "production link" not in again.output  # already disclosed: nothing to add
    store = Store(loaded)
    try:
        links = {k.facility_id: k for k in store.production_links()}
    finally:
        store.close()
    assert links[RESEARCHED].source == "contractor_disclosure"
    assert links[RESEARCHED].valid_from is None  # its days stay
    assert links[DISCLOSED].valid_from is None
    result = cli_run(loaded, "escalations", "list", "--as-of", "2025-01-31", "--rules", RULES,
                     "--groups", str(tmp_path / "groups.yaml"), "--json")
    routed = {r["facility_id"]: r["routes"] for r in json.loads(result.output)
              if r["rule_id"] == "WH-01" and r["contract_id"] == "K1"}
    assert routed[RESEARCHED] == ["northwind"]


def test_a_withdrawn_disclosure_makes_no_link(loaded: str, tmp_path: Path):
    path = tmp_path / "withdrawn.yaml"
    path.write_text("evidence:\n  - {type: factory_disclosure, id: FD-X, contract_id: K1, "
                    f"facility_id: {NEW}, date: 2024-10-01, model: NB-450, verification: withdrawn}}\n")
    assert cli_run(loaded, "import", "evidence", str(path)).exit_code == 0
    assert NEW not in sites(check(loaded, "K1", "2025-01-31"), "WH-01")


# ---------------------------------------------------------------------------------------------------------------------
# The contract's term


def test_check_of_a_contract_past_its_term_and_tail_says_so_and_evaluates_nothing(loaded: str):
    # K2 ended on 2024-06-30: evaluated until 2024-12-27 (180 days), then not.
    inside = check(loaded, "K2", "2024-12-27")
    assert inside["outside_term"] is None and DISCLOSED in sites(inside, "WH-01")
    outside = check(loaded, "K2", "2024-12-28")
    assert outside["findings"] == []
    assert "ended on 2024-06-30" in outside["outside_term"]
    text = cli_run(loaded, "check", "K2", "--as-of", "2024-12-28", "--rules", RULES)
    assert text.exit_code == 0, text.output
    assert "K2" in text.output and "not evaluated, outside its term" in text.output
    assert "0 contracts checked: 0 findings; 1 outside its term, not evaluated." in text.output


def test_a_contract_is_not_evaluated_before_its_start(loaded: str):
    result = check(loaded, "K1", "2024-03-03")
    assert result["outside_term"] == "outside its term: it starts on 2024-03-04"


def test_the_tail_is_set_per_contract(loaded: str, tmp_path: Path):
    longer = tmp_path / "longer.yaml"
    longer.write_text(CONTRACTS.replace("end: 2024-06-30}", "end: 2024-06-30, tail_days: 365}"))
    assert cli_run(loaded, "import", "contracts", str(longer)).exit_code == 0
    result = check(loaded, "K2", "2024-12-28")
    assert result["outside_term"] is None and result["findings"]


def test_run_reports_contracts_outside_their_term_and_leaves_their_findings(loaded: str):
    first = cli_run(loaded, "run", "--as-of", "2024-10-01", "--rules", RULES, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["outside_term"] == []
    later = cli_run(loaded, "run", "--as-of", "2025-01-31", "--rules", RULES, "--json")
    summary = json.loads(later.output)
    assert [c["contract_id"] for c in summary["outside_term"]] == ["K2"]
    assert not any("/K2/" in key for key in summary["resolved"])  # not found again, but not resolved either
    assert summary["evaluated"] + summary["reused"] == 1
    text = cli_run(loaded, "run", "--as-of", "2025-01-31", "--rules", RULES)
    assert "not evaluated: contract K2, outside its term: it ended on 2024-06-30" in text.output


# ---------------------------------------------------------------------------------------------------------------------
# A store made before links had days and sources


def test_db_upgrade_reads_stored_link_sources_as_codes(tmp_path: Path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    try:
        store.upgrade()
        command.downgrade(store._alembic_config(), "0008")
        with store.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO import_batch (id, kind, source_file, content_hash, imported_at, imported_by, added, "
                "updated, unchanged, status, quarantined, skipped) VALUES (1, 'facilities', 'f.yaml', 'x', "
                "'2025-01-01 00:00:00', 'officer', 0, 0, 0, 'complete', 0, 0)"))
            connection.execute(sa.text(
                "INSERT INTO facility (id, country, payload, content_hash, batch_id, imported_at) VALUES "
                "('FAC-A', 'TH', :p, 'x', 1, '2025-01-01 00:00:00')"),
                {"p": json.dumps({"id": "FAC-A", "name": "A", "country": "TH"})})
            for model, source in (("M-1", "brand_public_list"), ("M-2", "a blog post"), ("M-3", None)):
                payload = {"brand": "B", "model": model, "facility_id": "FAC-A", "tier": "final_assembly",
                           "source": source}
                connection.execute(sa.text(
                    "INSERT INTO production_link (id, brand, model, facility_id, payload, content_hash, batch_id, "
                    "imported_at) VALUES (:id, 'B', :m, 'FAC-A', :p, 'x', 1, '2025-01-01 00:00:00')"),
                    {"id": f"B/{model}/FAC-A/final_assembly", "m": model, "p": json.dumps(payload)})
        result = cli_run(url, "db", "upgrade")
        assert result.exit_code == 0, result.output
        sources = {k.model: k.source for k in store.production_links()}
        with store.engine.connect() as connection:
            columns = dict(connection.execute(sa.text("SELECT model, source FROM production_link")).all())
    finally:
        store.close()
    # the earlier name as its code; a source no code fits as research (to be confirmed); none stays none
    assert sources == columns == {"M-1": "brand_supplier_list", "M-2": "research", "M-3": None}
