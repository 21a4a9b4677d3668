"""The training loss: a weighted sum of SSIM, L1 and an image-gradient term over valid pixels.

All three terms compare depths in a normalised log space, t = log(d / min) / log(max / min),
which lies in [0, 1]: an error of 10 % costs the same near and far, as AbsRel counts it.
Pixels whose true depth is outside [min_depth, max_depth] (0 marks "no measurement" in real
datasets) are left out of every term.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf


def valid_mask(y_true: tf.Tensor, min_depth: float, max_depth: float) -> tf.Tensor:
    """1.0 where the ground truth is a usable measurement, else 0.0 (same rule as the metrics)."""
    return tf.cast((y_true >= min_depth) & (y_true <= max_depth), tf.float32)


def _masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over each sample's valid pixels: shape [batch]."""
    axes = list(range(1, len(values.shape)))
    total = tf.reduce_sum(values * mask, axis=axes)
    return total / tf.maximum(tf.reduce_sum(mask, axis=axes), 1.0)


def _ssim_map(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Per-pixel SSIM with 3×3 mean windows (as in Monodepth), for signals in [0, 1]."""
    c1, c2 = 0.01**2, 0.03**2
    pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
    a = tf.pad(a, pad, mode="REFLECT")
    b = tf.pad(b, pad, mode="REFLECT")

    def pool(x: tf.Tensor) -> tf.Tensor:
        return tf.nn.avg_pool2d(x, 3, 1, "VALID")

    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a**2
    var_b = pool(b * b) - mu_b**2
    cov = pool(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return num / den


def make_depth_loss(
    ssim_weight: float, l1_weight: float, gradient_weight: float, min_depth: float, max_depth: float
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The loss function for model.compile: returns one value per sample."""
    log_min = math.log(min_depth)
    log_range = math.log(max_depth) - log_min

    def depth_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        mask = valid_mask(y_true, min_depth, max_depth)
        t_pred = (tf.math.log(tf.clip_by_value(y_pred, min_depth, max_depth)) - log_min) / log_range
        t_true = (tf.math.log(tf.clip_by_value(y_true, min_depth, max_depth)) - log_min) / log_range
        # Where there is no ground truth, compare the prediction with itself: no signal there.
        t_true = mask * t_true + (1.0 - mask) * tf.stop_gradient(t_pred)
        loss = tf.zeros_like(y_true[:, 0, 0, 0])
        if l1_weight:
            loss += l1_weight * _masked_mean(tf.abs(t_pred - t_true), mask)
        if ssim_weight:
            ssim = tf.clip_by_value((1.0 - _ssim_map(t_pred, t_true)) / 2.0, 0.0, 1.0)
            loss += ssim_weight * _masked_mean(ssim, mask)
        if gradient_weight:
            dx_mask = mask[:, :, 1:] * mask[:, :, :-1]
            dy_mask = mask[:, 1:] * mask[:, :-1]
            dx = tf.abs(
                (t_pred[:, :, 1:] - t_pred[:, :, :-1]) - (t_true[:, :, 1:] - t_true[:, :, :-1])
            )
            dy = tf.abs((t_pred[:, 1:] - t_pred[:, :-1]) - (t_true[:, 1:] - t_true[:, :-1]))
            loss += gradient_weight * (_masked_mean(dx, dx_mask) + _masked_mean(dy, dy_mask))
        return loss

    return depth_loss
