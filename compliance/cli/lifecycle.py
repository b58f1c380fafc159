"""Commands for batch runs and the findings lifecycle: run, findings list/show/move, audit verify."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from compliance.cli.common import (
    as_of_option,
    json_option,
    known_at_option,
    parse_date,
    rules_option,
    store_of,
)
from compliance.cli.escalation import findings
from compliance.domain.lifecycle import FINDING_STATES
from compliance.domain.models import FPRW, Severity
from compliance.errors import ExitCode


@click.command()
@as_of_option
@known_at_option
@rules_option
@json_option
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default=None,
              help="Exit 1 when a new or reopened finding at or above this severity appears")
@click.option("--wait", is_flag=True, help="Wait for a run already in progress instead of exiting with code 7")
@click.option("--verbose", "-v", is_flag=True, help="List every change, also when not on a terminal")
@click.option("--log-json", is_flag=True, help="Log each step as a JSON line on standard error")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes evaluating the contracts (e.g. one per core); on PostgreSQL, this one plus WORKERS-1 "
                   "started here, and any `run --join`")
@click.option("--full", is_flag=True,
              help="Evaluate every contract, also those whose inputs have not changed since the last run")
@click.option("--join", "join_token", metavar="RUN", is_flag=False, flag_value="any", default=None,
              help="Help a run in progress started with --workers (on any host): evaluate its pending contracts")
@click.pass_context
def run(ctx: click.Context, as_of: dt.date | None, known_at: dt.datetime | None, rules_dir: Path, as_json: bool,
        fail_on: str | None, wait: bool, verbose: bool, log_json: bool, workers: int, full: bool,
        join_token: str | None) -> None:
    """Evaluate every active contract, store the findings and print what changed since the last run.

    The run and its findings are written in one transaction: a run that is interrupted stores nothing, and
    the next run does the whole work. Findings keep their key across runs.

    Each run records its as-of date, the moment it read the store (--known-at, default: when it started), the
    rule library's hash, the software version and the ids and hashes of the evidence records it read. A
    later run with the same --as-of and --known-at reads the same records and gives the same findings.

    A contract whose inputs (the contract, its facilities and links, the evidence it reads, the rules, the
    software, the as-of date) have not changed since the last run keeps that run's findings without being
    evaluated again; --full evaluates every contract.

    \b
    Exit codes: 0 done (or nothing at or above --fail-on); 1 a new or reopened finding at or above
    --fail-on; 3 bad input; 4 engine fault (nothing stored); 5 store unavailable; 7 another run is in
    progress (with --wait: wait for it instead).
    \b
    --workers N evaluates the contracts in N processes (one per core). On PostgreSQL they share the run
    through the database, and `run --join` on another host helps a run in progress; each group of
    contracts is claimed with a row lock, so none is evaluated twice.
    \b
    Example:
        compliance run --as-of 2025-06-30 --fail-on priority
        compliance run --as-of 2025-06-30 --known-at 2025-06-30
        compliance run --workers 2 --full
    """
    from compliance import api

    store = store_of(ctx)
    log = _json_log if log_json else None
    if join_token is not None:
        done = api.join(store, api.load_library([rules_dir]), None if join_token == "any" else join_token, log)
        click.echo(f"Evaluated {done} contract{'s' if done != 1 else ''} of the run in progress.")
        return
    result = api.run(store, api.load_library([rules_dir]), as_of or dt.date.today(), wait=wait, log=log,
                     workers=workers, known_at=known_at, full=full)
    summary = result.summary
    if as_json:
        click.echo(json.dumps({"run_id": summary.run_id, "as_of": summary.as_of.isoformat(),
                               "known_at": summary.known_at.isoformat() if summary.known_at else None,
                               "evaluated": len(result.evaluated), "reused": len(result.reused),
                               "outside_term": [{"contract_id": c, "reason": why}
                                                for c, why in result.outside_term.items()], **{
            name: getattr(summary, name) for name in summary.counts()}}, indent=2))
    else:
        counts = summary.counts()
        known = (f" (the store as known at {summary.known_at.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"
                 if known_at and summary.known_at else "")
        click.echo(f"Run {summary.run_id} as of {summary.as_of}{known}: " + ", ".join(
            f"{n} {name.replace('_', ' ')}" for name, n in counts.items()) + ".")
        # Said on every run, also from cron: a contract that stopped being evaluated must not go unnoticed.
        for contract_id, why in result.outside_term.items():
            click.echo(f"  not evaluated: contract {contract_id}, {why}")
        # On a terminal, the changes one by one; from cron, only the summary line (and the exit code).
        for name in ("new", "worsened", "reopened", "waiver_expired", "resolved") if sys.stdout.isatty() or verbose \
                else ():
            for key in getattr(summary, name):
                finding = result.finding(key)
                about = f" {finding.severity.code} {finding.title}" if finding else ""
                click.echo(f"  {name.replace('_', ' ')}: {key}{about}")
    if fail_on is not None and result.raised_at_or_above(fail_on):
        sys.exit(ExitCode.FINDINGS)


def _json_log(event: str, **fields: object) -> None:
    """One log line for machines: time, event and its fields, as JSON."""
    line = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "event": event, **fields}
    click.echo(json.dumps(line, default=str), err=True)


@findings.command("list")
@click.option("--contract", "contract_id", help="Only this contract")
@click.option("--facility", "facility_id", help="Only this facility")
@click.option("--state", type=click.Choice(FINDING_STATES), help="Only findings in this state")
@click.option("--severity", type=click.Choice([s.value for s in Severity]), help="Only this severity")
@click.option("--rule", "rule_id", help="Only this rule")
@click.option("--supplier", "supplier_id", help="Only this contractor (party id)")
@click.option("--fprw", type=click.Choice([c.value for c in FPRW]), help="Only this ILO category")
@json_option
@click.pass_context
def findings_list(ctx: click.Context, contract_id: str | None, facility_id: str | None, state: str | None,
                  severity: str | None, rule_id: str | None, supplier_id: str | None, fprw: str | None,
                  as_json: bool) -> None:
    """The stored findings, with their state; waived findings are always listed, marked waived.

    \b
    Example:
        compliance findings list --contract NDNA-CALLOFF-2024-017 --severity priority
    """
    rows = [r for r in store_of(ctx).stored_findings(contract_id=contract_id, facility_id=facility_id, state=state,
                                                   severity=severity, rule_id=rule_id)
            if (supplier_id is None or r.payload["supplier_id"] == supplier_id)
            and (fprw is None or fprw in r.payload["fprw"])]
    if as_json:
        click.echo(json.dumps([{"key": r.key, "state": r.state, "firing": r.firing, "severity": r.severity,
                                "verdict": r.verdict, "waived_until": r.waived_until and r.waived_until.isoformat(),
                                "finding": r.payload} for r in rows], indent=2))
        return
    for r in rows:
        waived = f" until {r.waived_until}" if r.state == "waived" else ""
        firing = "" if r.firing else " (no longer found)"
        click.echo(f"{r.key}  {Severity(r.severity).code:<3} {r.state}{waived}{firing}  {r.payload['title']}")
    click.echo(f"{len(rows)} finding{'s' if len(rows) != 1 else ''}.")


@findings.command("show")
@click.argument("key")
@click.pass_context
def findings_show(ctx: click.Context, key: str) -> None:
    """A stored finding and its history: every change of state with who, when and why.

    \b
    Example:
        compliance findings show FL-01/NDNA-CALLOFF-2024-017/db1e8943fca5
    """
    from compliance import api

    store = store_of(ctx)
    row = api.stored_finding(store, key)
    click.echo(f"{row.key}: {row.payload['title']} - {Severity(row.severity).label}, {row.state}"
               + ("" if row.firing else ", no longer found"))
    click.echo(f"  {row.payload['message']}")
    for entry in store.history(key):
        change = entry.to_state if entry.from_state in (None, entry.to_state) else \
            f"{entry.from_state} -> {entry.to_state}"
        click.echo(f"  {entry.seq}. {entry.at[:19]} {entry.actor}: {entry.kind} ({change}) - {entry.reason}")


@findings.command("move")
@click.argument("key")
@click.argument("state", type=click.Choice(FINDING_STATES))
@click.option("--reason", required=True, help="Why (required for every change)")
@click.option("--by", "actor", help="Who decided [default: the login name]")
@click.option("--approver", help="Who approved a waiver (required with state waived)")
@click.option("--until", "waived_until", callback=parse_date, metavar="DATE", help="Waiver expiry date (with waived)")
@click.pass_context
def findings_move(ctx: click.Context, key: str, state: str, reason: str, actor: str | None, approver: str | None,
                  waived_until: dt.date | None) -> None:
    """Move a finding through its lifecycle (notified, cap_requested, ... closed, withdrawn, waived).

    \b
    Example:
        compliance findings move FL-01/NDNA-CALLOFF-2024-017/db1e8943fca5 notified --reason "Letter L2 sent"
        compliance findings move KEY waived --reason "Factory closed" --approver "Head of Procurement" --until 2026-03-31
    """
    entry = store_of(ctx).move(key, state, reason, actor, waived_until=waived_until, approver=approver)
    click.echo(f"{key}: {entry.from_state} -> {entry.to_state} (entry {entry.seq}).")


@findings.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (required for xlsx; default: standard output)")
@click.option("--sheets", type=click.Choice(["contract", "severity"]), default="contract", show_default=True,
              help="XLSX: one sheet per contract or per severity")
@click.option("--contract", "contract_id", help="Only this contract")
@click.option("--state", type=click.Choice(FINDING_STATES), help="Only findings in this state")
@click.pass_context
def findings_export(ctx: click.Context, fmt: str, output: Path | None, sheets: str, contract_id: str | None,
                    state: str | None) -> None:
    """Export the stored findings (for the buyer's own use, not for suppliers) as CSV, XLSX or JSON.

    \b
    Example:
        compliance findings export --format xlsx --sheets severity -o findings.xlsx
    """
    from compliance import api

    if fmt == "xlsx" and output is None:
        raise click.UsageError("--output FILE is required for xlsx")
    count = api.export_findings(store_of(ctx), fmt, sys.stdout, output, sheets, contract_id, state)
    if output is not None:
        click.echo(f"{count} finding{'s' if count != 1 else ''} written to {output}.", err=True)


@click.group()
def audit() -> None:
    """Check the tamper-evident history of the findings."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Recompute every finding's hash chain and the erasure log's: exit 6 and name the entry if any was edited or
    removed.

    \b
    Example:
        compliance audit verify
    """
    store = store_of(ctx)
    store.require_current()
    problems = store.verify_history() + store.verify_erasures()
    for problem in problems:
        click.secho(problem, fg="red", err=True)
    if problems:
        sys.exit(ExitCode.TAMPERED)
    click.echo("The findings' history is intact.")
    erasures = len(store.erasures())
    if erasures:
        click.echo(f"The erasure log is intact ({erasures} erasure{'s' if erasures != 1 else ''}).")
