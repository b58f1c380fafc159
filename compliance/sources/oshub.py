"""Facilities from an Open Supply Hub (OS Hub) style CSV: a facility download or a contribution file.

`compliance import facilities` reads a CSV here when its header has an ``os_id`` column and no ``id`` column
(see ``is_oshub_header``); other CSVs keep our own columns (``models.Facility``). Header names match whatever
their case, with spaces as underscores: "OS ID" is ``os_id``, "Number of Workers" is ``number_of_workers``.

Columns read (``READ_COLUMNS``) and the Facility field each fills:

* ``os_id`` -> id: must be an OS ID (15 characters with a valid check character), not an internal FAC- id;
* ``name``, ``address``, ``parent_company`` -> the same fields;
* ``country_code`` -> country (ISO 3166-1 alpha-2, any case); without it, ``country`` when that is a
  2-letter code (a contribution file's column). A country name is not translated: it is a problem;
* ``number_of_workers`` -> workers_min and workers_max (forms below);
* ``risk_level`` (not an OS Hub column; our internal risk profile: low, medium or high), when present.

Columns of OS Hub files that are known and ignored: ``IGNORED_COLUMNS`` (coordinates, sector, contributors,
facility, processing and product types, closure, contribution date, country name...). Any other column is a
problem, so that a misspelt column is not silently dropped.

``number_of_workers`` forms (thousands may be written with commas, "1,000"; ranges with "-", an en dash or
"to"; words in any case):

=====================================================  ============  ===========
cell                                                   workers_min   workers_max
=====================================================  ============  ===========
``250``, ``1,000``                                     the number    the number
``1001-5000``, ``1,001 - 5,000``, ``10 to 50``         the first     the second
``Less than 1000``, ``fewer than``, ``under``, ``<``   (none)        999
``up to 1000``, ``at most 1000``, ``<= 1000``          (none)        1000
``1000+``, ``at least 1000``, ``>= 1000``              1000          (none)
``More than 10000``, ``over 10000``, ``> 10000``       10001         (none)
=====================================================  ============  ===========

"(none)": the bound is left empty (unknown), not set to 0.

Anything else (a decimal, a reversed range, other text) is a ValueError naming the cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from compliance.domain import models
from compliance.rules import spec
from compliance.sources.intake import column_name

#: Columns read, by normalised header name.
READ_COLUMNS = ("os_id", "name", "address", "country_code", "country", "parent_company", "number_of_workers",
                "risk_level")
#: Columns of OS Hub downloads and contribution files that are known and ignored, by normalised header name.
IGNORED_COLUMNS = ("contribution_date", "country_name", "lat", "lng", "sector", "contributor", "contributor_(list)",
                   "processing_type_facility_type_raw", "facility_type", "processing_type", "product_type",
                   "location_type", "is_closed")
#: Every column an OS Hub CSV may have, by normalised header name.
OSHUB_COLUMNS = READ_COLUMNS + IGNORED_COLUMNS


class RowError(ValueError):
    """What is wrong with one row: (column, message) pairs, every one found, and the row's OS ID cell."""

    def __init__(self, problems: list[tuple[str, str]], os_id: str | None = None):
        self.problems = problems
        self.os_id = os_id
        super().__init__("; ".join(f"{column}: {message}" for column, message in problems))


def is_oshub_header(fieldnames: Iterable[str | None]) -> bool:
    """Whether a CSV header is an OS Hub one: an os_id column and no id column."""
    names = {column_name(f) for f in fieldnames if f}
    return "os_id" in names and "id" not in names


def header_problems(fieldnames: Iterable[str | None]) -> list[tuple[str, str]]:
    """(header cell, message) for each column that is not a known OS Hub column, or that repeats another."""
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for header in fieldnames:
        if not header:
            continue
        name = column_name(header)
        if name not in OSHUB_COLUMNS:
            hint = spec.did_you_mean(name, set(OSHUB_COLUMNS))
            out.append((header, f"not an Open Supply Hub column that is read or ignored{hint}"))
        elif name in seen:
            out.append((header, f'the same column as "{seen[name]}"'))
        seen.setdefault(name, header)
    return out


#: Read here and by workforce records' size bands (one reading of "1001-5000" everywhere).
parse_workers = models.parse_workers


def facility_from_oshub_row(row: dict[str, str]) -> dict[str, Any]:
    """A raw Facility dict (for ``models.Facility`` to validate) from one OS Hub CSV row.

    `row` maps header cells to cell text (empty cells may be left out). Raise RowError (a ValueError) naming
    every column whose cell cannot be read; ignored columns are not looked at.
    """
    cells = {column_name(k): v.strip() for k, v in row.items() if k and isinstance(v, str) and v.strip()}
    problems: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    os_id = cells.get("os_id")
    if os_id is None:
        problems.append(("os_id", "is required but missing"))
    else:
        problem = models.os_id_problem(os_id.upper())
        if problem:
            problems.append(("os_id", f"{os_id!r} is not an OS ID: {problem}"))
        out["id"] = os_id.upper()
    for name in ("name", "address", "parent_company", "risk_level"):
        if name in cells:
            out[name] = cells[name]
    if "country_code" in cells:
        code = cells["country_code"]
        if re.fullmatch(r"[A-Za-z]{2}", code):
            out["country"] = code.upper()
        else:
            problems.append(("country_code", f"expected an ISO 3166-1 alpha-2 code; found {code!r}"))
    elif "country" in cells:
        country = cells["country"]
        if re.fullmatch(r"[A-Za-z]{2}", country):
            out["country"] = country.upper()
        else:
            problems.append(("country", f"expected an ISO 3166-1 alpha-2 code; found {country!r}"))
    else:
        problems.append(("country_code", "is required but missing"))
    if "number_of_workers" in cells:
        try:
            low, high = parse_workers(cells["number_of_workers"])
        except ValueError as e:
            problems.append(("number_of_workers", str(e)))
        else:
            if low is not None:
                out["workers_min"] = low
            if high is not None:
                out["workers_max"] = high
    if problems:
        raise RowError(problems, os_id)
    return out
