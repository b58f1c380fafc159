"""Jurisdiction packs: the order parameters resolve in, per-facility evaluation (engine and reference agreeing, in
the single-contract evaluator and the store pipeline alike), packs refused with their place, and `rules show
--facility`."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compliance import api
from compliance.cli import cli
from compliance.errors import InputError
from compliance.rules import jurisdictions
from compliance.rules.library import load_rules, resolve
from compliance.rules.spec import ClauseSet
from compliance.store import Store
from tests.helpers import (
    AS_OF,
    FACILITY,
    OTHER_FACILITY,
    RULES_DIR,
    evidence,
    facility,
    library,
    make_contract,
    run,
)

# ---------------------------------------------------------------------------------------------------------------------
# Resolution order


def _pack(country: str, value: float) -> jurisdictions.Pack:
    return jurisdictions.Pack(country=country, name=country, parameters={"YS-04": {"max_dispatch_share": {
        "value": value, "source": "Test Act, s. 1", "proposed": True}}})


def _library_with(clause_value: float | None, pack_value: float | None):
    lib = copy.copy(library())
    contract = make_contract()
    if clause_value is not None:
        lib.clause_sets = [ClauseSet(id=contract.clause_set.id, version=contract.clause_set.version, title="test",
                                     parameters={"YS-04": {"max_dispatch_share": clause_value}})]
    lib.jurisdictions = {"TH": _pack("TH", pack_value)} if pack_value is not None else {}
    return lib


@pytest.mark.parametrize("clause_value, pack_value, contract_value, level, value", [
    (None, None, None, "default", 0.10),
    (0.30, None, None, "clause set", 0.30),
    (0.30, 0.20, None, "jurisdiction", 0.20),
    (0.30, 0.20, 0.05, "contract", 0.05),
])
def test_each_level_wins_over_the_next(clause_value, pack_value, contract_value, level, value):
    lib = _library_with(clause_value, pack_value)
    parameters = {"YS-04": {"max_dispatch_share": contract_value}} if contract_value is not None else {}
    contract = make_contract(parameters=parameters)
    setting = resolve(lib, lib.rule("YS-04"), contract, "TH")["max_dispatch_share"]
    assert (setting.level, setting.value) == (level, value)
    if level == "jurisdiction":
        assert setting.why == "TH pack: Test Act, s. 1, proposed"


def test_a_pack_applies_only_to_facilities_in_its_country():
    lib = _library_with(0.30, 0.20)
    setting = resolve(lib, lib.rule("YS-04"), make_contract(), "VN")["max_dispatch_share"]
    assert (setting.level, setting.value) == ("clause set", 0.30)


# ---------------------------------------------------------------------------------------------------------------------
# A contract with facilities in two countries

TWO_COUNTRIES = [facility(FACILITY, country="CN"), facility(OTHER_FACILITY, country="TH")]


def _same_evidence_at_both() -> list:
    records = []
    for site in (FACILITY, OTHER_FACILITY):
        records.append(evidence("workforce_composition", facility_id=site, date="2024-09-15", total_workers=1000,
                                dispatch_workers=120))
        records.append(evidence("age_verification", facility_id=site, date="2024-10-01", workers_checked=200,
                                youngest_age=15))
    return records


def test_the_same_evidence_gives_findings_by_the_law_of_each_facility():
    result = run(_same_evidence_at_both(), facilities=TWO_COUNTRIES)  # run() asserts no engine fault
    by_rule = {(f.rule_id, f.facility_id) for f in result.findings if f.rule_id in ("YS-01", "YS-04")}
    # China limits dispatch workers to 10% and sets the minimum age at 16; Thailand sets no share and 15.
    assert by_rule == {("YS-01", FACILITY), ("YS-04", FACILITY)}
    [message] = [f.message for f in result.findings if f.rule_id == "YS-01"]
    assert "below the legal minimum age of 16" in message


def test_every_facility_in_one_country_without_a_pack_is_evaluated_as_before():
    sites = [facility(FACILITY, country="DE"), facility(OTHER_FACILITY, country="DE")]
    result = run(_same_evidence_at_both(), facilities=sites)
    assert {(f.rule_id, f.facility_id) for f in result.findings if f.rule_id == "YS-04"} == {
        ("YS-04", FACILITY), ("YS-04", OTHER_FACILITY)}  # the rule's default, China's 10%
    assert not any(f.rule_id == "YS-01" for f in result.findings)


def test_the_store_pipeline_gives_the_same_findings_with_the_engine_cross_checked(tmp_path: Path):
    """`check` reads the store, keeps what the rules may read and evaluates facility by facility: the findings
    equal the single-contract evaluation's, and the engine agrees with the reference evaluation on every run."""
    records = _same_evidence_at_both() + [
        evidence("recruitment_fee", facility_id=OTHER_FACILITY, date="2024-09-30", worker_group="wg_mm",
                 median_fee=200, currency="THB", standard_applied="legal_limit", origin_country="MM")]
    expected = run(records, facilities=TWO_COUNTRIES)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.upgrade()
    try:
        contract = make_contract()
        (tmp_path / "contracts.json").write_text(
            '{"contracts": [%s]}' % contract.model_dump_json(exclude_none=True))
        facilities_file = tmp_path / "facilities.yaml"
        facilities_file.write_text(
            "facilities:\n" + "".join(f"  - {{id: {f.id}, name: {f.name}, address: x, country: {f.country}}}\n"
                                      for f in TWO_COUNTRIES)
            + "production_links:\n" + "".join(f"  - {{brand: BrandH, facility_id: {f.id}}}\n"
                                              for f in TWO_COUNTRIES))
        evidence_file = tmp_path / "evidence.json"
        evidence_file.write_text("[%s]" % ",".join(r.model_dump_json(exclude_none=True) for r in records))
        api.import_contracts(store, [tmp_path / "contracts.json"])
        api.import_facilities(store, [facilities_file])
        api.import_evidence(store, [evidence_file])
        [result] = api.check(store, library(), ["K1"], AS_OF)
    finally:
        store.close()
    assert result.faults == []
    assert {(f.rule_id, f.facility_id, tuple(f.evidence_ids)) for f in result.findings} == {
        (f.rule_id, f.facility_id, tuple(f.evidence_ids)) for f in expected.findings}
    # The Thai fee is read against the TH pack's zero cap for workers from Myanmar.
    [fee] = [f for f in result.findings if f.rule_id == "FL-01"]
    assert fee.facility_id == OTHER_FACILITY and "against a legal limit of 0" in fee.message


