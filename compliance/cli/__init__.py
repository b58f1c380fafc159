"""The command line: a thin layer over ``compliance.api``.

Exit codes (also in the README and ``compliance --help``), so scripts and cron can act on them:

    0   success; for check: no findings
    1   check: findings were reported
    2   usage error (unknown option, missing argument)
    3   input rejected: a rule, contract, facility or evidence file is invalid, or an unknown id was named;
        nothing was written
    4   engine fault: the engine and the reference evaluation disagree (findings are still printed),
        or the engine failed
    5   the store, the engine or a setting is unavailable (database unreachable or not at the current schema,
        durable_rules not importable, no pseudonym key configured for an evidence import)
    6   audit verify: the findings history was edited, or entries were removed or inserted
    7   run: another run holds the store's run lock (and --wait was not given)
    8   import evidence: some rows were refused and quarantined; the good rows were imported
    9   letter or report: the document failed the redaction check (it could reveal a worker) and was not
        written; the message names the finding and field
    70  internal error (a bug): rerun with --debug for the traceback
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from compliance import __version__
from compliance.domain.models import VERDICT_LABELS
from compliance.errors import (
    ComplianceError,
    ConfigurationError,
    EngineError,
    EngineUnavailable,
    InputError,
    NotFound,
    RedactionError,
    RunInProgress,
    StoreError,
)

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INPUT, EXIT_ENGINE_FAULT, EXIT_UNAVAILABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4, 5, 70
EXIT_TAMPERED, EXIT_BUSY, EXIT_QUARANTINED, EXIT_REDACTION = 6, 7, 8, 9

EXIT_CODES_HELP = """\b
Exit codes:
  0   success (check: no findings)
  1   check: findings reported
  2   usage error
  3   input rejected (invalid file or unknown id); nothing written
  4   engine fault: engine and reference disagree, or engine failed
  5   store, engine or setting unavailable (e.g. no pseudonym key)
  6   audit verify: the findings history was tampered with
  7   run: another run is in progress (without --wait)
  8   import evidence: rows were quarantined (the good rows were imported)
  9   letter or report failed the redaction check; nothing written
  70  internal error (rerun with --debug)"""


class ComplianceGroup(click.Group):
    """Turns the errors compliance raises on purpose into messages and exit codes, once, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as error:
            _fail(str(error), EXIT_INPUT)
        except NotFound as error:
            _fail(str(error), EXIT_INPUT)
        except (StoreError, EngineUnavailable, ConfigurationError) as error:
            _fail(str(error), EXIT_UNAVAILABLE)
        except EngineError as error:
            _fail(f"engine fault: {error}", EXIT_ENGINE_FAULT)
        except RunInProgress as error:
            _fail(str(error), EXIT_BUSY)
        except RedactionError as error:
            _fail(str(error), EXIT_REDACTION)
        except ComplianceError as error:
            _fail(str(error), EXIT_INTERNAL)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`compliance rules list | head`): stop quietly, as Unix tools do.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except Exception as error:  # noqa: BLE001
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _fail(f"internal error: {error!r}. This is a bug; rerun with --debug for the traceback and report it.",
                  EXIT_INTERNAL)


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2025-06-30") from None


