"""The command line: a thin layer over ``compliance.api``.

Exit codes (also in the README and ``compliance --help``), so scripts and cron can act on them:

    0   success; for check: no findings
    1   check: findings were reported
    2   usage error (unknown option, missing argument)
    3   input rejected: a rule, contract, facility or evidence file is invalid, or an unknown id was named;
        nothing was written
    4   engine fault: the engine and the reference evaluation disagree (findings are still printed),
        or the engine failed
    5   the store or the engine is unavailable (database unreachable or not at the current schema,
        durable_rules not importable)
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
from compliance.models import FPRW as FPRW_CATEGORIES
from compliance.errors import ComplianceError, EngineError, EngineUnavailable, InputError, NotFound, StoreError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INPUT, EXIT_ENGINE_FAULT, EXIT_UNAVAILABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4, 5, 70

EXIT_CODES_HELP = """\b
Exit codes:
  0   success (check: no findings)
  1   check: findings reported
  2   usage error
  3   input rejected (invalid file or unknown id); nothing written
  4   engine fault: engine and reference disagree, or engine failed
  5   store or engine unavailable
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
        except (StoreError, EngineUnavailable) as error:
            _fail(str(error), EXIT_UNAVAILABLE)
        except EngineError as error:
            _fail(f"engine fault: {error}", EXIT_ENGINE_FAULT)
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
    from compliance.db import Store

    store = Store(ctx.obj["db"])
    ctx.call_on_close(store.close)
    return store


# ---------------------------------------------------------------------------------------------------------------------
# db


@cli.group()
def db() -> None:
    """Create and migrate the database schema."""


@db.command("init")
@click.pass_context
def db_init(ctx: click.Context) -> None:
    """Create the database schema, or bring it up to date.

    \b
    Example:
        compliance --db compliance.db db init
    """
    from compliance.db import display_url

    store = _store(ctx)
    before, after = store.upgrade()
    if before == after:
        click.echo(f"{display_url(store.url)} is up to date (schema revision {after}).")
    else:
        click.echo(f"{display_url(store.url)}: schema revision {before or 'none'} -> {after}.")


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending schema migrations (the same as init on an existing database).

    \b
    Example:
        compliance --db postgresql://compliance@db.example.ac.uk/compliance db upgrade
    """
    ctx.invoke(db_init)


@db.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the schema revision and how many records the store holds.

    \b
    Example:
        compliance db status
    """
    from compliance.db import display_url

    store = _store(ctx)
    current, head = store.revisions()
    click.echo(f"database: {display_url(store.url)}")
    click.echo(f"schema revision: {current or 'none (run compliance db init)'} (current: {head})")
    if current == head:
        for name, count in store.counts().items():
            click.echo(f"{name}: {count}")


# ---------------------------------------------------------------------------------------------------------------------
# rules


@cli.group()
def rules() -> None:
    """Work with the rule library (contract conditions as YAML)."""


@rules.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def rules_validate(paths: tuple[Path, ...]) -> None:
    """Check rule files and report every problem, each with its file and line.

    \b
    Example:
        compliance rules validate rules/
    """
    from compliance import api, compiler

    library = api.load_library(paths or (Path("rules"),))
    compiled = compiler.compile_rules(library.rules)
    click.echo(f"{len(library.rules)} rules, {len(library.clause_sets)} clause sets and {len(library.cases)} test cases "
               f"in {len(library.files)} files are valid ({len(compiled.definition) - 1} engine rules).")


