"""The command line: a thin layer over ``compliance.api``.

Commands parse options, call the library through ``compliance.api`` and print what it returns. Errors the
library raises on purpose become a message and their exit code (``compliance.errors.ExitCode``, explained in
``compliance --help``, the README and ``compliance.errors.EXIT_CODES``) here, once, for every command.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

import click

from compliance import __version__
from compliance.cli import agencies, checking, escalation, evidence, letters, lifecycle, reports, rules, storage
from compliance.errors import EXIT_CODES, ComplianceError, EngineError, ExitCode

EXIT_CODES_HELP = "\b\nExit codes:\n" + "\n".join(f"  {code.value:<3} {short}"
                                                 for code, (short, _full) in EXIT_CODES.items())


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
        except OSError as error:
            # A file or folder the user named cannot be read or written (no folder, no permission, a full disk):
            # the user's to fix, not a bug.
            if error.filename is None and error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                _internal(ctx, error)
            where = f" {error.filename}" if error.filename is not None else ""
            _fail(f"cannot read or write{where}: {error.strerror}", ExitCode.INPUT)
        except Exception as error:  # noqa: BLE001
            _internal(ctx, error)


def _internal(ctx: click.Context, error: Exception) -> None:
    if ctx.obj and ctx.obj.get("debug"):
        raise error
    _fail(f"internal error: {error!r}. This is a bug; rerun with --debug for the traceback and report it.",
          ExitCode.INTERNAL)


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


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


for command in (checking.check, checking.demo, rules.rules, storage.db, storage.import_, storage.quarantine,
                storage.contracts, evidence.evidence, lifecycle.run, escalation.findings, escalation.escalations,
                escalation.groups, agencies.agencies, lifecycle.audit, letters.letter, reports.report):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="compliance")
