"""Synthetic scenes, the on-disk formats (TFRecords, PNG pairs) and clear data errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from trainer_testing import TINY, run_trainer

from trainer.flags import parse_args
from trainer.synthetic import make_dataset, render_scene

tf = pytest.importorskip("tensorflow")

from trainer import data  # noqa: E402


def _cfg(*argv: str):  # type: ignore[no-untyped-def]
    return parse_args(["--image-size=32", "--levels=2", *argv], env={})


def test_synthetic_scenes_are_deterministic_and_splits_differ() -> None:
    a_img, a_depth = render_scene(7, "train", 3, 32)
    b_img, b_depth = render_scene(7, "train", 3, 32)
    assert a_img.dtype == np.uint8 and a_img.shape == (32, 32, 3)
    assert a_depth.dtype == np.float32 and a_depth.shape == (32, 32, 1)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_depth, b_depth)
    val_img, _ = render_scene(7, "val", 3, 32)
    other_img, _ = render_scene(8, "train", 3, 32)
    assert not np.array_equal(a_img, val_img) and not np.array_equal(a_img, other_img)
    _, depths = make_dataset(7, "train", 8, 32)
    # z-depth in metres inside the room; every pixel has a valid depth
    assert depths.min() > 0.5 and depths.max() <= 20.0
    # the floor is nearer at the bottom of the image than the wall at the top
    assert np.median(depths[:, -1]) < np.median(depths[:, 0])


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        render_scene(0, "dev", 0, 16)


@pytest.mark.parametrize("fmt", ["tfrecord", "png"])
def test_exported_set_reads_back_with_the_same_examples(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "set"
    cfg = _cfg(
        f"--export-data={out}",
        f"--export-format={fmt}",
        "--train-examples=6",
        "--val-examples=3",
        "--export-shards=2",
    )
    assert data.export_synthetic(cfg) == {"train": 6, "val": 3}
    if fmt == "tfrecord":
        assert sorted(p.name for p in (out / "train").iterdir()) == [
            "train-00000-of-00002.tfrecord",
            "train-00001-of-00002.tfrecord",
        ]
    else:
        assert len(list((out / "val" / "depth").glob("*.png"))) == 3
    splits = data.load_splits(_cfg(f"--data={out}"))
    assert (splits.train_count, splits.val_count) == (6, 3)
    got = list(splits.val.as_numpy_iterator())
    want_images, want_depths = make_dataset(42, "val", 3, 32)
    assert len(got) == 3
    for image, depth in got:  # shards interleave: the order may differ, the examples may not
        (match,) = [i for i, w in enumerate(want_images) if np.array_equal(w, image)]
        w_depth = want_depths[match]
        tol = 0.0 if fmt == "tfrecord" else 0.0006  # PNG stores millimetres
        np.testing.assert_allclose(depth, w_depth, atol=tol)


def test_folder_without_val_part_holds_out_a_share(tmp_path: Path) -> None:
    images, depths = make_dataset(1, "train", 10, 32)
    data.write_tfrecords(images, depths, tmp_path, "all", shards=1)
    splits = data.load_splits(_cfg(f"--data={tmp_path}", "--val-fraction=0.2"))
    assert (splits.train_count, splits.val_count) == (8, 2)


def test_examples_of_another_size_are_resized(tmp_path: Path) -> None:
    images, depths = make_dataset(1, "train", 4, 48)
    data.write_png_pairs(images, depths, tmp_path / "train", "big", scale=1000.0)
    data.write_png_pairs(images[:2], depths[:2], tmp_path / "val", "big", scale=1000.0)
    splits = data.load_splits(_cfg(f"--data={tmp_path}"))
    image, depth = next(splits.train.as_numpy_iterator())
    assert image.shape == (32, 32, 3) and depth.shape == (32, 32, 1)


def test_validation_batches_are_padded_with_invalid_depth() -> None:
    cfg = _cfg("--train-examples=16", "--val-examples=5")
    splits = data.load_splits(cfg)
    batches = list(data.val_pipeline(splits, global_batch=4).as_numpy_iterator())
    assert [b[0].shape[0] for b in batches] == [4, 4]
    assert (batches[-1][1][1:] == 0).all()  # three padded examples: depth 0 = no data
    assert (batches[-1][1][0] > 0).all()


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match=r"data folder .*nowhere does not exist"):
        data.load_splits(_cfg(f"--data={tmp_path / 'nowhere'}"))


def test_folder_without_data_names_the_expected_layout(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(data.DataError, match=r"no training data found .*\*\.tfrecord"):
        data.load_splits(_cfg(f"--data={tmp_path}"))


def test_image_without_depth_map_is_named(tmp_path: Path) -> None:
    images, depths = make_dataset(1, "train", 2, 32)
    data.write_png_pairs(images, depths, tmp_path, "x", scale=1000.0)
    (tmp_path / "depth" / "x-000001.png").unlink()
    with pytest.raises(data.DataError, match=r"x-000001\.png has no depth map"):
        data.load_splits(_cfg(f"--data={tmp_path}"))


def test_corrupt_tfrecord_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.tfrecord").write_bytes(b"this is not a tfrecord file at all" * 10)
    with pytest.raises(data.DataError, match=r"cannot read the data at .*: "):
        data.load_splits(_cfg(f"--data={tmp_path}"))


def test_too_few_examples_for_one_batch(tmp_path: Path) -> None:
    cfg = _cfg("--train-examples=3", "--val-examples=2")
    with pytest.raises(data.DataError, match=r"3 examples, fewer than one global batch \(8\)"):
        data.train_pipeline(data.load_splits(cfg), global_batch=8, augment=False, seed=0)


def test_trainer_reports_unreadable_data_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "part.tfrecord").write_bytes(b"\x00garbage" * 50)
    proc = run_trainer([*TINY, "--data=bad", "--epochs=1"], tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "trainer error: cannot read the data at bad:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("trainer end status=failed error=")


def test_training_from_exported_tfrecords(tmp_path: Path) -> None:
    out = tmp_path / "set"
    data.export_synthetic(_cfg(f"--export-data={out}", "--train-examples=24", "--val-examples=8"))
    proc = run_trainer([*TINY, f"--data={out}", "--epochs=1", "--output-dir=o"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "data=files:" in proc.stdout and "train_examples=24 val_examples=8" in proc.stdout
    assert (tmp_path / "o" / "model" / "metrics.json").is_file()


@pytest.mark.slow
def test_gpu_defaults_code_path_mixed_precision_and_xla(tmp_path: Path) -> None:
    """float16 compute + XLA (what auto picks on one GPU), forced on here on CPU (~1 min)."""
    flags = ["--epochs=1", "--output-dir=o", "--mixed-precision=on", "--xla=on"]
    proc = run_trainer([*TINY, "--train-examples=16", "--val-examples=8", *flags], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mixed_precision=True xla=True" in proc.stdout
    import keras

    model = keras.models.load_model(tmp_path / "o" / "model" / "model.keras", compile=False)
    assert model.get_layer("dec0_conv1").dtype_policy.name == "mixed_float16"
    assert model.get_layer("depth").dtype_policy.name == "float32"  # metres stay float32
