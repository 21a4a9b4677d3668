"""Headless verbs: `cloudpane status` (one-shot report), `watch` (event loop), `serve` (browser).

Each module has `add_arguments(parser)` for its own options and one entry point that
`tui/__main__.py` calls with the parsed arguments and the effective Config. Each can also run
on its own (`python -m tui.cli.watch --sandbox`), with the global flags added here.
Heavy imports (google-cloud-*, textual-serve) stay inside the functions that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.config import Config


def add_global_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags `cloudpane` takes before its verb, for a verb run on its own."""
    parser.add_argument("--project", help="Google Cloud project")
    parser.add_argument("--sandbox", action="store_true", help="use the local sandbox")
    parser.add_argument("--read-only", action="store_true", help="refuse every change")
    parser.add_argument("--profile", help="a named profile from the config file")
    parser.add_argument("--region", help="default region (e.g. us-central1)")
    parser.add_argument("--zone", help="default zone (e.g. us-central1-a)")
    parser.add_argument("--config", help="config file (default: the XDG config path)")


def standalone_main(
    prog: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace, Config], int],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse global + verb flags, load the config as `cloudpane` does, run the verb."""
    from pathlib import Path

    from tui.__main__ import effective_config, unexpected
    from tui.applog import setup_cli_log
    from tui.config import ConfigError
    from tui.inert import visible

    parser = argparse.ArgumentParser(prog=prog)
    add_global_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.config = Path(args.config) if args.config else None
    headless = prog != "cloudpane serve"  # serve logs its own server's warnings on stderr
    if headless:
        setup_cli_log()  # library warnings and tracebacks go to the log file, not stderr
    try:
        config = effective_config(args)
    except ConfigError as exc:
        print(f"{prog}: {visible(exc)}", file=sys.stderr)
        return 2
    if not headless:
        return run(args, config)
    try:
        return run(args, config)
    except Exception as exc:  # a bug: exit 2 and a line, the traceback in the log
        return unexpected(prog.removeprefix("cloudpane "), exc)
