"""`cloudpane jobs tune FILE [--wait]`: validate a tuning YAML, show the study, submit it, and with
`--wait` follow its trials to the end.

Exit codes: 0 submitted (with --wait: the job SUCCEEDED) · 1 with --wait: the job FAILED or was
CANCELLED · 2 the file is invalid (nothing submitted), the settings are wrong, or the cloud
refused · 130 interrupted (the job keeps running; the message says how to find it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from tui.config import Config
    from tui.services.clients import Backend
    from tui.services.hpconfig import HpTuningSpec
    from tui.services.job_models import TrainerJobRequest
    from tui.services.tuning import TuningJob, TuningService

EXIT_OK, EXIT_JOB_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `jobs tune` verb's own options."""
    parser.add_argument(
        "file", type=Path, metavar="FILE", help="tuning YAML (Vertex AI or AI Platform format)"
    )
    parser.add_argument("--wait", action="store_true", help="follow the trials until the job ends")
    bundled = parser.add_argument_group(
        "the bundled trainer (used when the file has no trialJobSpec)"
    )
    bundled.add_argument(
        "--staging-bucket",
        metavar="BUCKET",
        help="gs://BUCKET[/PREFIX] for the trainer package and outputs",
    )
    bundled.add_argument("--machine-type", default="n1-standard-4", help="default n1-standard-4")
    bundled.add_argument("--accelerator", metavar="TYPE:COUNT", help="e.g. NVIDIA_TESLA_T4:1")
    bundled.add_argument(
        "--executor-image-uri",
        default="",
        metavar="URI",
        help="the image the trainer runs in (default: the newest prebuilt TensorFlow image "
        "still available; there may be none, see docs/jobs.md)",
    )
    bundled.add_argument(
        "--trainer-args", default="", metavar="ARGS", help='extra trainer flags, e.g. "--epochs=5"'
    )
    parser.add_argument("--display-name", help="the job's name (default: the file's displayName)")
    parser.add_argument(
        "--hours-per-trial",
        type=_hours,
        default=1.0,
        metavar="HOURS",
        help="for the worst-case cost (default 1)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=_hours,
        default=5.0,
        metavar="SECONDS",
        help="with --wait: how often to look (default 5)",
    )


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _accelerator(text: str | None) -> tuple[str | None, int]:
    if not text:
        return None, 0
    kind, _, count = text.partition(":")
    try:
        return kind, int(count or "1")
    except ValueError:
        raise argparse.ArgumentTypeError(f"--accelerator: use TYPE:COUNT, got {text!r}") from None


def trainer_defaults(args: argparse.Namespace, region: str) -> TrainerJobRequest | None:
    """The bundled trainer's settings from the command line (None without --staging-bucket)."""
    from tui.services.job_models import TrainerJobRequest
    from tui.services.tuning import parse_trainer_args

    if not args.staging_bucket:
        return None
    accelerator, count = _accelerator(args.accelerator)
    return TrainerJobRequest(
        display_name=args.display_name or args.file.stem,
        staging_bucket=args.staging_bucket,
        region=region,
        machine_type=args.machine_type,
        accelerator_type=accelerator,
        accelerator_count=count,
        trainer_args=parse_trainer_args(args.trainer_args),
        executor_image_uri=args.executor_image_uri,
    )


def run_tune(args: argparse.Namespace, config: Config) -> int:
    """Entry point for `cloudpane jobs tune` (argparse args from add_arguments + the globals)."""
    from tui.cli.output import inert
    from tui.services.connect import connect
    from tui.services.errors import CloudpaneError

    err = inert(sys.stderr)
    try:
        defaults = trainer_defaults(args, config.region)
    except (argparse.ArgumentTypeError, CloudpaneError) as exc:
        print(f"cloudpane: {exc}", file=err)
        return EXIT_INVALID
    try:
        spec = _load_or_report(args.file, err)
        if spec is None:
            return EXIT_INVALID
        if config.read_only:
            print("cloudpane: read-only: not submitting the tuning job.", file=err)
            return EXIT_INVALID
        connection = connect(
            getattr(args, "project", None), getattr(args, "sandbox", False), config
        )
        return asyncio.run(
            tune(
                args.file,
                connection.backend,
                defaults=defaults,
                wait=args.wait,
                display_name=args.display_name,
                hours_per_trial=args.hours_per_trial,
                poll_seconds=args.poll_seconds,
                spec=spec,
                err=err,
            )
        )
    except CloudpaneError as exc:
        print(f"cloudpane: {exc.message}", file=err)
        if exc.hint:
            print(f"  {exc.hint}", file=err)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _load_or_report(path: Path, err: TextIO) -> HpTuningSpec | None:
    from tui.services.hpconfig import HpConfigInvalid
    from tui.services.tuning import load_study

    try:
        return load_study(path)
    except HpConfigInvalid as exc:
        for error in exc.errors:
            print(str(error), file=err)
        count = len(exc.errors)
        print(
            f"{path.name}: {count} error{'s' if count != 1 else ''}; nothing was submitted.",
            file=err,
        )
        return None