@rules.command("list")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--area", help="Only rules of this area (the rule file's name, e.g. forced-labour)")
@click.option("--fprw", type=click.Choice([c.value for c in FPRW_CATEGORIES]), help="Only this ILO FPRW category")
@click.option("--severity", type=click.Choice(["priority", "major", "minor", "observation"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
def rules_list(paths: tuple[Path, ...], area: str | None, fprw: str | None, severity: str | None,
               as_json: bool) -> None:
    """List the rules: id, severity, area, ILO category and title.

    \b
    Example:
        compliance rules list --fprw forced_labour
    """
    from compliance import api

    library = api.load_library(paths or (Path("rules"),))
    chosen = [r for r in library.rules
              if (area is None or library.area(r.id) == area)
              and (fprw is None or fprw in [c.value for c in r.fprw])
              and (severity is None or r.severity.value == severity)]
    if as_json:
        click.echo(json.dumps([{"id": r.id, "version": r.version, "title": r.title, "area": library.area(r.id),
                                "severity": r.severity.value, "fprw": [c.value for c in r.fprw],
                                "hrdd_objectives": r.hrdd_objectives, "clause": r.clause} for r in chosen], indent=2))
        return
    for r in chosen:
        categories = ",".join(c.value for c in r.fprw) or "-"
        click.echo(f"{r.id:<6} {r.severity.code:<3} {library.area(r.id):<22} {categories:<24} {r.title}")
    click.echo(f"{len(chosen)} of {len(library.rules)} rules.")


@rules.command("show")
@click.argument("rule_id")
@click.option("--rules", "rules_dir", default="rules", show_default=True, envvar="COMPLIANCE_RULES",
              type=click.Path(exists=True, path_type=Path), help="Rule library directory")
def rules_show(rule_id: str, rules_dir: Path) -> None:
    """Show a rule in plain language: what it checks, which clause, which evidence it reads.

    \b
    Example:
        compliance rules show GR-03
    """
    from compliance import api, describe
    from compliance.spec import did_you_mean

    library = api.load_library([rules_dir])
    if rule_id not in library.sources:
        raise NotFound(f'no rule "{rule_id}"{did_you_mean(rule_id, set(library.sources))}')
    click.echo(describe.describe(library, rule_id), nl=False)


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JUnit XML, for CI")
def rules_test(paths: tuple[Path, ...], junit_file: Path | None) -> None:
    """Run the rule tests (files with 'cases:' beside the rules); exit 1 if any fails.

    \b
    Example:
        compliance rules test rules/ --junit rule-tests.xml
    """
    from compliance import api, ruletests
    from compliance.evaluation import Evaluator

    library = api.load_library(paths or (Path("rules"),))
    results = ruletests.run(Evaluator(library), library.cases)
    for r in results:
        if not r.passed:
            click.echo(f"FAIL {r.file}:{r.line}: {r.case.rule}: {r.case.name}: {r.explain()}")
    if junit_file:
        junit_file.write_bytes(ruletests.junit(results))
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results)} cases for {len({r.case.rule for r in results})} rules: {len(results) - failed} passed, "
               f"{failed} failed.")
    if failed:
        sys.exit(EXIT_FINDINGS)


@rules.command("coverage")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text")
def rules_coverage(paths: tuple[Path, ...], as_json: bool) -> None:
    """Show which ILO categories, HRDD objectives and clauses have rules, and which rules lack tests.

    A rule counts as tested when it has a case that fires and a near miss that must not.

    \b
    Example:
        compliance rules coverage
    """
    from compliance import api, ruletests

    report = ruletests.coverage(api.load_library(paths or (Path("rules"),)))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    titles = {"fprw": "ILO FPRW categories", "hrdd_objective": "UKUPC HRDD objectives", "clause": "Clauses"}
    for kind, entries in report.items():
        click.secho(titles[kind], bold=True)
        for name, entry in entries.items():
            rules_text = ", ".join(entry["rules"]) or "NO RULES"
            untested = f"; untested: {', '.join(entry['untested'])}" if entry["untested"] else ""
            click.echo(f"  {name}: {rules_text}{untested}")


@rules.command("schema")
def rules_schema() -> None:
    """Print the rule language's JSON schema, generated from its definition so it cannot drift.

    \b
    Example:
        compliance rules schema > rule-schema.json
    """
    from compliance import spec

    click.echo(json.dumps(spec.RuleFile.model_json_schema(by_alias=True), indent=2))


# ---------------------------------------------------------------------------------------------------------------------
# import


@cli.group("import")
def import_() -> None:
    """Import contracts, facilities and evidence (each file whole, or not at all)."""


def _import(ctx: click.Context, importer: str, *args: Any) -> None:
    """Run one of api.import_* on an up-to-date store and print a line per file."""
    from compliance import api

    store = _store(ctx)
    store.require_current()
    for summary in getattr(api, importer)(store, *args):
        click.echo(str(summary))


@import_.command("contracts")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_contracts(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Import contracts from YAML or JSON files.

    \b
    Example:
        compliance import contracts contracts/contracts.yaml
    """
    _import(ctx, "import_contracts", files)


@import_.command("facilities")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_facilities(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Import production facilities and production links (YAML, JSON, or facilities as CSV).

    \b
    Example:
        compliance import facilities contracts/facilities.yaml
    """
    _import(ctx, "import_facilities", files)


@import_.command("evidence")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "evidence_type", metavar="TYPE", help="Evidence type for records without a 'type' field")
@click.pass_context
def import_evidence(ctx: click.Context, files: tuple[Path, ...], evidence_type: str | None) -> None:
    """Import evidence records from JSON, YAML or CSV files.

    \b
    Example:
        compliance import evidence contracts/evidence/monitoring.json
        compliance import evidence hours.csv --type working_hours
    """
    _import(ctx, "import_evidence", files, evidence_type)


# ---------------------------------------------------------------------------------------------------------------------
# contracts


@cli.group()
def contracts() -> None:
    """List the contracts in the store."""


@contracts.command("list")
@click.pass_context
def contracts_list(ctx: click.Context) -> None:
    """List contracts: id, status, supplier, brands and period.

    \b
    Example:
        compliance contracts list
    """
    store = _store(ctx)
    store.require_current()
    for c in store.contracts():
        click.echo(f"{c.id:<28} {c.status:<10} {c.supplier.name:<32} {', '.join(c.brands):<24} "
                   f"{c.period.start} to {c.period.end}")


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
        click.echo("  " + click.style(f"{f.severity.code:<3}", fg=colour, bold=True) +
                   f" {f.rule_id:<6} {f.title}" + (f" [facility {f.facility_id}]" if f.facility_id else ""))
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
@click.option("--as-of", callback=_date, metavar="DATE", help="Evaluate as of this date (YYYY-MM-DD) [default: today]")
@click.option("--rules", "rules_dir", default="rules", show_default=True, envvar="COMPLIANCE_RULES",
              type=click.Path(exists=True, path_type=Path), help="Rule library directory [env COMPLIANCE_RULES]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table")
@click.pass_context
def check(ctx: click.Context, contract_ids: tuple[str, ...], check_all: bool, as_of: dt.date | None,
          rules_dir: Path, as_json: bool) -> None:
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
    results = api.check(_store(ctx), library, None if check_all else contract_ids, as_of or dt.date.today())
    _echo_results(results, as_json)
    _exit_for(results)


@cli.command()
@click.option("--data", "data_dir", default="contracts", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="Example data directory")
@click.option("--rules", "rules_dir", default="rules", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="Rule library directory")
@click.option("--as-of", callback=_date, metavar="DATE", help="Evaluate as of this date [default: 2025-06-30]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
@click.pass_context
def demo(ctx: click.Context, data_dir: Path, rules_dir: Path, as_of: dt.date | None, as_json: bool) -> None:
    """Load the shipped example data into a fresh store and check every active contract.

    Without --db the demo uses a new SQLite file, compliance-demo.db, replaced on each run.

    \b
    Example:
        compliance demo
    """
    from compliance import api
    from compliance.db import Store, display_url

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


@cli.group()
def findings() -> None:
    """Explain findings: the conditions that held, with their actual values."""


@findings.command("explain")
@click.argument("contract_id")
@click.argument("rule_id")
@click.option("--as-of", callback=_date, metavar="DATE", help="Evaluate as of this date (YYYY-MM-DD) [default: today]")
@click.option("--rules", "rules_dir", default="rules", show_default=True, envvar="COMPLIANCE_RULES",
              type=click.Path(exists=True, path_type=Path), help="Rule library directory")
@click.pass_context
def findings_explain(ctx: click.Context, contract_id: str, rule_id: str, as_of: dt.date | None,
                     rules_dir: Path) -> None:
    """Explain why a rule fired on a contract, test by test with the actual values, or why it did not.

    \b
    Example:
        compliance findings explain NET-CALLOFF-2024-088 GR-03 --as-of 2025-06-30
    """
    from compliance import api

    for line in api.explain(_store(ctx), api.load_library([rules_dir]), contract_id, rule_id,
                            as_of or dt.date.today()):
        click.echo(line)


# ---------------------------------------------------------------------------------------------------------------------
# escalations and working groups


def escalation_options(command: Any) -> Any:
    """--as-of, --rules and --groups, shared by the escalation and working-group commands."""
    command = click.option("--as-of", callback=_date, metavar="DATE",
                           help="Evaluate as of this date (YYYY-MM-DD) [default: today]")(command)
    command = click.option("--rules", "rules_dir", default="rules", show_default=True, envvar="COMPLIANCE_RULES",
                           type=click.Path(exists=True, path_type=Path), help="Rule library directory")(command)
    return click.option("--groups", "groups_file", default="contracts/working-groups.yaml", show_default=True,
                        envvar="COMPLIANCE_WORKING_GROUPS", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help="Working groups file [env COMPLIANCE_WORKING_GROUPS]")(command)


def _report(ctx: click.Context, rules_dir: Path, groups_file: Path, as_of: dt.date | None) -> Any:
    from compliance import api

    report = api.escalations(_store(ctx), api.load_library([rules_dir]), groups_file, as_of or dt.date.today())
    for fault in report.faults:
        click.secho(f"  {fault}", fg="red", bold=True, err=True)
    return report


def _route_text(routes: tuple[str, ...]) -> str:
    return ", ".join(routes) if routes else "institution level"


@cli.group()
def escalations() -> None:
    """Escalation recommendations: which working group, which step of the ladder, and why."""


@escalations.command("list")
@escalation_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
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
    if report.faults:
        sys.exit(EXIT_ENGINE_FAULT)


def _recommendation_json(r: Any) -> dict[str, Any]:
    return {
        "finding_key": r.finding.key, "rule_id": r.finding.rule_id, "contract_id": r.finding.contract_id,
        "facility_id": r.finding.facility_id, "severity": r.finding.severity.value, "level": r.level,
        "routes": list(r.routes), "brands": list(r.brands), "legal_review": r.legal_review, "reason": r.reason,
        "leverage": {"institutions": list(r.leverage.institutions), "consortia": list(r.leverage.consortia),
                     "contracts": list(r.leverage.contracts), "value": r.leverage.value},
    }


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
    for d in _store(ctx).decisions(finding_key):
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
    store = _store(ctx)
    report = _report(ctx, rules_dir, groups_file, as_of)
    row = api.decide(store, report, finding_key, decision or "change", reason, level, decided_by)
    click.echo(f"Recorded: {row.decision} ({row.level or row.recommended_level}) for {finding_key}.")


@cli.group()
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text")
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
@click.option("--since", callback=_date, metavar="DATE", required=True, help="Findings visible since this date")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True)
@escalation_options
@click.pass_context
def groups_digest(ctx: click.Context, group_id: str, since: dt.date, fmt: str, rules_dir: Path, groups_file: Path,
                  as_of: dt.date | None) -> None:
    """Write a digest of the findings routed to a group, aggregated for the secretariat (no worker identities).

    \b
    Example:
        compliance groups digest foa_cb --since 2025-01-01 --format html > foa_cb.html
    """
    from compliance import api, render

    report = _report(ctx, rules_dir, groups_file, as_of)
    context = api.digest(report, group_id, since)
    if fmt == "json":
        click.echo(json.dumps(context, indent=2))
    else:
        click.echo(render.render(f"digest.{fmt}.j2", context), nl=False)


def main() -> None:
    cli(prog_name="compliance")
