"""Evidence templates: every type's template is importable once its example id is replaced, the XLSX has
dropdowns and a field guide, and `compliance evidence template` writes both formats safely."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import TEST_PSEUDONYM_KEY

from compliance.cli import cli
from compliance.domain import models
from compliance.errors import InputError
from compliance.rules import meaning
from compliance.sources import evidence_template as template
from compliance.sources import intake
from compliance.sources.pseudonyms import Pseudonymiser

TYPES = sorted(models.EVIDENCE_TYPES)


def _as_loaded(row: dict[str, str], type_name: str) -> dict[str, object]:
    """The row as the CSV loader passes it on: empty cells dropped, list cells split on ";"."""
    lists = meaning.list_fields(type_name)
    return {name: [part.strip() for part in value.split(intake.LIST_SEPARATOR) if part.strip()]
            if name in lists else value for name, value in row.items() if value.strip()}


def _choices(type_name: str, name: str) -> list[str] | None:
    """The fixed values of a field (Literal, enum, bool), or None when it has none."""
    kind, detail = template._kind(models.EVIDENCE_TYPES[type_name].model_fields[name])
    return detail if kind == "choice" else ["true", "false"] if kind == "bool" else None


# ---------------------------------------------------------------------------------------------------------------------
# Columns, example row, field guide


@pytest.mark.parametrize("type_name", TYPES)
def test_columns_are_the_stored_fields_in_a_fixed_order(type_name: str):
    cls = models.EVIDENCE_TYPES[type_name]
    columns = template.template_columns(type_name)
    assert columns[:5] == ["type", "id", "date", "contract_id", "facility_id"]
    assert columns[-2:] == ["source", "sensitivity"]
    assert sorted(columns) == sorted(cls.model_fields)
    assert not set(columns) & set(cls.model_computed_fields)
    own = [name for name in cls.model_fields if name not in columns[:5] + columns[-2:]]
    assert columns[5:-2] == own  # declaration order


def test_computed_fields_are_left_out():
    assert "intern_share" not in template.template_columns("workforce_composition")
    assert "fee_months_of_wage" not in template.template_columns("recruitment_fee")
    assert "days_late" not in template.template_columns("wage_record")


@pytest.mark.parametrize("type_name", TYPES)
def test_every_example_row_is_a_valid_record(type_name: str):
    row = template.example_row(type_name)
    assert list(row) == template.template_columns(type_name)
    assert all(isinstance(value, str) for value in row.values())
    assert row["id"].startswith(template.EXAMPLE_PREFIX) and row["id"] == "EXAMPLE-" + template.type_code(type_name)
    assert models.os_id_problem(row["facility_id"]) is None
    record = models.EVIDENCE_ADAPTER.validate_python(_as_loaded(row, type_name))
    assert record.type == type_name
    cls = models.EVIDENCE_TYPES[type_name]
    for name in template.template_columns(type_name):
        if cls.model_fields[name].is_required():
            assert row[name], f"{type_name}.{name} is required but empty in the example"
        assert not row[name].startswith(("=", "+", "-", "@")), "an example must not look like a formula"


def test_example_values_are_realistic_and_in_spreadsheet_form():
    assert template.example_row("document_retention")["documents"] == "passport;work_permit"
    assert template.example_row("grievance")["issue_categories"] == "wages;threats"
    assert template.example_row("audit_finding")["code_area"] == "working_hours"
    assert template.example_row("grievance_mechanism")["exists"] in ("true", "false")
    assert template.example_row("grievance")["sensitivity"] == "worker_safety"  # the model's default
    dates = template.example_row("wage_record")
    assert dt.date.fromisoformat(dates["period_end"]) < dt.date.fromisoformat(dates["paid_on"])


def test_example_codes_are_distinct():
    codes = [template.type_code(t) for t in TYPES]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("type_name", TYPES)
def test_the_field_guide_lists_exactly_the_template_columns(type_name: str):
    guide = template.field_guide(type_name)
    assert [entry["name"] for entry in guide] == template.template_columns(type_name)
    assert all(set(entry) >= {"name", "required", "type", "description"} for entry in guide)
    assert {entry["required"] for entry in guide} <= {"yes", "no"}


def test_the_field_guide_explains_types_in_plain_words():
    guide = {e["name"]: e for e in template.field_guide("document_retention")}
    assert guide["date"]["type"] == "date YYYY-MM-DD" and guide["date"]["required"] == "yes"
    assert guide["documents"]["type"] == "list, separated by ;"
    assert guide["documents"]["description"] == "passport, work_permit, id_card..."  # the model's description
    assert guide["access_on_request"]["type"] == "yes/no (true/false)"
    assert guide["n_affected"]["type"] == "whole number >= 0" and guide["n_affected"]["required"] == "no"
    assert guide["holder"]["type"] == ("one of: worker, employer, labour_agency, recruitment_agent, "
                                       "dormitory_operator, other")
    assert guide["sensitivity"]["type"] == "one of: public, buyer_only, restricted, worker_safety"
    assert guide["type"]["required"] == "yes"
    ages = {e["name"]: e for e in template.field_guide("age_verification")}
    assert ages["legal_minimum_age"]["type"] == "whole number from 14 to 18"
    assert {e["name"]: e for e in template.field_guide("working_hours")}["pct_weeks_over_60"]["type"] == \
        "number from 0 to 1"


def test_an_unknown_type_is_refused_with_a_did_you_mean(tmp_path: Path):
    for call in (lambda: template.template_columns("grievence"), lambda: template.example_row("grievence"),
                 lambda: template.field_guide("grievence"),
                 lambda: template.write_template("grievence", "csv", tmp_path / "x.csv")):
        with pytest.raises(InputError, match='did you mean "grievance"'):
            call()
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------------------------------------------------------------
# CSV


@pytest.mark.parametrize("type_name", TYPES)
def test_the_csv_template_imports_once_the_example_id_is_replaced(type_name: str, tmp_path: Path):
    path = tmp_path / f"{type_name}-template.csv"
    template.write_template(type_name, "csv", path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a byte-order mark, so Excel reads UTF-8
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0].split(",") == template.template_columns(type_name)
    assert len(lines) == 2
    example_id = template.example_row(type_name)["id"]
    assert example_id.startswith("EXAMPLE-") and f",{example_id}," in lines[1]

    filled = tmp_path / f"{type_name}.csv"
    filled.write_text(raw.decode("utf-8-sig").replace(example_id, "REAL-0001"), encoding="utf-8")
    options = intake.Options()
    [row] = intake.rows(intake.open_source(filled, options), options, Pseudonymiser(TEST_PSEUDONYM_KEY))
    assert row.problems == [] and row.record is not None
    record = row.record
    assert (record.id, record.type) == ("REAL-0001", type_name)
    loaded = {**_as_loaded(template.example_row(type_name), type_name), "id": "REAL-0001"}
    person = models.EVIDENCE_TYPES[type_name].person_field
    if person and person in loaded:  # the example's worker identifier, pseudonymised like any
        loaded[person] = Pseudonymiser(TEST_PSEUDONYM_KEY)(loaded[person])
    assert record == models.EVIDENCE_ADAPTER.validate_python(loaded)


# ---------------------------------------------------------------------------------------------------------------------
# XLSX


@pytest.mark.parametrize("type_name", TYPES)
def test_the_xlsx_template_has_header_example_dropdowns_and_field_guide(type_name: str, tmp_path: Path):
    path = tmp_path / f"{type_name}-template.xlsx"
    template.write_template(type_name, "xlsx", path)
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames[:2] == [type_name, "Field guide"]
    sheet = workbook[type_name]
    columns = template.template_columns(type_name)
    example = template.example_row(type_name)
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == columns
    assert len(rows) == 2
    dates = models.date_fields(type_name)
    for name, value in zip(columns, rows[1]):
        if name in dates and value is not None:
            assert isinstance(value, dt.datetime) and value.date().isoformat() == example[name]
        else:
            assert (value or "") == example[name], name
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)

    validations = {str(dv.sqref): dv for dv in sheet.data_validations.dataValidation}
    for index, name in enumerate(columns, start=1):
        letter = openpyxl.utils.get_column_letter(index)
        choices = _choices(type_name, name)
        if choices is None:
            assert f"{letter}2:{letter}1000" not in validations, name
            continue
        dv = validations[f"{letter}2:{letter}1000"]
        assert dv.type == "list"
        if dv.formula1.startswith('"'):
            assert dv.formula1.strip('"').split(",") == choices
        else:  # too long to write inline: a range on the hidden Lists sheet
            sheet_name, cells = dv.formula1.split("!")
            assert sheet_name == "Lists" and workbook["Lists"].sheet_state == "hidden"
            listed = [c.value for row in workbook["Lists"][cells.replace("$", "")] for c in row]
            assert listed == choices
        assert sheet.column_dimensions[letter].width >= len(name)

    guide = list(workbook["Field guide"].iter_rows(values_only=True))
    assert list(guide[0]) == ["column", "required", "type", "description"]
    listed = [row[0] for row in guide[1:len(columns) + 1]]
    assert listed == columns
    assert guide[len(columns) + 1] == (None, None, None, None)  # then a blank row and the notes
    assert any("EXAMPLE-" in (row[0] or "") for row in guide[len(columns) + 2:])


def test_literal_columns_with_long_value_lists_get_dropdowns_too(tmp_path: Path):
    path = tmp_path / "po.xlsx"
    template.write_template("practice_observation", "xlsx", path)
    sheet = openpyxl.load_workbook(path)["practice_observation"]
    practice = template.template_columns("practice_observation").index("practice") + 1
    letter = openpyxl.utils.get_column_letter(practice)
    [dv] = [dv for dv in sheet.data_validations.dataValidation if str(dv.sqref) == f"{letter}2:{letter}1000"]
    assert dv.formula1.startswith("Lists!")


# ---------------------------------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_csv_by_default_in_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["evidence", "template", "working_hours"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "working_hours-template.csv"
    assert path.exists()
    assert "EXAMPLE-WH" in result.output and "working_hours-template.csv" in result.output
    assert path.read_text(encoding="utf-8-sig").splitlines()[0] == ",".join(template.template_columns("working_hours"))


def test_cli_writes_xlsx_to_the_named_file(tmp_path: Path):
    target = tmp_path / "hours.xlsx"
    result = CliRunner().invoke(cli, ["evidence", "template", "working_hours", "--format", "xlsx", "-o", str(target)])
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(target)
    assert workbook.sheetnames[:2] == ["working_hours", "Field guide"]


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path):
    target = tmp_path / "hours.csv"
    target.write_text("officer's own data\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["evidence", "template", "working_hours", "-o", str(target)])
    assert result.exit_code == 2
    assert "already exists" in result.output and "--force" in result.output
    assert target.read_text() == "officer's own data\n"
    result = runner.invoke(cli, ["evidence", "template", "working_hours", "-o", str(target), "--force"])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8-sig").startswith("type,id,date,")


def test_cli_rejects_an_unknown_type_with_a_did_you_mean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["evidence", "template", "grievence", "--format", "xlsx"])
    assert result.exit_code == 3
    assert 'unknown evidence type "grievence"; did you mean "grievance"?' in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_lists_every_type_with_a_description():
    result = CliRunner().invoke(cli, ["evidence", "types"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == TYPES
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)
    assert any(line.startswith("audit_finding") and "social audit" in line for line in lines)
