"""The exceptions compliance raises on purpose, and the exit codes they end a command with.

* ComplianceError                                                        exit 70 unless a subclass says otherwise
  x InputError            a rule, contract, facility or evidence file is not valid; carries every Problem   (3)
  x NotFound              a contract (or other record) named by the user does not exist                     (3)
  x StoreError            the database is unreachable, or its schema is not at the current revision         (5)
  x EngineUnavailable     the durable_rules extension cannot be imported, or is not the fixed build         (5)
  x ConfigurationError    a setting the command needs is missing or wrong (e.g. no pseudonym key)           (5)
  x EngineError           the engine failed inside a rule action (see compliance.rules.engine)              (4)
  x RunInProgress         another run holds the store's run lock                                            (7)
  x RedactionError        a letter or report failed the redaction check and was not written                 (9)

Library code raises these and never prints or exits; the CLI turns them into messages and `exit_code`. The exit
codes themselves (`ExitCode`, with what each means in `EXIT_CODES`) are defined here once: the CLI's help, the
README's table and scripts read them from here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class ExitCode(enum.IntEnum):
    """How a command ended, for scripts and cron."""

    OK = 0
    FINDINGS = 1
    USAGE = 2
    INPUT = 3
    ENGINE_FAULT = 4
    UNAVAILABLE = 5
    TAMPERED = 6
    BUSY = 7
    QUARANTINED = 8
    REDACTION = 9
    INTERNAL = 70


#: What each exit code means: (a short line for ``--help``, the README's full sentence).
EXIT_CODES: dict[ExitCode, tuple[str, str]] = {
    ExitCode.OK: ("success (check: no findings)", "success; for `check`: no findings"),
    ExitCode.FINDINGS: (
        "check: findings reported; run --fail-on: a new finding at or above it",
        "`check`: findings were reported; `run --fail-on SEVERITY`: a new or reopened finding at or above it"),
    ExitCode.USAGE: ("usage error", "usage error (unknown option, missing argument)"),
    ExitCode.INPUT: (
        "input rejected (invalid file or unknown id); nothing written",
        "input rejected: an invalid rule, contract, facility, evidence or template file, an unknown contract id, or "
        "a file or folder named that cannot be read or written; nothing was written"),
    ExitCode.ENGINE_FAULT: (
        "engine fault: engine and reference disagree, or engine failed",
        "engine fault: the engine and the reference evaluation disagree (findings are still printed), or the engine "
        "failed"),
    ExitCode.UNAVAILABLE: (
        "store, engine or setting unavailable (e.g. no pseudonym key, or a weak one)",
        "the store, the engine or a setting is unavailable: database unreachable or not at the current schema "
        "(`compliance db upgrade`), durable_rules cannot load, no pseudonym key configured for an evidence import "
        "(or a weak one, two different ones, or not the store's key)"),
    ExitCode.TAMPERED: ("audit verify: the findings history or erasure log was tampered with",
                        "`audit verify`: a finding's history or the erasure log was edited or removed"),
    ExitCode.BUSY: ("run: another run is in progress (without --wait)",
                    "`run`: another run is in progress on this store (use `--wait` to wait for it)"),
    ExitCode.QUARANTINED: ("import evidence: rows were quarantined (the good rows were imported)",
                           "`import evidence`: some rows were refused and quarantined; the good rows were imported"),
    ExitCode.REDACTION: (
        "letter or report failed the redaction check; nothing written",
        "`letter draft`, `report dossier`, `report portfolio`: the document failed the redaction check (it could "
        "reveal a worker) and was not written; the message names the finding and field"),
    ExitCode.INTERNAL: ("internal error (rerun with --debug)",
                        "internal error (a bug); rerun with `--debug` for the traceback"),
}


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
        """What was expected and what was found, without the field; printable whatever the row held (a lone
        surrogate from a hostile file is written as \\ud800)."""
        text = self.expected + (f"; found {self.value}" if self.value is not None else "")
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "expected": self.expected}


class ComplianceError(Exception):
    """Base class for every error compliance raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL


class InputError(ComplianceError):
    """An input file is not valid; `problems` lists every problem found, each with its place."""

    exit_code = ExitCode.INPUT

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.field or "", p.message))
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{lines}\n{count} problem{'s' if count != 1 else ''} found; nothing was changed.")


class StoreError(ComplianceError):
    """The store cannot be used: unreachable, or its schema is not at the current revision."""

    exit_code = ExitCode.UNAVAILABLE


class EngineUnavailable(ComplianceError):
    """The durable_rules C extension cannot be imported on this Python."""

    exit_code = ExitCode.UNAVAILABLE


class EngineError(ComplianceError):
    """The engine failed inside an action or reported an error; the contract's result is unusable."""

    exit_code = ExitCode.ENGINE_FAULT


class RunInProgress(ComplianceError):
    """Another `run` holds the store's run lock."""

    exit_code = ExitCode.BUSY


class NotFound(ComplianceError):
    """A record the user named does not exist in the store."""

    exit_code = ExitCode.INPUT


class RedactionError(ComplianceError):
    """A document for outside eyes failed the redaction check and was not written (see documents.redaction)."""

    exit_code = ExitCode.REDACTION

    def __init__(self, document: str, violations: list[Any]):
        self.document, self.violations = document, violations
        lines = "\n".join(f"  - {v}" for v in violations)
        super().__init__(f"{document} was not written: it failed the redaction check "
                         f"({len(violations)} problem{'s' if len(violations) != 1 else ''}):\n{lines}")


class ConfigurationError(ComplianceError):
    """A setting the command needs is missing or wrong, e.g. no pseudonym key for an evidence import."""

    exit_code = ExitCode.UNAVAILABLE
