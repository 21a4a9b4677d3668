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
