"""Picking the tf.distribute strategy from the flag, TF_CONFIG and the local GPUs.

Vertex AI sets TF_CONFIG on every replica of a multi-replica job: ``cluster`` lists the
``chief`` (worker pool 0) and ``worker`` tasks (pool 1), ``task`` says who this process is.
Only the chief publishes outputs; the other workers still take part in every collective
(including saving) but write into private folders.
"""

from __future__ import annotations

import json
from typing import Any


def _parse(tf_config: str | None) -> dict[str, Any]:
    if not tf_config:
        return {}
    try:
        parsed = json.loads(tf_config)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    return parsed if isinstance(parsed, dict) else {}


def cluster_workers(tf_config: str | None) -> int:
    """How many training processes (chief + workers) TF_CONFIG names; 0 without one."""
    cluster = _parse(tf_config).get("cluster", {})
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))


def is_chief(tf_config: str | None) -> bool:
    """True for the process that writes the real outputs (the only one, without TF_CONFIG)."""
    parsed = _parse(tf_config)
    task = parsed.get("task", {})
    role, index = task.get("type"), int(task.get("index", 0))
    if not role or role == "chief":
        return True
    has_chief = bool(parsed.get("cluster", {}).get("chief"))
    return role == "worker" and index == 0 and not has_chief


def choose_kind(requested: str, tf_config: str | None, gpu_count: int) -> str:
    """Resolve ``--distribute`` (auto|single|mirrored|multiworker) to a concrete kind."""
    if requested != "auto":
        return requested
    if cluster_workers(tf_config) > 1:
        return "multiworker"
    if gpu_count > 1:
        return "mirrored"
    return "single"


def make_strategy(kind: str) -> Any:
    """The tf.distribute strategy for a kind; build it before any other TensorFlow work."""
    import tensorflow as tf

    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "single":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown --distribute {kind!r}")


def patch_keras_for_multiworker(model: Any, strategy: Any) -> None:
    """Work around two Keras 3 bugs that stop fit() under MultiWorkerMirroredStrategy.

    Both are upstream (keras-team/keras#20585, tensorflow/tensorflow#72388) and apply only
    when several workers train together; nothing changes for any other strategy.

    1. Before the first step Keras averages the whole first (image, depth) batch with one
       ``strategy.reduce`` call, but this strategy reduces one value at a time ("Attempt to
       convert a value (PerReplica...)"). During that build, reduce leaf by leaf.
    2. After every step Keras averages the step's scalar logs across workers with
       ``reduce(..., axis=0)``, which is invalid for scalars ("Invalid reduction dimension 0
       for input with 0 dimensions"). Average scalars with ``axis=None`` instead.

    Epoch-end metrics are unaffected: they are read from the metrics' variables, which are
    summed across all replicas, so validation metrics stay exact over the whole set.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    build = getattr(model, "_maybe_symbolic_build", None)
    if build is not None:
        real_reduce = strategy.reduce

        def leafwise_reduce(reduce_op: Any, value: Any, axis: Any = None) -> Any:
            return tf.nest.map_structure(lambda v: real_reduce(reduce_op, v, axis=axis), value)

        def patched_build(*args: Any, **kwargs: Any) -> Any:
            strategy.reduce = leafwise_reduce
            try:
                return build(*args, **kwargs)
            finally:
                strategy.reduce = real_reduce

        model._maybe_symbolic_build = patched_build

    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer
    except ImportError:  # a Keras whose layout differs: nothing to patch
        return
    original = getattr(tf_trainer, "reduce_per_replica", None)
    if original is None or getattr(original, "_scalar_safe", False):
        return

    def reduce_per_replica(values: Any, strat: Any, reduction: Any) -> Any:
        if reduction in ("auto", "mean") and isinstance(
            strat, tf.distribute.MultiWorkerMirroredStrategy
        ):

            def mean(v: Any) -> Any:
                if not isinstance(v, tf.distribute.DistributedValues):
                    return v
                rank = strat.experimental_local_results(v)[0].shape.rank
                return strat.reduce("MEAN", v, axis=None if rank == 0 else 0)

            return tf.nest.map_structure(mean, values)
        return original(values, strat, reduction)

    reduce_per_replica._scalar_safe = True  # type: ignore[attr-defined]
    tf_trainer.reduce_per_replica = reduce_per_replica
