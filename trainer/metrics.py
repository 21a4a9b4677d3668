"""Standard monocular-depth metrics, accumulated over every valid pixel of the whole set.

Each metric keeps two running sums (of the per-pixel quantity and of the valid-pixel count),
so the result over a validation set is exact — not an average of per-batch averages, which
would weight small last batches wrongly and would not give a true RMSE.

Valid pixels are those whose ground truth lies in [min_depth, max_depth]; predictions are
clipped to that range. Depths are in metres.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainer.losses import valid_mask

# name -> what it measures (the order is the order of the log line and of metrics.json)
METRIC_NAMES: dict[str, str] = {
    "abs_rel": "mean |pred - gt| / gt",
    "sq_rel": "mean (pred - gt)^2 / gt",
    "rmse": "sqrt(mean (pred - gt)^2), metres",
    "rmse_log": "sqrt(mean (ln pred - ln gt)^2)",
    "log10": "mean |log10 pred - log10 gt|",
    "delta1": "share of pixels with max(pred/gt, gt/pred) < 1.25",
    "delta2": "share of pixels with max(pred/gt, gt/pred) < 1.25^2",
    "delta3": "share of pixels with max(pred/gt, gt/pred) < 1.25^3",
}
LOWER_IS_BETTER = {"abs_rel", "sq_rel", "rmse", "rmse_log", "log10"}


def _per_pixel(kind: str, pred: tf.Tensor, gt: tf.Tensor) -> tf.Tensor:
    if kind == "abs_rel":
        return tf.abs(pred - gt) / gt
    if kind == "sq_rel":
        return tf.square(pred - gt) / gt
    if kind == "rmse":
        return tf.square(pred - gt)
    if kind == "rmse_log":
        return tf.square(tf.math.log(pred) - tf.math.log(gt))
    if kind == "log10":
        return tf.abs(tf.math.log(pred) - tf.math.log(gt)) / tf.math.log(10.0)
    if kind.startswith("delta"):
        ratio = tf.maximum(pred / gt, gt / pred)
        return tf.cast(ratio < 1.25 ** int(kind[-1]), tf.float32)
    raise ValueError(f"unknown depth metric {kind!r}; known: {', '.join(METRIC_NAMES)}")


@keras.saving.register_keras_serializable(package="cloudpane_trainer")
class DepthMetric(keras.metrics.Metric):
    """One depth metric as running pixel sums (float64, summed across replicas)."""

    def __init__(
        self, kind: str, min_depth: float = 0.1, max_depth: float = 20.0, **kwargs: object
    ) -> None:
        if kind not in METRIC_NAMES:
            raise ValueError(f"unknown depth metric {kind!r}; known: {', '.join(METRIC_NAMES)}")
        kwargs.setdefault("name", kind)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.kind = kind
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype="float64", aggregation="sum", name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype="float64", aggregation="sum", name="count"
        )

    def update_state(
        self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: tf.Tensor | None = None
    ) -> None:
        gt = tf.cast(y_true, tf.float32)
        mask = valid_mask(gt, self.min_depth, self.max_depth)
        safe_gt = tf.where(mask > 0, gt, 1.0)  # keep the arithmetic finite on invalid pixels
        pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), self.min_depth, self.max_depth)
        values = _per_pixel(self.kind, pred, safe_gt) * mask
        self.total.assign_add(tf.cast(tf.reduce_sum(values), tf.float64))
        self.count.assign_add(tf.cast(tf.reduce_sum(mask), tf.float64))

    def result(self) -> tf.Tensor:
        mean = self.total / tf.maximum(self.count, 1.0)
        if self.kind in ("rmse", "rmse_log"):
            mean = tf.sqrt(mean)
        return tf.cast(mean, tf.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(kind=self.kind, min_depth=self.min_depth, max_depth=self.max_depth)
        return config


def depth_metrics(min_depth: float, max_depth: float) -> list[DepthMetric]:
    """All eight metrics, named as in METRIC_NAMES (Keras logs them with a val_ prefix)."""
    return [DepthMetric(kind, min_depth, max_depth) for kind in METRIC_NAMES]