def describe_study(
    spec: HpTuningSpec,
    defaults: TrainerJobRequest | None,
    region: str,
    hours_per_trial: float,
) -> str:
    """The parsed study as text: summary rows, the trial machine, notes, converted YAML."""
    from tui.services.hpconfig import summary_text, to_vertex_yaml
    from tui.services.tuning import trial_hardware

    hardware = trial_hardware(spec, defaults, region)
    price = hardware.hourly_price() if hardware else None
    lines = [summary_text(spec, hours_per_trial, price)]
    if hardware:
        lines.append(f"Trial machine: {hardware.words}")
    if spec.source_format == "legacy":
        lines += ["", "Converted to Vertex AI:", to_vertex_yaml(spec).rstrip()]
    return "\n".join(lines)


async def tune(
    path: Path,
    backend: Backend,
    *,
    defaults: TrainerJobRequest | None = None,
    wait: bool = False,
    display_name: str | None = None,
    hours_per_trial: float = 1.0,
    poll_seconds: float = 5.0,
    spec: HpTuningSpec | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate, show, submit and (with `wait`) follow a study; the exit code."""
    from tui.cli.output import inert
    from tui.services.errors import CloudpaneError
    from tui.services.tuning import TuningService

    # Job and trial names, errors and parameter values come from the cloud (or a YAML file).
    out = inert(out or sys.stdout)
    err = inert(err or sys.stderr)
    if spec is None:
        spec = _load_or_report(path, err)
        if spec is None:
            return EXIT_INVALID
    region = defaults.region if defaults else backend.region
    print(describe_study(spec, defaults, region, hours_per_trial), file=out)
    print("", file=out)
    service = TuningService(backend)
    try:
        job = await service.submit(
            spec,
            defaults,
            display_name=display_name,
            region=region,
            progress=lambda text: print(text, file=out, flush=True),
        )
    except CloudpaneError as exc:
        print(f"cloudpane: {exc.message}", file=err)
        if exc.hint:
            print(f"  {exc.hint}", file=err)
        return EXIT_INVALID
    print(f"Submitted tuning job {job.display_name}: {job.name}", file=out, flush=True)
    if not wait:
        return EXIT_OK
    try:
        final = await follow(service, job.name, out, poll_seconds)
    except CloudpaneError as exc:
        print(f"cloudpane: {exc.message}", file=err)
        print(f"  The job may still be running: {job.name}", file=err)
        return EXIT_INVALID
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"Stopped watching; the job keeps running: {job.name}", file=err)
        return EXIT_INTERRUPTED
    return EXIT_OK if final.state == "JOB_STATE_SUCCEEDED" else EXIT_JOB_FAILED


async def follow(service: TuningService, name: str, out: TextIO, poll_seconds: float) -> TuningJob:
    """Print each trial as it starts and ends, then the outcome and the best trial."""
    from tui.services.tuning import best_params_flags, format_value

    seen: dict[str, str] = {}
    last: TuningJob | None = None
    async for job in service.follow(name, interval=poll_seconds):
        last = job
        for trial in job.trials:
            if seen.get(trial.id) == trial.state:
                continue
            seen[trial.id] = trial.state
            params = " ".join(f"{k}={format_value(v)}" for k, v in trial.parameters.items())
            line = f"trial {trial.id:>3} {trial.state:<10} {params}"
            if trial.metric is not None:
                line += f"  {job.metric_id}={format_value(trial.metric)}"
            if trial.infeasible_reason:
                line += f"  ({trial.infeasible_reason.splitlines()[0]})"
            print(line, file=out, flush=True)
    assert last is not None
    print(
        f"Job {last.status}: {last.succeeded} trials succeeded, {last.failed} failed.",
        file=out,
    )
    if last.error:
        print(f"  {last.error}", file=out)
    best = last.best_trial
    if best is not None:
        print(
            f"Best trial {best.id}: {last.metric_id}={format_value(best.metric)} ({last.goal})",
            file=out,
        )
        print("  " + " ".join(best_params_flags(last)), file=out, flush=True)
    return last


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tui.cli.tune FILE …` (the same as `cloudpane jobs tune`)."""
    from tui.cli import standalone_main

    return standalone_main("cloudpane jobs tune", add_arguments, run_tune, argv)


if __name__ == "__main__":
    sys.exit(main())
