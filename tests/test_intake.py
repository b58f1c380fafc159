"""Evidence intake: every format, every kind of bad input with its place and reason, quarantine and correction,
idempotent re-imports, versions and provenance, and worker identities that never reach the store or the output."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import TEST_PSEUDONYM_KEY
from helpers import CONTRACTS, FACILITIES

from compliance.cli import cli
from compliance.domain import models
from compliance.errors import ConfigurationError, InputError
from compliance.sources import evidence_template, intake
from compliance.sources.pseudonyms import Pseudonymiser
from compliance.store import Store

ROOT = Path(__file__).resolve().parent.parent
PLANT = "TH2020112B8R4N8"  # the facility in helpers.FACILITIES
HOURS_HEADER = "type,id,facility_id,date,max_week_hours\n"
PSEUDONYMISE = Pseudonymiser(TEST_PSEUDONYM_KEY)


def read(path: Path, **options) -> list[intake.Row]:
    """The prepared rows of a file, as the import sees them."""
    opts = intake.Options(**options)
    return list(intake.rows(intake.open_source(path, opts), opts, PSEUDONYMISE))


def file_problems(path: Path, **options) -> list[str]:
    with pytest.raises(InputError) as caught:
        read(path, **options)
    return [str(p) for p in caught.value.problems]


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def hours_rows(n: int) -> list[str]:
    return [f"working_hours,WH-{i},{PLANT},2025-01-{i % 28 + 1:02d},{50 + i % 30}" for i in range(n)]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, url: str, *args: str):
    return runner.invoke(cli, ["--db", url, *args])


@pytest.fixture
def seeded(runner: CliRunner, store_url: str, tmp_path: Path) -> str:
    """A store holding contract K1 and its factory."""
    assert invoke(runner, store_url, "db", "init").exit_code == 0
    for kind, text in (("contracts", CONTRACTS), ("facilities", FACILITIES)):
        path = write(tmp_path, f"{kind}.yaml", text)
        assert invoke(runner, store_url, "import", kind, str(path)).exit_code == 0
    return store_url


def open_store(url: str) -> Store:
    return Store(url)


# ---------------------------------------------------------------------------------------------------------------------
# Files that cannot be read at all: one clear message, nothing imported


def test_an_empty_file_is_refused(tmp_path: Path):
    for name in ("e.csv", "e.json", "e.xlsx", "e.jsonl"):
        path = write(tmp_path, name, "")
        [message] = file_problems(path)
        assert message.startswith(f"{path}: is empty")


def test_a_csv_with_only_a_header_is_refused(tmp_path: Path):
    path = write(tmp_path, "e.csv", "type,id,date\n")
    assert file_problems(path) == [f"{path}: has a header row but no data rows"]


def test_a_file_that_is_not_what_its_extension_says_is_refused(tmp_path: Path):
    workbook = tmp_path / "book.xlsx"
    evidence_template.write_template("working_hours", "xlsx", workbook)
    renamed = tmp_path / "hours.csv"
    renamed.write_bytes(workbook.read_bytes())
    [message] = file_problems(renamed)
    assert "is a ZIP archive (probably an XLSX workbook), not CSV text" in message
    text = write(tmp_path, "hours.xlsx", HOURS_HEADER + hours_rows(1)[0])
    [message] = file_problems(text)
    assert "is not an XLSX workbook" in message and "give it the .csv extension" in message
    binary = tmp_path / "hours.jsonl"
    binary.write_bytes(b"\x00\x01\x02binary")
    assert file_problems(binary) == [f"{binary}: contains NUL bytes: it is binary data, not a text file"]


def test_a_truncated_xlsx_is_refused_before_any_row_is_read(tmp_path: Path):
    whole = tmp_path / "whole.xlsx"
    evidence_template.write_template("working_hours", "xlsx", whole)
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    [message] = file_problems(truncated)
    assert message.startswith(f"{truncated}: is not a readable XLSX workbook (damaged or truncated")


def test_text_that_is_not_utf8_names_the_byte_and_the_way_out(tmp_path: Path):
    path = tmp_path / "g.csv"
    path.write_bytes((HOURS_HEADER + hours_rows(1)[0] + "\n").replace("WH-0", "WH-Café").encode("cp1252"))
    [message] = file_problems(path)
    assert "is not utf-8 text (invalid continuation byte at byte" in message and "--encoding cp1252" in message
    [row] = read(path, encoding="cp1252")
    assert row.record is not None and row.record.id == "WH-Café"


def test_missing_required_columns_are_named(tmp_path: Path):
    path = write(tmp_path, "g.csv", "id,date,channel\nG-1,2025-01-01,hotline\n")
    assert file_problems(path, evidence_type="grievance") == [
        f"{path}:1: misses required column issue_categories (header row: id, date, channel)"]
    assert file_problems(write(tmp_path, "h.csv", "id,date\nX,2025-01-01\n")) == [
        f"{tmp_path / 'h.csv'}: has no type column: add one, or name the type of every row with --type TYPE"]


def test_json_syntax_errors_name_the_line(tmp_path: Path):
    path = write(tmp_path, "e.json", '{"evidence": [\n  {"id": "G-1",}\n]}\n')
    [message] = file_problems(path)
    assert message.startswith(f"{path}:2: is not valid JSON")


# ---------------------------------------------------------------------------------------------------------------------
# Bad rows: file, row, field, value and what was expected


def only_problems(rows: list[intake.Row]) -> list[tuple[int, str]]:
    return [(row.number, str(problem)) for row in rows for problem in row.problems]


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them_and_a_bom_is_ignored(tmp_path: Path):
    path = write(tmp_path, "fees.csv", "\ufefftype,id,facility_id,date,worker_group,median_fee\n"
                 "recruitment_fee,RF-1,FAC-1,2024-01-01,wg_a,100\n"
                 "recruitment_fee,RF-2,FAC-1,2024-01-01,wg_a,lots\n")
    rows = read(path)
    assert rows[0].record is not None
    assert only_problems(rows) == [
        (3, "median_fee: expected a valid number, unable to parse string as a number; found 'lots'")]


def test_wrong_types_dates_that_do_not_exist_and_bad_check_characters(tmp_path: Path):
    path = write(tmp_path, "h.csv", HOURS_HEADER +
                 f"working_hours,WH-1,{PLANT},2025-02-30,60\n"
                 f"working_hours,WH-2,{PLANT[:-1]}X,2025-02-03,60\n"
                 f"working_hours,WH-3,{PLANT},2025-02-03,sixty\n")
    assert only_problems(read(path)) == [
        (2, "date: expected a valid date or datetime, day value is outside expected range; found '2025-02-30'"),
        (3, "facility_id: 'TH2020112B8R4NX' is not a facility id: the check character is 'X' but should be '8' (use "
            "FAC-... for sites without an OS ID); found 'TH2020112B8R4NX'"),
        (4, "max_week_hours: expected a valid number, unable to parse string as a number; found 'sixty'"),
    ]


def test_day_first_dates_need_the_option_and_are_then_read_day_first(tmp_path: Path):
    path = write(tmp_path, "h.csv", HOURS_HEADER + f"working_hours,WH-1,{PLANT},03/04/2025,60\n"
                                                   f"working_hours,WH-2,{PLANT},31/02/2025,60\n")
    assert only_problems(read(path))[0] == (
        2, "date: a date written YYYY-MM-DD; if the file writes dates day first (31/01/2025), import it with "
           "--day-first; found '03/04/2025'")
    first, second = read(path, day_first=True)
    assert first.record is not None and first.record.date == dt.date(2025, 4, 3)  # 3 April, never 4 March
    assert [str(p) for p in second.problems] == ["date: a date that exists (day is out of range for month); "
                                                 "found '31/02/2025'"]


def test_unknown_columns_are_reported_once_and_not_imported(tmp_path: Path):
    path = write(tmp_path, "h.csv", "type,id,facility_id,date,max_week_hours,max_consecutive_dys,Notes\n"
                 f"working_hours,WH-1,{PLANT},2025-01-01,60,1,call back\n"
                 f"working_hours,WH-2,{PLANT},2025-01-02,61,1,\n")
    source = intake.open_source(path, intake.Options())
    rows = list(intake.rows(source, intake.Options(), PSEUDONYMISE))
    assert all(row.record is not None for row in rows)
    assert "Notes" not in rows[0].raw and "notes" not in rows[0].raw
    assert source.warnings == [
        'column "max_consecutive_dys" is not an evidence field, its values were not imported; did you mean '
        '"max_consecutive_days"?',
        'column "Notes" is not an evidence field, its values were not imported',
    ]


def test_a_100_mb_cell_is_refused_without_storing_it(runner: CliRunner, seeded: str, tmp_path: Path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as stream:
        stream.write("type,id,facility_id,date,code_area,classification,summary\n")
        stream.write(f"audit_finding,A-1,{PLANT},2025-01-01,wages,minor,fine\n")
        stream.write(f"audit_finding,A-2,{PLANT},2025-01-01,wages,minor,")
        for _ in range(100):
            stream.write("x" * 1_000_000)
        stream.write("\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8, result.output
    assert "row 3: summary: at most 20000 characters; found 100000000 characters" in result.output
    store = open_store(seeded)
    try:
        [entry] = store.quarantine()
        assert entry.raw["summary"].endswith("[cut: 100000000 characters]") and len(entry.raw["summary"]) < 300
        assert store.counts()["evidence records"] == 1
    finally:
        store.close()


def test_json_lines_with_a_broken_line_keep_the_good_lines(tmp_path: Path):
    good = {"type": "working_hours", "id": "WH-1", "facility_id": PLANT, "date": "2025-01-01", "max_week_hours": 60}
    path = write(tmp_path, "h.jsonl", json.dumps(good) + "\n{broken\n\n" + json.dumps({**good, "id": "WH-2"}) + "\n")
    rows = read(path)
    assert [r.record.id for r in rows if r.record] == ["WH-1", "WH-2"]
    assert only_problems(rows) == [(2, "is not valid JSON: Expecting property name enclosed in double quotes "
                                       "(column 2)")]


def test_json_records_are_located_by_line(tmp_path: Path):
    path = write(tmp_path, "e.json", """{"evidence": [
  {"type": "grievance", "id": "G-1", "facility_id": "FAC-1", "date": "2024-01-01", "issue_categories": ["wages"]},
  {"type": "grievance", "id": "G-2", "facility_id": "FAC-1", "date": "2024-13-01", "issue_categories": ["wages"]}
]}
""")
    [(line, problem)] = only_problems(read(path))
    assert line == 3 and problem.startswith("date: expected a valid date") and problem.endswith("found '2024-13-01'")


def test_list_cells_a_default_type_and_a_sensitivity_for_the_file(tmp_path: Path):
    path = write(tmp_path, "g.csv", "id,facility_id,date,issue_categories\nG-1,FAC-1,2024-01-01,wages; threats\n")
    [row] = read(path, evidence_type="grievance", sensitivity="restricted")
    assert row.record is not None and row.record.issue_categories == ["wages", "threats"]  # type: ignore[attr-defined]
    assert row.record.sensitivity == models.Sensitivity.RESTRICTED


def test_the_example_row_of_a_template_is_skipped(tmp_path: Path):
    path = tmp_path / "t.csv"
    evidence_template.write_template("working_hours", "csv", path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(f"working_hours,WH-1,2025-01-01,,{PLANT},,,60,,,,,,,\n")
    rows = read(path)
    assert [row.skipped for row in rows] == [True, False]


def test_xlsx_with_excel_date_cells_numbers_and_non_latin_names(tmp_path: Path):
    path = tmp_path / "g.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Type", "ID", "Facility ID", "Date", "Issue categories", "Worker name", "n_reporting"])
    sheet.append(["grievance", "G-1", PLANT, dt.datetime(2025, 1, 31), "wages;threats", "王秀英", None])
    sheet.append(["grievance", 1002, PLANT, "31/01/2025", "wages", "Nguyễn Văn An", None])
    sheet.append([None] * 7)  # the empty rows spreadsheets keep at the end
    book.save(path)
    first, second = read(path, day_first=True)
    assert first.record is not None and first.record.date == dt.date(2025, 1, 31)
    assert second.record is not None and second.record.id == "1002" and second.record.date == dt.date(2025, 1, 31)
    assert first.record.complainant == PSEUDONYMISE("王秀英")  # type: ignore[attr-defined]
    assert "王秀英" not in json.dumps(first.raw, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------------------------------
# Pseudonyms


def test_pseudonyms_are_keyed_stable_and_ignore_spelling_of_the_same_identifier():
    same = {PSEUDONYMISE(v) for v in ("+66 81-234 5678", "+66812345678", "+66 (81) 234.5678")}
    assert len(same) == 1 and next(iter(same)).startswith("wp_")
    assert PSEUDONYMISE("NGUYỄN VĂN AN") == PSEUDONYMISE("Nguyễn Văn An")
    assert Pseudonymiser("another-key-" + "5f0c9e2b7a41d6" * 3)("+66812345678") != PSEUDONYMISE("+66812345678")
    # Only a pseudonym of this key is kept as it is; a look-alike is hashed (a group label stays a group label).
    assert PSEUDONYMISE("wp_3c9e") != "wp_3c9e" and PSEUDONYMISE("wp_3c9e").startswith("wp_")
    assert PSEUDONYMISE("wg_line_b") != "wg_line_b" and PSEUDONYMISE("wg_line_b").startswith("wg_")
    assert PSEUDONYMISE(PSEUDONYMISE("E-1")) == PSEUDONYMISE("E-1")  # a corrected quarantine row keeps its pseudonym


def test_a_missing_or_short_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, runner: CliRunner, seeded: str,
                                                  tmp_path: Path):
    monkeypatch.delenv("COMPLIANCE_PSEUDONYM_KEY")
    with pytest.raises(ConfigurationError, match="no pseudonym key is configured"):
        Pseudonymiser.from_environment()
    path = write(tmp_path, "h.csv", HOURS_HEADER + hours_rows(1)[0] + "\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 5 and "COMPLIANCE_PSEUDONYM_KEY_FILE" in result.output
    key_file = write(tmp_path, "key", "short\n")
    monkeypatch.setenv("COMPLIANCE_PSEUDONYM_KEY_FILE", str(key_file))
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 5 and "the pseudonym key is weak: too short" in result.output
    store = open_store(seeded)
    try:
        assert store.counts()["evidence records"] == 0
    finally:
        store.close()


def test_a_store_refuses_a_different_key_than_its_pseudonyms_were_made_with(
        monkeypatch: pytest.MonkeyPatch, runner: CliRunner, seeded: str, tmp_path: Path):
    path = write(tmp_path, "h.csv", HOURS_HEADER + hours_rows(1)[0] + "\n")
    assert invoke(runner, seeded, "import", "evidence", str(path)).exit_code == 0
    monkeypatch.setenv("COMPLIANCE_PSEUDONYM_KEY", "a-different-key-" + "5f0c9e2b7a41d6" * 3)
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 5 and "is not the key this store's worker pseudonyms were made with" in result.output


RAW_IDENTIFIERS = ["María Guadalupe Hernández López", "MX-E-20931", "mx-e 20931", "+52 33 1234 5678", "王秀英",
                   "CN-E-88812", "+86 138 0013 8000", "Trần Thị Mai", "+84 912 345 678"]


def test_no_raw_worker_identifier_reaches_the_database_file_or_the_output(tmp_path: Path):
    """Import every shipped example file, plus a bad row carrying identities (so the quarantine is covered too),
    then search the SQLite file and everything the commands printed for the raw values."""
    database = tmp_path / "store.db"
    store_url = f"sqlite:///{database}"
    bad = write(tmp_path, "bad.csv", "type,id,facility_id,date,issue_categories,worker_name,phone\n"
                f"grievance,WV-BAD-1,{PLANT},31/12/2025,wages,Somchai Jaidee,+66 81 234 5678\n")
    raw = RAW_IDENTIFIERS + ["Somchai Jaidee", "+66 81 234 5678"]
    data = ROOT / "contracts"
    evidence = sorted(p for p in (data / "evidence").iterdir() if p.suffix in intake.FORMATS)
    assert any("worker-voice" in p.name for p in evidence)
    output = ""
    for args in (["db", "init"], ["import", "contracts", str(data / "contracts.yaml")],
                 ["import", "facilities", str(data / "facilities.yaml")],
                 ["import", "evidence", *map(str, evidence)], ["import", "evidence", str(bad)],
                 ["quarantine", "list"], ["quarantine", "show", "1"],
                 ["run", "--as-of", "2025-06-30", "--rules", str(ROOT / "rules"), "-v", "--log-json"],
                 ["findings", "list"]):
        done = subprocess.run([sys.executable, "-m", "compliance", "--db", store_url, *args], capture_output=True,
                              text=True, cwd=tmp_path, timeout=300)
        assert done.returncode in (0, 1, 8), (args, done.stderr)
        output += done.stdout + done.stderr
    assert "quarantined" in output and "WV-BAD-1" in output
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for value in raw:
        for encoded in (value.encode("utf-8"), json.dumps(value).encode()):  # as text and as escaped JSON
            assert encoded not in stored, value
        assert value not in output, value
    # ...while the pseudonyms made from them are there, and correlate: one employee number, written two ways in a
    # complaint and a dismissal, gives the retaliation finding of the example.
    assert PSEUDONYMISE("MX-E-20931").encode() in stored
    store = Store(store_url)
    try:
        [finding] = store.stored_findings(rule_id="GR-03", facility_id="MX2022061T5VB2S")
        assert finding.payload["evidence_ids"] == ["WV-MX-0413", "WV-MX-0437"]
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------------------------------
# The store: quarantine, correction, idempotence, versions and provenance


def test_997_good_rows_are_imported_3_quarantined_and_the_corrected_3_complete_the_set(
        runner: CliRunner, seeded: str, tmp_path: Path):
    rows = hours_rows(1000)
    rows[10] = rows[10].replace(",2025-01-11,", ",2025-01-32,")  # a date that does not exist
    rows[500] = rows[500].replace(PLANT, PLANT[:-1] + "X")  # a bad check character
    rows[999] = rows[999].rsplit(",", 1)[0] + ",lots"  # not a number
    path = write(tmp_path, "hours.csv", HOURS_HEADER + "\n".join(rows) + "\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8
    assert result.output.splitlines()[0] == f"{path}: 997 evidence records added, 0 updated, 0 unchanged, 3 quarantined"
    assert f"{path}: row 12: date:" in result.output and f"{path}: row 502: facility_id:" in result.output
    assert f"{path}: row 1001: max_week_hours:" in result.output

    again = invoke(runner, seeded, "import", "evidence", str(path))  # the same file again: the same 3 entries
    assert again.exit_code == 8 and again.output.startswith(f"{path}: 0 evidence records added, 0 updated, "
                                                            "997 unchanged, 3 quarantined")
    listing = invoke(runner, seeded, "quarantine", "list")
    assert listing.exit_code == 0 and listing.output.splitlines()[-1] == "3 entries."
    fix = tmp_path / "to-correct.csv"
    assert invoke(runner, seeded, "quarantine", "export", "-o", str(fix)).exit_code == 0
    exported = list(csv.DictReader(io.StringIO(fix.read_text(encoding="utf-8-sig"))))
    assert [r["id"] for r in exported] == ["WH-10", "WH-500", "WH-999"]
    assert "day value is outside expected range" in exported[0]["quarantine_reason"]
    exported[0]["date"], exported[1]["facility_id"], exported[2]["max_week_hours"] = "2025-01-11", PLANT, "79"
    with fix.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(exported[0]))
        writer.writeheader()
        writer.writerows(exported)
    result = invoke(runner, seeded, "import", "evidence", str(fix))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{fix}: 3 evidence records added")
    store = open_store(seeded)
    try:
        assert store.counts()["evidence records"] == 1000
        assert store.quarantine() == [] and len(store.quarantine("resolved")) == 3
    finally:
        store.close()
    assert invoke(runner, seeded, "quarantine", "list").output.splitlines()[-1] == "0 entries."


def test_importing_the_same_file_twice_adds_nothing_and_a_correction_supersedes_with_history(
        runner: CliRunner, seeded: str, tmp_path: Path):
    path = write(tmp_path, "hours.csv", HOURS_HEADER + "\n".join(hours_rows(5)) + "\n")
    assert invoke(runner, seeded, "import", "evidence", str(path)).exit_code == 0
    again = invoke(runner, seeded, "import", "evidence", str(path))
    assert again.exit_code == 0
    assert again.output == f"{path}: 0 evidence records added, 0 updated, 5 unchanged\n"
    corrected = write(tmp_path, "hours-v2.csv", HOURS_HEADER + hours_rows(5)[2].replace(",52", ",75") + "\n")
    assert invoke(runner, seeded, "import", "evidence", str(corrected)).output.startswith(
        f"{corrected}: 0 evidence records added, 1 updated")
    store = open_store(seeded)
    try:
        assert store.counts()["evidence records"] == 5
        first, second = store.evidence_versions("WH-2")
        assert (first["version"], first["source_file"], first["source_row"], first["payload"]["max_week_hours"]) \
            == (1, str(path), 4, 52.0)
        assert (second["version"], second["source_file"], second["source_row"], second["payload"]["max_week_hours"]) \
            == (2, str(corrected), 2, 75.0)
        assert first["known_until"] == second["known_from"] and second["known_until"] is None
        assert first["imported_by"] and len(first["content_hash"]) == 64
        shown = invoke(runner, seeded, "evidence", "history", "WH-2").output.splitlines()
        assert shown[0].startswith(f"version 1: {path}, row 4; batch ") and "(until " in shown[0]
        assert any(line.startswith(f"version 2: {corrected}, row 2; batch ") and "(current)" in line for line in shown)
        batches = store.batches("evidence")
        assert [b.status for b in batches] == ["complete"] * 3
        assert batches[0].content_hash == batches[1].content_hash != batches[2].content_hash  # the file's hash
    finally:
        store.close()


def test_duplicate_ids_in_one_file_keep_the_first_and_quarantine_the_others(store: Store):
    store.add_contracts([], "none.yaml")
    store.add_facilities([models.Facility(id=PLANT, name="Plant", country="TH")], [], "f.yaml")
    rows = [intake.Row(number=n, raw={"id": "WH-1"}, record=models.EVIDENCE_ADAPTER.validate_python(
        {"type": "working_hours", "id": "WH-1", "facility_id": PLANT, "date": "2025-01-01", "max_week_hours": h}))
        for n, h in ((2, 60), (3, 61), (4, 62))]
    summary = store.import_evidence("hours.csv", "0" * 64, rows, {}, chunk_size=2)  # across chunks too
    assert (summary.added, summary.quarantined) == (1, 2)
    assert [str(p) for p in summary.problems] == [
        "hours.csv: row 3: id: an id used once in the file (row 2 has it too); found 'WH-1'",
        "hours.csv: row 4: id: an id used once in the file (row 2 has it too); found 'WH-1'",
    ]
    assert [(q.source_row, q.status) for q in store.quarantine()] == [(3, "open"), (4, "open")]


def test_evidence_for_an_unknown_contract_or_facility_is_quarantined(runner: CliRunner, seeded: str,
                                                                      tmp_path: Path):
    path = write(tmp_path, "e.csv", "type,id,contract_id,facility_id,date,model\n"
                 "factory_disclosure,D-1,K404,,2025-01-01,NB-450\n"
                 "factory_disclosure,D-2,K1,FAC-NOWHERE,2025-01-01,NB-450\n"
                 "factory_disclosure,D-3,K1,,2025-01-01,NB-450\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8
    assert (f"  quarantined: {path}: row 2: contract_id: a contract in the store (import the contract first); "
            "found 'K404'") in result.output.splitlines()
    assert (f"  quarantined: {path}: row 3: facility_id: a facility in the store (import the facility first); "
            "found 'FAC-NOWHERE'") in result.output.splitlines()
    dismissed = invoke(runner, seeded, "quarantine", "dismiss", "1", "--reason", "test row")
    assert dismissed.exit_code == 0
    assert invoke(runner, seeded, "quarantine", "list").output.splitlines()[-1] == "1 entry."
    assert "dismissed by" in invoke(runner, seeded, "quarantine", "show", "1").output


def test_csv_injection_is_stored_as_text_and_made_harmless_when_exported_again(
        runner: CliRunner, seeded: str, tmp_path: Path):
    payload = "=cmd|' /C calc'!A0"
    path = write(tmp_path, "a.csv", "type,id,facility_id,date,code_area,classification,summary\n"
                 f"audit_finding,A-1,{PLANT},2025-01-01,wages,minor,\"{payload}\"\n"
                 f"audit_finding,A-2,{PLANT},2025-01-01,wages,grave,\"{payload}\"\n")
    assert invoke(runner, seeded, "import", "evidence", str(path)).exit_code == 8
    store = open_store(seeded)
    try:
        [version] = store.evidence_versions("A-1")
        assert version["payload"]["summary"] == payload  # kept as the text it is
    finally:
        store.close()
    out = tmp_path / "q.csv"
    assert invoke(runner, seeded, "quarantine", "export", "-o", str(out)).exit_code == 0
    [row] = csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))
    assert row["summary"] == "'" + payload  # a spreadsheet shows it as text and never runs it


def test_an_officer_fills_the_xlsx_template_in_a_spreadsheet_and_imports_it(
        runner: CliRunner, seeded: str, tmp_path: Path):
    template = tmp_path / "grievances.xlsx"
    assert invoke(runner, seeded, "evidence", "template", "grievance", "--format", "xlsx", "-o",
                  str(template)).exit_code == 0
    book = openpyxl.load_workbook(template)
    sheet = book["grievance"]
    header = [cell.value for cell in sheet[1]]
    for n, day in enumerate((3, 17), start=1):
        values = {"type": "grievance", "id": f"GRV-{n}", "date": dt.datetime(2025, 2, day), "facility_id": PLANT,
                  "issue_categories": "wages;overtime", "complainant": f"Worker Number {n}", "status": "open"}
        sheet.append([values.get(name) for name in header])
    book.save(template)
    result = invoke(runner, seeded, "import", "evidence", str(template))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"{template}: 2 evidence records added, 0 updated, 0 unchanged, " \
                                            "1 example row skipped"
    store = open_store(seeded)
    try:
        contract = store.contract("K1")
        records = store.evidence_for(contract, [PLANT], dt.date(2025, 12, 31))
        assert [(r.id, r.date, r.complainant) for r in records] == [  # type: ignore[attr-defined]
            ("GRV-1", dt.date(2025, 2, 3), PSEUDONYMISE("Worker Number 1")),
            ("GRV-2", dt.date(2025, 2, 17), PSEUDONYMISE("Worker Number 2"))]
    finally:
        store.close()


def test_bad_import_options_and_unknown_quarantine_entries_are_named(runner: CliRunner, seeded: str,
                                                                      tmp_path: Path):
    path = write(tmp_path, "h.csv", HOURS_HEADER + hours_rows(1)[0] + "\n")
    for option, value, message in (("--type", "working_hour", 'unknown evidence type "working_hour"; did you mean '
                                    '"working_hours"?'), ("--sensitivity", "secret", 'unknown sensitivity "secret"'),
                                   ("--encoding", "klingon", 'unknown text encoding "klingon"')):
        result = invoke(runner, seeded, "import", "evidence", str(path), option, value)
        assert result.exit_code == 3 and message in result.output, result.output
    result = invoke(runner, seeded, "quarantine", "show", "99")
    assert result.exit_code == 3 and "no quarantine entry 99" in result.output
