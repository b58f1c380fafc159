"""OCDS release and record packages as contract files, and Open Supply Hub CSVs as facility files."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compliance.cli import cli
from compliance.errors import InputError
from compliance.sources import ocds, oshub, records

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "contracts"
RELEASE_PACKAGE = EXAMPLES / "ocds" / "release-package.json"
RECORD_PACKAGE = EXAMPLES / "ocds" / "record-package.json"
OSHUB_CSV = EXAMPLES / "oshub-facilities.csv"


def problems(call, *args) -> list[str]:
    with pytest.raises(InputError) as caught:
        call(*args)
    return [str(p) for p in caught.value.problems]


def package(path: Path = RELEASE_PACKAGE) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(tmp_path: Path, value: Any, name: str = "package.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------------
# OCDS release packages


def test_a_release_package_gives_contracts_in_our_shape():
    [contract] = records.load_contracts(RELEASE_PACKAGE)
    assert (contract.ocid, contract.id, contract.award_id) == (
        "ocds-h6vhtk-0c9d21", "SPC-CALLOFF-2025-011", "AW-SPC-2025-011")
    assert contract.status == "active"
    assert contract.signed_on == dt.date(2025, 3, 17)
    assert (contract.period.start, contract.period.end, contract.period.max_extent) == (
        dt.date(2025, 4, 1), dt.date(2027, 3, 31), dt.date(2028, 3, 31))
    assert contract.renewal_decision_on == dt.date(2026, 12, 1)
    assert (contract.value, contract.currency) == (520000, "GBP")
    # the release's buyer, then the other party with the buyer role; the buyer is not repeated
    assert [b.id for b in contract.buyers] == ["GB-PPON-TTTT-9999-UUUU", "GB-PPON-WWWW-1212-XXXX"]
    assert (contract.supplier.id, contract.supplier.name, contract.supplier.role) == (
        "GB-COH-08123456", "Southgate Computing Ltd", "reseller")
    # item 1 has the brand and model extension fields, item 2 has them as attributes
    assert [(i.id, i.brand, i.model, i.cpv, i.quantity) for i in contract.items] == [
        ("1", "Fabrikam", "FX-14 Pro", "30213100", 650), ("2", "Fabrikam", "FX-16 Pro", "30213100", 150)]
    assert contract.brands == ["Fabrikam"]
    assert (contract.clause_set.id, contract.clause_set.version) == ("EWCC-v2-UK", "2.0")
    assert contract.framework is not None
    assert (contract.framework.ref, contract.framework.ocid, contract.framework.title) == (
        "ocds-h6vhtk-0d7e52", "ocds-h6vhtk-0d7e52", "Portable Computing Devices 2024 (fictional)")


def test_the_examples_do_not_clash_with_the_demo_contracts():
    ours = {c.id for c in records.load_contracts(EXAMPLES / "contracts.yaml")}
    brands = {b for c in records.load_contracts(EXAMPLES / "contracts.yaml") for b in c.brands}
    for path in (RELEASE_PACKAGE, RECORD_PACKAGE):
        for contract in records.load_contracts(path):
            assert contract.id not in ours
            assert set(contract.brands) <= brands
    # `compliance demo` reads contracts.*, facilities.* and evidence/: none of these examples
    assert OSHUB_CSV not in EXAMPLES.glob("facilities.*")
    assert not {RELEASE_PACKAGE, RECORD_PACKAGE} & set(EXAMPLES.glob("contracts.*"))


def test_an_ocds_package_gives_raw_dicts_for_the_model_to_validate(tmp_path: Path):
    [item], problems = ocds.read_package(package(), "p.json")
    assert problems == []
    assert item.raw["clause_set"] == {"id": "EWCC-v2-UK", "version": "2.0"}
    assert item.raw["period"] == {"start": "2025-04-01", "end": "2027-03-31", "max_extent": "2028-03-31"}
    value = package()
    del value["releases"][0]["contracts"][0]["clauseSet"]
    with pytest.raises(InputError) as caught:
        records.load_contracts(write_json(tmp_path, value))
    assert [p.field for p in caught.value.problems] == ["releases[0].contracts[0].clauseSet"]


def test_is_ocds_package():
    assert ocds.is_ocds_package({"releases": []}) and ocds.is_ocds_package({"records": []})
    assert not ocds.is_ocds_package({"contracts": []}) and not ocds.is_ocds_package([{"releases": []}])


def test_releases_of_one_process_in_a_release_package_are_merged(tmp_path: Path):
    releases = package(RECORD_PACKAGE)["records"][0]["releases"]
    [contract] = records.load_contracts(write_json(tmp_path, {"releases": list(reversed(releases))}))
    assert contract.period.start == dt.date(2025, 3, 15)
    assert contract.status == "active"


def test_a_contract_file_in_our_own_shape_still_loads_from_json(tmp_path: Path):
    [item], _problems = ocds.read_package(package(), "p.json")
    [contract] = records.load_contracts(write_json(tmp_path, {"contracts": [item.raw]}, "ours.json"))
    assert contract.id == "SPC-CALLOFF-2025-011"


# ---------------------------------------------------------------------------------------------------------------------
# OCDS record packages


def test_a_record_package_merges_its_releases_and_takes_the_later_period():
    [contract] = records.load_contracts(RECORD_PACKAGE)
    assert (contract.ocid, contract.id, contract.award_id) == (
        "ocds-h6vhtk-0e4f63", "HGU-ICT-2025-002", "AW-HGU-2025-002")
    # from the contract release
    assert (contract.period.start, contract.period.end) == (dt.date(2025, 3, 15), dt.date(2027, 3, 14))
    assert contract.status == "active" and contract.signed_on == dt.date(2025, 2, 14)
    # from the award release, kept by the merge
    assert contract.clause_set.id == "EWCC-v2-UK" and contract.value == 310000
    assert contract.framework is None
    # the contract has no items: the award's; the award's supplier reference has no name: the party's
    assert [(i.brand, i.model, i.cpv) for i in contract.items] == [("Northwind", "NB-450 G9", "30213100")]
    assert (contract.supplier.id, contract.supplier.name) == ("GB-COH-09911223", "Northgate IT Supplies Ltd")
    assert [b.name for b in contract.buyers] == ["Harrowgate University"]


def test_record_releases_are_merged_in_date_order_not_file_order(tmp_path: Path):
    value = package(RECORD_PACKAGE)
    value["records"][0]["releases"].reverse()
    [contract] = records.load_contracts(write_json(tmp_path, value))
    assert contract.period.end == dt.date(2027, 3, 14) and contract.status == "active"


def test_a_records_compiled_release_is_preferred(tmp_path: Path):
    value = package(RECORD_PACKAGE)
    compiled = copy.deepcopy(value["records"][0]["releases"][0])
    compiled["contracts"][0]["period"]["endDate"] = "2028-02-29"
    compiled["contracts"][0]["dateSigned"] = "2025-01-31"
    value["records"][0]["compiledRelease"] = compiled
    [contract] = records.load_contracts(write_json(tmp_path, value))
    assert contract.period.end == dt.date(2028, 2, 29) and contract.status == "pending"


def test_a_record_with_one_release_needs_no_merge(tmp_path: Path):
    value = package(RECORD_PACKAGE)
    release = value["records"][0]["releases"][0]
    del release["date"]
    release["contracts"][0]["dateSigned"] = "2025-01-31"
    value["records"][0]["releases"] = [release]
    [contract] = records.load_contracts(write_json(tmp_path, value))
    assert contract.status == "pending" and contract.period.start == dt.date(2025, 3, 1)


def test_a_release_without_a_date_cannot_be_merged(tmp_path: Path):
    value = package(RECORD_PACKAGE)
    del value["records"][0]["releases"][1]["date"]
    path = write_json(tmp_path, value)
    [message] = problems(records.load_contracts, path)
    assert message.startswith(f"{path}:")
    assert "records[0].releases[1].date: missing; releases are merged in date order" in message


# ---------------------------------------------------------------------------------------------------------------------
# Problems, named by file, line and OCDS path


def test_a_missing_clause_set_names_the_file_and_the_ocds_path(tmp_path: Path):
    value = package()
    del value["releases"][0]["contracts"][0]["clauseSet"]
    path = write_json(tmp_path, value)
    [message] = problems(records.load_contracts, path)
    line = path.read_text().splitlines().index('      "contracts": [') + 2  # the contract object's line
    assert message == (
        f"{path}:{line}: releases[0].contracts[0].clauseSet: missing; OCDS has no field for the adopted "
        'human-rights clause set, add the extension field {"id": ..., "version": ...}')


def test_an_item_without_a_brand_names_the_item(tmp_path: Path):
    value = package()
    value["releases"][0]["contracts"][0]["items"][1]["attributes"] = [{"name": "model", "value": "FX-16 Pro"}]
    path = write_json(tmp_path, value)
    [message] = problems(records.load_contracts, path)
    assert message.startswith(f"{path}:")
    assert 'releases[0].contracts[0].items[1].brand: missing; OCDS items have no brand, add the extension field ' \
        '"brand" or an attributes entry {"name": "brand", "value": ...}' in message


def test_a_status_outside_the_ocds_codelist_is_a_problem(tmp_path: Path):
    value = package()
    value["releases"][0]["contracts"][0]["status"] = "completed"
    path = write_json(tmp_path, value)
    [message] = problems(records.load_contracts, path)
    assert message.startswith(f"{path}:")
    assert message.endswith("releases[0].contracts[0].status: 'completed' is not an OCDS contract status; "
                            "expected one of pending, active, cancelled, terminated")


def test_validation_problems_are_named_by_their_ocds_path_and_every_problem_is_reported(tmp_path: Path):
    value = package()
    contract = value["releases"][0]["contracts"][0]
    contract["period"]["endDate"] = "2024-01-01"
    del contract["dateSigned"]
    del contract["clauseSet"]
    value["releases"][0]["awards"][0]["suppliers"][0]["id"] = "GB-COH-00000000"  # not in parties: no name
    del value["releases"][0]["awards"][0]["suppliers"][0]["name"]
    path = write_json(tmp_path, value)
    found = problems(records.load_contracts, path)
    assert [m.split(": ", 1)[1] for m in found] == [
        "releases[0].awards[0].suppliers[0].name: is required but missing",
        "releases[0].contracts[0].clauseSet: missing; OCDS has no field for the adopted human-rights clause set, "
        'add the extension field {"id": ..., "version": ...}',
        "releases[0].contracts[0].dateSigned: is required but missing",
        "releases[0].contracts[0].period: end (2024-01-01) is before start (2025-04-01)",
    ]


def test_a_problem_in_a_merged_record_names_the_release_it_came_from(tmp_path: Path):
    value = package(RECORD_PACKAGE)
    value["records"][0]["releases"][0]["awards"][0]["items"][0]["quantity"] = -5
    path = write_json(tmp_path, value)
    [message] = problems(records.load_contracts, path)
    assert "records[0].releases[0].awards[0].items[0].quantity: input should be greater than or equal to 0" \
        in message


def test_an_award_id_with_no_award_and_no_buyer(tmp_path: Path):
    value = package()
    release = value["releases"][0]
    release["contracts"][0]["awardID"] = "AW-NONE"
    del release["buyer"]
    for party in release["parties"]:
        party["roles"] = ["supplier"]
    found = problems(records.load_contracts, write_json(tmp_path, value))
    assert [m.split(": ", 1)[1] for m in found] == [
        'releases[0].buyer: missing; give the release a buyer, or a party with the role "buyer"',
        "releases[0].contracts[0].awardID: no award in awards[] has the id 'AW-NONE'; the supplier is read from "
        "that award",
    ]


def test_contract_ids_repeated_across_releases_are_reported(tmp_path: Path):
    value = package()
    other = copy.deepcopy(value["releases"][0])
    other["ocid"] = "ocds-h6vhtk-0c9d22"
    value["releases"].append(other)
    path = write_json(tmp_path, value)
    assert problems(records.load_contracts, path) == [
        f"{path}: contract id 'SPC-CALLOFF-2025-011' appears more than once"]


# ---------------------------------------------------------------------------------------------------------------------
# Open Supply Hub CSVs

OSHUB_HEADER = ("os_id,contribution_date,name,address,country_code,country_name,lat,lng,sector,contributor (list),"
                "number_of_workers,parent_company,processing_type_facility_type_raw,facility_type,processing_type,"
                "product_type,is_closed\n")


def test_an_oshub_csv_gives_facilities_with_worker_ranges():
    facilities, links = records.load_facilities(OSHUB_CSV)
    assert links == []
    assert [(f.id, f.country, f.workers_min, f.workers_max) for f in facilities] == [
        ("TH2023045R7KX2X", "TH", 1001, 5000),     # 1001-5000
        ("CN2022198F4QN8G", "CN", 10001, None),    # More than 10000
        ("VN2024077J2TZ5C", "VN", None, 999),      # Less than 1000
        ("MY2022310B9CP39", "MY", 1200, 1200),     # 1,200
    ]
    assert facilities[0].parent_company == "Example Display Group" and facilities[1].parent_company is None
    assert facilities[0].address == "55 Moo 7, Example Eastern Industrial Estate, Chonburi 20160"
    demo = {f.id for f in records.load_facilities(EXAMPLES / "facilities.yaml")[0]}
    assert not demo & {f.id for f in facilities}


@pytest.mark.parametrize(("cell", "expected"), [
    ("250", (250, 250)),
    ("1,000", (1000, 1000)),
    ("1001-5000", (1001, 5000)),
    ("1,001 \u2013 5,000", (1001, 5000)),
    ("Less than 1000", (None, 999)),
    ("up to 50", (None, 50)),
    ("1000+", (1000, None)),
    ("MORE THAN 10000", (10001, None)),
])
def test_number_of_workers_forms(tmp_path: Path, cell: str, expected: tuple[int | None, int | None]):
    assert oshub.parse_workers(cell) == expected
    path = write(tmp_path, "f.csv", f'OS ID,Name,Country Code,Number of Workers\nTH2023045R7KX2X,Plant,TH,"{cell}"\n')
    [facility], _ = records.load_facilities(path)
    assert (facility.workers_min, facility.workers_max) == expected


def test_a_bad_check_character_and_an_unreadable_worker_count_are_reported_by_row(tmp_path: Path):
    path = write(tmp_path, "f.csv", OSHUB_HEADER
                 + "TH2023045R7KX2X,2024-01-01,Plant A,Addr,TH,Thailand,1,2,Electronics,X,250,,,,,,False\n"
                 + "TH2023045R7KX2Y,2024-01-01,Plant B,Addr,TH,Thailand,1,2,Electronics,X,lots,,,,,,False\n")
    assert problems(records.load_facilities, path) == [
        f"{path}: row 3: id TH2023045R7KX2Y: number_of_workers: cannot read 'lots' as a number of workers; expected "
        "a number (250, 1,000), a range (1001-5000), 'Less than 1000' or '1000+'",
        f"{path}: row 3: id TH2023045R7KX2Y: os_id: 'TH2023045R7KX2Y' is not an OS ID: the check character is 'Y' "
        "but should be 'X'",
    ]


def test_oshub_headers_match_whatever_their_case_and_spacing(tmp_path: Path):
    path = write(tmp_path, "f.csv", "OS ID , NAME,Country Code,Number Of Workers,Parent Company,Is Closed,risk_level\n"
                 "th2023045r7kx2x,Plant A,th,1000+,Example Group,False,high\n")
    [facility], _ = records.load_facilities(path)
    assert (facility.id, facility.country, facility.workers_min, facility.parent_company, facility.risk_level) == (
        "TH2023045R7KX2X", "TH", 1000, "Example Group", "high")
    assert oshub.is_oshub_header(["OS ID", "Name"]) and not oshub.is_oshub_header(["ID", "os_id", "name"])


def test_oshub_country_names_unknown_columns_and_model_problems(tmp_path: Path):
    path = write(tmp_path, "f.csv", "os_id,name,country_code,parent_compnay,risk_level\n"
                 "TH2023045R7KX2X,Plant A,Thailand,X,\n"
                 "CN2022198F4QN8G,,CN,,extreme\n")
    assert problems(records.load_facilities, path) == [
        f'{path}: row 1: column "parent_compnay": not an Open Supply Hub column that is read or ignored; '
        'did you mean "parent_company"?',
        f"{path}: row 2: id TH2023045R7KX2X: country_code: expected an ISO 3166-1 alpha-2 code; found 'Thailand'",
        f"{path}: row 3: id CN2022198F4QN8G: name: is required but missing",
        f"{path}: row 3: id CN2022198F4QN8G: risk_level: expected one of low, medium, high; found 'extreme'",
    ]


def test_a_csv_with_our_own_columns_is_not_read_as_oshub(tmp_path: Path):
    path = write(tmp_path, "f.csv", "id,name,country,workers_min\nFAC-A,Plant A,TH,10\n")
    [facility], _ = records.load_facilities(path)
    assert (facility.id, facility.workers_min) == ("FAC-A", 10)


# ---------------------------------------------------------------------------------------------------------------------
# Command line


def test_import_an_ocds_package_and_list_it(store_url: str):
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", store_url, "db", "init"]).exit_code == 0
    imported = runner.invoke(cli, ["--db", store_url, "import", "contracts", str(RELEASE_PACKAGE)])
    assert imported.exit_code == 0, imported.output
    facilities = runner.invoke(cli, ["--db", store_url, "import", "facilities", str(OSHUB_CSV)])
    assert facilities.exit_code == 0, facilities.output
    listed = runner.invoke(cli, ["--db", store_url, "contracts", "list"])
    assert listed.exit_code == 0
    assert listed.output.split()[:2] == ["SPC-CALLOFF-2025-011", "active"]
    assert "Southgate Computing Ltd" in listed.output and "2025-04-01 to 2027-03-31" in listed.output
