"""Reports for people: the renewal dossier of a contract and the portfolio report, and writing them to files.

The reports are built in three modules: `report_data` reads the store once for a report (ReportData and its items)
and holds what both share; `renewal_dossier` makes the dossier (DOMAIN §D.1) and `portfolio_report` the portfolio
report. Each returns a `Rendered` report that passed the redaction check; this module writes it, as HTML, PDF or
(the portfolio) XLSX. `dossier` and `portfolio` are the entry points `api` calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compliance.documents import environment as documents
from compliance.documents.portfolio_report import portfolio
from compliance.documents.renewal_dossier import dossier
from compliance.documents.report_data import Rendered, cell_text

__all__ = ["Rendered", "dossier", "portfolio", "write", "write_xlsx"]


def write(rendered: Rendered, out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write a checked report as each format (html, pdf; xlsx for the portfolio) into `out_dir`."""
    written = []
    base = out_dir / rendered.name
    for fmt in formats:
        if fmt == "xlsx":
            out_dir.mkdir(parents=True, exist_ok=True)
            path = base.with_name(f"{base.name}.xlsx")
            write_xlsx(rendered.sheets, path)
            written.append(path)
        else:
            written += documents.write(rendered.html, base, [fmt], rendered.title, rendered.templates)
    return written


def write_xlsx(sheets: dict[str, list[list[Any]]], path: Path) -> None:
    """One sheet per table, headings in bold and frozen; text cells made safe for spreadsheets."""
    from openpyxl import Workbook  # imported late: the CLI starts fast
    from openpyxl.styles import Font

    from compliance.documents.export import _sheet_title, safe_cell

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(_sheet_title(title))
        for n, row in enumerate(rows):
            sheet.append([safe_cell(value) for value in row])
            if n == 0:
                for cell in sheet[1]:
                    cell.font = Font(bold=True)
        sheet.freeze_panes = "B2"
        for column in sheet.columns:
            width = max(len(cell_text(cell.value)) for cell in column)
            sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 60)
    workbook.save(path)
