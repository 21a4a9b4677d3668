"""Strategy choice from --distribute, TF_CONFIG and the GPUs; which worker publishes."""

from __future__ import annotations

import json

import pytest

from trainer.distribute import choose_kind, cluster_workers, is_chief
from trainer.train import resolve_mixed_precision, resolve_xla


def _tf_config(role: str, index: int, chief: bool = True, workers: int = 2) -> str:
    cluster: dict[str, list[str]] = {"worker": [f"w{i}:2222" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["c:2222"]
    return json.dumps({"cluster": cluster, "task": {"type": role, "index": index}})


def test_auto_picks_multiworker_when_tf_config_names_several_workers() -> None:
    assert cluster_workers(_tf_config("chief", 0)) == 3
    assert choose_kind("auto", _tf_config("worker", 1), gpu_count=0) == "multiworker"


def test_auto_single_worker_tf_config_is_not_multiworker() -> None:
    one = json.dumps({"cluster": {"chief": ["c:1"]}, "task": {"type": "chief", "index": 0}})
    assert choose_kind("auto", one, gpu_count=1) == "single"


def test_auto_uses_mirrored_on_several_gpus_and_single_otherwise() -> None:
    assert choose_kind("auto", None, gpu_count=4) == "mirrored"
    assert choose_kind("auto", None, gpu_count=1) == "single"
    assert choose_kind("auto", "", gpu_count=0) == "single"
    assert choose_kind("mirrored", None, gpu_count=0) == "mirrored"


def test_chief_is_the_chief_task_or_worker_zero_without_one() -> None:
    assert is_chief(None)
    assert is_chief(_tf_config("chief", 0))
    assert not is_chief(_tf_config("worker", 0))
    assert is_chief(_tf_config("worker", 0, chief=False))
    assert not is_chief(_tf_config("worker", 1, chief=False))


def test_bad_tf_config_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        choose_kind("auto", "{not json", gpu_count=0)


def test_mixed_precision_and_xla_default_on_gpu_only() -> None:
    assert resolve_mixed_precision("auto", gpu_count=1)
    assert not resolve_mixed_precision("auto", gpu_count=0)
    assert resolve_mixed_precision("on", gpu_count=0)
    assert resolve_xla("auto", gpu_count=1, replicas=1)
    assert not resolve_xla("auto", gpu_count=0, replicas=1)
    assert not resolve_xla("auto", gpu_count=4, replicas=4)
    assert not resolve_xla("off", gpu_count=1, replicas=1)
