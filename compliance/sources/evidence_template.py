"""Blank evidence templates for officers: one evidence type, a header row and one example row.

A template is the file an officer fills in and imports with ``compliance import evidence``: CSV (UTF-8 with
a byte-order mark, so Excel shows non-Latin text correctly) or XLSX (dropdowns for fixed values, a frozen
header and a "Field guide" sheet). The columns are the type's stored fields, in the order the loader reads
them; computed fields are left out, since the store derives them.

The example row is valid for the model (a test validates every type's row), and its id starts with
EXAMPLE_PREFIX, which the evidence import skips (``intake.EXAMPLE_PREFIX``): an officer who forgets to delete
it imports nothing false.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic.fields import FieldInfo

from compliance.documents.export import safe_cell
from compliance.domain import models
from compliance.errors import InputError, Problem
from compliance.rules import spec
from compliance.sources.intake import EXAMPLE_PREFIX
from compliance.sources.intake import LIST_SEPARATOR as CSV_LIST_SEPARATOR

#: Said wherever the template is explained (the XLSX field guide, the CLI).
EXAMPLE_NOTE = (f"The example row (id {EXAMPLE_PREFIX}...) only shows what to fill in: the import skips rows whose "
                f"id starts with {EXAMPLE_PREFIX}, so replace it with real records or delete it.")

FORMATS = ("csv", "xlsx")

#: Base fields first and last; the type's own fields go between, in declaration order.
_LEADING = ("type", "id", "date", "contract_id", "facility_id")
_TRAILING = ("source", "sensitivity")

#: Rows 2..MAX_ROW of an XLSX template get dropdowns and cell formats.
MAX_ROW = 1000

#: Short codes for example ids (EXAMPLE-AF), as the shipped data names its records; others use initials.
TYPE_CODES: dict[str, str] = {
    "audit_finding": "AF", "grievance": "G", "monitoring_finding": "MF", "factory_disclosure": "FD",
    "correspondence": "COR", "remediation": "REM", "protected_activity": "PA", "adverse_action": "AA",
    "recruitment_fee": "RF", "document_retention": "DR", "working_hours": "WH", "corrective_action": "CA",
    "external_signal": "ES", "workforce_composition": "WC", "age_verification": "AV", "osh_incident": "OSH",
    "foa_event": "FOA", "wage_record": "WR", "grievance_mechanism": "GM", "monitor_access_request": "MAR",
    "practice_observation": "PO",
}

#: One line for the types whose model has no docstring.
_TYPE_DESCRIPTIONS: dict[str, str] = {
    "grievance": "A worker's grievance: its channel, issues, status and when it was acknowledged and answered.",
    "adverse_action": "An action against a worker or worker group (dismissal, transfer, threat...).",
    "recruitment_fee": "Recruitment fees a worker group paid, against the zero-fee standard or the legal limit.",
    "document_retention": "Identity documents (passport, work permit...) held by someone other than the worker.",
    "external_signal": "A media, NGO, brand or authority report about a facility.",
}

#: Descriptions for fields whose model gives none.
_FIELD_DESCRIPTIONS: dict[str, str] = {
    "type": "The evidence type; keep it as it is",
    "id": f"Your unique id for the record, e.g. AF-TH-2025-01 (ids starting {EXAMPLE_PREFIX} mark example rows)",
    "date": "The day the record is about (the grievance received, the action taken, the status reported)",
    "facility_id": ("The factory: its Open Supply Hub OS ID, or an internal id FAC-... for a site without one; "
                    "a record names a facility_id, a contract_id or both"),
    "sensitivity": "Who may see the record; controls what may ever go to a supplier",
    "currency": "ISO 4217 currency code, e.g. THB",
    "worker_group": "Worker-group label (wg_...), never names",
    "summary": "One or two sentences on what was found",
}

#: The example date: the day every example record is about, unless its hints say otherwise.
EXAMPLE_DATE = "2025-03-31"

#: A valid OS ID, clearly an example (its serial part spells EXAMP); the check character is computed.
EXAMPLE_FACILITY_ID = "TH2025090EXAMP" + models.os_id_check_character("TH2025090EXAMP")

EXAMPLE_CONTRACT_ID = "CALLOFF-2025-001"

#: Realistic values where a generic one would be silly; lists are written joined by ";". Everything not here
#: is derived from the field's type (a value from the allowed set, a number within its bounds, the example date).
_HINTS: dict[str, dict[str, Any]] = {
    "*": {"source": "worker_driven_monitoring", "worker_group": "wg_migrant_MM_2024", "currency": "THB",
          "subject": "wp_3c9e", "complainant": "wp_3c9e", "contract_id": ""},
    "audit_finding": {
        "audit_id": "VAP-2025-0113", "scheme": "RBA VAP", "code_area": "working_hours", "classification": "major",
        "ilo_indicator": "excessive_overtime", "source": "social_audit",
        "summary": "Timecards for 12 sampled weeks show 14 workers over 60 hours a week"},
    "grievance": {
        "channel": "worker_hotline", "issue_categories": ["wages", "threats"], "status": "in_progress",
        "acknowledged_on": "2025-04-03", "responded_on": "2025-04-25"},
    "monitoring_finding": {
        "report_id": "EW-MR-TH-2025-01", "code_area": "recruitment_fees", "ilo_indicator": "debt_bondage",
        "n_reporting": "12", "confidence": "medium",
        "summary": "Workers repay loans taken to cover recruitment fees of about 20,000 THB from their wages"},
    "factory_disclosure": {
        "contract_id": EXAMPLE_CONTRACT_ID, "brand": "Northwind", "model": "NB-450 G9", "tier": "final_assembly",
        "source": "supplier"},
    "correspondence": {
        "contract_id": EXAMPLE_CONTRACT_ID, "kind": "information_request", "sender": "University of Exampleshire",
        "recipient": "Example IT Reseller Ltd", "subject_matter": "factory_disclosure", "model": "NB-450 G9",
        "due_on": "2025-04-30", "response_on": "2025-04-22", "substantive": "true", "source": "buyer"},
    "remediation": {
        "finding_ref": "MF-TH-01", "kind": "fee_reimbursement", "confirmed_on": "2024-10-15",
        "due_date": "2025-01-13", "amount_due": "62000000", "amount_paid": "41000000", "workers_due": "3100",
        "workers_paid": "2060", "verified_by": "monitoring_partner", "source": "supplier"},
    "protected_activity": {"activity": "complaint"},
    "adverse_action": {"action": "dismissal", "n_affected": "1", "documented_prior_reason": "false"},
    "recruitment_fee": {
        "n_workers": "3100", "median_fee": "20000", "legal_limit": "3200", "standard_applied": "zero_fee",
        "via_wage_deduction": "false", "monthly_basic_wage": "9900", "loans_reported": "true"},
    "document_retention": {
        "documents": ["passport", "work_permit"], "holder": "labour_agency", "access_on_request": "false",
        "n_affected": "30"},
    "working_hours": {
        "sample_workers": "80", "pct_weeks_over_60": "0.23", "max_week_hours": "78", "max_consecutive_days": "13",
        "records_discrepancy": "true"},
    "corrective_action": {
        "date": "2025-05-14", "cap_id": "CAP-TH-2025-02", "action_ref": "a1", "finding_ref": "MF-TH-03",
        "description": "Single timecard system for agency and direct workers", "due_date": "2025-04-30",
        "status": "completed", "completed_on": "2025-05-12", "extended_to": "2025-05-15", "rule_id": "WH-03",
        "code_area": "working_hours", "verified_by": "monitoring_partner", "source": "supplier"},
    "external_signal": {
        "source_type": "media", "issue": "chemical_exposure", "reliability": "medium", "source": "media_report",
        "url": "https://news.example.org/2025/03/battery-plant-workers-hospitalised",
        "summary": "Local press reports battery workers taken to hospital after solvent fumes in a coating hall"},
    "workforce_composition": {
        "total_workers": "3200", "student_interns": "290", "dispatch_workers": "310",
        "max_intern_share_in_position": "0.18", "interns_on_night_shift": "0", "intern_weekly_hours_max": "40",
        "internship_related_to_study": "true", "intern_coercion": "false", "source": "social_audit"},
    "age_verification": {
        "workers_checked": "150", "legal_minimum_age": "15", "under_minimum_age": "0", "youngest_age": "16",
        "under_18_night_shift": "2", "under_18_overtime": "0", "under_18_hazardous_work": "0",
        "forged_documents": "false", "agency": "Example Labour Dispatch Company", "source": "social_audit"},
    "osh_incident": {
        "incident_type": "chemical_exposure", "location": "workplace", "deaths": "0", "hospitalised": "7",
        "chemical": "N-methyl-2-pyrrolidone (NMP)", "authority_notified": "false", "source": "supplier",
        "summary": "Seven coating-hall workers taken to hospital with dizziness after a ventilation fan failed"},
    "foa_event": {
        "event": "dismissal", "subject_role": "union_officer", "related_activity": "organising",
        "status": "unresolved",
        "summary": "Branch secretary dismissed for absence after attending a union federation meeting"},
    "wage_record": {
        "date": "2025-03-14", "period_end": "2025-02-28", "paid_on": "2025-03-12", "n_workers": "85",
        "underpayment_amount": "0", "unlawful_deductions": "false", "payslips_transparent": "true"},
    "grievance_mechanism": {
        "exists": "true", "anonymous_channel": "true", "languages_cover_workforce": "false",
        "covers_all_worker_categories": "true", "awareness_rate": "0.66", "non_retaliation_policy": "true"},
    "monitor_access_request": {
        "contract_id": EXAMPLE_CONTRACT_ID, "requested_by": "Electronics Watch",
        "contractor_request_on": "2025-04-04", "status": "granted", "granted_on": "2025-04-20",
        "meeting_with_management": "true", "source": "monitoring_organisation"},
    "practice_observation": {
        "practice": "records_falsified", "worker_group": "wg_agency_line3", "n_affected": "18", "coercion": "false",
        "systematic": "true",
        "summary": "Hours over 48 a week are recorded on a second timecard that payroll does not see"},
}


# ---------------------------------------------------------------------------------------------------------------------
# Types and fields


def evidence_class(type_name: str) -> type[models.EvidenceBase]:
    """The model of evidence type `type_name`; InputError (with a did-you-mean) for an unknown type."""
    try:
        return models.EVIDENCE_TYPES[type_name]
    except KeyError:
        raise InputError([Problem("evidence template", None, "type", f'unknown evidence type "{type_name}"'
                                  f"{spec.did_you_mean(type_name, models.EVIDENCE_TYPES)}")]) from None


def type_description(type_name: str) -> str:
    """One line on what a record of the type holds: the first line of its model's docstring."""
    doc = (evidence_class(type_name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else _TYPE_DESCRIPTIONS.get(type_name, type_name.replace("_", " "))


def type_code(type_name: str) -> str:
    return TYPE_CODES.get(type_name) or "".join(word[0] for word in type_name.split("_")).upper()


def template_columns(type_name: str) -> list[str]:
    """The stored fields of the type: type, id, date, contract_id, facility_id, its own fields, source, sensitivity."""
    fields = list(evidence_class(type_name).model_fields)  # stored fields only: computed ones are not in it
    own = [name for name in fields if name not in _LEADING and name not in _TRAILING]
    return [*(n for n in _LEADING if n in fields), *own, *(n for n in _TRAILING if n in fields)]


def _kind(info: FieldInfo) -> tuple[str, Any]:
    """(kind, detail) of a field: ("choice", values), ("bool"|"int"|"float"|"date"|"str", None), ("list", None)."""
    annotation = info.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Literal:
        return "choice", [str(v) for v in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice", [str(member.value) for member in annotation]
    if typing.get_origin(annotation) is list:
        return "list", None
    for kind, cls in (("bool", bool), ("int", int), ("float", float), ("date", dt.date), ("str", str)):
        if annotation is cls:
            return kind, None
    raise TypeError(f"no template cell for a field of type {info.annotation!r}")


def _bounds(info: FieldInfo) -> dict[str, Any]:
    """The field's constraints: ge, gt, le, lt, max_length, pattern, when set."""
    out: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le", "lt", "max_length", "pattern"):
            if getattr(item, name, None) is not None:
                out[name] = getattr(item, name)
    return out


def _default(info: FieldInfo) -> str | None:
    """The field's default as spreadsheet text, or None when it has none (or None)."""
    if info.is_required() or info.default is None or info.default_factory is not None:
        return None
    value = info.default
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number_words(whole: bool, bounds: dict[str, Any]) -> str:
    noun = "whole number" if whole else "number"
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if low and high and low[0] == "ge" and high[0] == "le":
        return f"{noun} from {low[1]} to {high[1]}"
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    parts = [f"{symbols[op]} {value}" for op, value in (bound for bound in (low, high) if bound)]
    return " ".join([noun, " and ".join(parts)]) if parts else noun


def _type_words(name: str, info: FieldInfo) -> str:
    kind, detail = _kind(info)
    bounds = _bounds(info)
    if name == "facility_id":
        return "OS ID (15 characters) or FAC-..."
    if kind == "choice":
        return "one of: " + ", ".join(detail)
    if kind == "list":
        return f"list, separated by {CSV_LIST_SEPARATOR}"
    if kind == "bool":
        return "yes/no (true/false)"
    if kind == "date":
        return "date YYYY-MM-DD"
    if kind in ("int", "float"):
        return _number_words(kind == "int", bounds)
    if bounds.get("pattern") == r"^[A-Z]{3}$":
        return "3 capital letters"
    if "max_length" in bounds:
        return f"text, at most {bounds['max_length']} characters"
    return "text"


def field_guide(type_name: str) -> list[dict[str, str]]:
    """Per template column: name, required (yes/no), type in plain words, and description."""
    cls = evidence_class(type_name)
    out = []
    for name in template_columns(type_name):
        info = cls.model_fields[name]
        description = info.description or _FIELD_DESCRIPTIONS.get(name, "")
        default = _default(info)
        if default is not None and name != "type":
            description = f"{description} (if empty: {default})" if description else f"If empty: {default}"
        out.append({
            "name": name,
            # A CSV row needs its type (unless imported with --type), so the template asks for it.
            "required": "yes" if info.is_required() or name == "type" else "no",
            "type": _type_words(name, info),
            "description": description,
        })
    return out


# ---------------------------------------------------------------------------------------------------------------------
# The example row


def _generic_value(type_name: str, name: str, info: FieldInfo) -> str:
    kind, detail = _kind(info)
    bounds = _bounds(info)
    if kind == "choice":
        default = _default(info)
        return default if default in detail else detail[0]
    if kind == "bool":
        return _default(info) or "false"
    if kind == "date":
        return EXAMPLE_DATE
    if kind in ("int", "float"):
        low = bounds.get("ge", bounds.get("gt", 0) + (1 if "gt" in bounds else 0))
        high = bounds.get("le", bounds.get("lt"))
        if kind == "float" and high == 1:
            return "0.25"  # a share
        value = max(low, 1)
        return str(min(value, high) if high is not None else value)
    if kind == "list":
        return "example"
    if bounds.get("pattern") == r"^[A-Z]{3}$":
        return "THB"
    return f"example {name.replace('_', ' ')}"


def example_row(type_name: str) -> dict[str, str]:
    """One realistic example row, as spreadsheet text (lists joined by ";"), valid for the type's model."""
    cls = evidence_class(type_name)
    hints = {**_HINTS["*"], **_HINTS.get(type_name, {})}
    fixed = {"type": type_name, "id": EXAMPLE_PREFIX + type_code(type_name), "date": EXAMPLE_DATE,
             "facility_id": EXAMPLE_FACILITY_ID}
    row: dict[str, str] = {}
    for name in template_columns(type_name):
        info = cls.model_fields[name]
        if name in hints and name != "id":
            value = hints[name]
            row[name] = CSV_LIST_SEPARATOR.join(value) if isinstance(value, list) else str(value)
        elif name in fixed:
            row[name] = fixed[name]
        else:
            row[name] = _generic_value(type_name, name, info)
    return row


# ---------------------------------------------------------------------------------------------------------------------
# Writing


def write_template(type_name: str, fmt: str, path: Path) -> None:
    """Write the template of `type_name` to `path` as "csv" or "xlsx" (replacing any file there)."""
    evidence_class(type_name)
    if fmt == "csv":
        _write_csv(type_name, path)
    elif fmt == "xlsx":
        _write_xlsx(type_name, path)
    else:
        raise ValueError(f"unknown template format {fmt!r}; use one of {', '.join(FORMATS)}")


def _write_csv(type_name: str, path: Path) -> None:
    columns = template_columns(type_name)
    row = example_row(type_name)
    # utf-8-sig: the byte-order mark tells Excel the file is UTF-8 (the loader reads it either way).
    with open(path, "w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerow([safe_cell(row[name]) for name in columns])


def _write_xlsx(type_name: str, path: Path) -> None:
    from openpyxl import Workbook  # imported late: the CLI starts fast
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    cls = evidence_class(type_name)
    columns = template_columns(type_name)
    row = example_row(type_name)
    dates = models.date_fields(type_name)

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = type_name[:31]
    lists = None  # a hidden sheet for dropdowns too long to write inline (Excel's limit is 255 characters)
    list_columns = 0
    bold = Font(bold=True)
    for index, name in enumerate(columns, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=1, column=index, value=name)
        header.font = bold
        value = row[name]
        cell = sheet.cell(row=2, column=index)
        # Format the whole column rather than the cells below the example: empty formatted cells would make a
        # sheet saved as CSV end in rows of empty cells. Dates are real dates shown as YYYY-MM-DD; the rest is
        # text (so Excel neither turns ids into numbers nor runs anything as a formula).
        number_format = "yyyy-mm-dd" if name in dates else "@"
        sheet.column_dimensions[letter].number_format = cell.number_format = number_format
        if value and name in dates:
            cell.value = dt.date.fromisoformat(value)
        elif value:
            cell.value = safe_cell(value)
            cell.data_type = "s"
        kind, choices = _kind(cls.model_fields[name])
        if kind == "bool":
            choices = ["true", "false"]
        if kind in ("choice", "bool"):
            inline = '"' + ",".join(choices) + '"'
            if len(inline) <= 255:
                formula = inline
            else:
                if lists is None:
                    lists = workbook.create_sheet("Lists")
                    lists.sheet_state = "hidden"
                list_columns += 1
                list_column = get_column_letter(list_columns)
                for i, choice in enumerate(choices, start=1):
                    lists[f"{list_column}{i}"] = choice
                formula = f"Lists!${list_column}$1:${list_column}${len(choices)}"
            validation = DataValidation(type="list", formula1=formula, allow_blank=True, showDropDown=False,
                                        showErrorMessage=True, errorTitle=name,
                                        error=f"Choose a value from the list ({', '.join(choices)[:200]})")
            validation.add(f"{letter}2:{letter}{MAX_ROW}")
            sheet.add_data_validation(validation)
        widest = max([len(name), len(value), *(len(c) for c in (choices or []) if kind in ("choice", "bool"))])
        sheet.column_dimensions[letter].width = min(max(widest + 2, 10), 60)
    sheet.freeze_panes = "A2"

    guide = workbook.create_sheet("Field guide", index=1)
    headings = ["column", "required", "type", "description"]
    guide.append(headings)
    entries = field_guide(type_name)
    for entry in entries:
        guide.append([safe_cell(entry[key]) for key in ("name", "required", "type", "description")])
    guide.append([])
    for note in (EXAMPLE_NOTE,
                 f"To import: keep the {type_name} sheet first and run: compliance import evidence FILE.xlsx "
                 "(or save that sheet as CSV UTF-8 and import the .csv).",
                 f"Lists: separate the values in one cell with {CSV_LIST_SEPARATOR}, e.g. passport{CSV_LIST_SEPARATOR}"
                 "work_permit. An empty cell means no value."):
        guide.append([note])
    for cell in guide[1]:
        cell.font = bold
    guide.freeze_panes = "A2"
    for index, key in enumerate(("name", "required", "type", "description"), start=1):
        widest = max([len(headings[index - 1]), *(len(e[key]) for e in entries)])
        guide.column_dimensions[get_column_letter(index)].width = min(max(widest + 2, 10), 80)
    for cells in guide.iter_rows(min_row=2, max_row=len(entries) + 1):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")  # long "one of: ..." lists wrap
    workbook.save(path)
