"""Export stored findings for officers: CSV, XLSX (a sheet per contract or per severity) and JSON.

The columns are stable (COLUMNS, documented in the README). These exports are for the buyer's own use:
messages can name worker-group labels, so they are never sent to a supplier as they are. Text that a
spreadsheet would run as a formula (starting with = + - @) is written as text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from compliance.domain.models import Severity
from compliance.sources.spreadsheets import safe_cell

#: (column, what it holds) in export order.
COLUMNS: list[tuple[str, str]] = [
    ("key", "the finding's stable key"),
    ("state", "lifecycle state (new, open, notified, ... closed, withdrawn, waived)"),
    ("found", "yes while the latest run still finds it, no once resolved"),
    ("severity", "Priority, Major, Minor or Observation, after modifiers"),
    ("severity_base", "the rule's own severity"),
    ("modifiers", "why the severity was raised, separated by '; '"),
    ("verdict", "breach, alleged, disputed, human_review, due_diligence_shown, insufficient_evidence, not_yet_due or "
                "evidence_expired"),
    ("rule_id", "the rule"),
    ("title", "the rule's title"),
    ("clause", "the contract clause"),
    ("contract_id", "the contract"),
    ("ocid", "its Open Contracting id"),
    ("supplier_id", "the contractor"),
    ("facility_id", "the factory (OS ID), if the finding is about one"),
    ("fprw", "ILO categories, separated by '; '"),
    ("hrdd_objectives", "UKUPC objectives, separated by '; '"),
    ("message", "the finding in one sentence, with its values"),
    ("evidence_ids", "the records behind it, separated by '; '"),
    ("observed_on", "date of the latest evidence"),
    ("respond_by", "response deadline"),
    ("letter_type", "letter L1-L6"),
    ("waived_until", "waiver expiry, if waived"),
    ("waiver_approver", "who approved the waiver"),
]

def rows(findings: Iterable[Any]) -> list[dict[str, Any]]:
    """One flat row per stored finding (db.FindingRow), in COLUMNS order."""
    out = []
    for row in findings:
        f = row.payload
        out.append({
            "key": row.key, "state": row.state, "found": "yes" if row.firing else "no",
            "severity": Severity(f["severity"]).label,
            "severity_base": Severity(f["severity_base"]).label if f.get("severity_base") else "",
            "modifiers": "; ".join(f.get("modifiers", [])), "verdict": f["verdict"], "rule_id": f["rule_id"],
            "title": f["title"], "clause": f["clause"], "contract_id": f["contract_id"], "ocid": f["ocid"],
            "supplier_id": f["supplier_id"], "facility_id": f.get("facility_id") or "",
            "fprw": "; ".join(f.get("fprw", [])), "hrdd_objectives": "; ".join(map(str, f.get("hrdd_objectives", []))),
            "message": f["message"], "evidence_ids": "; ".join(f.get("evidence_ids", [])),
            "observed_on": f.get("observed_on") or "", "respond_by": f["respond_by"],
            "letter_type": f.get("letter_type") or "",
            "waived_until": row.waived_until.isoformat() if row.waived_until else "",
            "waiver_approver": row.waiver_approver or "",
        })
    return out


def write_csv(data: list[dict[str, Any]], stream: IO[str]) -> None:
    writer = csv.DictWriter(stream, fieldnames=[name for name, _ in COLUMNS])
    writer.writeheader()
    for row in data:
        writer.writerow({name: safe_cell(value) for name, value in row.items()})


def write_json(data: list[dict[str, Any]], stream: IO[str]) -> None:
    json.dump(data, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def write_xlsx(data: list[dict[str, Any]], path: Path, sheets: str = "contract") -> None:
    """One sheet per contract (`sheets="contract"`) or per severity, most serious first."""
    from openpyxl import Workbook  # imported late: the CLI starts fast

    workbook = Workbook()
    workbook.remove(workbook.active)
    names = [name for name, _ in COLUMNS]
    groups: dict[str, list[dict[str, Any]]] = {}
    if sheets == "severity":
        for severity in Severity:
            groups[severity.label] = [r for r in data if r["severity"] == severity.label]
    else:
        for row in sorted(data, key=lambda r: r["contract_id"]):
            groups.setdefault(row["contract_id"], []).append(row)
    for title, members in groups.items() if groups else [("Findings", [])]:
        sheet = workbook.create_sheet(_sheet_title(title))
        sheet.append(names)
        for row in members:
            sheet.append([safe_cell(row[name]) for name in names])
        sheet.freeze_panes = "A2"
    workbook.save(path)


def _sheet_title(text: str) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\."""
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in text)[:31] or "Findings"


def write_quarantine_csv(entries: Iterable[Any], stream: IO[str]) -> None:
    """Quarantined rows (db.QuarantineRow) as a CSV to correct and import again: the columns the rows had, lists
    joined with ";", and a quarantine_reason column the importer ignores. Cells are made safe for spreadsheets."""
    from compliance.sources.intake import LIST_SEPARATOR, REASON_COLUMN, FieldProblem

    entries = list(entries)
    columns: list[str] = []
    for entry in entries:
        columns += [name for name in entry.raw if name not in columns]
    writer = csv.DictWriter(stream, fieldnames=[*columns, REASON_COLUMN])
    writer.writeheader()
    for entry in entries:
        cells = {name: LIST_SEPARATOR.join(map(str, value)) if isinstance(value, list) else value
                 for name, value in entry.raw.items()}
        cells[REASON_COLUMN] = "; ".join(str(FieldProblem(**p)) for p in entry.problems)
        writer.writerow({name: safe_cell(value) for name, value in cells.items()})
