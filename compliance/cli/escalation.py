"""Commands for findings, escalations and working groups."""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from compliance.cli.common import as_of_option, json_option, parse_date, rules_option, store_of, templates_option
from compliance.errors import ExitCode


@click.group()
def findings() -> None:
    """Explain findings: the conditions that held, with their actual values."""


@findings.command("explain")
@click.argument("contract_id")
@click.argument("rule_id")
@as_of_option
@rules_option
@click.pass_context
def findings_explain(ctx: click.Context, contract_id: str, rule_id: str, as_of: dt.date | None,
                     rules_dir: Path) -> None:
    """Explain why a rule fired on a contract, test by test with the actual values, or why it did not.

    \b
    Example:
        compliance findings explain NET-CALLOFF-2024-088 GR-03 --as-of 2025-06-30
    """
    from compliance import api

    for line in api.explain(store_of(ctx), api.load_library([rules_dir]), contract_id, rule_id,
                            as_of or dt.date.today()):
        click.echo(line)


# ---------------------------------------------------------------------------------------------------------------------
# escalations and working groups


def escalation_options(command: Any) -> Any:
    """--as-of, --rules and --groups, shared by the escalation and working-group commands."""
    command = rules_option(as_of_option(command))
    return click.option("--groups", "groups_file", default="contracts/working-groups.yaml", show_default=True,
                        envvar="COMPLIANCE_WORKING_GROUPS", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help="Working groups file [env COMPLIANCE_WORKING_GROUPS]")(command)


def _report(ctx: click.Context, rules_dir: Path, groups_file: Path, as_of: dt.date | None) -> Any:
    from compliance import api

    report = api.escalations(store_of(ctx), api.load_library([rules_dir]), groups_file, as_of or dt.date.today())
    for fault in report.faults:
        click.secho(f"  {fault}", fg="red", bold=True, err=True)
    return report


def _route_text(routes: tuple[str, ...]) -> str:
    return ", ".join(routes) if routes else "institution level"


@click.group()
def escalations() -> None:
    """Escalation recommendations: which working group, which step of the ladder, and why."""


@escalations.command("list")
@escalation_options
@json_option
@click.pass_context
def escalations_list(ctx: click.Context, rules_dir: Path, groups_file: Path, as_of: dt.date | None,
                     as_json: bool) -> None:
    """List a recommendation for every open finding, most serious first.

    \b
    Example:
        compliance escalations list --as-of 2025-06-30
    """
    report = _report(ctx, rules_dir, groups_file, as_of)
    if as_json:
        click.echo(json.dumps([_recommendation_json(r) for r in report.recommendations], indent=2))
    else:
        for r in report.recommendations:
            f = r.finding
            click.echo(f"{r.level}  {f.severity.code:<3} {f.rule_id:<6} {f.contract_id:<24} -> {_route_text(r.routes)}"
                       + ("  [legal review required]" if r.legal_review else ""))
            click.echo(click.style(f"    {f.key}", dim=True))
        click.echo(f"{len(report.recommendations)} recommendations, {len(report.proposals)} new-group proposals.")
        if report.monitoring:
            click.echo(f"{len(report.monitoring)} labour agenc{'y' if len(report.monitoring) == 1 else 'ies'} "
                       "implicated at one site: see compliance escalations monitoring.")
    if report.faults:
        sys.exit(ExitCode.ENGINE_FAULT)


def _recommendation_json(r: Any) -> dict[str, Any]:
    return {
        "finding_key": r.finding.key, "rule_id": r.finding.rule_id, "contract_id": r.finding.contract_id,
        "facility_id": r.finding.facility_id, "severity": r.finding.severity.value, "level": r.level,
        "routes": list(r.routes), "brands": list(r.brands), "legal_review": r.legal_review, "reason": r.reason,
        "leverage": {"institutions": list(r.leverage.institutions), "consortia": list(r.leverage.consortia),
                     "contracts": list(r.leverage.contracts), "value": r.leverage.value},
    }


@escalations.command("monitoring")
@escalation_options
@json_option
@click.pass_context
def escalations_monitoring(ctx: click.Context, rules_dir: Path, groups_file: Path, as_of: dt.date | None,
                           as_json: bool) -> None:
    """Recommend monitoring the other sites of labour agencies implicated in a breach at one site.

    \b
    Example:
        compliance escalations monitoring --as-of 2025-06-30
    """
    import dataclasses

    report = _report(ctx, rules_dir, groups_file, as_of)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(m) for m in report.monitoring], indent=2))
    else:
        for m in report.monitoring:
            click.secho(f"{m.agency}: monitor {', '.join(m.other_sites)}", bold=True)
            for line in textwrap.wrap(m.reason, width=100):
                click.echo(f"  {line}")
            click.echo(f"  findings: {', '.join(m.findings)}")
        if not report.monitoring:
            click.echo("No labour agency implicated at one site works at another.")
    if report.faults:
        sys.exit(ExitCode.ENGINE_FAULT)


@escalations.command("show")
@click.argument("finding_key")
@escalation_options
@click.pass_context
def escalations_show(ctx: click.Context, finding_key: str, rules_dir: Path, groups_file: Path,
                     as_of: dt.date | None) -> None:
    """Show one recommendation with its reason, leverage and the decisions recorded on it.

    \b
    Example:
        compliance escalations show GR-03/NET-CALLOFF-2024-088/1a2b3c4d5e6f
    """
    report = _report(ctx, rules_dir, groups_file, as_of)
    r = report.recommendation(finding_key)
    click.echo(f"{r.finding.key}: {r.level} ({_route_text(r.routes)})" + (" - legal review required" if r.legal_review else ""))
    for line in textwrap.wrap(r.reason, width=100):
        click.echo(f"  {line}")
    click.echo(f"  institutions: {', '.join(r.leverage.institutions) or '-'}; consortia: "
               f"{', '.join(r.leverage.consortia) or '-'}")
    for d in store_of(ctx).decisions(finding_key):
        click.echo(f"  decision {d.decided_at:%Y-%m-%d %H:%M} by {d.decided_by}: {d.decision} "
                   f"{d.level or d.recommended_level} - {d.reason}")


