"""Evidence intake: read an evidence file row by row and prepare each row, or say exactly what is wrong with it.

Formats, chosen by extension and checked against the file's first bytes (a workbook renamed .csv is refused,
not misread):

* CSV  (.csv)            UTF-8 with or without a byte-order mark (or --encoding), header row first. Streamed.
* XLSX (.xlsx)           the first sheet, header row first; Excel's own date cells are dates. Streamed.
* JSON Lines (.jsonl)    one JSON object per line. Streamed.
* JSON, YAML             a list of records, ``{"evidence": [...]}``, or one record. Read whole.

Each row is prepared before validation:

* column headers match fields ignoring case, spaces and hyphens ("Facility ID" is facility_id); a column that
  is not a field is reported once per file (with a did-you-mean) and its values are not imported;
* worker identity columns (worker_name, employee_number, phone, ... see ``pseudonyms.IDENTITY_COLUMNS``) and
  the record's person field (a grievance's complainant, an action's subject; for a row whose type is not known,
  every person field) become keyed-hash pseudonyms here, before anything is validated, stored, reported or logged;
* worker identities in free text (phones, e-mails, national ids, messaging handles and links, the names and numbers
  of the file's identity columns) are replaced by masks or the worker's pseudonym (``identities``); an identifier
  (id, report_id, finding_ref...) that carries one is refused, since it cannot be masked;
* a CSV row with more or fewer cells than the header has columns is refused whole and none of its cells is kept
  (its values may have shifted, a name into any column);
* dates are ISO (2025-01-31); day-first dates (31/01/2025) only with ``day_first`` (never guessed);
* list cells are split on ";"; a cell longer than ``MAX_CELL`` characters is refused, not stored whole;
* rows whose id starts with ``EXAMPLE-`` (the example row of a template) are skipped.

A bad row becomes a list of ``FieldProblem`` (field, value, what was expected) for the quarantine; the store
checks what needs the database (unknown contract or facility, an id used twice). Problems that make the whole
file unreadable (empty, wrong format, damaged workbook, not UTF-8, a required column missing) raise InputError
before any row is read. A value that may be an identity (in a person or free-text field) is never echoed in a
problem: it is ``[value withheld]``; other echoed values are masked like free text.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compliance.domain import models
from compliance.domain.rows import MAX_CELL, Row, storable
from compliance.errors import FieldProblem, InputError, Problem
from compliance.rules import spec
from compliance.rules.meaning import list_fields
from compliance.sources.identities import Identities, Names
from compliance.sources.pseudonyms import IDENTITY_COLUMNS, KEYED, Pseudonymiser
from compliance.sources.structured import SHARED_VALUES_KEY, read_structured

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
           ".yaml": "yaml", ".yml": "yaml"}
#: Rows whose id starts with this are a template's example row, skipped on import.
EXAMPLE_PREFIX = "EXAMPLE-"
#: In CSV and XLSX cells, list values (e.g. a grievance's issue_categories) are separated by ";".
LIST_SEPARATOR = ";"
#: A column a quarantine export adds; ignored on re-import.
REASON_COLUMN = "quarantine_reason"

#: What a problem shows instead of a value that may identify a worker.
WITHHELD = "[value withheld]"

_DAY_FIRST = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_OS_ID_COUNTRY = re.compile(r"^([A-Z]{2})\d{7}")
_ZIP_MAGIC = b"PK\x03\x04"
_ALL_FIELDS = set().union(*(set(cls.model_fields) for cls in models.EVIDENCE_TYPES.values()))


def column_name(header: str) -> str:
    """A header as a field name: "Facility ID" -> facility_id, "issue-categories" -> issue_categories."""
    return re.sub(r"[\s\-]+", "_", str(header).strip().lstrip("\ufeff")).lower()


@dataclass
class Options:
    evidence_type: str | None = None
    day_first: bool = False
    sensitivity: str | None = None
    encoding: str = "utf-8-sig"
    #: The country of each facility the store knows (its id -> ISO code), for facilities without an OS ID: local
    #: phone numbers are read in it.
    countries: dict[str, str] = field(default_factory=dict)


@dataclass
class Source:
    """An evidence file opened for reading: its format, content hash, row estimate and file-level warnings."""

    path: Path
    format: str
    file_hash: str
    estimated_rows: int
    warnings: list[str] = field(default_factory=list)
    #: Whether rows may name workers (identity or person columns): the file is then read once more first, to know
    #: every worker it names before any row's free text is masked.
    names_workers: bool = True
    _rows: Callable[[], Iterator[tuple[int, dict[str, Any]]]] | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def unit(self) -> str:
        return {"csv": "row", "xlsx": "row", "json": "line", "yaml": "line", "jsonl": "line"}[self.format]

    def raw_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        assert self._rows is not None
        return self._rows()


# ---------------------------------------------------------------------------------------------------------------------
# Opening a file: format, encoding and integrity are checked before any row is read


def _fail(path: Path, message: str, line: int | None = None) -> InputError:
    return InputError([Problem(str(path), line, None, message)])


def open_source(path: Path, options: Options) -> Source:
    """Check the file (format, encoding, integrity), hash it, and prepare to read its rows."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise _fail(path, f"evidence is read from {', '.join(sorted(FORMATS))} files, not "
                          f"{path.suffix or 'a file without an extension'}")
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            head = stream.read(8)
    except OSError as error:
        raise _fail(path, f"cannot be read: {error.strerror}") from None
    if size == 0:
        raise _fail(path, "is empty: expected a header row and data rows" if fmt in ("csv", "xlsx")
                    else "is empty: expected evidence records")
    if fmt == "xlsx" and not head.startswith(_ZIP_MAGIC):
        raise _fail(path, "is not an XLSX workbook (an .xlsx file is a ZIP archive; this one is not). If it is a "
                          "CSV file, give it the .csv extension")
    if fmt != "xlsx" and head.startswith(_ZIP_MAGIC):
        raise _fail(path, f"is a ZIP archive (probably an XLSX workbook), not {fmt.upper()} text: give it the "
                          ".xlsx extension, or save it from the spreadsheet as CSV UTF-8")
    file_hash, lines = _scan(path, options.encoding if fmt != "xlsx" else None)
    source = Source(path, fmt, file_hash, estimated_rows=max(lines - 1, 0))
    if fmt == "csv":
        _open_csv(source, options)
    elif fmt == "xlsx":
        _open_xlsx(source, options)
    elif fmt == "jsonl":
        source.estimated_rows = lines
        source._rows = lambda: _jsonl_rows(path, options.encoding)
    else:
        _open_structured(source)
    return source


