#!/usr/bin/env bash
# Training speed of the bundled trainer on a GPU machine: images/second with the GPU defaults
# (mixed precision + XLA) against both switched off. Needs a GPU and TensorFlow with CUDA
# (e.g. inside us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310). Not run in CI.
#
#   bash benchmarks/trainer_speed_gpu.sh [extra trainer flags]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

common=(--epochs=4 --train-examples=4096 --val-examples=256 --image-size=128
        --base-filters=32 --batch-size=64 "$@")
for mode in "--mixed-precision=auto --xla=auto" "--mixed-precision=off --xla=off"; do
    # shellcheck disable=SC2086
    line=$(PYTHONPATH=. "$PY" -m trainer.task "${common[@]}" $mode --output-dir="$out/run" \
        | grep '^trainer end')
    echo "$mode -> $(tr ' ' '\n' <<<"$line" | grep -E '^(images_per_sec|val_abs_rel)=' | xargs)"
    rm -rf "$out/run"
done
