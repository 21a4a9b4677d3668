"""One training run: strategy, data, model, callbacks, fit, final evaluation and outputs.

What it writes (each folder local or remote; see storage_io):

* model dir: ``saved_model.pb`` + ``variables/`` (a SavedModel at the folder's root, as Vertex
  AI's model import expects), ``model.keras``, ``metrics.json``.
* checkpoint dir: ``backup/`` (BackupAndRestore: weights, optimizer and epoch after every
  epoch; deleted when training finishes) and ``best.weights.h5`` (best by the tuning metric).
* TensorBoard dir: ``train/`` and ``validation/`` event files, one point per epoch.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from typing import Any

from trainer import __version__
from trainer.flags import TrainConfig
from trainer.logline import emit
from trainer.reporting import (
    EpochLogger,
    EpochSummaries,
    HypertuneReporter,
    SyncOutputs,
    epoch_fields,
)
from trainer.storage_io import OutputDir

BACKUP = "backup"


def resolve_mixed_precision(setting: str, gpu_count: int) -> bool:
    """float16 pays off on GPUs (tensor cores); on CPU it is emulated and slower."""
    return setting == "on" or (setting == "auto" and gpu_count > 0)


def resolve_xla(setting: str, gpu_count: int, replicas: int) -> bool:
    """XLA fuses the U-Net's small ops well on a GPU; on CPU it measured about 2× slower here,
    and Keras itself leaves it off under multi-replica strategies."""
    return setting == "on" or (setting == "auto" and gpu_count > 0 and replicas == 1)


def metric_mode(tag: str) -> str:
    return "max" if "delta" in tag else "min"


def _backup_epoch(backup_dir: str) -> int:
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


def _prefixed(logs: dict[str, Any]) -> dict[str, Any]:
    return {f"val_{k}": v for k, v in logs.items()}


def _export_saved_model(model: Any, folder: str) -> None:
    kwargs = {"verbose": False} if "verbose" in inspect.signature(model.export).parameters else {}
    model.export(folder, **kwargs)


def run(cfg: TrainConfig) -> dict[str, Any]:
    """Train as configured; returns what metrics.json holds."""
    started = time.perf_counter()
    import keras
    import tensorflow as tf

    from trainer import data, distribute
    from trainer.losses import make_depth_loss
    from trainer.metrics import depth_metrics
    from trainer.model import build_unet

    tf_config = os.environ.get("TF_CONFIG")
    gpus = tf.config.list_physical_devices("GPU")
    kind = distribute.choose_kind(cfg.distribute, tf_config, len(gpus))
    strategy = distribute.make_strategy(kind)  # first: MultiWorkerMirrored must precede ops
    chief = distribute.is_chief(tf_config) if kind == "multiworker" else True
    keras.utils.set_random_seed(cfg.seed)
    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.batch_size * replicas
    mixed = resolve_mixed_precision(cfg.mixed_precision, len(gpus))
    xla = resolve_xla(cfg.xla, len(gpus), replicas)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")

    splits = data.load_splits(cfg)
    train_ds = data.train_pipeline(splits, global_batch, cfg.augment, cfg.seed)
    val_ds = data.val_pipeline(splits, global_batch)
    steps_per_epoch = splits.train_count // global_batch

    model_out = OutputDir(cfg.model_dir, publish=chief)
    ckpt_out = OutputDir(cfg.checkpoint_dir, publish=chief)
    tb_out = OutputDir(cfg.tensorboard_dir, publish=chief)
    ckpt_out.restore(BACKUP)
    backup_dir = str(ckpt_out.local / BACKUP)
    resumed_from = _backup_epoch(backup_dir)

    emit(
        "trainer start",
        version=__version__,
        data=splits.description,
        train_examples=splits.train_count,
        val_examples=splits.val_count,
        image_size=cfg.image_size,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        global_batch_size=global_batch,
        steps_per_epoch=steps_per_epoch,
        strategy=kind,
        replicas=replicas,
        chief=chief,
        gpus=len(gpus),
        mixed_precision=mixed,
        xla=xla,
        model_dir=cfg.model_dir,
        checkpoint_dir=cfg.checkpoint_dir,
        tensorboard_dir=cfg.tensorboard_dir,
        trial=cfg.trial_id or "",
    )
    if resumed_from:
        emit("trainer resume", from_epoch=resumed_from)

    with strategy.scope():
        model = build_unet(
            cfg.image_size, cfg.base_filters, cfg.levels, cfg.min_depth, cfg.max_depth
        )
        learning_rate: Any = cfg.learning_rate
        if cfg.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(
                cfg.learning_rate, decay_steps=max(1, steps_per_epoch * cfg.epochs), alpha=0.02
            )
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=make_depth_loss(
                ssim_weight=cfg.ssim_weight,
                l1_weight=cfg.l1_weight,
                gradient_weight=cfg.gradient_weight,
                min_depth=cfg.min_depth,
                max_depth=cfg.max_depth,
            ),
            metrics=depth_metrics(cfg.min_depth, cfg.max_depth),
            jit_compile=xla,
            steps_per_execution=cfg.steps_per_execution,
        )

    distribute.patch_keras_for_multiworker(model, strategy)

    logger = EpochLogger(cfg.epochs, global_batch)
    # Order matters: the backup is on disk (and uploaded) before the epoch line is printed.
    callbacks: list[Any] = [
        keras.callbacks.BackupAndRestore(backup_dir),
        keras.callbacks.ModelCheckpoint(
            str(ckpt_out.local / "best.weights.h5"),
            monitor=cfg.hypertune_metric,
            mode=metric_mode(cfg.hypertune_metric),
            save_best_only=True,
            save_weights_only=True,
        ),
        EpochSummaries(str(tb_out.local)),
        SyncOutputs([ckpt_out, tb_out]),
    ]
    if chief:
        callbacks.append(HypertuneReporter(cfg.hypertune_metric))
    callbacks.append(logger)

    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.epochs,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    # A finished job needs no backup; a rerun with the same folders then trains afresh.
    ckpt_out.remove_remote(BACKUP)

    final = model.evaluate(val_ds, return_dict=True, verbose=0)
    validation = {k[len("val_") :]: v for k, v in epoch_fields(_prefixed(final)).items()}
    result: dict[str, Any] = {
        "validation": validation,
        "validation_examples": splits.val_count,
        "epochs": cfg.epochs,
        "resumed_from_epoch": resumed_from,
        "train_seconds": round(logger.train_seconds, 2),
        "images_per_sec": round(logger.steady_rate(), 1),
        "wall_seconds": round(time.perf_counter() - started, 2),
        "hypertune_metric": cfg.hypertune_metric,
        "strategy": kind,
        "replicas": replicas,
        "mixed_precision": mixed,
        "xla": xla,
        "trainer_version": __version__,
        "tensorflow_version": tf.__version__,
        "config": cfg.as_dict(),
    }
    # Every worker saves (saving may involve collectives); only the chief's copy is published.
    _export_saved_model(model, str(model_out.local))
    model.save(str(model_out.local / "model.keras"))
    (model_out.local / "metrics.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    for out in (model_out, ckpt_out, tb_out):
        out.sync()
        out.cleanup()
    emit(
        "trainer end",
        status="ok",
        **{f"val_{k}": float(v) for k, v in validation.items()},
        train_seconds=result["train_seconds"],
        images_per_sec=result["images_per_sec"],
        wall_seconds=round(time.perf_counter() - started, 1),
        model_dir=cfg.model_dir,
    )
    return result