def _moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
    """A moment in UTC: a date means the end of that day; a date and time without a zone is UTC."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time.max, tzinfo=dt.timezone.utc)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or a date and time; use YYYY-MM-DD or "
                                 "YYYY-MM-DDTHH:MM:SS (UTC unless a zone is given), e.g. 2025-06-30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


# Options several commands share, written once.
as_of_option = click.option("--as-of", callback=_date, metavar="DATE",
                            help="Evaluate as of this date (YYYY-MM-DD) [default: today]")
known_at_option = click.option(
    "--known-at", callback=_moment, metavar="WHEN",
    help="Read the store as it was at this moment: records imported later are left out, corrected ones are read "
         "in their version then (a date means the end of that day, UTC) [default: now]")
rules_option = click.option("--rules", "rules_dir", default="rules", show_default=True, envvar="COMPLIANCE_RULES",
                            type=click.Path(exists=True, path_type=Path),
                            help="Rule library directory [env COMPLIANCE_RULES]")
def formats_callback(allowed: tuple[str, ...]) -> Any:
    """A --format callback: a comma-separated list of `allowed` formats, each once, in the order given."""
    def parse(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
        formats = [f.strip().lower() for f in value.split(",") if f.strip()]
        unknown = [f for f in formats if f not in allowed]
        if unknown or not formats:
            raise click.BadParameter(f"{value!r}: expected one or more of {', '.join(allowed)}, separated by commas, "
                                     f"e.g. {','.join(allowed)}")
        return list(dict.fromkeys(formats))
    return parse


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of text")


@click.group(cls=ComplianceGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.option("--db", "db_url", envvar="COMPLIANCE_DATABASE_URL", metavar="URL",
              help="Database: a SQLite file path or URL, or postgresql://user@host/dbname "
                   "[env COMPLIANCE_DATABASE_URL; default: compliance.db]")
@click.option("--debug", is_flag=True, help="Show the traceback of unexpected errors")
@click.version_option(__version__, prog_name="compliance")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, debug: bool) -> None:
    """Check that suppliers keep the human-rights conditions of public contracts.

    \b
    Example:
        compliance db init
        compliance import contracts contracts/contracts.yaml
        compliance check NDNA-CALLOFF-2024-017
    """
    ctx.obj = {"db": db_url, "debug": debug}


def _store(ctx: click.Context) -> Any:
    from compliance.store import Store

    store = Store(ctx.obj["db"])
    ctx.call_on_close(store.close)
    return store


# ---------------------------------------------------------------------------------------------------------------------
# check and demo


def _echo_results(results: list[Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([_result_json(r) for r in results], indent=2))
        return
    for result in results:
        _echo_result(result)
    findings = sum(len(r.findings) for r in results)
    faults = sum(len(r.faults) for r in results)
    click.echo(f"{len(results)} contract{'s' if len(results) != 1 else ''} checked: "
               f"{findings} finding{'s' if findings != 1 else ''}"
               + (f", {faults} ENGINE FAULT{'S' if faults != 1 else ''}" if faults else "") + ".")


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "contract_id": result.contract.id,
        "ocid": result.contract.ocid,
        "supplier": result.contract.supplier.model_dump(mode="json"),
        "as_of": result.as_of.isoformat(),
        "rules_applied": result.rules_applied,
        "findings": [f.model_dump(mode="json") for f in result.findings],
        "engine_faults": [str(fault) for fault in result.faults],
    }


def _echo_result(result: Any) -> None:
    c = result.contract
    count = len(result.findings)
    click.secho(f"Contract {c.id} ({c.ocid}) - {c.supplier.name} - {', '.join(c.brands)} - as of {result.as_of}: "
                f"{count} finding{'s' if count != 1 else ''}", bold=True)
    for f in result.findings:
        colour = {"priority": "red", "major": "yellow"}.get(f.severity.value)
        verdict = "" if f.verdict == "breach" else f" ({VERDICT_LABELS[f.verdict]})"
        if f.modifiers:
            verdict += f" (raised from {f.severity_base.label if f.severity_base else '?'}: {'; '.join(f.modifiers)})"
        click.echo("  " + click.style(f"{f.severity.code:<3}", fg=colour, bold=True) +
                   f" {f.rule_id:<6} {f.title}{verdict}" + (f" [facility {f.facility_id}]" if f.facility_id else ""))
        for line in textwrap.wrap(f.message, width=100):
            click.echo(f"        {line}")
        details = f"evidence: {', '.join(f.evidence_ids) or '-'}; respond by {f.respond_by}"
        if f.letter_type:
            details += f"; letter {f.letter_type}"
        click.echo(click.style(f"        {details}; clause: {f.clause}", dim=True))
    for fault in result.faults:
        click.secho(f"  {fault}", fg="red", bold=True, err=True)
    click.echo("")


def _exit_for(results: list[Any], findings_fail: bool = True) -> None:
    if any(r.faults for r in results):
        sys.exit(EXIT_ENGINE_FAULT)
    if findings_fail and any(r.findings for r in results):
        sys.exit(EXIT_FINDINGS)


@cli.command()
@click.argument("contract_ids", nargs=-1)
@click.option("--all", "check_all", is_flag=True, help="Check every active contract")
@as_of_option
@known_at_option
@rules_option
@json_option
@click.pass_context
def check(ctx: click.Context, contract_ids: tuple[str, ...], check_all: bool, as_of: dt.date | None,
          known_at: dt.datetime | None, rules_dir: Path, as_json: bool) -> None:
    """Check contracts against their conditions and print the findings.

    Every result is cross-checked against the reference evaluation; a disagreement is reported as an
    engine fault (exit code 4).

    \b
    Example:
        compliance check NDNA-CALLOFF-2024-017 --as-of 2025-06-30
        compliance check --all --json > findings.json
    """
    from compliance import api

    if bool(contract_ids) == check_all:
        raise click.UsageError("name one or more contract ids, or use --all (not both)")
    library = api.load_library([rules_dir])
    results = api.check(_store(ctx), library, None if check_all else contract_ids, as_of or dt.date.today(),
                        known_at=known_at)
    _echo_results(results, as_json)
    _exit_for(results)


@cli.command()
@click.option("--data", "data_dir", default="contracts", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="Example data directory")
@click.option("--rules", "rules_dir", default="rules", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="Rule library directory")
@click.option("--as-of", callback=_date, metavar="DATE", help="Evaluate as of this date [default: 2025-06-30]")
@json_option
@click.pass_context
def demo(ctx: click.Context, data_dir: Path, rules_dir: Path, as_of: dt.date | None, as_json: bool) -> None:
    """Load the shipped example data into a fresh store and check every active contract.

    Without --db the demo uses a new SQLite file, compliance-demo.db, replaced on each run.

    \b
    Example:
        compliance demo
    """
    from compliance import api
    from compliance.store import Store, display_url

    if ctx.obj["db"] is None:
        Path("compliance-demo.db").unlink(missing_ok=True)
        ctx.obj["db"] = "compliance-demo.db"
    store = Store(ctx.obj["db"])
    ctx.call_on_close(store.close)
    result = api.demo(store, data_dir, rules_dir, as_of or api.DEMO_AS_OF)
    if not as_json:
        assert result.library is not None
        click.echo(f"Store: {display_url(store.url)}")
        click.echo(f"Rules: {len(result.library.rules)} rules from {rules_dir}/")
        for summary in result.imports:
            click.echo(f"Imported {summary}")
        click.echo("")
    _echo_results(result.results, as_json)
    _exit_for(result.results, findings_fail=False)


def main() -> None:
    cli(prog_name="compliance")


# The command groups register themselves on `cli` when imported.
from compliance.cli import escalation, evidence, letters, lifecycle, reports, rules, storage  # noqa: E402,F401

