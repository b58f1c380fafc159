"""check and demo: evaluate contracts and print their findings."""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from compliance.cli.common import as_of_option, json_option, known_at_option, parse_date, rules_option, store_of
from compliance.errors import ExitCode


def _echo_results(results: list[Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([_result_json(r) for r in results], indent=2))
        return
    for result in results:
        _echo_result(result)
    findings = sum(len(r.findings) for r in results)
    faults = sum(len(r.faults) for r in results)
    outside = sum(1 for r in results if r.outside_term)
    checked = len(results) - outside
    click.echo(f"{checked} contract{'s' if checked != 1 else ''} checked: "
               f"{findings} finding{'s' if findings != 1 else ''}"
               + (f", {faults} ENGINE FAULT{'S' if faults != 1 else ''}" if faults else "")
               + (f"; {outside} outside {'its' if outside == 1 else 'their'} term, not evaluated" if outside else "")
               + ".")


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "contract_id": result.contract.id,
        "ocid": result.contract.ocid,
        "supplier": result.contract.supplier.model_dump(mode="json"),
        "as_of": result.as_of.isoformat(),
        "rules_applied": result.rules_applied,
        "outside_term": result.outside_term,
        "findings": [f.model_dump(mode="json") for f in result.findings],
        "engine_faults": [str(fault) for fault in result.faults],
    }


def _echo_result(result: Any) -> None:
    from compliance import api

    c = result.contract
    if result.outside_term:
        click.secho(f"Contract {c.id} ({c.ocid}) - {c.supplier.name} - {', '.join(c.brands)} - as of {result.as_of}: "
                    f"not evaluated, {result.outside_term}", bold=True)
        click.echo("")
        return
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


@click.command()
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
    results = api.check(store_of(ctx), library, None if check_all else contract_ids, as_of or dt.date.today(),
                        known_at=known_at)
    _echo_results(results, as_json)
    _exit_for(results)


@click.command()
@click.option("--data", "data_dir", default="contracts", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="Example data directory")
@click.option("--rules", "rules_dir", default="rules", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="Rule library directory")
@click.option("--as-of", callback=parse_date, metavar="DATE", help="Evaluate as of this date [default: 2025-06-30]")
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
