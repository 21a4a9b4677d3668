"""cloudpane's command line: the TUI (no verb), `status`, `watch`, `serve`, `jobs submit|list|describe|logs|cancel|tune`,
`sandbox …`, `prices refresh|show`.

Keep this module light: `cloudpane` with no verb must reach the first frame fast, so every
heavy import happens inside the verb that needs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from tui.config import Config, ConfigError, check_region, check_zone, load_config, resolve_location


def share(text: str) -> float:
    """A rate from 0 to 1 (`--error-rate 0.2`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1 (0.2 = 20 %), got {text}")
    return value


def count(text: str) -> int:
    """A whole number >= 0 (`--instances 3`, `--latency-ms 200`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def json_object(text: str) -> dict[str, Any]:
    """`--set '{"malformed_next": 2}'`: a JSON object, or a message that says where it breaks."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({exc.msg} at column {exc.colno}): {text!r}; "
            """write an object, e.g. '{"fail_next": 2, "codes": [503]}'"""
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a JSON object ({{...}}), got {type(value).__name__}: {text!r}"
        )
    return value


def global_options(*, in_verb: bool) -> argparse.ArgumentParser:
    """The options every verb takes, before or after it (`cloudpane status --sandbox`).

    Inside a verb their default is SUPPRESS, so a value given before the verb is kept.
    """
    options = argparse.ArgumentParser(add_help=False)
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if in_verb else {}
    flag: dict[str, Any] = {"default": argparse.SUPPRESS} if in_verb else {"default": False}
    options.add_argument("--project", help="Google Cloud project to manage", **default)
    options.add_argument(
        "--sandbox",
        action="store_true",
        **flag,
        help="use the local sandbox even when Google credentials exist",
    )
    options.add_argument(
        "--read-only",
        action="store_true",
        **flag,
        help="hide and refuse every action that changes anything",
    )
    options.add_argument("--profile", help="a named profile from the config file", **default)
    options.add_argument("--region", help="default region (e.g. us-central1)", **default)
    options.add_argument("--zone", help="default zone (e.g. us-central1-a)", **default)
    options.add_argument(
        "--config", type=Path, **default, help="config file (default: the XDG config path)"
    )
    return options


def accept_global_options(subparsers: Any) -> Any:
    """Make every parser made from `subparsers` (and their sub-verbs) take the global options."""
    common = global_options(in_verb=True)
    original = subparsers.add_parser

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        child = original(name, parents=[common], **kwargs)
        original_subparsers = child.add_subparsers

        def add_subparsers(**options: Any) -> Any:
            return accept_global_options(original_subparsers(**options))

        child.add_subparsers = add_subparsers  # type: ignore[method-assign]
        return child

    subparsers.add_parser = add_parser
    return subparsers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudpane",
        description="A terminal console for ML on Google Cloud: VMs, buckets, Vertex AI jobs.",
        parents=[global_options(in_verb=False)],
    )
    verbs = accept_global_options(parser.add_subparsers(dest="verb", metavar="VERB"))

    sandbox = verbs.add_parser("sandbox", help="the local sandbox that speaks Google's APIs")
    sandbox_verbs = sandbox.add_subparsers(dest="sandbox_verb", metavar="ACTION", required=True)
    start = sandbox_verbs.add_parser("start", help="start the sandbox daemon (127.0.0.1)")
    start.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    start.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; anything else exposes it)",
    )
    sandbox_verbs.add_parser("stop", help="stop the sandbox daemon")
    sandbox_verbs.add_parser("status", help="where the sandbox listens and how to use it")
    sandbox_verbs.add_parser(
        "env", help="export lines that point your own tools (google-cloud-*, gcloud) at it"
    )
    sandbox_verbs.add_parser("reset", help="delete everything in the sandbox")
    seed = sandbox_verbs.add_parser("seed", help="create demo resources")
    seed.add_argument("--instances", type=count, default=0, help="number of VM instances")
    seed.add_argument("--zones", type=count, default=20, help="spread over this many zones")
    seed.add_argument("--objects", type=count, default=0, help="objects in a demo bucket")
    seed.add_argument("--bucket", default=None, help="bucket for --objects")
    faults = sandbox_verbs.add_parser(
        "faults", help="inject latency and errors (reliability tests)"
    )
    faults.add_argument("--error-rate", type=share, default=0.0, help="share answered 429/503")
    faults.add_argument("--latency-ms", type=count, default=0, help="delay every request")
    faults.add_argument("--drop-rate", type=share, default=0.0, help="share of dropped connections")
    faults.add_argument(
        "--set",
        type=json_object,
        metavar="JSON",
        help="any fault settings as a JSON object, e.g. "
        """'{"malformed_next": 1}' or '{"html_next": 1, "path_prefix": "/storage/"}'""",
    )

    prices = verbs.add_parser("prices", help="the price catalog")
    prices_verbs = prices.add_subparsers(dest="prices_verb", metavar="ACTION", required=True)
    prices_verbs.add_parser("refresh", help="update prices from the Cloud Billing Catalog API")
    prices_verbs.add_parser("show", help="which catalog is in use, and its date")

    from tui.cli import serve as serve_cli
    from tui.cli import status as status_cli
    from tui.cli import watch as watch_cli

    status_cli.add_arguments(
        verbs.add_parser("status", help="one-shot report: costs, warnings, jobs (exit 0/1/2)")
    )
    watch_cli.add_arguments(
        verbs.add_parser("watch", help="print each new warning and job change, one line each")
    )
    serve_cli.add_arguments(verbs.add_parser("serve", help="the TUI in a web browser (127.0.0.1)"))

    from tui.cli import audit as audit_cli

    audit_cli.add_arguments(
        verbs.add_parser("audit", help="who made what public or signed a URL, and when")
    )

    from tui.cli.tune import add_arguments as add_tune_arguments

    jobs = verbs.add_parser("jobs", help="Vertex AI training jobs")
    jobs_verbs = jobs.add_subparsers(dest="jobs_verb", metavar="ACTION", required=True)
    add_tune_arguments(jobs_verbs.add_parser("tune", help="hyperparameter tuning from a YAML file"))
    from tui.cli.jobs import add_arguments as add_jobs_arguments

    add_jobs_arguments(jobs_verbs)
    return parser