# ---------------------------------------------------------------------------------------------------------------------
# Broken packs


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def test_a_broken_pack_is_refused_with_its_file_line_and_field(rules_copy: Path):
    pack = rules_copy / "jurisdictions" / "TH.yaml"
    pack.write_text(pack.read_text().replace("max_dispatch_share:", "max_dispatch_shares:")
                    .replace("value: 15", "value: fifteen"))
    with pytest.raises(InputError) as error:
        load_rules([rules_copy])
    problems = {(Path(p.file).name, p.field): (p.line, p.message) for p in error.value.problems}
    lines = pack.read_text().splitlines()
    line, message = problems[("TH.yaml", "jurisdiction TH: parameters.YS-04.max_dispatch_shares")]
    assert 'has no parameter "max_dispatch_shares"' in message and "max_dispatch_share" in message
    assert "max_dispatch_shares" in lines[line - 1] or "value" in lines[line - 1]
    line, message = problems[("TH.yaml", "jurisdiction TH: parameters.YS-01.minimum_age")]
    assert "value: fifteen" in lines[line - 1]


def test_a_pack_must_carry_its_source_and_be_named_after_its_country(rules_copy: Path):
    pack = rules_copy / "jurisdictions" / "TH.yaml"
    text = pack.read_text()
    start = text.index("        source: Labour Protection Act B.E. 2541 (1998), s. 44")
    pack.write_text(text[:start] + text[text.index("\n", start) + 1:])
    (rules_copy / "jurisdictions" / "VN.yaml").rename(rules_copy / "jurisdictions" / "Vietnam.yaml")
    with pytest.raises(InputError) as error:
        load_rules([rules_copy])
    found = {(Path(p.file).name, p.field, p.line) for p in error.value.problems}

    def line_of(name: str, text: str) -> int:
        return (rules_copy / "jurisdictions" / name).read_text().splitlines().index(text) + 1

    assert ("TH.yaml", "jurisdiction.parameters.YS-01.minimum_age.source",
            line_of("TH.yaml", "      minimum_age:")) in found  # the value without its source
    assert ("Vietnam.yaml", "jurisdiction VN: country", line_of("Vietnam.yaml", "  country: VN")) in found


# ---------------------------------------------------------------------------------------------------------------------
# rules show --facility

CONTRACTS = """contracts:
  - ocid: ocds-h6vhtk-000001
    id: K1
    buyers: [{id: GB-PPON-AAAA-1111-BBBB, name: University of Exampleshire}]
    supplier: {id: GB-COH-01234567, name: Example IT Reseller Ltd}
    brands: [Northwind]
    items: [{id: "1", brand: Northwind, model: NB-450}]
    signed_on: 2024-03-04
    period: {start: 2024-03-04, end: 2026-03-03}
    clause_set: {id: EWCC-v2-UK, version: "2.0"}
    parameters: {YS-04: {max_intern_share: 0.05}}
"""
FACILITIES = """facilities:
  - {id: TH2020112B8R4N8, name: Example Electronics Plant 2, address: "99 Moo 4, Samut Sakhon", country: TH}
production_links:
  - {brand: Northwind, model: NB-450, facility_id: TH2020112B8R4N8}
"""


def test_rules_show_names_each_parameters_value_and_level_at_a_facility(tmp_path: Path):
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    (tmp_path / "contracts.yaml").write_text(CONTRACTS)
    (tmp_path / "facilities.yaml").write_text(FACILITIES)
    for args in (["db", "init"], ["import", "contracts", str(tmp_path / "contracts.yaml")],
                 ["import", "facilities", str(tmp_path / "facilities.yaml")]):
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 0, result.output
    show = ["--db", url, "rules", "show", "YS-04", "--rules", str(RULES_DIR), "--facility", "TH2020112B8R4N8"]
    result = runner.invoke(cli, [*show, "--contract", "K1"])
    assert result.exit_code == 0, result.output
    assert "Parameters at TH2020112B8R4N8 (Example Electronics Plant 2, TH) for contract K1:" in result.output
    assert "  - max_intern_share = 0.05  [contract] contract K1\n" in result.output
    assert "  - max_intern_share_per_position = 0.2  [default] rule default, proposed\n" in result.output
    assert "  - max_dispatch_share = 1.0  [jurisdiction] TH pack: Labour Protection Act B.E. 2541 (1998), s. 11/1" \
        in result.output
    without = runner.invoke(cli, show)  # without the contract: no contract override
    assert "  - max_intern_share = 0.1  [default]" in without.output
    unknown = runner.invoke(cli, [*show[:-1], "TH2020112B8R4N9"])
    assert unknown.exit_code == 3 and 'no facility "TH2020112B8R4N9"' in unknown.output
    assert "Clause:" not in unknown.output  # refused before anything is shown
