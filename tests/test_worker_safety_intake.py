"""Worker safety at intake, through the command line as officers run it: identities planted in every free-text field
of every evidence type never reach the store (the database file and every table), the import output or the
quarantine; identifiers carrying one are refused without echoing it; one worker written in several ways is one
pseudonym (a retaliation is found across spellings of a phone number); ordinary text survives; shifted CSV rows,
misspelt types and wrong-type values keep nothing raw; weak or conflicting keys are refused; erasure removes a value
or a record from every table and logs it without breaking the audit chain; sources written in words are codes.

Quasi-identifiers ("Line 7 night shift", "leader Pham", "Dorm B room 314") are not detected at intake yet, and names
in free text are found only when an identity column of the record or its file names them (see the README's
"Worker identities").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import TEST_PSEUDONYM_KEY
from helpers import CONTRACTS, RULES_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.cli import cli
from compliance.domain import models
from compliance.errors import NotFound
from compliance.sources import evidence_template
from compliance.sources.pseudonyms import MAKE_KEY, Pseudonymiser
from compliance.store import Store

PSEUDONYMISE = Pseudonymiser(TEST_PSEUDONYM_KEY)


def os_id(country: str) -> str:
    first = f"{country}2020112B8R4N"
    return first + models.os_id_check_character(first)


#: One facility per country of the data, each linked to contract K1's model, so that evidence about any of them
#: counts for K1 and local phone numbers are read in its country.
COUNTRIES = ("TH", "CN", "VN", "MY", "IN", "MM", "CZ")
PLANTS = {country: os_id(country) for country in COUNTRIES}
FACILITIES = "facilities:\n" + "".join(
    f"  - {{id: {fid}, name: Plant {c}, address: Industrial Estate, country: {c}}}\n" for c, fid in PLANTS.items()
) + "production_links:\n" + "".join(
    f"  - {{brand: Northwind, model: NB-450, facility_id: {fid}}}\n" for fid in PLANTS.values())

#: Workers as exports and officers write them, by the country of their facility: names in their scripts and in
#: Latin letters, phone numbers written locally and internationally, national id numbers, e-mails, handles, links.
WORKERS = {
    "TH": {"names": ["Somchai Jaidee", "สมชาย ใจดี", "Malee Srisuk"],
           "phones": ["081-234-5678", "0812345678", "+66 81 234 5678"], "ids": ["1-1037-00012-34-5", "1103700012345"]},
    "CN": {"names": ["王秀英", "李伟", "Zhang Xiuying"], "phones": ["138 0013 8000", "+86 138 0013 8000"],
           "ids": ["110101199003074578", "44030119851231002X"]},
    "VN": {"names": ["Nguyễn Văn An", "Trần Thị Mai"], "phones": ["0912 345 678", "+84 912 345 678"],
           "ids": ["001099012345"]},
    "MY": {"names": ["Siti Nurhaliza binti Ahmad"], "phones": ["012-345 6789", "+60 12-345 6789"],
           "ids": ["900101-14-5678"]},
    "IN": {"names": ["முருகன் செல்வம்", "Kavitha Ramasamy"], "phones": ["98765 43210", "+91 98765 43210"],
           "ids": ["2345 6789 0123"]},
    "MM": {"names": ["Aung Kyaw Moe", "မောင်မောင်ဦး"], "phones": ["09 250 123 456", "+95 9 250 123 456"],
           "ids": ["12/OuKaMa(N)123456"]},
    "CZ": {"names": ["Jiří Dvořák", "Květa Nováková"], "phones": ["601 123 456", "+420 601 123 456"], "ids": []},
}
EMAILS = ["somchai.j@gmail.com", "wang.xiuying@qq.com", "an.nguyen+hr@example.vn"]
HANDLES = [("LINE: {}", "somchai_88"), ("LINE ID {}", "malee1990"), ("WeChat: {}", "wxid_k2j4h5g6"),
           ("Telegram: {}", "@aungkyaw_moe"), ("{}", "@kavitha_r"), ("{}", "wa.me/66812345678"),
           ("{}", "https://line.me/ti/p/~somchai88")]
ORDINARY = "Workers on line 7 (3 workers) met on 2025-05-12 about PO 4500012345 at {plant}"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, url: str, *args: str, **kwargs):
    return runner.invoke(cli, ["--db", url, *args], **kwargs)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def seeded(runner: CliRunner, store_url: str, tmp_path: Path) -> str:
    """A store holding contract K1 and a facility in each country of the data."""
    assert invoke(runner, store_url, "db", "init").exit_code == 0
    for kind, text in (("contracts", CONTRACTS), ("facilities", FACILITIES)):
        result = invoke(runner, store_url, "import", kind, str(write(tmp_path, f"{kind}.yaml", text)))
        assert result.exit_code == 0, result.output
    return store_url


def stored_text(url: str) -> str:
    """Every value of every table of the store, as text (non-ASCII as written, not escaped)."""
    engine = sa.create_engine(Store(url).url)
    out = []
    try:
        with engine.connect() as connection:
            for table in sa.inspect(connection).get_table_names():
                for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
                        if isinstance(value, str) and value[:1] in "[{":
                            try:
                                text += json.dumps(json.loads(value), ensure_ascii=False)
                            except ValueError:
                                pass
                        out.append(text)
    finally:
        engine.dispose()
    return "\n".join(out)


def assert_nowhere(url: str, output: str, values: list[str]) -> None:
    """None of `values` is in the store (every table; and the SQLite file's bytes) or in `output`."""
    text = stored_text(url)
    files = b""
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        files = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for value in values:
        assert value not in output, value
        assert value not in text, value
        for encoded in (value.encode(), json.dumps(value).encode()):
            assert encoded not in files, value


def base_row(type_name: str, number: int, country: str) -> dict[str, str]:
    """A valid row of `type_name` (the template's example) about the facility in `country` and contract K1."""
    row = {k: v for k, v in evidence_template.example_row(type_name).items() if v != ""}
    row["id"] = f"R-{evidence_template.example_row(type_name)['id'].split('-', 1)[1]}-{number}"
    row["facility_id"] = PLANTS[country]
    if "contract_id" in row:
        row["contract_id"] = "K1"
    return row


def planted_rows(country: str, name: str, phone: str, national_id: str | None, email: str,
                 handle: tuple[str, str]) -> tuple[list[dict[str, str]], list[str]]:
    """A row of every evidence type with identities planted in each of its free-text fields (and the worker named in
    identity columns), and the raw values that must never be stored."""
    handle_text = handle[0].format(handle[1])
    texts = [f"{name} said it", f"call {phone}", f"mail {email}", handle_text,
             *( [f"id {national_id}"] if national_id else [])]
    rows = []
    for number, type_name in enumerate(sorted(models.EVIDENCE_TYPES)):
        row = base_row(type_name, number, country)
        for field in sorted(models.free_text_fields(type_name)):
            row[field] = " / ".join(texts) if field != "url" else handle[1] if "." in handle[1] else f"wa.me/{phone}"
        row |= {"worker_name": name, "phone": phone}
        rows.append(row)
    raw = [name, phone, email, handle[1], *([national_id] if national_id else [])]
    return rows, raw


worker = st.sampled_from(COUNTRIES).flatmap(lambda c: st.tuples(
    st.just(c), st.sampled_from(WORKERS[c]["names"]), st.sampled_from(WORKERS[c]["phones"]),
    st.sampled_from(WORKERS[c]["ids"] or [None]), st.sampled_from(EMAILS), st.sampled_from(HANDLES)))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(planted=worker, as_csv=st.booleans())
def test_identities_planted_in_every_free_text_field_never_reach_the_store_or_the_output(
        runner: CliRunner, seeded: str, tmp_path: Path, planted: tuple, as_csv: bool):
    country, *values = planted
    rows, raw = planted_rows(country, *values)
    if as_csv:
        columns = sorted({name for row in rows for name in row})
        import csv
        import io
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        path = write(tmp_path, "planted.csv", buffer.getvalue())
    else:
        path = write(tmp_path, "planted.json", json.dumps({"evidence": rows}, ensure_ascii=False))
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code in (0, 8), result.output
    assert f"{len(rows)} evidence records added" in result.output or "unchanged" in result.output, result.output
    listing = invoke(runner, seeded, "quarantine", "list", "--status", "all").output
    assert_nowhere(seeded, result.output + listing, raw)
    # The worker's pseudonym stands where the name was; the masks say what was there.
    text = stored_text(seeded)
    assert PSEUDONYMISE(values[1], country) in text or PSEUDONYMISE(values[0], country) in text
    for mask in ("[phone]", "[email]"):
        assert mask in text


def test_identifiers_carrying_a_name_or_a_phone_are_refused_without_echoing_them(
        runner: CliRunner, seeded: str, tmp_path: Path):
    plant = PLANTS["TH"]
    path = write(tmp_path, "g.csv", "type,id,facility_id,date,issue_categories,worker_name,report_id\n"
                 f"grievance,GRV-LiWei-2025-01,{plant},2025-03-01,wages,Li Wei,\n"
                 f"grievance,GRV-0812345678,{plant},2025-03-02,wages,Somchai Jaidee,\n"
                 f"grievance,GRV-2025-0003,{plant},2025-03-03,wages,Malee Srisuk,MR-Srisuk-7\n"
                 f"grievance,GRV-2025-0004,{plant},2025-03-04,wages,Malee Srisuk,\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8, result.output
    assert result.output.splitlines()[0].endswith("1 evidence records added, 0 updated, 0 unchanged, 3 quarantined")
    lines = [line for line in result.output.splitlines() if "quarantined: " in line]
    assert lines[0].endswith("row 2: id: an identifier that carries no worker's identity (this one holds a worker's "
                             "name or number): give the record one that does not; found [value withheld]")
    assert "row 3: id: an identifier that carries no worker's identity (this one holds a phone number)" in lines[1]
    assert "row 4: report_id: an identifier" in lines[2]
    listing = invoke(runner, seeded, "quarantine", "list").output
    assert_nowhere(seeded, result.output + listing, ["LiWei", "Li Wei", "0812345678", "Srisuk", "Somchai"])
    assert f"GRV-{PSEUDONYMISE('Li Wei', 'TH')}-2025-01" in listing  # the quarantine names the row, masked


def test_a_name_another_row_of_the_file_gives_is_masked_too(runner: CliRunner, seeded: str, tmp_path: Path):
    """A summary names a worker whom only a later row's identity column names: the file is read once more first."""
    plant = PLANTS["TH"]
    path = write(tmp_path, "mixed.csv", "type,id,facility_id,date,code_area,classification,summary,activity,"
                 "employee_number,worker_name\n"
                 f"audit_finding,AF-1,{plant},2025-03-01,wages,minor,Interviewed Malee and MALEE SRISUK,,,\n"
                 f"protected_activity,PA-1,{plant},2025-03-02,,,,complaint,TH-E-00412,Malee Srisuk\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    store = Store(seeded)
    try:
        summary = store.evidence_records(["AF-1"])["AF-1"].summary  # type: ignore[attr-defined]
    finally:
        store.close()
    worker = PSEUDONYMISE("TH-E-00412", "TH")
    assert summary == f"Interviewed {worker} and {worker}"
    assert_nowhere(seeded, result.output, ["Malee", "MALEE", "Srisuk", "TH-E-00412"])


def test_only_the_keys_own_pseudonyms_pass_and_look_alikes_are_hashed(runner: CliRunner, seeded: str,
                                                                       tmp_path: Path):
    genuine = PSEUDONYMISE("E-1001", "TH")
    plant = PLANTS["TH"]
    path = write(tmp_path, "pa.csv", "type,id,facility_id,date,subject,activity\n"
                 f"protected_activity,PA-1,{plant},2025-03-01,wp_somsak_thongdee,complaint\n"
                 f"protected_activity,PA-2,{plant},2025-03-01,{genuine},complaint\n"
                 f"protected_activity,PA-3,{plant},2025-03-01,wg_line_b_night,petition\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    store = Store(seeded)
    try:
        subjects = {r.id: r.subject for r in store.evidence_records(["PA-1", "PA-2", "PA-3"]).values()}
    finally:
        store.close()
    assert subjects["PA-1"] == PSEUDONYMISE("Somsak Thongdee") != "wp_somsak_thongdee"  # the disguised name, hashed
    assert subjects["PA-2"] == genuine
    assert subjects["PA-3"].startswith("wg_") and subjects["PA-3"] == PSEUDONYMISE("wg_line_b_night")
    assert_nowhere(seeded, result.output, ["somsak", "line_b_night"])


@pytest.mark.parametrize("variants", [
    ("Nguyễn Văn An", "NGUYEN VAN AN", "Nguyen  Van\u00a0An", "Ngu\u200byễn Văn An"),
    ("MX-E-20931", "MX\u2013E\u201420931", "mx_e 20931", "MX\u2212E\u200b20931"),
    ("+66 81 234 5678", "081-234-5678", "0812345678", "081\u2013234\u2009567\u200b8", "+66\u00a081\u00a0234\u00a05678"),
    ("Jiří Dvořák", "Jiri Dvorak", "JIŘÍ DVOŘÁK"),
    ("王秀英", "王 秀英", "王\u200b秀英"),
])
def test_variants_of_one_identifier_give_one_pseudonym(variants: tuple[str, ...]):
    assert len({PSEUDONYMISE(v, "TH") for v in variants}) == 1, variants
    # ...and different workers stay different (a Thai vowel sign is part of the name).
    assert PSEUDONYMISE("สมชาย", "TH") != PSEUDONYMISE("สมชาบ", "TH")
    assert PSEUDONYMISE("0812345678", "TH") != PSEUDONYMISE("0812345679", "TH")


def test_a_retaliation_is_found_when_two_records_write_the_workers_phone_differently(
        runner: CliRunner, seeded: str, tmp_path: Path):
    plant = PLANTS["TH"]
    complaint = write(tmp_path, "complaints.csv", "type,id,facility_id,date,activity,phone\n"
                      f"protected_activity,PA-1,{plant},2025-03-01,complaint,+66 81 234 5678\n")
    dismissal = write(tmp_path, "actions.json", json.dumps([
        {"type": "adverse_action", "id": "AA-1", "facility_id": plant, "date": "2025-04-15", "action": "dismissal",
         "subject": "081\u2013234\u2013567\u200b8", "n_affected": 1}], ensure_ascii=False))
    for path in (complaint, dismissal):
        result = invoke(runner, seeded, "import", "evidence", str(path))
        assert result.exit_code == 0, result.output
    result = invoke(runner, seeded, "check", "K1", "--as-of", "2025-06-30", "--rules", str(RULES_DIR))
    assert result.exit_code == 1, result.output
    assert "GR-03" in result.output and "AA-1" in result.output, result.output
    assert_nowhere(seeded, result.output, ["81 234 5678", "0812345678", "234\u2013567"])


def test_ordinary_text_survives(runner: CliRunner, seeded: str, tmp_path: Path):
    plant = PLANTS["TH"]
    summary = ORDINARY.format(plant=plant)
    path = write(tmp_path, "a.json", json.dumps([
        {"type": "audit_finding", "id": "AF-1", "facility_id": plant, "date": "2025-05-12", "code_area": "wages",
         "classification": "minor", "audit_id": "VAP-2025-0113", "summary": summary,
         "source": "Social audit", "worker_name": "Somchai Jaidee"},
        {"type": "correspondence", "id": "COR-1", "contract_id": "K1", "date": "2025-05-12", "kind": "other",
         "sender": "University of Exampleshire", "recipient": "Sales desk, PO-2025-00123, order 4500012345",
         "model": "NB-450 G9"}]))
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    store = Store(seeded)
    try:
        records = store.evidence_records(["AF-1", "COR-1"])
    finally:
        store.close()
    assert records["AF-1"].summary == summary  # type: ignore[attr-defined]
    assert records["AF-1"].source == "social_audit" and records["AF-1"].audit_id == "VAP-2025-0113"
    assert records["COR-1"].recipient == "Sales desk, PO-2025-00123, order 4500012345"  # type: ignore[attr-defined]


def test_an_employee_number_of_digits_is_masked_in_text_but_does_not_refuse_record_numbers(
        runner: CliRunner, seeded: str, tmp_path: Path):
    plant = PLANTS["TH"]
    path = write(tmp_path, "pa.csv", "type,id,facility_id,date,activity,employee_number\n"
                 f"protected_activity,PA-20931,{plant},2025-03-01,complaint,20931\n"
                 f"protected_activity,PA-2,{plant},2025-03-01,complaint,0412\n")
    note = write(tmp_path, "af.json", json.dumps([
        {"type": "audit_finding", "id": "AF-20931", "facility_id": plant, "date": "2025-03-01", "code_area": "wages",
         "classification": "minor", "summary": "worker 20931 and 0412 workers, 3 sites", "employee_number": "20931"}]))
    for file in (path, note):
        result = invoke(runner, seeded, "import", "evidence", str(file))
        assert result.exit_code == 0, result.output
    store = Store(seeded)
    try:
        records = store.evidence_records(["PA-20931", "PA-2", "AF-20931"])
    finally:
        store.close()
    assert records["PA-20931"].subject == PSEUDONYMISE("20931")  # type: ignore[attr-defined]
    assert records["AF-20931"].summary == f"worker {PSEUDONYMISE('20931')} and 0412 workers, 3 sites"


def test_a_shifted_csv_row_is_refused_whole_and_keeps_nothing(runner: CliRunner, seeded: str, tmp_path: Path):
    plant = PLANTS["TH"]
    path = write(tmp_path, "g.csv", "type,id,facility_id,date,issue_categories,channel,worker_name,source\n"
                 f"grievance,G-1,{plant},2025-03-01,wages,hotline,Somchai Jaidee,\n"
                 f"grievance,G-2,{plant},2025-03-01,wages,hotline,Jaidee, Somchai,\n"  # an unquoted comma
                 f"grievance,G-3,{plant},2025-03-01,wages,Malee Srisuk\n")  # a cell short
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8, result.output
    assert f"{path}: row 3: has 9 cells but the header has 8 columns" in result.output
    assert f"{path}: row 4: has 6 cells but the header has 8 columns" in result.output
    shown = invoke(runner, seeded, "quarantine", "show", "1").output
    assert_nowhere(seeded, result.output + shown, ["Somchai", "Jaidee", "Malee", "Srisuk"])


def test_a_misspelt_type_and_wrong_type_values_keep_and_echo_no_identity(runner: CliRunner, seeded: str,
                                                                         tmp_path: Path):
    plant = PLANTS["TH"]
    path = write(tmp_path, "e.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"type": "grievence", "id": "G-1", "facility_id": plant, "date": "2025-03-01", "complainant": "Somchai Jaidee",
         "channel": "LINE: somchai_88, 081 234 5678"},
        {"type": "audit_finding", "id": "A-1", "facility_id": plant, "date": "2025-03-01", "code_area": "wages",
         "classification": "minor", "summary": 66812345678},
        {"type": "grievance", "id": "G-2", "facility_id": plant, "date": "2025-03-01", "issue_categories": ["wages"],
         "complainant": ["Malee Srisuk"]},
        {"type": "grievance", "id": "G-3", "facility_id": plant, "date": "2025-03-01", "issue_categories": ["wages"],
         "status": "Somchai 0812345678", "worker_name": "Somchai Jaidee"}]) + "\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8, result.output
    assert ':1: type: one of the evidence types (compliance evidence types); did you mean "grievance"?' \
        in result.output
    assert ":2: summary: text; found [value withheld]" in result.output
    assert ":3: complainant: a worker pseudonym or identifier (text); found [value withheld]" in result.output
    assert ":4: status: expected one of" in result.output
    export = tmp_path / "q.csv"
    assert invoke(runner, seeded, "quarantine", "export", "-o", str(export)).exit_code == 0
    listing = "".join(invoke(runner, seeded, "quarantine", "show", str(n)).output for n in range(1, 5))
    assert_nowhere(seeded, result.output + listing + export.read_text(encoding="utf-8-sig"),
                   ["Somchai", "Jaidee", "somchai_88", "081 234 5678", "66812345678", "Malee", "0812345678"])
    assert PSEUDONYMISE("Somchai Jaidee", "TH") in listing  # the misspelt row's complainant, pseudonymised


@pytest.mark.parametrize("key, why", [
    ("a" * 32, "one character repeated"), ("ab" * 16, "a pattern of 2 characters repeated"),
    ("0123456789abcdef" * 2, "a pattern of 16 characters repeated"),
    ("abcdefghijklmnopqrstuvwxyz012345", "a run of consecutive characters"),
    ("password" + "1" * 24, "too little variety"), ("short", "too short"),
])
def test_a_weak_key_is_refused_with_how_to_make_a_good_one(monkeypatch: pytest.MonkeyPatch, runner: CliRunner,
                                                            seeded: str, tmp_path: Path, key: str, why: str):
    monkeypatch.setenv("COMPLIANCE_PSEUDONYM_KEY", key)
    path = write(tmp_path, "h.csv", f"type,id,facility_id,date\nworking_hours,WH-1,{PLANTS['TH']},2025-01-01\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 5, result.output
    assert "the pseudonym key is weak" in result.output and why in result.output and MAKE_KEY in result.output


def test_two_different_keys_are_refused_and_one_key_in_both_places_is_fine(
        monkeypatch: pytest.MonkeyPatch, runner: CliRunner, seeded: str, tmp_path: Path):
    path = write(tmp_path, "h.csv", f"type,id,facility_id,date\nworking_hours,WH-1,{PLANTS['TH']},2025-01-01\n")
    key_file = write(tmp_path, "key", "5f0c9e2b7a41d6e8" * 4 + "\n")
    monkeypatch.setenv("COMPLIANCE_PSEUDONYM_KEY_FILE", str(key_file))
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 5 and "both COMPLIANCE_PSEUDONYM_KEY and COMPLIANCE_PSEUDONYM_KEY_FILE are set, " \
                                      "to different keys" in result.output, result.output
    key_file.write_text(TEST_PSEUDONYM_KEY + "\n")
    assert invoke(runner, seeded, "import", "evidence", str(path)).exit_code == 0


def test_sources_written_in_words_are_codes_and_an_unknown_one_is_refused_with_a_did_you_mean(
        runner: CliRunner, seeded: str, tmp_path: Path):
    plant = PLANTS["TH"]
    path = write(tmp_path, "h.csv", "type,id,facility_id,date,source\n"
                 f"working_hours,WH-1,{plant},2025-01-01,Worker-driven monitoring\n"
                 f"working_hours,WH-2,{plant},2025-01-01,Social audit\n"
                 f"working_hours,WH-3,{plant},2025-01-01,Contractor\n"
                 f"working_hours,WH-4,{plant},2025-01-01,other\n"
                 f"working_hours,WH-5,{plant},2025-01-01,Worker drivn monitoring\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8, result.output
    assert 'row 6: source: expected one of worker_driven_monitoring,' in result.output
    assert 'did you mean "worker_driven_monitoring"?' in result.output
    store = Store(seeded)
    try:
        sources = {r.id: r.source for r in store.evidence_records(["WH-1", "WH-2", "WH-3", "WH-4"]).values()}
    finally:
        store.close()
    assert sources == {"WH-1": "worker_driven_monitoring", "WH-2": "social_audit", "WH-3": "supplier",
                       "WH-4": "other"}


def test_erasure_removes_a_value_and_a_record_from_every_table_and_keeps_the_audit_chain(
        runner: CliRunner, seeded: str, tmp_path: Path):
    """A name no identity column gave (so intake could not know it) reached free text, an earlier version, the
    quarantine, a finding's message and an evidence id (as an older store may hold): erasing it removes it
    everywhere, the run's history stays verifiable, and the erasure is logged without the value."""
    plant = PLANTS["TH"]
    name = "Somsak Thongdee"
    first = write(tmp_path, "a.json", json.dumps([
        {"type": "age_verification", "id": "AV-1", "facility_id": plant, "date": "2025-05-01", "under_minimum_age": 2,
         "youngest_age": 14, "forged_documents": True, "agency": f"agent {name}"},
        {"type": "osh_incident", "id": "OSH-1", "facility_id": plant, "date": "2025-05-02", "incident_type": "fire",
         "summary": f"{name.upper()} was hurt", "hospitalised": 1},
        {"type": "osh_incident", "id": "OSH-2", "facility_id": plant, "date": "2025-05-02", "incident_type": "fyre",
         "summary": "seen by Somsak\u00a0Thongdee"}]))
    second = write(tmp_path, "b.json", json.dumps([
        {"type": "osh_incident", "id": "OSH-1", "facility_id": plant, "date": "2025-05-02", "incident_type": "fire",
         "summary": f"{name} was hurt; corrected", "hospitalised": 1}]))
    for path in (first, second):
        assert invoke(runner, seeded, "import", "evidence", str(path)).exit_code in (0, 8)
    store = Store(seeded)
    try:  # an older store's record whose id carries the name (intake now refuses such ids)
        store.add_evidence([models.EVIDENCE_ADAPTER.validate_python(
            {"type": "osh_incident", "id": "OSH-SomsakThongdee", "facility_id": plant, "date": "2025-05-03",
             "incident_type": "injury"})], "old.csv")
    finally:
        store.close()
    ran = invoke(runner, seeded, "run", "--as-of", "2025-06-30", "--rules", str(RULES_DIR))
    assert ran.exit_code in (0, 1), ran.output
    assert name in stored_text(seeded) and "SomsakThongdee" in stored_text(seeded)

    result = invoke(runner, seeded, "evidence", "erase", "--reason", "erasure request ER-2025-004", input=name + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Erased a name or other text: evidence ")
    assert "evidence_version 1" in result.output and "quarantine 1" in result.output and "finding " in result.output
    assert_nowhere(seeded, result.output, [name, "Somsak", "SOMSAK", "Thongdee"])
    verified = invoke(runner, seeded, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.output == "The findings' history is intact.\nThe erasure log is intact (1 erasure).\n"

    erased = invoke(runner, seeded, "evidence", "erase", "--record", "AV-1", "--reason", "entered in error")
    assert erased.exit_code == 0 and "Erased an evidence record: evidence deleted 1" in erased.output, erased.output
    store = Store(seeded)
    try:
        with pytest.raises(NotFound):
            store.evidence_versions("AV-1")
        [first_entry, second_entry] = store.erasures()
        assert (first_entry.kind, first_entry.reason) == ("a name or other text", "erasure request ER-2025-004")
        assert second_entry.kind == "an evidence record" and second_entry.prev_hash == first_entry.hash
        assert all("AV-1" not in json.dumps(f.payload) for f in store.stored_findings())
    finally:
        store.close()
    assert "AV-1" not in stored_text(seeded).replace("AV-1'", "")
    assert invoke(runner, seeded, "audit", "verify").exit_code == 0

    # The log is tamper-evident like the findings' history.
    engine = sa.create_engine(Store(seeded).url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE erasure SET actor = 'someone else' WHERE seq = 1"))
    engine.dispose()
    tampered = invoke(runner, seeded, "audit", "verify")
    assert tampered.exit_code == 6 and "erasure log: entry 1" in tampered.output


def test_an_erasure_reason_holding_the_value_and_a_value_too_short_are_refused(runner: CliRunner, seeded: str):
    result = invoke(runner, seeded, "evidence", "erase", "Somsak Thongdee", "--reason", "Somsak Thongdee asked")
    assert result.exit_code == 3 and "the reason holds the value being erased" in result.output
    assert "Somsak" not in result.output
    result = invoke(runner, seeded, "evidence", "erase", "a", "--reason", "test")
    assert result.exit_code == 3 and "too short to erase" in result.output
    result = invoke(runner, seeded, "evidence", "erase", "--record", "NOPE-1", "--reason", "test")
    assert result.exit_code == 3 and 'no evidence record "NOPE-1"' in result.output


def test_erasing_a_record_only_the_quarantine_holds(runner: CliRunner, seeded: str, tmp_path: Path):
    path = write(tmp_path, "h.csv", f"type,id,facility_id,date,max_week_hours\n"
                 f"working_hours,WH-9,{PLANTS['TH']},2025-01-01,lots\n")
    assert invoke(runner, seeded, "import", "evidence", str(path)).exit_code == 8
    result = invoke(runner, seeded, "evidence", "erase", "--record", "WH-9", "--reason", "test row")
    assert result.exit_code == 0 and "quarantine deleted 1" in result.output, result.output
    assert invoke(runner, seeded, "quarantine", "list", "--status", "all").output.splitlines()[-1] == "0 entries."


def test_the_key_rules_and_masks_are_documented():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for text in ("[phone]", "[email]", "[id number]", "[handle]", "[link]", "[value withheld]",
                 "compliance evidence erase", "Worker-driven monitoring", MAKE_KEY, "Presidio"):
        assert text in readme, text
    assert os.environ.get("COMPLIANCE_PSEUDONYM_KEY") == TEST_PSEUDONYM_KEY


def test_a_long_misspelt_type_is_quarantined_on_every_backend(runner: CliRunner, seeded: str, tmp_path: Path):
    """Found by the hostile-input fuzz test on PostgreSQL: the quarantine's type column holds 40 characters."""
    path = write(tmp_path, "t.json", json.dumps([{"type": "9" * 500, "id": "X-1", "date": "2025-01-01"}]))
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 8, result.output


def test_upgrading_a_store_reads_its_stored_sources_as_codes(store_url: str):
    """Revision 0008: sources stored in words take their code, any other "other"; content hashes follow."""
    from alembic import command

    from compliance.store.common import json_hash

    store = Store(store_url)
    try:
        command.upgrade(store._alembic_config(), "0007")
        words = {"E-1": "Worker-driven monitoring", "E-2": "EW partner said so", "E-3": "social_audit", "E-4": None}
        with store.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO import_batch (id, kind, source_file, content_hash, imported_at, imported_by, added, "
                "updated, unchanged, status, quarantined, skipped) VALUES (1, 'evidence', 'old.csv', 'x', "
                "'2025-01-01 00:00:00', 'someone', 4, 0, 0, 'complete', 0, 0)"))
            for record_id, source in words.items():
                payload = {"id": record_id, "type": "working_hours", "facility_id": None, "contract_id": None,
                           "date": "2025-01-01", "source": source, "sensitivity": "buyer_only"}
                connection.execute(sa.text(
                    "INSERT INTO evidence (id, type, date, sensitivity, payload, content_hash, source_file, batch_id, "
                    "version, imported_at) VALUES (:id, 'working_hours', '2025-01-01', 'buyer_only', :payload, :hash, "
                    "'old.csv', 1, 1, '2025-01-01 00:00:00')"),
                    {"id": record_id, "payload": json.dumps(payload), "hash": json_hash(payload)})
        store.upgrade()
        with store.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, payload, content_hash FROM evidence ORDER BY id")).all()
    finally:
        store.close()
    payloads = {i: json.loads(p) if isinstance(p, str) else p for i, p, _h in rows}
    assert {i: p["source"] for i, p in payloads.items()} == {
        "E-1": "worker_driven_monitoring", "E-2": "other", "E-3": "social_audit", "E-4": None}
    assert all(h == json_hash(payloads[i]) for i, _p, h in rows)


def test_an_employee_number_sharing_characters_with_the_site_code_does_not_refuse_the_facility_id(
        runner: CliRunner, seeded: str, tmp_path: Path):
    """Employee numbers often carry the site's code; the record's facility id names a facility of the store, not a
    worker, and is not refused for it (the employee number itself becomes the pseudonym)."""
    plant = PLANTS["TH"]
    path = write(tmp_path, "pa.csv", "type,id,facility_id,date,activity,employee_number,source\n"
                 f"protected_activity,PA-1,{plant},2025-05-12,complaint,TH-E-{plant[-6:-1]}-0012,ngo report\n")
    result = invoke(runner, seeded, "import", "evidence", str(path))
    assert result.exit_code == 0, result.output
    store = Store(seeded)
    try:
        record = store.evidence_records(["PA-1"])["PA-1"]
    finally:
        store.close()
    assert record.facility_id == plant and record.source == "ngo"
    assert record.subject.startswith("wp_") and plant[-6:-1] not in record.subject  # type: ignore[attr-defined]