def effective_config(args: argparse.Namespace) -> Config:
    if args.config:
        if not args.config.exists():  # a typo in --config must not silently give the defaults
            raise ConfigError(
                f"--config {args.config}: no such file. Check the path, or leave --config out "
                "to use the default config file."
            )
        config = load_config(args.config)
    else:
        config = load_config()
    if args.profile:
        config = config.with_profile(args.profile)
    for flag, value, check in (
        ("--region", args.region, check_region),
        ("--zone", args.zone, check_zone),
    ):
        problem = check(value) if value else None
        if problem:
            raise ConfigError(f"{flag}: {problem}")
    if args.zone and args.region and not args.zone.startswith(args.region + "-"):
        raise ConfigError(
            f"--zone {args.zone} is not in --region {args.region}; give one of them, or a zone "
            f"of {args.region} (e.g. {args.region}-a)."
        )
    config = resolve_location(config, args.region, args.zone)
    if args.read_only:
        config = replace(config, read_only=True)
    return config


def run_sandbox(args: argparse.Namespace) -> int:
    from tui.sandbox import daemon

    verb = args.sandbox_verb
    if verb == "start":
        if args.host != daemon.LOOPBACK:
            print(
                f"warning: binding to {args.host} exposes the sandbox beyond this machine.",
                file=sys.stderr,
            )
        info = daemon.start(port=args.port, host=args.host)
        print(f"sandbox running at {info.url} (project {info.project}, pid {info.pid})")
        return 0
    if verb == "stop":
        print("sandbox stopped" if daemon.stop() else "no sandbox was running")
        return 0
    try:
        running = daemon.status()
    except daemon.SandboxError as exc:  # a stranger on the port: it is sent nothing
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if verb in ("status", "env"):
        if running is None:
            print("no sandbox is running (cloudpane sandbox start)", file=sys.stderr)
            return 1
        if verb == "env":
            from tui.sandbox.tool_env import export_lines

            print(export_lines(running.url, running.project, running.data_dir))
            return 0
        print(sandbox_usage(running))
        return 0
    info = running or daemon.start()
    if verb == "reset":
        daemon.admin(info, "reset")
        print("sandbox reset: every resource deleted")
    elif verb == "seed":
        options = {"instances": args.instances, "zones": args.zones, "objects": args.objects}
        if args.bucket:
            options["bucket"] = args.bucket
        print(json.dumps(daemon.admin(info, "seed", options)))
    elif verb == "faults":
        settings: dict[str, Any] = {
            "error_rate": args.error_rate,
            "latency_ms": args.latency_ms,
            "drop_rate": args.drop_rate,
        }
        settings.update(args.set or {})
        print(json.dumps(daemon.admin(info, "faults", settings)))
    return 0


def sandbox_usage(info: object) -> str:
    from tui.sandbox.daemon import SandboxInfo

    assert isinstance(info, SandboxInfo)
    return "\n".join(
        [
            f"sandbox running at {info.url}  (pid {info.pid})",
            f"project:   {info.project}",
            f"data:      {info.data_dir}",
            "",
            "It serves only you: your tools present the owner token in "
            f"{info.data_dir}/owner-token through their usual credentials.",
            'Point them at it:  eval "$(cloudpane sandbox env)"',
            "  then storage.Client() as usual, and e.g.",
            f"  compute_v1.InstancesClient(transport='rest', "
            f"client_options={{'api_endpoint': '{info.url}'}})",
        ]
    )