def _scan(path: Path, encoding: str | None) -> tuple[str, int]:
    """The file's SHA-256 and line count, reading it once in blocks; for text, also prove it decodes (so a bad
    byte half-way through a million rows is reported before the first row is imported)."""
    digest = hashlib.sha256()
    lines = 0
    decoder = codecs.getincrementaldecoder(encoding)("strict") if encoding else None
    offset = 0
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
            lines += block.count(b"\n")
            if decoder is not None:
                if b"\x00" in block:
                    raise _fail(path, "contains NUL bytes: it is binary data, not a text file")
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as error:
                    raise _fail(path, f"is not {encoding.replace('-sig', '')} text ({error.reason} at byte "
                                      f"{offset + error.start}); save it as 'CSV UTF-8' or give its --encoding, "
                                      "e.g. --encoding cp1252") from None
            offset += len(block)
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise _fail(path, f"is not {encoding.replace('-sig', '')} text (it ends inside a character: "
                              f"{error.reason})") from None
    return digest.hexdigest(), lines + 1


def _columns(source: Source, headers: list[Any], options: Options) -> list[str | None]:
    """Header cells as field names; None for columns that are not imported (reported once, as warnings)."""
    names: list[str | None] = []
    fields = (set(models.EVIDENCE_TYPES[options.evidence_type].model_fields)
              if options.evidence_type in models.EVIDENCE_TYPES and "type" not in map(column_name, headers)
              else _ALL_FIELDS)
    known = fields | {"type", FACILITIES_FIELD} | set(IDENTITY_COLUMNS)
    seen: set[str] = set()
    for header in headers:
        name = column_name(header) if header not in (None, "") else ""
        if not name:
            names.append(None)
            continue
        if name in seen:
            raise _fail(source.path, f'has the column "{header}" twice')
        seen.add(name)
        if name == REASON_COLUMN:
            names.append(None)
        elif name not in known:
            source.warnings.append(f'column "{header}" is not an evidence field, its values were not imported'
                                   f"{spec.did_you_mean(name, fields)}")
            names.append(None)
        else:
            names.append(name)
    present = {n for n in names if n}
    source.names_workers = bool(present & (set(IDENTITY_COLUMNS) | models.PERSON_FIELDS))
    if "type" not in present and not options.evidence_type:
        raise _fail(source.path, "has no type column: add one, or name the type of every row with --type TYPE")
    required = ["id", "date"]
    if "type" not in present and options.evidence_type:
        cls = models.EVIDENCE_TYPES[options.evidence_type]
        required = [n for n, info in cls.model_fields.items() if info.is_required()]
        if cls.person_field in required and present & set(IDENTITY_COLUMNS):
            required.remove(cls.person_field)
    missing = [n for n in required if n not in present]
    if missing:
        raise _fail(source.path, f"misses required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                 f"(header row: {', '.join(str(h) for h in headers if h not in (None, ''))})",
                    line=1)
    return names


