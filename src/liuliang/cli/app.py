"""The ``liuliang`` command: one Typer app, one module per command."""

from __future__ import annotations

import sys

import typer

from liuliang.cli import activity, demo, generate, info, ingest, retention, revenue
from liuliang.cli import models as model_commands
from liuliang.cli import uplift as uplift_commands
from liuliang.cli.common import print_error
from liuliang.cli.experiment import experiment as experiment_command
from liuliang.cli.forecast import forecast as forecast_command
from liuliang.cli.grant_effect import grant_effect as grant_effect_command
from liuliang.cli.habit import habit_command
from liuliang.cli.hunters import hunters as hunters_command
from liuliang.cli.report import report_command
from liuliang.cli.scorecard import scorecard_command
from liuliang.cli.serve import serve_command
from liuliang.cli.signals import intents as intents_command
from liuliang.cli.signals import signals as signals_command
from liuliang.errors import LiuliangError, RejectedRowsError

app = typer.Typer(
    name="liuliang",
    help="留量 — did the subsidy buy habits, or only visits? Retention and incentive analytics.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(rich_help_panel="Start here")(demo.demo)
app.command(rich_help_panel="Data")(generate.generate)
app.command(rich_help_panel="Data")(ingest.ingest)
app.command(rich_help_panel="Data")(info.info)
app.command(rich_help_panel="Data")(info.quarantine)
app.command("retention", rich_help_panel="Metrics")(retention.retention_command)
app.command(rich_help_panel="Metrics")(activity.activity)
app.command("lifecycle", rich_help_panel="Metrics")(activity.lifecycle_command)
app.command(rich_help_panel="Metrics")(revenue.revenue)
app.add_typer(model_commands.fit_app, name="fit", rich_help_panel="Models")
app.command("project", rich_help_panel="Models")(model_commands.project)
app.command("clv", rich_help_panel="Models")(model_commands.clv)
app.command("experiment", rich_help_panel="Causal")(experiment_command)
app.command("grant-effect", rich_help_panel="Causal")(grant_effect_command)
app.command("hunters", rich_help_panel="Causal")(hunters_command)
app.add_typer(uplift_commands.app, name="uplift", rich_help_panel="Causal")
app.command("target", rich_help_panel="Causal")(uplift_commands.target)
app.command("signals", rich_help_panel="Signals")(signals_command)
app.command("intents", rich_help_panel="Signals")(intents_command)
app.command("habit", rich_help_panel="Signals")(habit_command)
app.command("forecast", rich_help_panel="Signals")(forecast_command)
app.command("scorecard", rich_help_panel="Signals")(scorecard_command)
app.command("report", rich_help_panel="Report")(report_command)
app.command("serve", rich_help_panel="Report")(serve_command)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback on errors."),
) -> None:
    """Global options (``--debug`` is read by :func:`main` before the command runs)."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: errors become one red line on stderr and exit code 2 (1 for quarantined rows)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]  # accepted before or after the command name
    try:
        app(args=args, standalone_mode=False)
    except RejectedRowsError as exc:
        print_error(exc)
        sys.exit(1)
    except LiuliangError as exc:
        if debug:
            raise
        print_error(exc)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # usage errors (Typer's click exceptions) and anything unexpected
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        print_error(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        sys.exit(2)
