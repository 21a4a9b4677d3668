"""What the trainer tells the outside world while it runs.

* One stdout line per event, ``<event> key=value key=value ...``, flushed at once, so that
  cloudpane's sandbox and Jobs pane (and Cloud Logging readers) can parse progress:

      trainer start data=synthetic(...) epochs=12 ...
      trainer resume from_epoch=3
      epoch=4/12 loss=0.1234 val_loss=0.1111 val_abs_rel=0.0876 ... images_per_sec=123.4 seconds=20.1
      trainer end status=ok val_abs_rel=0.0712 ... train_seconds=310.2 images_per_sec=121.0

* The tuning metric after every epoch, through cloudml-hypertune (Vertex AI's tuner and the
  sandbox's read its file).
* Files uploaded after every epoch for remote checkpoint and TensorBoard folders.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

import keras

from trainer.logline import emit
from trainer.metrics import METRIC_NAMES
from trainer.storage_io import OutputDir


def epoch_fields(logs: dict[str, Any]) -> dict[str, float]:
    """The per-epoch figures in a fixed order: loss, val_loss, then every validation metric."""
    keys = ["loss", "val_loss", *(f"val_{name}" for name in METRIC_NAMES)]
    return {k: float(logs[k]) for k in keys if k in logs}


class EpochLogger(keras.callbacks.Callback):
    """Times the training part of each epoch and prints the epoch line.

    images/second counts only the training steps (not validation); the first epoch of a run
    includes graph tracing and compilation, so the run's summary leaves it out.
    """

    def __init__(self, epochs: int, global_batch: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.global_batch = global_batch
        self.rates: list[float] = []
        self.train_seconds = 0.0
        self._begin = 0.0
        self._train_end: float | None = None
        self._steps = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._begin = time.perf_counter()
        self._train_end = None
        self._steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # With steps_per_execution > 1, Keras reports the last step index of each call.
        self._steps = max(self._steps, batch + 1)

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        train_time = (self._train_end or now) - self._begin
        self.train_seconds += train_time
        rate = self._steps * self.global_batch / max(train_time, 1e-9)
        self.rates.append(rate)
        emit(
            f"epoch={epoch + 1}/{self.epochs}",
            **epoch_fields(logs or {}),
            images_per_sec=round(rate, 1),
            seconds=round(now - self._begin, 1),
        )

    def steady_rate(self) -> float:
        """Mean images/second over this run's epochs after the first (compilation) one."""
        steady = self.rates[1:] or self.rates
        return sum(steady) / len(steady) if steady else 0.0


class SyncOutputs(keras.callbacks.Callback):
    """Uploads staged output folders after every epoch (a preempted job keeps its backup)."""

    def __init__(self, outputs: Iterable[OutputDir]) -> None:
        super().__init__()
        self.outputs = list(outputs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for out in self.outputs:
            out.sync()


class _FileHypertune:
    """Writes cloudml-hypertune's file format when that package is not installed."""

    def __init__(self) -> None:
        self.path = os.environ.get("CLOUD_ML_HP_METRIC_FILE", "/tmp/hypertune/output.metrics")
        self.trial = os.environ.get("CLOUD_ML_TRIAL_ID", "0")
        self.lines: list[str] = []

    def report_hyperparameter_tuning_metric(
        self, hyperparameter_metric_tag: str, metric_value: float, global_step: int = 0
    ) -> None:
        body = {
            "timestamp": time.time(),
            "trial": str(self.trial),
            hyperparameter_metric_tag: str(float(metric_value)),
            "global_step": str(int(global_step)),
            "checkpoint_path": "",
        }
        self.lines.append(json.dumps(body, sort_keys=True))
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


class HypertuneReporter(keras.callbacks.Callback):
    """Reports ``tag`` from the epoch's logs to the hyperparameter tuner after every epoch."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag
        self._hpt: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        try:
            import hypertune

            self._hpt = hypertune.HyperTune()
        except ImportError:
            self._hpt = _FileHypertune()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.tag not in logs:
            raise KeyError(
                f"--hypertune-metric {self.tag} is not among this epoch's metrics: "
                f"{', '.join(sorted(logs))}"
            )
        self._hpt.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=self.tag,
            metric_value=float(logs[self.tag]),
            global_step=epoch + 1,
        )


class EpochSummaries(keras.callbacks.Callback):
    """TensorBoard scalars per epoch, in Keras's layout (``train/`` and ``validation/``,
    tags ``epoch_loss``, ``epoch_abs_rel``, ...).

    Written with core TensorFlow's ``tf.summary.write`` and the scalars plugin's metadata, so
    the event files need no ``tensorboard`` package at training time (recent TensorFlow
    wheels no longer pull it in, and Keras's own TensorBoard callback then fails).
    """

    def __init__(self, log_dir: str) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._writers: dict[str, Any] = {}

    def _writer(self, split: str) -> Any:
        import tensorflow as tf

        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(os.path.join(self.log_dir, split))
        return self._writers[split]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(split).as_default():
                tf.summary.write(
                    f"epoch_{name}",
                    tf.constant(float(value), tf.float32),
                    step=epoch,
                    metadata=metadata,
                )
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