def _open_csv(source: Source, options: Options) -> None:
    csv.field_size_limit(2**31 - 1)  # long cells are refused row by row (MAX_CELL), not by the reader
    with source.path.open(encoding=options.encoding, newline="") as stream:
        reader = csv.reader(stream)
        headers = next(reader, None)
        has_data = any(any(cell.strip() for cell in cells) for cells in reader)  # stops at the first data row
    if not headers or not any(h.strip() for h in headers):
        raise _fail(source.path, "has no header row: the first row must name the columns")
    if not has_data:
        raise _fail(source.path, "has a header row but no data rows")
    columns = _columns(source, headers, options)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        with source.path.open(encoding=options.encoding, newline="") as stream:
            reader = csv.reader(stream)
            next(reader)
            for index, cells in enumerate(reader):
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(columns):
                    # A comma too many or too few shifts every later value (a name into channel): nothing of the
                    # row can be trusted to be where it belongs, so none of it is kept.
                    yield index + 2, {"__problem__": f"has {len(cells)} cells but the header has {len(columns)} "
                                            "columns (an unquoted comma, or a missing cell?); none of its cells were "
                                            "kept: correct the row in the file and import it again"}
                    continue
                yield index + 2, {name: cell.strip() for name, cell in zip(columns, cells) if name and cell.strip()}

    source._rows = rows


