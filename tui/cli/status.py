"""`cloudpane status`: a one-shot report for a person (Rich tables) or a machine (`--json`).

Exit code 0: nothing needs attention · 1: a turn-off warning stands or a job failed recently ·
2: the project (or part of it) could not be read — so cron, CI and monitoring can act on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from tui.cli.report import (
    DEFAULT_FAILED_WITHIN,
    SCHEMA,
    UNREADABLE,
    JobRow,
    ProjectReport,
    gather,
    iso,
    to_json,
)
from tui.inert import visible

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from tui.config import Config
    from tui.services.clients import Backend


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `status` verb's own options."""
    parser.add_argument(
        "--json", action="store_true", help="print JSON (schema cloudpane.status/1)"
    )
    parser.add_argument(
        "--failed-within",
        type=positive_hours,
        default=DEFAULT_FAILED_WITHIN.total_seconds() / 3600,
        metavar="HOURS",
        help="a job that failed this recently needs attention (default 24)",
    )


def positive_hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of hours, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 hours, got {text}")
    return value


def make_console(out: TextIO, width: int | None = None) -> Console:
    """Colour only on a terminal and never with NO_COLOR (Rich reads it); 80 columns on a pipe.

    No markup and no emoji codes: every string printed here may hold cloud text (a job named
    `[/]` made Rich raise; `[link=…]` would be a live link, `:fire:` an emoji). Cloud values
    also go through `visible` (tui/inert.py), so no escape sequence reaches the terminal."""
    from rich.console import Console

    return Console(
        file=out, width=width, highlight=False, soft_wrap=False, markup=False, emoji=False
    )


# -- the human form -----------------------------------------------------------------------


def _money(value: float | None) -> str:
    from tui.services import pricing

    return pricing.format_money(value)


def _rate(value: float | None) -> str:
    from tui.services import pricing

    return pricing.format_rate(value)


