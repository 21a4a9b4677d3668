"""Input pipelines: the synthetic set, TFRecords and PNG pairs, from a folder or gs://.

Every source becomes a cached tf.data.Dataset of (uint8 RGB [S,S,3], float32 depth in metres
[S,S,1]) examples; the training pipeline then shuffles, augments in parallel, batches the
global batch with static shapes and prefetches. Validation batches are padded to the full
batch with depth 0 — an invalid pixel everywhere — so shapes stay static while every real
example is counted once in the metrics.

On-disk formats (also what ``--export-data`` writes):

* TFRecords (``*.tfrecord``, ``*.tfrecord.gz``): tf.train.Example with ``image`` = PNG/JPEG
  bytes and ``depth`` = ``tf.io.serialize_tensor`` of a float32 [H, W] or [H, W, 1] tensor
  in metres (0 = no measurement).
* PNG pairs: ``image/NAME.png|jpg`` with ``depth/NAME.png``, a 16-bit PNG in units of
  1/--depth-scale metres (millimetres by default; 0 = no measurement).

A data folder either holds one of these directly (a 1-in-k share is then held out for
validation) or has ``train/`` and ``val/`` subfolders.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from trainer import storage_io, synthetic
from trainer.flags import TrainConfig

AUTOTUNE = tf.data.AUTOTUNE
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class DataError(Exception):
    """The data cannot be found or read; the message says where and what was expected."""


@dataclass
class DataSplits:
    train: tf.data.Dataset  # unbatched, cached examples
    val: tf.data.Dataset
    train_count: int
    val_count: int
    description: str
    from_files: bool  # decides how tf.distribute shards across workers


# ---------------------------------------------------------------- decoding


def _fit_size(image: tf.Tensor, depth: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Resize to size×size: bilinear for colour, nearest for depth (never blend in holes)."""
    image = tf.image.resize(image, (size, size), method="bilinear", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    depth = tf.image.resize(depth, (size, size), method="nearest")
    image.set_shape((size, size, 3))
    depth.set_shape((size, size, 1))
    return image, depth


def _parse_example(record: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    features = tf.io.parse_single_example(
        record,
        {
            "image": tf.io.FixedLenFeature([], tf.string),
            "depth": tf.io.FixedLenFeature([], tf.string),
        },
    )
    image = tf.io.decode_image(features["image"], channels=3, expand_animations=False)
    depth = tf.io.parse_tensor(features["depth"], tf.float32)
    shape = tf.shape(depth)  # [H, W] or [H, W, 1]; the rank is unknown when tracing
    depth = tf.reshape(depth, tf.stack([shape[0], shape[1], 1]))
    return _fit_size(image, depth, size)


def _read_pair(image_path: tf.Tensor, depth_path: tf.Tensor, size: int, scale: float) -> Any:
    image = tf.io.decode_image(tf.io.read_file(image_path), channels=3, expand_animations=False)
    depth_raw = tf.io.decode_png(tf.io.read_file(depth_path), channels=1, dtype=tf.uint16)
    depth = tf.cast(depth_raw, tf.float32) / scale
    return _fit_size(image, depth, size)


# ---------------------------------------------------------------- finding files


def _tfrecord_files(folder: str) -> list[str]:
    found: list[str] = []
    for pattern in ("*.tfrecord", "*.tfrecords", "*.tfrecord.gz", "*.tfrecords.gz"):
        found.extend(tf.io.gfile.glob(storage_io.join(folder, pattern)))
    return sorted(set(found))


def _png_pairs(folder: str) -> tuple[list[str], list[str]]:
    image_dir = storage_io.join(folder, "image")
    depth_dir = storage_io.join(folder, "depth")
    if not (tf.io.gfile.isdir(image_dir) and tf.io.gfile.isdir(depth_dir)):
        return [], []
    images, depths = [], []
    for name in sorted(tf.io.gfile.listdir(image_dir)):
        stem, ext = name.rsplit(".", 1) if "." in name else (name, "")
        if f".{ext.lower()}" not in IMAGE_EXTENSIONS:
            continue
        depth = storage_io.join(depth_dir, f"{stem}.png")
        if not tf.io.gfile.exists(depth):
            raise DataError(f"{storage_io.join(image_dir, name)} has no depth map {depth}")
        images.append(storage_io.join(image_dir, name))
        depths.append(depth)
    return images, depths


def _read_part(folder: str, cfg: TrainConfig) -> tf.data.Dataset | None:
    """A decoded dataset for one folder of TFRecords or PNG pairs, or None if it has neither."""
    records = _tfrecord_files(folder)
    if records:
        gz = [f for f in records if f.endswith(".gz")]
        if gz and len(gz) != len(records):
            raise DataError(f"{folder} mixes gzipped and plain TFRecord files; use one kind")
        files = tf.data.Dataset.from_tensor_slices(records)
        ds = files.interleave(
            lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP" if gz else ""),
            cycle_length=min(len(records), 8),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
        return ds.map(lambda r: _parse_example(r, cfg.image_size), num_parallel_calls=AUTOTUNE)
    images, depths = _png_pairs(folder)
    if images:
        ds = tf.data.Dataset.from_tensor_slices((images, depths))
        return ds.map(
            lambda i, d: _read_pair(i, d, cfg.image_size, cfg.depth_scale),
            num_parallel_calls=AUTOTUNE,
        )
    return None


def _localize(uri: str) -> str:
    """A path tf.data can open: gs:// without TensorFlow support is downloaded first."""
    if uri.startswith("gs://") and not storage_io.tensorflow_reads_gcs():
        local = Path(tempfile.mkdtemp(prefix="trainer-data-"))
        try:
            count = storage_io.download_tree(uri, local)
        except storage_io.StorageError as exc:
            raise DataError(str(exc)) from exc
        if not count:
            raise DataError(f"no files found under {uri}")
        return str(local)
    return storage_io.local_path(uri)


def _count(ds: tf.data.Dataset, where: str) -> int:
    """Read the whole split once (this also fills the cache) and turn read errors into words."""
    try:
        return int(ds.reduce(np.int64(0), lambda n, _: n + 1).numpy())
    except tf.errors.OpError as exc:
        first_line = (exc.message or str(exc)).strip().splitlines()[0]
        raise DataError(f"cannot read the data at {where}: {first_line}") from exc


def _folder_splits(cfg: TrainConfig) -> DataSplits:
    root = _localize(cfg.data)
    if not tf.io.gfile.exists(root):
        raise DataError(f"data folder {cfg.data} does not exist")
    expected = (
        "expected *.tfrecord files, or image/ and depth/ folders of PNG pairs, "
        "directly or under train/ and val/"
    )
    train_dir = storage_io.join(root, "train")
    has_train_dir = tf.io.gfile.isdir(train_dir)
    train = _read_part(train_dir if has_train_dir else root, cfg)
    if train is None:
        raise DataError(f"no training data found at {cfg.data}: {expected}")
    val = None
    if cfg.val_data:
        val = _read_part(_localize(cfg.val_data), cfg)
        if val is None:
            raise DataError(f"no validation data found at {cfg.val_data}: {expected}")
    elif has_train_dir and tf.io.gfile.isdir(storage_io.join(root, "val")):
        val = _read_part(storage_io.join(root, "val"), cfg)
    if val is None:
        every = max(2, round(1 / cfg.val_fraction))
        indexed = train.enumerate()
        val = indexed.filter(lambda i, _: i % every == 0).map(lambda _, ex: ex)
        train = indexed.filter(lambda i, _: i % every != 0).map(lambda _, ex: ex)
    if cfg.cache:
        train, val = train.cache(), val.cache()
    return DataSplits(
        train,
        val,
        _count(train, cfg.data),
        _count(val, cfg.val_data or cfg.data),
        f"files:{cfg.data}",
        True,
    )


def _synthetic_splits(cfg: TrainConfig) -> DataSplits:
    started = time.perf_counter()
    train = synthetic.make_dataset(cfg.seed, "train", cfg.train_examples, cfg.image_size)
    val = synthetic.make_dataset(cfg.seed, "val", cfg.val_examples, cfg.image_size)
    seconds = time.perf_counter() - started
    return DataSplits(
        tf.data.Dataset.from_tensor_slices(train),
        tf.data.Dataset.from_tensor_slices(val),
        cfg.train_examples,
        cfg.val_examples,
        f"synthetic(seed={cfg.seed},generated_in={seconds:.1f}s)",
        False,
    )


def load_splits(cfg: TrainConfig) -> DataSplits:
    """The training and validation examples that ``cfg`` names."""
    if cfg.data == "synthetic":
        return _synthetic_splits(cfg)
    return _folder_splits(cfg)


# ---------------------------------------------------------------- pipelines


def _shard_options(from_files: bool) -> tf.data.Options:
    options = tf.data.Options()
    # Files shard by file across workers where there are enough; in-memory data by element.
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.AUTO if from_files else policy.DATA
    return options


def _as_float(image: tf.Tensor, depth: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.cast(image, tf.float32), depth


def _augment(image: tf.Tensor, depth: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    image = tf.cast(image, tf.float32)
    flip = tf.random.uniform(()) < 0.5
    image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
    depth = tf.cond(flip, lambda: tf.reverse(depth, [1]), lambda: depth)
    image = tf.clip_by_value(image * tf.random.uniform((), 0.8, 1.2), 0.0, 255.0)
    return image, depth


def train_pipeline(splits: DataSplits, global_batch: int, augment: bool, seed: int) -> Any:
    if splits.train_count < global_batch:
        raise DataError(
            f"the training set has {splits.train_count} examples, fewer than one global batch "
            f"({global_batch}); lower --batch-size or add data"
        )
    ds = splits.train.shuffle(min(splits.train_count, 8192), seed=seed)
    ds = ds.map(_augment if augment else _as_float, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(global_batch, drop_remainder=True).prefetch(AUTOTUNE)
    return ds.with_options(_shard_options(splits.from_files))


def val_pipeline(splits: DataSplits, global_batch: int) -> Any:
    if splits.val_count == 0:
        raise DataError("the validation set is empty; add data or raise --val-fraction")

    def pad(image: tf.Tensor, depth: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        missing = global_batch - tf.shape(image)[0]
        paddings = [[0, missing], [0, 0], [0, 0], [0, 0]]
        image, depth = tf.pad(image, paddings), tf.pad(depth, paddings)
        image.set_shape((global_batch, *image.shape[1:]))
        depth.set_shape((global_batch, *depth.shape[1:]))
        return image, depth

    ds = splits.val.map(_as_float, num_parallel_calls=AUTOTUNE).batch(global_batch)
    ds = ds.map(pad).prefetch(AUTOTUNE)
    return ds.with_options(_shard_options(splits.from_files))


# ---------------------------------------------------------------- export


def _example(image: np.ndarray, depth: np.ndarray) -> bytes:
    feature = {
        "image": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[tf.io.encode_png(image).numpy()])
        ),
        "depth": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(depth).numpy()])
        ),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecords(
    images: np.ndarray, depths: np.ndarray, folder: Path, name: str, shards: int
) -> int:
    """Write examples as ``folder/NAME-0000i-of-0000n.tfrecord``; returns the file count."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = np.array_split(np.arange(len(images)), min(shards, len(images)))
    for i, idx in enumerate(parts):
        path = folder / f"{name}-{i:05d}-of-{len(parts):05d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for j in idx:
                writer.write(_example(images[j], depths[j]))
    return len(parts)


def write_png_pairs(
    images: np.ndarray, depths: np.ndarray, folder: Path, name: str, scale: float
) -> int:
    """Write ``folder/image/NAME-i.png`` and 16-bit ``folder/depth/NAME-i.png``."""
    (folder / "image").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    for i, (image, depth) in enumerate(zip(images, depths, strict=True)):
        stem = f"{name}-{i:06d}.png"
        (folder / "image" / stem).write_bytes(tf.io.encode_png(image).numpy())
        units = np.clip(np.round(depth * scale), 0, 65535).astype(np.uint16)
        (folder / "depth" / stem).write_bytes(tf.io.encode_png(units).numpy())
    return len(images)


def export_synthetic(cfg: TrainConfig) -> dict[str, int]:
    """Write the synthetic train/ and val/ sets to ``cfg.export_data`` (local or remote)."""
    assert cfg.export_data
    out = storage_io.OutputDir(cfg.export_data)
    counts = {"train": cfg.train_examples, "val": cfg.val_examples}
    try:
        for split, count in counts.items():
            images, depths = synthetic.make_dataset(cfg.seed, split, count, cfg.image_size)
            if cfg.export_format == "tfrecord":
                write_tfrecords(images, depths, out.local / split, split, cfg.export_shards)
            else:
                write_png_pairs(images, depths, out.local / split, split, cfg.depth_scale)
        out.sync()
    finally:
        out.cleanup()
    return counts