def _cell(value: Any) -> Any:
    """An XLSX cell as the text a CSV would hold (dates as ISO dates)."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _open_xlsx(source: Source, options: Options) -> None:
    from openpyxl import load_workbook  # imported late: the CLI starts fast

    try:
        with zipfile.ZipFile(source.path) as archive:
            damaged = archive.testzip()  # reads every part: a truncated or damaged workbook fails here
        if damaged:
            raise zipfile.BadZipFile(f"part {damaged} is damaged")
        workbook = load_workbook(source.path, read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - zipfile, openpyxl and XML errors all mean the same to the user
        raise _fail(source.path, f"is not a readable XLSX workbook (damaged or truncated: {error})") from None
    sheet = workbook.worksheets[0]
    header = next(sheet.iter_rows(max_row=1, values_only=True), None)
    source.estimated_rows = max((sheet.max_row or 1) - 1, 0)
    workbook.close()
    if not header or not any(h not in (None, "") for h in header):
        raise _fail(source.path, f'has no header row in its first sheet "{sheet.title}"')
    columns = _columns(source, list(header), options)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        book = load_workbook(source.path, read_only=True, data_only=True)
        try:
            for number, cells in enumerate(book.worksheets[0].iter_rows(min_row=2, values_only=True), start=2):
                row = {name: _cell(value) for name, value in zip(columns, cells)
                       if name and value is not None and _cell(value) != ""}
                if row:
                    yield number, row
        finally:
            book.close()

    source._rows = rows


def _jsonl_rows(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding=encoding) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, {"__problem__": f"is not valid JSON: {error.msg} (column {error.colno})"}
                continue
            yield number, value if isinstance(value, dict) else {"__problem__": "is not a JSON object"}


def _open_structured(source: Source) -> None:
    data = read_structured(source.path)
    value = data.value
    if isinstance(value, dict) and "evidence" in value:
        other = sorted(set(value) - {"evidence", SHARED_VALUES_KEY})
        if other:
            raise _fail(source.path, f'unknown top-level key "{other[0]}"; expected evidence', data.line_of((other[0],)))
        records, prefix = value["evidence"], ("evidence",)
        if not isinstance(records, list):
            raise _fail(source.path, "evidence must be a list", data.line_of(prefix))
    elif isinstance(value, list):
        records, prefix = value, ()
    elif isinstance(value, dict):
        records, prefix = [value], None
    else:
        raise _fail(source.path, "expected evidence records")
    source.estimated_rows = len(records)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for index, record in enumerate(records):
            line = data.line_of(() if prefix is None else (*prefix, index)) or 0
            yield line, ({column_name(k): v for k, v in record.items()} if isinstance(record, dict)
                         else {"__problem__": "is not a record (a mapping of fields)"})

    source._rows = rows


# ---------------------------------------------------------------------------------------------------------------------
# Preparing a row


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:57] + "...") + f" ({len(value)} characters)"
    return repr(value.isoformat() if isinstance(value, dt.date) else value)


def _expected(error: dict[str, Any]) -> str:
    if error["type"] == "missing":
        return "a value is required"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Input should be "):
        if message.startswith(prefix):
            message = ("" if prefix == "Value error, " else "expected ") + message[len(prefix):]
    return message


@functools.cache
def _fields_of(type_name: str) -> tuple[frozenset[str], frozenset[str]]:
    """(date fields, list fields) of an evidence type, worked out once per type rather than once per row."""
    return frozenset(models.date_fields(type_name)), frozenset(list_fields(type_name))


@functools.cache
def _codes_of(cls: type[models.EvidenceBase]) -> frozenset[str]:
    """The fields of an evidence type that are neither identifiers nor free text (dates, numbers, fixed values)."""
    type_name = cls.model_fields["type"].default
    return frozenset(name for name in cls.model_fields
                     if not models.is_identifier(name) and name not in models.free_text_fields(type_name))


def region_of(facility_id: Any, countries: dict[str, str]) -> str | None:
    """The country a row's local phone numbers are read in: an OS ID's first two letters, else the country the
    store knows for the facility; None when neither says."""
    if not isinstance(facility_id, str):
        return None
    match = _OS_ID_COUNTRY.match(facility_id.strip().upper().replace("-", "").replace(" ", ""))
    return match.group(1) if match else countries.get(facility_id.strip())


def _person_fields(cls: type[models.EvidenceBase] | None, data: dict[str, Any]) -> list[str]:
    """The fields of the row that name one worker: its type's, or every person field a row of unknown type has."""
    if cls is None:
        return sorted(name for name in models.PERSON_FIELDS if name in data)
    return [cls.person_field] if cls.person_field else []


def _worker(data: dict[str, Any], cls: type[models.EvidenceBase] | None, pseudonymise: Pseudonymiser,
            region: str | None) -> tuple[str | None, list[str], list[FieldProblem]]:
    """Take the row's identity columns out and pseudonymise its person fields, in `data`: (the worker's pseudonym,
    the raw identities the row gave, problems of person fields that hold no identifier). The person field's own
    value names the worker; else the first identity column (``IDENTITY_COLUMNS``) does."""
    identities = []
    for column in IDENTITY_COLUMNS:
        if column in data and (value := str(data.pop(column)).strip()):
            identities.append(value)
    fields = _person_fields(cls, data)
    pseudonym, problems = None, []
    for name in fields:
        value = data.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            problems.append(FieldProblem(name, WITHHELD, "a worker pseudonym or identifier (text)"))
            data[name] = WITHHELD
            continue
        value = str(value).strip()
        data[name] = pseudonymise(value, region)
        pseudonym = pseudonym or data[name]
        if not KEYED.match(value):
            identities.append(value)
    if pseudonym is None and identities:
        pseudonym = pseudonymise(identities[0], region)
        if cls is not None:
            data.update({name: pseudonym for name in fields if data.get(name) in (None, "")})
    return pseudonym, identities, problems


def known_workers(source: Source, options: Options, pseudonymise: Pseudonymiser) -> Identities:
    """The workers the file names in identity columns and person fields, each with its pseudonym, read before any
    row is prepared, so that a name in one row's free text is found even when another row names the worker."""
    identities = Identities()
    if not source.names_workers:
        return identities
    for _number, raw in source.raw_rows():
        type_name = raw.get("type") or options.evidence_type
        cls = models.EVIDENCE_TYPES.get(type_name) if isinstance(type_name, str) else None
        data = dict(raw)
        pseudonym, values, _problems = _worker(data, cls, pseudonymise, region_of(data.get("facility_id"),
                                                                                  options.countries))
        for value in values:
            identities.names.add(value, pseudonym or WITHHELD)
        if identities.full:
            break
    return identities


