"""The exceptions compliance raises on purpose.

* ComplianceError
  x InputError            a rule, contract, facility or evidence file is not valid; carries every Problem
  x StoreError            the database is unreachable, or its schema is not at the current revision
  x EngineUnavailable     the durable_rules extension cannot be imported, or is not the fixed build
  x EngineError           the engine failed inside a rule action (see compliance.engine)
  x NotFound              a contract (or other record) named by the user does not exist
  x ConfigurationError    a setting the command needs is missing or wrong (e.g. no pseudonym key)
  x RedactionError        a letter or report failed the redaction check and was not written

Library code raises these and never prints or exits; the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, with its place: file, line (or CSV row) and field."""

    file: str
    line: int | None
    field: str | None
    message: str
    #: "line" for YAML/JSON/JSON Lines, "row" for CSV and XLSX (a spreadsheet's row number), "record" for the
    #: n-th record (from 1) of a JSON list.
    unit: str = "line"

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}" if self.unit == "line" else f": {self.unit} {self.line}"
        where = f" {self.field}:" if self.field else ""
        return f"{place}:{where} {self.message}"


@dataclass(frozen=True)
class FieldProblem:
    """Why an evidence row was refused: the field (None for the row as a whole), the value found, what was
    expected. Intake finds most of them; the store adds those that need the database (an unknown contract)."""

    field: str | None
    value: str | None
    expected: str

    @property
    def message(self) -> str:
        """What was expected and what was found, without the field."""
        return self.expected + (f"; found {self.value}" if self.value is not None else "")

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "expected": self.expected}


class ComplianceError(Exception):
    """Base class for every error compliance raises on purpose."""


class InputError(ComplianceError):
    """An input file is not valid; `problems` lists every problem found, each with its place."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.field or "", p.message))
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{lines}\n{count} problem{'s' if count != 1 else ''} found; nothing was changed.")


class StoreError(ComplianceError):
    """The store cannot be used: unreachable, or its schema is not at the current revision."""


class EngineUnavailable(ComplianceError):
    """The durable_rules C extension cannot be imported on this Python."""


class EngineError(ComplianceError):
    """The engine failed inside an action or reported an error; the contract's result is unusable."""


class RunInProgress(ComplianceError):
    """Another `run` holds the store's run lock."""


class NotFound(ComplianceError):
    """A record the user named does not exist in the store."""


class RedactionError(ComplianceError):
    """A document for outside eyes failed the redaction check and was not written (see compliance.redaction)."""

    def __init__(self, document: str, violations: list[Any]):
        self.document, self.violations = document, violations
        lines = "\n".join(f"  - {v}" for v in violations)
        super().__init__(f"{document} was not written: it failed the redaction check "
                         f"({len(violations)} problem{'s' if len(violations) != 1 else ''}):\n{lines}")


class ConfigurationError(ComplianceError):
    """A setting the command needs is missing or wrong, e.g. no pseudonym key for an evidence import."""