def instances_table(report: ProjectReport) -> RenderableType:
    """Running instances; 80 columns wide at most (the warnings are spelled out below it)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from tui.format import duration

    running = report.running_instances
    table = Table(
        title=f"Running instances ({len(running)} of {len(report.instances)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_edge=False,
    )
    table.add_column("Name", no_wrap=True, overflow="ellipsis", max_width=22)
    table.add_column("Zone", no_wrap=True)
    table.add_column("Machine", no_wrap=True, overflow="ellipsis", max_width=21)
    table.add_column("$/h", justify="right", no_wrap=True)
    table.add_column("Run $", justify="right", no_wrap=True)
    table.add_column("Up", justify="right", no_wrap=True)
    table.add_column("Warn", justify="right", no_wrap=True)
    for row in running:
        machine = row.machine_type + (f" +{row.gpus}GPU" if row.gpus else "")
        count = len(row.warnings)
        table.add_row(
            Text(visible(row.name), style="bold red" if count else ""),
            visible(row.zone),
            visible(machine),
            _rate(row.hourly).removesuffix("/h"),
            _money(row.run_cost),
            duration(row.run_seconds) if row.run_seconds else "",
            Text(str(count), style="bold red") if count else "",
        )
    return table


def jobs_table(
    jobs: list[JobRow], title: str, now: datetime, *, failed: bool = False
) -> RenderableType:
    """Running jobs (state, run time, $/h) or failed ones (when they ended); ≤ 80 columns."""
    from rich import box
    from rich.table import Table

    from tui.format import duration

    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_edge=False,
    )
    table.add_column("Job", no_wrap=True, overflow="ellipsis", max_width=22)
    table.add_column("ID", no_wrap=True)
    if failed:
        table.add_column("Ended", no_wrap=True)
    else:
        table.add_column("State", no_wrap=True)
    table.add_column("Hardware", overflow="ellipsis", no_wrap=True, max_width=20)
    if not failed:
        table.add_column("Ran", justify="right", no_wrap=True)
        table.add_column("$/h", justify="right", no_wrap=True)
    for job in jobs:
        if failed:
            ended = f"{duration((now - job.ended).total_seconds())} ago" if job.ended else ""
            table.add_row(visible(job.display_name), visible(job.id), ended, visible(job.hardware))
            continue
        ran = ""
        if job.started is not None:
            ran = duration(((job.ended or now) - job.started).total_seconds())
        table.add_row(
            visible(job.display_name),
            visible(job.id),
            visible(job.status),
            visible(job.hardware),
            ran,
            _rate(job.hourly).removesuffix("/h"),
        )
    return table


def verdict(report: ProjectReport) -> str:
    if report.errors:
        parts = [f"{visible(e.what)} could not be read" for e in report.errors]
        return f"INCOMPLETE (exit 2): {'; '.join(parts)}."
    warnings, failed = len(report.warnings), len(report.failed_jobs)
    if warnings or failed:
        parts = []
        if warnings:
            parts.append(f"{warnings} turn-off warning{'s' if warnings != 1 else ''}")
        if failed:
            parts.append(f"{failed} failed job{'s' if failed != 1 else ''}")
        return f"ATTENTION (exit 1): {', '.join(parts)}."
    return "OK (exit 0): nothing needs attention."


def render(report: ProjectReport, console: Console) -> None:
    """The report as a person reads it: header, instances, warnings, jobs, money, verdict."""
    from rich.text import Text

    from tui.services import pricing

    console.print(
        Text.assemble(
            ("cloudpane status", "bold"),
            f" · {visible(report.project)} ({report.backend}) · {iso(report.generated_at)}",
        )
    )
    errors = {e.what: e for e in report.errors}
    if "instances" in errors:
        console.print(
            Text(
                f"instances: not available: {visible(errors['instances'].text)}", style="bold red"
            ),
            soft_wrap=True,
        )
    else:
        if report.running_instances:
            console.print(instances_table(report))
        else:
            console.print("No running instances.")
        stopped = len(report.instances) - len(report.running_instances)
        if stopped:
            console.print(f"{stopped} more instance{'s' if stopped != 1 else ''} not running.")
    if report.warnings:
        console.print(Text("Turn-off warnings", style="bold"))
        for w in report.warnings:
            console.print(
                Text.assemble(
                    ("⚠ ", "red"),
                    (visible(w.instance_name), "bold"),
                    f" {visible(w.rule)}: {visible(w.evidence)}",
                ),
                soft_wrap=True,  # one line each, for grep; the terminal wraps it
            )
    if "jobs" in errors:
        console.print(
            Text(f"jobs: not available: {visible(errors['jobs'].text)}", style="yellow"),
            soft_wrap=True,
        )
    elif not report.jobs_available:
        console.print(f"jobs: none (Vertex AI is not enabled in {visible(report.region)}).")
    else:
        active, failed = report.active_jobs, report.failed_jobs
        hours = report.failed_within.total_seconds() / 3600
        if active:
            console.print(
                jobs_table(
                    active,
                    f"Training jobs running in {visible(report.region)}",
                    report.generated_at,
                )
            )
        else:
            console.print(f"No training jobs running in {visible(report.region)}.")
        if failed:
            console.print(
                jobs_table(
                    failed, f"Jobs failed in the last {hours:g} h", report.generated_at, failed=True
                )
            )
            for job in failed:
                console.print(
                    Text.assemble(
                        ("✗ ", "red"),
                        (visible(job.display_name), "bold"),
                        f": {visible(job.reason or 'no reason')}",
                    ),
                    soft_wrap=True,
                )
    if "instances" not in errors:
        burn = pricing.format_rate(report.burn_total)
        if report.unknown_prices:
            burn += f" (+{len(report.unknown_prices)} unknown)"
        budget = (
            f" (budget {pricing.format_money(report.monthly_budget, cents=False)})"
            if report.monthly_budget is not None
            else ""
        )
        console.print(
            f"Burn rate {burn} · today {pricing.format_money(report.today)} · "
            f"month ≈ {pricing.format_money(report.month_projection, cents=False)}{budget}"
        )
        console.print(Text(f"Prices: {visible(report.catalog_label)}", style="dim"))
    style = "bold red" if report.errors else "bold yellow" if report.attention else "bold green"
    console.print(Text(verdict(report), style=style))


# -- entry points -------------------------------------------------------------------------


def report_status(
    backend: Backend,
    config: Config,
    *,
    as_json: bool = False,
    failed_within: timedelta = DEFAULT_FAILED_WITHIN,
    out: TextIO | None = None,
    width: int | None = None,
) -> int:
    """Gather once, print, and return the exit code (0/1/2)."""
    out = out or sys.stdout
    report = asyncio.run(gather(backend, config, failed_within=failed_within))
    if as_json:
        json.dump(to_json(report), out, indent=2)
        out.write("\n")
    else:
        render(report, make_console(out, width))
    out.flush()
    return report.exit_code


def connection_failure(message: str, hint: str, as_json: bool, out: TextIO, err: TextIO) -> int:
    """The project could not even be connected to: still answer in the asked-for form."""
    if as_json:
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "exit_code": UNREADABLE,
            "errors": [{"what": "connection", "message": message, "hint": hint}],
        }
        json.dump(doc, out, indent=2)
        out.write("\n")
    else:
        print(f"cloudpane status: {visible(message)}", file=err)
        if hint:
            print(f"  {visible(hint)}", file=err)
    return UNREADABLE


def run_status(
    args: argparse.Namespace,
    config: Config,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`cloudpane status`: connect (as the TUI does), report, return 0/1/2."""
    from tui.services.connect import connect
    from tui.services.errors import CloudpaneError

    out, err = out or sys.stdout, err or sys.stderr
    as_json = bool(getattr(args, "json", False))
    hours = float(getattr(args, "failed_within", DEFAULT_FAILED_WITHIN.total_seconds() / 3600))
    try:
        connection = connect(getattr(args, "project", None), bool(args.sandbox), config)
    except CloudpaneError as exc:
        return connection_failure(exc.message, exc.hint, as_json, out, err)
    if connection.note and not as_json:
        print(visible(connection.note), file=err)
    return report_status(
        connection.backend,
        config,
        as_json=as_json,
        failed_within=timedelta(hours=hours),
        out=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tui.cli.status` (the verb without the main CLI)."""
    from tui.cli import standalone_main

    return standalone_main("cloudpane status", add_arguments, run_status, argv)


if __name__ == "__main__":
    sys.exit(main())