@escalations.command("decide")
@click.argument("finding_key")
@click.option("--accept", "decision", flag_value="accept", help="Accept the recommended level")
@click.option("--reject", "decision", flag_value="reject", help="Reject the recommendation")
@click.option("--level", type=click.Choice(["E0", "E1", "E2", "E3", "E4", "E5"]), help="Decide another level")
@click.option("--reason", required=True, help="Why (kept in the history)")
@click.option("--by", "decided_by", help="Who decides [default: the login name]")
@escalation_options
@click.pass_context
def escalations_decide(ctx: click.Context, finding_key: str, decision: str | None, level: str | None, reason: str,
                       decided_by: str | None, rules_dir: Path, groups_file: Path, as_of: dt.date | None) -> None:
    """Record an officer's decision on a recommendation: accept, reject, or another level.

    \b
    Example:
        compliance escalations decide GR-03/NET-CALLOFF-2024-088/1a2b3c4d5e6f --accept --reason "Agreed at review"
    """
    from compliance import api

    if level is not None and decision is not None:
        raise click.UsageError("use --level for another level, or --accept / --reject (not both)")
    if level is None and decision is None:
        raise click.UsageError("say --accept, --reject or --level E0..E5")
    store = store_of(ctx)
    report = _report(ctx, rules_dir, groups_file, as_of)
    row = api.decide(store, report, finding_key, decision or "change", reason, level, decided_by)
    click.echo(f"Recorded: {row.decision} ({row.level or row.recommended_level}) for {finding_key}.")


@escalations.command("leverage")
@as_of_option
@json_option
@click.pass_context
def escalations_leverage(ctx: click.Context, as_of: dt.date | None, as_json: bool) -> None:
    """Show collective leverage: institutions, consortia and contract value per facility, supplier and brand.

    \b
    Example:
        compliance escalations leverage --as-of 2025-06-30
    """
    from compliance import api

    table = api.leverage(store_of(ctx), as_of or dt.date.today())
    if as_json:
        click.echo(json.dumps({kind: {name: {"institutions": list(lev.institutions), "consortia": list(lev.consortia),
                                             "contracts": list(lev.contracts), "value": lev.value}
                                      for name, lev in rows.items()} for kind, rows in table.items()}, indent=2))
        return
    for kind, rows in table.items():
        click.secho(f"By {kind}", bold=True)
        for name, lev in sorted(rows.items(), key=lambda item: (-len(item[1].institutions), -item[1].value)):
            click.echo(f"  {name:<28} {lev}")


@click.group()
def groups() -> None:
    """Working groups: their open cases, digests for the secretariat, and proposals for new groups."""


@groups.command("list")
@escalation_options
@click.pass_context
def groups_list(ctx: click.Context, rules_dir: Path, groups_file: Path, as_of: dt.date | None) -> None:
    """List the working groups and how many open findings are routed to each.

    \b
    Example:
        compliance groups list --as-of 2025-06-30
    """
    report = _report(ctx, rules_dir, groups_file, as_of)
    for g in report.groups:
        cases = [r for r in report.recommendations if g.id in r.routes]
        scope = ", ".join([*g.scope.brands, *(i.value for i in g.scope.issues)])
        click.echo(f"{g.id:<10} {g.status:<8} {len(cases):>3} open  {g.name} ({scope})")


@groups.command("proposals")
@escalation_options
@json_option
@click.pass_context
def groups_proposals(ctx: click.Context, rules_dir: Path, groups_file: Path, as_of: dt.date | None,
                     as_json: bool) -> None:
    """Recommend new working groups: proposed scope, the institutions that would join, and the evidence.

    \b
    Example:
        compliance groups proposals --as-of 2025-06-30
    """
    report = _report(ctx, rules_dir, groups_file, as_of)
    if as_json:
        import dataclasses

        click.echo(json.dumps([dataclasses.asdict(p) for p in report.proposals], indent=2))
        return
    for p in report.proposals:
        click.secho(f"{p.id}: {p.scope}", bold=True)
        for line in textwrap.wrap(p.reason, width=100):
            click.echo(f"  {line}")
        click.echo(f"  would join: {', '.join(p.institutions)} ({', '.join(p.consortia)})")
        click.echo(f"  facilities: {', '.join(p.facilities)}; brands: {', '.join(p.brands)}")
        click.echo(f"  findings: {', '.join(p.findings)}")
    if not report.proposals:
        click.echo("No new working group is recommended.")


@groups.command("digest")
@click.argument("group_id")
@click.option("--since", callback=parse_date, metavar="DATE", required=True, help="Findings visible since this date")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True)
@templates_option
@escalation_options
@click.pass_context
def groups_digest(ctx: click.Context, group_id: str, since: dt.date, fmt: str, templates: Path | None,
                  rules_dir: Path, groups_file: Path, as_of: dt.date | None) -> None:
    """Write a digest of the findings routed to a group, aggregated for the secretariat (no worker identities).

    \b
    Example:
        compliance groups digest foa_cb --since 2025-01-01 --format html > foa_cb.html
    """
    from compliance import api

    report = _report(ctx, rules_dir, groups_file, as_of)
    click.echo(api.digest_text(report, group_id, since, fmt, templates), nl=False)
