"""Depth metrics against an independent NumPy computation; the loss ignores invalid pixels."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from trainer.losses import make_depth_loss  # noqa: E402
from trainer.metrics import METRIC_NAMES, depth_metrics  # noqa: E402

MIN_DEPTH, MAX_DEPTH = 0.1, 20.0


def numpy_metrics(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The textbook definitions (Eigen et al.), pooled over every valid pixel."""
    valid = (gt >= MIN_DEPTH) & (gt <= MAX_DEPTH)
    g = gt[valid].astype(np.float64)
    p = np.clip(pred[valid].astype(np.float64), MIN_DEPTH, MAX_DEPTH)
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "sq_rel": float(np.mean((p - g) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
    }


def _hand_made() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.5, 15.0, size=(5, 6, 7, 1)).astype(np.float32)
    pred = (gt * rng.uniform(0.6, 1.6, size=gt.shape)).astype(np.float32)
    gt[0, 0, :3] = 0.0  # missing measurements
    gt[1, 2, 2] = 25.0  # beyond --max-depth: ignored
    pred[2, 1, 1] = 40.0  # clipped to max-depth before scoring
    gt[4] = 0.0  # a whole padded example: contributes nothing
    return gt, pred


def test_tiny_case_by_hand() -> None:
    gt = np.array([2.0, 4.0, 0.0, 10.0], np.float32).reshape(1, 2, 2, 1)
    pred = np.array([2.0, 5.0, 7.0, 8.0], np.float32).reshape(1, 2, 2, 1)
    metrics = {m.name: m for m in depth_metrics(MIN_DEPTH, MAX_DEPTH)}
    for m in metrics.values():
        m.update_state(gt, pred)
    # valid pixels: (2,2), (4,5), (10,8)
    assert metrics["abs_rel"].result().numpy() == pytest.approx((0 + 0.25 + 0.2) / 3)
    assert metrics["rmse"].result().numpy() == pytest.approx(np.sqrt((0 + 1 + 4) / 3))
    # ratios 1, 1.25, 1.25: exactly 1.25 is not "< 1.25"
    assert metrics["delta1"].result().numpy() == pytest.approx(1 / 3)
    assert metrics["delta2"].result().numpy() == pytest.approx(3 / 3)
    assert metrics["sq_rel"].result().numpy() == pytest.approx((0 + 1 / 4 + 4 / 10) / 3)


def test_metrics_match_numpy_accumulated_over_uneven_batches() -> None:
    gt, pred = _hand_made()
    expected = numpy_metrics(gt, pred)
    metrics = depth_metrics(MIN_DEPTH, MAX_DEPTH)
    assert [m.name for m in metrics] == list(METRIC_NAMES)
    # batches of 3 and 2 examples: a per-batch average would differ from the pooled value
    for lo, hi in ((0, 3), (3, 5)):
        for m in metrics:
            m.update_state(tf.constant(gt[lo:hi]), tf.constant(pred[lo:hi]))
    for m in metrics:
        assert m.result().numpy() == pytest.approx(expected[m.name], rel=1e-5), m.name
    per_batch_rmse = np.mean(
        [numpy_metrics(gt[lo:hi], pred[lo:hi])["rmse"] for lo, hi in ((0, 3), (3, 4))]
    )
    assert per_batch_rmse != pytest.approx(expected["rmse"], rel=1e-3)


def test_reset_state_starts_over() -> None:
    gt, pred = _hand_made()
    (metric,) = [m for m in depth_metrics(MIN_DEPTH, MAX_DEPTH) if m.name == "abs_rel"]
    metric.update_state(gt, pred * 3)
    metric.reset_state()
    metric.update_state(gt, pred)
    assert metric.result().numpy() == pytest.approx(numpy_metrics(gt, pred)["abs_rel"], rel=1e-5)


def _loss(**weights: float):  # type: ignore[no-untyped-def]
    kwargs = {"ssim_weight": 1.0, "l1_weight": 1.0, "gradient_weight": 1.0} | weights
    return make_depth_loss(min_depth=MIN_DEPTH, max_depth=MAX_DEPTH, **kwargs)


def test_loss_is_zero_for_a_perfect_prediction_and_grows_with_error() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(1.0, 10.0, size=(2, 16, 16, 1)).astype(np.float32)
    loss = _loss()
    perfect = loss(tf.constant(gt), tf.constant(gt)).numpy()
    assert perfect.shape == (2,)
    np.testing.assert_allclose(perfect, 0.0, atol=1e-5)
    small = loss(tf.constant(gt), tf.constant(gt * 1.1)).numpy()
    large = loss(tf.constant(gt), tf.constant(gt * 1.5)).numpy()
    assert (small > 1e-4).all() and (large > small).all()


def test_loss_ignores_pixels_without_ground_truth() -> None:
    rng = np.random.default_rng(1)
    gt = rng.uniform(1.0, 10.0, size=(1, 16, 16, 1)).astype(np.float32)
    pred = gt * rng.uniform(0.9, 1.1, size=gt.shape).astype(np.float32)
    gt[:, :, :5] = 0.0
    other = pred.copy()
    other[:, :, :4] = 19.0  # change predictions only where gt is missing (not next to valid)
    for weights in ({"ssim_weight": 0.0, "gradient_weight": 0.0}, {"l1_weight": 0.0}):
        loss = _loss(**weights)
        a = loss(tf.constant(gt), tf.constant(pred)).numpy()
        b = loss(tf.constant(gt), tf.constant(other)).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-5)
    # an example with no valid pixel at all (validation padding) costs nothing
    empty = _loss()(tf.zeros_like(gt), tf.constant(pred)).numpy()
    np.testing.assert_allclose(empty, 0.0, atol=1e-7)


def test_each_weight_scales_its_term() -> None:
    rng = np.random.default_rng(2)
    gt = rng.uniform(1.0, 10.0, size=(1, 16, 16, 1)).astype(np.float32)
    pred = gt * rng.uniform(0.7, 1.3, size=gt.shape).astype(np.float32)
    l1 = _loss(ssim_weight=0.0, gradient_weight=0.0)(gt, pred).numpy()
    l1_double = _loss(ssim_weight=0.0, gradient_weight=0.0, l1_weight=2.0)(gt, pred).numpy()
    np.testing.assert_allclose(l1_double, 2 * l1, rtol=1e-5)
    ssim = _loss(l1_weight=0.0, gradient_weight=0.0)(gt, pred).numpy()
    grad = _loss(l1_weight=0.0, ssim_weight=0.0)(gt, pred).numpy()
    np.testing.assert_allclose(_loss()(gt, pred).numpy(), l1 + ssim + grad, rtol=1e-5)