def run_prices(args: argparse.Namespace, config: Config) -> int:
    if args.prices_verb == "show":
        from tui.services import pricing

        catalog = pricing.get_catalog()
        from tui.inert import visible

        print(f"price catalog in use: {visible(catalog.label)}")
        if pricing.load_warning:
            print(visible(pricing.load_warning))
        return 0
    from tui.services.billing import refresh_command
    from tui.services.connect import connect

    connection = connect(args.project, args.sandbox, config)
    return refresh_command(connection.backend)


def run_tui(args: argparse.Namespace, config: Config) -> int:
    from tui.app import CloudpaneApp
    from tui.applog import setup_file_log

    setup_file_log()  # the terminal belongs to the TUI: tracebacks go to the log file

    app = CloudpaneApp(
        config, project=args.project, use_sandbox=args.sandbox, read_only=config.read_only
    )
    app.run()
    return 0


def check_fault_environment() -> None:
    """A bad CLOUDPANE_SANDBOX_FAULTS would make the sandbox die at start with a traceback in
    its log; say what is wrong before anything starts it."""
    if not os.environ.get("CLOUDPANE_SANDBOX_FAULTS"):
        return
    from tui.sandbox.faults import FaultSettings

    try:
        FaultSettings.from_env()
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{exc}. Fix or unset it, e.g. CLOUDPANE_SANDBOX_FAULTS='{{\"error_rate\": 0.1}}'."
        ) from None


def sandbox_refusal(exc: BaseException) -> str | None:
    """The sandbox's own words when its admin endpoint refused (400 with Google's error body)."""
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        try:
            body = json.loads(exc.read() or b"{}")
            return str(body["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return f"the sandbox answered HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return f"the sandbox does not answer ({exc.reason}); see `cloudpane sandbox status`"
    return None


HEADLESS_VERBS = ("status", "watch", "audit", "jobs", "sandbox", "prices")


def unexpected(verb: str, exc: BaseException) -> int:
    """A bug, not the cloud: the traceback goes to the owner-only log (redacted), one line to
    stderr, and exit 2 ("could not do it"), never Python's 1, which `status` reserves for
    "needs attention"."""
    import logging

    from tui.applog import log_path
    from tui.inert import visible

    logging.getLogger("tui.cli").error("unexpected error in `cloudpane %s`", verb, exc_info=exc)
    print(
        f"cloudpane {verb}: unexpected error ({type(exc).__name__}); the details are in "
        f"{visible(log_path())}. If it happens again, please report it with what you did.",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from tui.cli.output import inert

    err = inert(sys.stderr)  # messages quote cloud text (names, errors): shown escaped
    if args.verb in HEADLESS_VERBS:
        from tui.applog import setup_cli_log

        setup_cli_log()  # library warnings and tracebacks go to the log file, not stderr
    try:
        config = effective_config(args)
        check_fault_environment()
    except ConfigError as exc:
        print(f"cloudpane: {exc}", file=err)
        return 2
    from tui.services.errors import CloudpaneError

    try:
        if args.verb == "sandbox":
            from tui.sandbox.daemon import SandboxError

            try:
                return run_sandbox(args)
            except SandboxError as exc:
                print(f"cloudpane: {exc}", file=err)
                return 2
            except OSError as exc:  # urllib's errors are OSErrors
                refusal = sandbox_refusal(exc)
                if refusal is None:
                    raise
                print(f"cloudpane sandbox {args.sandbox_verb}: {refusal}", file=err)
                return 2
        if args.verb == "prices":
            return run_prices(args, config)
        if args.verb == "status":
            from tui.cli.status import run_status

            return run_status(args, config)
        if args.verb == "watch":
            from tui.cli.watch import watch_command

            return watch_command(args, config)
        if args.verb == "serve":
            from tui.cli.serve import run_serve

            return run_serve(args, config)
        if args.verb == "audit":
            from tui.cli.audit import run_audit

            return run_audit(args)
        if args.verb == "jobs" and args.jobs_verb == "tune":
            from tui.cli.tune import run_tune

            return run_tune(args, config)
        if args.verb == "jobs":
            from tui.cli.jobs import run_jobs

            return run_jobs(args, config)
        return run_tui(args, config)
    except CloudpaneError as exc:
        print(f"cloudpane: {exc.message}", file=err)
        if exc.hint:
            print(f"  {exc.hint}", file=err)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cloudpane status | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if args.verb not in HEADLESS_VERBS:
            raise
        return unexpected(args.verb, exc)


if __name__ == "__main__":
    sys.exit(main())