def _masked(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [mask(v) if isinstance(v, str) else v for v in value]
    return value


#: Identifier fields that reference a facility or a contract of the store (an OS ID, a contract id): a worker's
#: employee number may share characters with a site code, which does not make the site's id a worker's.
REFERENCES = frozenset({"facility_id", "contract_id"})


def _protect(data: dict[str, Any], cls: type[models.EvidenceBase] | None, identities: Identities,
             region: str | None, own: Names) -> list[FieldProblem]:
    """Mask the identities in the row's free text, and refuse identifiers that carry one (masked in `data`, so the
    quarantine keeps no raw identity): the problems of the refused identifiers and of free text that is not text."""
    problems = []
    text_fields = models.free_text_fields(cls.model_fields["type"].default) if cls is not None else None
    person = set(_person_fields(cls, data))
    for name, value in data.items():
        if name in person or value is None or text_fields is not None and name in _codes_of(cls):
            continue
        if name in REFERENCES:
            continue  # names a facility or a contract that must be in the store: checked there, not a worker's id
        if models.is_identifier(name):
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                kinds = identities.found_in_identifier(str(value), region, own)
                if kinds:
                    problems.append(FieldProblem(name, WITHHELD, f"an identifier that carries no worker's identity "
                                                 f"(this one holds {' and '.join(kinds)}): give the record one that "
                                                 "does not"))
                    data[name] = identities.mask(str(value), region, own)
        elif text_fields is None or name in text_fields:
            if text_fields is not None and not isinstance(value, (str, list)):
                problems.append(FieldProblem(name, WITHHELD, "text"))
                data[name] = WITHHELD
            else:
                data[name] = _masked(value, lambda text: identities.mask(text, region, own))
    return problems


def prepare(number: int, raw: dict[str, Any], options: Options, pseudonymise: Pseudonymiser,
            warnings: set[str], identities: Identities | None = None) -> Row:
    """The row as a validated record, or its problems. Worker identities are pseudonymised and masked first of all,
    whatever the row's type and whether or not it is valid. `identities`: the workers its file names."""
    problems: list[FieldProblem] = []
    data = dict(raw)
    whole_row = data.pop("__problem__", None)
    if whole_row and len(data) == 0:  # nothing could be read from it
        return Row(number, {}, problems=[FieldProblem(None, None, whole_row)])
    if whole_row:
        problems.append(FieldProblem(None, None, whole_row))
    identities = identities if identities is not None else Identities()
    for name, value in data.items():  # refused, and cut before anything reads them: a 100 MB cell is not searched
        if isinstance(value, str) and len(value) > MAX_CELL:
            problems.append(FieldProblem(name, f"{len(value)} characters", f"at most {MAX_CELL} characters"))
            data[name] = storable(value)
    type_name = data.get("type") or options.evidence_type
    cls = models.EVIDENCE_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is not None:
        data["type"] = type_name

    # Worker identities: from here on only pseudonyms and masks exist.
    region = region_of(data.get("facility_id"), options.countries)
    pseudonym, values, person_problems = _worker(data, cls, pseudonymise, region)
    own = Names()
    for value in values:
        own.add(value, pseudonym or WITHHELD)
    problems += person_problems + _protect(data, cls, identities, region, own)
    if values and cls is not None and not cls.person_field:
        warnings.add(f"worker identity columns were not imported for {type_name} records, which have no person field")

    def mask(value: Any) -> Any:
        return _masked(value, lambda text: identities.mask(text, region, own))

    if cls is None:
        shown = None if type_name is None else _shown(mask(type_name))
        problems.append(FieldProblem("type", shown, "a value is required: add a type column or use --type"
                                     if type_name is None else "one of the evidence types (compliance evidence "
                                     f"types){spec.did_you_mean(str(type_name), set(models.EVIDENCE_TYPES))}"))
        return Row(number, data, problems=problems)

    unknown = sorted(k for k in data if k not in cls.model_fields)
    for name in unknown:
        warnings.add(f'field "{name}" is not a field of {type_name} records, its values were not imported'
                     f"{spec.did_you_mean(name, set(cls.model_fields))}")
        data.pop(name)
    if options.sensitivity and "sensitivity" not in data:
        data["sensitivity"] = options.sensitivity

    date_fields, list_fields = _fields_of(type_name)
    for name in date_fields:
        value = data.get(name)
        if not isinstance(value, str):
            continue
        match = _DAY_FIRST.match(value)
        if match and not options.day_first:
            problems.append(FieldProblem(name, _shown(value), "a date written YYYY-MM-DD; if the file writes "
                                         "dates day first (31/01/2025), import it with --day-first"))
        elif match:
            day, month, year = (int(g) for g in match.groups())
            try:
                data[name] = dt.date(year, month, day).isoformat()
            except ValueError as error:
                problems.append(FieldProblem(name, _shown(value), f"a date that exists ({error})"))
    for name in list_fields:
        if isinstance(data.get(name), str):
            data[name] = [part.strip() for part in data[name].split(LIST_SEPARATOR) if part.strip()]

    row = Row(number, data)
    if str(data.get("id", "")).startswith(EXAMPLE_PREFIX):
        row.skipped = True
        return row
    if not problems:
        try:
            row.record = models.EVIDENCE_ADAPTER.validate_python(data)
        except ValidationError as error:
            withheld = models.free_text_fields(type_name) | {cls.person_field}
            for e in error.errors(include_url=False):
                loc = [str(p) for p in e["loc"] if p not in models.EVIDENCE_TYPES]
                value = e.get("input")
                shown = None if e["type"] == "missing" or isinstance(value, dict) else \
                    WITHHELD if loc and loc[0] in withheld else _shown(mask(value))
                problems.append(FieldProblem(".".join(loc) or None, shown, _expected(e)))
    if problems:
        # A refused row is kept in the quarantine as read: whatever a field holds, no raw identity stays in it.
        done = models.free_text_fields(type_name) | {cls.person_field}
        row.raw = {name: value if name in done or models.is_identifier(name) else mask(value)
                   for name, value in data.items()}
        row.problems = problems
    return row


#: A record naming several facilities (`facility_ids`: a press report about three factories of one group) is
#: imported as one record per facility, with the id ID@FACILITY: every rule reads evidence about one facility.
FACILITIES_FIELD = "facility_ids"


def per_facility(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The row as one row per facility it names (`facility_id` and `facility_ids`); itself when it names one."""
    rest = {k: v for k, v in raw.items() if k != FACILITIES_FIELD}
    value = raw.get(FACILITIES_FIELD)
    if value in (None, "", []):
        return [rest]
    named = [raw.get("facility_id"), *(value if isinstance(value, list) else str(value).split(LIST_SEPARATOR))]
    facilities = list(dict.fromkeys(str(f).strip() for f in named if f is not None and str(f).strip()))
    if len(facilities) == 1:
        return [{**rest, "facility_id": facilities[0]}]
    return [{**rest, "facility_id": facility, "id": f"{raw.get('id')}@{facility}"} for facility in facilities]


def rows(source: Source, options: Options, pseudonymise: Pseudonymiser) -> Iterator[Row]:
    """Every row of the file, prepared; file-level warnings (unknown fields) collect on `source.warnings`."""
    warnings: set[str] = set()
    identities = known_workers(source, options, pseudonymise)
    try:
        for number, raw in source.raw_rows():
            for part in per_facility(raw):
                row = prepare(number, part, options, pseudonymise, warnings, identities)
                row.unit = source.unit
                yield row
    finally:
        source.warnings += sorted(warnings - set(source.warnings))


def check_options(options: Options, name: str) -> None:
    if options.evidence_type is not None and options.evidence_type not in models.EVIDENCE_TYPES:
        raise InputError([Problem(name, None, "type", f'unknown evidence type "{options.evidence_type}"'
                                  f"{spec.did_you_mean(options.evidence_type, set(models.EVIDENCE_TYPES))}")])
    if options.sensitivity is not None and options.sensitivity not in {s.value for s in models.Sensitivity}:
        raise InputError([Problem(name, None, "sensitivity", f'unknown sensitivity "{options.sensitivity}"; expected '
                                  f"one of {', '.join(s.value for s in models.Sensitivity)}")])
    try:
        codec = codecs.lookup(options.encoding)
    except LookupError:
        raise InputError([Problem(name, None, "encoding", f'unknown text encoding "{options.encoding}"')]) from None
    if not getattr(codec, "_is_text_encoding", True):  # hex, rot13, zlib...: codecs that are not text encodings
        raise InputError([Problem(name, None, "encoding", f'"{options.encoding}" is not a text encoding; use one such '
                                  "as utf-8, cp1252 or latin-1")])
