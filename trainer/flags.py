"""Command-line flags, Vertex AI's environment defaults, and trial-aware output paths.

Importing this module does not import TensorFlow, so ``--help`` and flag errors are instant.
Every flag is accepted with dashes or underscores (``--learning-rate`` / ``--learning_rate``):
Vertex AI's hyperparameter tuner passes ``--<parameterId>=<value>``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

# Relative: cloudpane loads this package under another name (tui/services/trainer_package.py).
from . import __version__
from .storage_io import join

HYPERTUNE_METRICS = (
    "loss",
    "val_loss",
    *(
        f"{prefix}{m}"
        for prefix in ("", "val_")
        for m in ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3")
    ),
)


@dataclass(frozen=True)
class TrainConfig:
    """The parsed, validated flags (directories already resolved)."""

    data: str
    val_data: str | None
    val_fraction: float
    train_examples: int
    val_examples: int
    seed: int
    depth_scale: float
    cache: bool
    augment: bool
    export_data: str | None
    export_format: str
    export_shards: int
    image_size: int
    base_filters: int
    levels: int
    min_depth: float
    max_depth: float
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    ssim_weight: float
    l1_weight: float
    gradient_weight: float
    steps_per_execution: int
    output_dir: str
    model_dir: str
    checkpoint_dir: str
    tensorboard_dir: str
    hypertune_metric: str
    distribute: str
    mixed_precision: str
    xla: str
    trial_id: str | None

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the ``None`` of flags whose help says what happens instead."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with an error message that says what to do about an unknown flag."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("unrecognized arguments:"):
            flags = message.split(":", 1)[1].strip()
            message = (
                f"unknown flag(s): {flags}. Run `python -m trainer.task --help` for the list; "
                "flags may use dashes or underscores (--learning-rate or --learning_rate)."
            )
        self.exit(2, f"trainer: error: {message}\n")


def _positive_int(text: str) -> int:
    # Vertex AI's tuner may pass a DISCRETE parameter as "16.0".
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    value = int(number)
    if value != number or value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _weight(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m trainer.task",
        description="Train a U-Net for monocular depth estimation (cloudpane's bundled trainer).",
        epilog=(
            "Flags may be spelled with underscores too (--learning_rate=0.001), as Vertex AI's "
            "hyperparameter tuner passes them. Output folders default to Vertex AI's "
            "AIP_MODEL_DIR, AIP_CHECKPOINT_DIR and AIP_TENSORBOARD_LOG_DIR, else to "
            "--output-dir; with CLOUD_ML_TRIAL_ID set, each gets a trial subfolder."
        ),
        allow_abbrev=False,
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"cloudpane-trainer {__version__}")
    d = p.add_argument_group("data")
    d.add_argument(
        "--data",
        default="synthetic",
        help="'synthetic' (generated, no download) or a folder / gs:// prefix of TFRecords "
        "or image/ + depth/ PNG pairs (optionally in train/ and val/ subfolders)",
    )
    d.add_argument(
        "--val-data",
        default=None,
        help="separate validation data, same formats (default: DATA's val/ part, else a "
        "--val-fraction share of DATA)",
    )
    d.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        help="share held out for validation when the data has no val/ part",
    )
    d.add_argument(
        "--train-examples", type=_positive_int, default=2400, help="synthetic training scenes"
    )
    d.add_argument(
        "--val-examples", type=_positive_int, default=256, help="synthetic validation scenes"
    )
    d.add_argument("--seed", type=int, default=42, help="seed for data, shuffling and weights")
    d.add_argument(
        "--depth-scale",
        type=_positive_float,
        default=1000.0,
        help="depth PNG units per metre (1000: millimetres); 0 marks a missing measurement",
    )
    d.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep decoded examples in memory after the first epoch",
    )
    d.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="random horizontal flips and brightness changes of training images",
    )
    d.add_argument(
        "--export-data",
        default=None,
        metavar="DIR",
        help="write the synthetic set (train/ and val/) to DIR or gs:// and exit without training",
    )
    d.add_argument(
        "--export-format",
        choices=("tfrecord", "png"),
        default="tfrecord",
        help="what --export-data writes: TFRecord shards or image/ + depth/ PNG pairs",
    )
    d.add_argument(
        "--export-shards", type=_positive_int, default=4, help="TFRecord files per split"
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--image-size", type=_positive_int, default=64, help="square input size in pixels"
    )
    m.add_argument(
        "--base-filters", type=_positive_int, default=8, help="U-Net width at full resolution"
    )
    m.add_argument("--levels", type=_positive_int, default=4, help="U-Net down-sampling steps")
    m.add_argument("--min-depth", type=_positive_float, default=0.1, help="smallest depth, metres")
    m.add_argument(
        "--max-depth",
        type=_positive_float,
        default=20.0,
        help="largest depth, metres; ground truth outside [min, max] is ignored",
    )
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=_positive_int, default=12, help="passes over the training set")
    t.add_argument(
        "--batch-size", type=_positive_int, default=16, help="examples per replica per step"
    )
    t.add_argument(
        "--learning-rate", type=_positive_float, default=2e-3, help="Adam's (initial) step size"
    )
    t.add_argument(
        "--lr-schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="cosine: decay to 2%% of --learning-rate over all epochs",
    )
    t.add_argument("--ssim-weight", type=_weight, default=1.0, help="weight of the SSIM term")
    t.add_argument("--l1-weight", type=_weight, default=0.5, help="weight of the L1 term")
    t.add_argument(
        "--gradient-weight", type=_weight, default=1.0, help="weight of the depth-gradient term"
    )
    t.add_argument(
        "--steps-per-execution",
        type=_positive_int,
        default=8,
        help="training steps per compiled call (fewer Python round trips)",
    )
    o = p.add_argument_group("outputs")
    o.add_argument(
        "--output-dir",
        "--job-dir",
        dest="output_dir",
        default="trainer_output",
        help="base for any of the three folders below that is not given (--job-dir: "
        "AI Platform's name)",
    )
    o.add_argument(
        "--model-dir",
        default=None,
        help="model, SavedModel, metrics.json (default: $AIP_MODEL_DIR, else OUTPUT_DIR/model)",
    )
    o.add_argument(
        "--checkpoint-dir",
        default=None,
        help="backup for resuming, best weights "
        "(default: $AIP_CHECKPOINT_DIR, else OUTPUT_DIR/checkpoints)",
    )
    o.add_argument(
        "--tensorboard-dir",
        default=None,
        help="TensorBoard logs (default: $AIP_TENSORBOARD_LOG_DIR, else OUTPUT_DIR/tensorboard)",
    )
    o.add_argument(
        "--hypertune-metric",
        choices=HYPERTUNE_METRICS,
        default="val_abs_rel",
        metavar="TAG",
        help="metric reported to the tuner after every epoch, e.g. val_abs_rel, val_delta1, "
        "val_rmse, val_loss",
    )
    r = p.add_argument_group("runtime")
    r.add_argument(
        "--distribute",
        choices=("auto", "single", "mirrored", "multiworker"),
        default="auto",
        help="auto: MultiWorkerMirrored when TF_CONFIG names several workers, Mirrored on "
        "several GPUs, else one device",
    )
    r.add_argument(
        "--mixed-precision",
        choices=("auto", "on", "off"),
        default="auto",
        help="float16 compute; auto: on with a GPU, off on CPU (where it is slower)",
    )
    r.add_argument(
        "--xla",
        choices=("auto", "on", "off"),
        default="auto",
        help="XLA compilation; auto: on with one GPU, off on CPU and with several replicas",
    )
    return p


def normalize_argv(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """Rewrite ``--some_flag[=v]`` as ``--some-flag[=v]`` when that is a known flag."""
    known = {s for action in parser._actions for s in action.option_strings}
    out = []
    for token in argv:
        if token.startswith("--") and "_" in token.split("=", 1)[0]:
            name, sep, value = token.partition("=")
            dashed = name.replace("_", "-")
            if dashed in known:
                token = f"{dashed}{sep}{value}"
        out.append(token)
    return out


def trial_path(path: str, trial_id: str | None) -> str:
    """``path/<trial>`` for a tuning trial, unless the path already names that trial."""
    if not trial_id:
        return path
    if trial_id in path.rstrip("/").split("/"):
        return path
    return join(path, trial_id)


def parse_args(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> TrainConfig:
    """Parse and check the flags; exits with status 2 and a clear message on bad input."""
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(normalize_argv(sys.argv[1:] if argv is None else argv, parser))
    if args.min_depth >= args.max_depth:
        parser.error(f"--min-depth ({args.min_depth}) must be below --max-depth ({args.max_depth})")
    if args.image_size % (2**args.levels) or args.image_size < 2 ** (args.levels + 1):
        parser.error(
            f"--image-size {args.image_size} must be a multiple of 2**levels = {2**args.levels} "
            f"and at least {2 ** (args.levels + 1)} (--levels {args.levels})"
        )
    if not (args.ssim_weight or args.l1_weight or args.gradient_weight):
        parser.error("at least one of --ssim-weight, --l1-weight, --gradient-weight must be > 0")
    if args.data != "synthetic" and args.export_data:
        parser.error("--export-data writes the synthetic set; use it with --data synthetic")
    trial_id = env.get("CLOUD_ML_TRIAL_ID") or None
    out = args.output_dir
    dirs = {
        "model_dir": args.model_dir or env.get("AIP_MODEL_DIR") or join(out, "model"),
        "checkpoint_dir": args.checkpoint_dir
        or env.get("AIP_CHECKPOINT_DIR")
        or join(out, "checkpoints"),
        "tensorboard_dir": args.tensorboard_dir
        or env.get("AIP_TENSORBOARD_LOG_DIR")
        or join(out, "tensorboard"),
    }
    values = vars(args) | {k: trial_path(v, trial_id) for k, v in dirs.items()}
    return TrainConfig(**values, trial_id=trial_id)
