"""The command line: a thin layer over ``compliance.api``.

Commands parse options, call the library through ``compliance.api`` and print what it returns. Errors the
library raises on purpose become a message and their exit code (``compliance.errors.ExitCode``, explained in
``compliance --help``, the README and ``compliance.errors.EXIT_CODES``) here, once, for every command.
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
from compliance.errors import EXIT_CODES, ComplianceError, EngineError, ExitCode

EXIT_CODES_HELP = "\b\nExit codes:\n" + "\n".join(f"  {code.value:<3} {short}" for code, (short, _) in EXIT_CODES.items())


class ComplianceGroup(click.Group):
    """Turns the errors compliance raises on purpose into messages and exit codes, once, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EngineError as error:
            _fail(f"engine fault: {error}", error.exit_code)
        except ComplianceError as error:
            _fail(str(error), error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`compliance rules list | head`): stop quietly, as Unix tools do.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitCode.OK)
        except Exception as error:  # noqa: BLE001
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _fail(f"internal error: {error!r}. This is a bug; rerun with --debug for the traceback and report it.",
                  ExitCode.INTERNAL)


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
    from compliance import api

    store = api.open_store(ctx.obj["db"])
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
    from compliance import api

    c = result.contract
    count = len(result.findings)
    click.secho(f"Contract {c.id} ({c.ocid}) - {c.supplier.name} - {', '.join(c.brands)} - as of {result.as_of}: "
                f"{count} finding{'s' if count != 1 else ''}", bold=True)
    for f in result.findings:
        colour = {"priority": "red", "major": "yellow"}.get(f.severity.value)
        verdict = "" if f.verdict == "breach" else f" ({api.VERDICT_LABELS[f.verdict]})"
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
        sys.exit(ExitCode.ENGINE_FAULT)
    if findings_fail and any(r.findings for r in results):
        sys.exit(ExitCode.FINDINGS)


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

    if ctx.obj["db"] is None:
        Path("compliance-demo.db").unlink(missing_ok=True)
        ctx.obj["db"] = "compliance-demo.db"
    store = api.open_store(ctx.obj["db"])
    ctx.call_on_close(store.close)
    result = api.demo(store, data_dir, rules_dir, as_of or api.DEMO_AS_OF)
    if not as_json:
        assert result.library is not None
        click.echo(f"Store: {api.store_name(store)}")
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

