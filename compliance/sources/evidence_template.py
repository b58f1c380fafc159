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

from compliance.domain import models
from compliance.errors import InputError, Problem
from compliance.rules import spec
from compliance.sources.intake import EXAMPLE_PREFIX
from compliance.sources.intake import LIST_SEPARATOR as CSV_LIST_SEPARATOR
from compliance.sources.spreadsheets import safe_cell

#: Said wherever the template is explained (the XLSX field guide, the CLI).
EXAMPLE_NOTE = (f"The example row (id {EXAMPLE_PREFIX}...) only shows what to fill in: the import skips rows whose "
                f"id starts with {EXAMPLE_PREFIX}, so replace it with real records or delete it.")

FORMATS = ("csv", "xlsx")

#: Base fields first and last; the type's own fields go between, in declaration order.
_LEADING = ("type", "id", "date", "contract_id", "facility_id")
_TRAILING = ("source", "sensitivity")

#: Rows 2..MAX_ROW of an XLSX template get dropdowns and cell formats.
MAX_ROW = 1000

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

#: Realistic values for fields many types share; each type's own are its model's `template_hints`. Lists are
#: written joined by ";". Everything else is derived from the field's type (a value from the allowed set, a number
#: within its bounds, the example date).
_GENERIC_HINTS: dict[str, Any] = {
    "source": "worker_driven_monitoring", "worker_group": "wg_migrant_MM_2024", "currency": "THB",
    "subject": "wp_3c9e", "complainant": "wp_3c9e", "contract_id": "",
    # Most records name no agency: the example leaves both empty unless its type's hints name one.
    "agency": "", "agency_role": "",
    # Most values are not estimates; the precision follows from the date written (2016-10 is a month).
    "estimated": "", "estimate_basis": "", "date_precision": ""}


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
    return doc.splitlines()[0] if doc else type_name.replace("_", " ")


def type_code(type_name: str) -> str:
    """The short code of the type's example id (EXAMPLE-AF): its model's `template_code`."""
    return evidence_class(type_name).template_code


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
    hints = {**_GENERIC_HINTS, **cls.template_hints}
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
