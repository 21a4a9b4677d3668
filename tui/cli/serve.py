"""`cloudpane serve`: the same TUI in a web browser, through textual-serve.

textual-serve runs one `python -m tui …` process per browser tab and relays its terminal over a
WebSocket to xterm.js. Whoever drives that WebSocket drives the TUI with your credentials, so
the page and the WebSocket need the random token in the URL `serve` prints, and refuse a foreign
`Host` or `Origin` (tui/cli/serve_access.py). It binds to 127.0.0.1 unless told otherwise and says
so loudly when it is not.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from tui.config import Config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

# Global flags of `cloudpane` that the served TUI inherits: (attribute, flag, takes a value).
FORWARDED: tuple[tuple[str, str, bool], ...] = (
    ("project", "--project", True),
    ("sandbox", "--sandbox", False),
    ("read_only", "--read-only", False),
    ("profile", "--profile", True),
    ("region", "--region", True),
    ("zone", "--zone", True),
    ("config", "--config", True),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` verb's own options."""
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="interface to bind (default 127.0.0.1; anything else exposes the TUI to the network, "
        "guarded only by the URL's token, over plain HTTP)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="the URL browsers use to reach this server (behind a proxy or a tunnel)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def tui_command(args: argparse.Namespace, python: str | None = None) -> str:
    """The shell command textual-serve runs per browser session: this TUI with the same flags."""
    parts = [python or sys.executable, "-m", "tui"]
    for attribute, flag, takes_value in FORWARDED:
        value = getattr(args, attribute, None)
        if takes_value and value not in (None, ""):
            parts += [flag, str(value)]
        elif not takes_value and value:
            parts.append(flag)
    return shlex.join(parts)


def exposure_warning(host: str, port: int) -> str:
    return (
        f"WARNING: serving on {host}:{port}, not on 127.0.0.1. There is no login but the URL's "
        f"token, sent in clear over plain HTTP: anyone who sees it controls cloudpane with your "
        f"credentials (stop, delete, make public). Prefer the default and an SSH tunnel: "
        f"ssh -L {port}:127.0.0.1:{port} THIS-HOST, then open http://127.0.0.1:{port}"
    )


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, got {port}")


def run_serve(
    args: argparse.Namespace, config: Config | None = None, *, err: TextIO | None = None
) -> int:
    """Serve the TUI until SIGINT/SIGTERM; returns the exit code.

    `config` is unused here (each browser session's TUI reads it, with the same flags); it is
    accepted so every verb is called the same way.
    """
    err = err or sys.stderr
    host: str = getattr(args, "host", DEFAULT_HOST) or DEFAULT_HOST
    port: int = getattr(args, "port", DEFAULT_PORT)
    try:
        check_port(port)
    except ValueError as exc:
        print(f"cloudpane serve: {exc}", file=err)
        return 2
    if not is_loopback(host):
        print(exposure_warning(host, port), file=err, flush=True)
    from tui.cli.serve_access import GuardedServer, new_token

    command = tui_command(args)
    public_url = getattr(args, "public_url", None)
    if public_url is None and host in ("0.0.0.0", "::"):
        # A wildcard address is no URL a browser can use; guess this machine's name.
        public_url = f"http://{socket.gethostname()}:{port}"
        print(f"Browsers will be sent to {public_url} (see --public-url).", file=err)
    elif public_url is None and ":" in host:
        public_url = f"http://[{host}]:{port}"  # an IPv6 literal needs its brackets in a URL
    server = GuardedServer(
        command,
        token=new_token(),
        host=host,
        port=port,
        title="cloudpane",
        public_url=public_url,
    )
    try:
        server.serve()
    except OSError as exc:
        print(f"cloudpane serve: cannot listen on {host}:{port}: {exc.strerror or exc}", file=err)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tui.cli.serve` (what `cloudpane serve` does, without the main CLI)."""
    from tui.cli import standalone_main

    return standalone_main("cloudpane serve", add_arguments, run_serve, argv)


if __name__ == "__main__":
    sys.exit(main())
