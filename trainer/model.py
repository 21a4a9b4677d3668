"""The depth network: a U-Net of conv–BN–ReLU blocks that maps one RGB image to depth in metres.

The output head squashes to (0, 1) and maps that to [min_depth, max_depth] on a log scale, so
the network spends its resolution evenly on relative error (what AbsRel measures), and the
exported model returns metres directly. Only built-in Keras layers are used, so the `.keras`
file and the SavedModel reload without this package.
"""

from __future__ import annotations

import math

import keras
from keras import layers


def _conv_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def build_unet(
    image_size: int,
    base_filters: int = 16,
    levels: int = 4,
    min_depth: float = 0.1,
    max_depth: float = 20.0,
) -> keras.Model:
    """A U-Net whose input is an RGB image with values 0–255 and whose output is depth [H,W,1]."""
    if image_size % (2**levels):
        raise ValueError(
            f"--image-size {image_size} must be divisible by 2**levels = {2**levels} "
            "(the U-Net halves the resolution once per level)"
        )
    if not 0 < min_depth < max_depth:
        raise ValueError(f"need 0 < --min-depth < --max-depth, got {min_depth} and {max_depth}")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(inputs)
    skips = []
    for level in range(levels):
        x = _conv_block(x, base_filters * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _conv_block(x, base_filters * 2**levels, "bottleneck")
    for level in reversed(range(levels)):
        # float32 even under mixed precision: XLA rejects the float16 gradient of a
        # bilinear resize ("Seen floating point types of different precisions").
        x = layers.UpSampling2D(2, interpolation="bilinear", dtype="float32", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _conv_block(x, base_filters * 2**level, f"dec{level}")
    # The head runs in float32 under mixed precision: the exp() of a float16 would lose range.
    x = layers.Conv2D(1, 1, dtype="float32", name="head")(x)
    x = layers.Activation("sigmoid", dtype="float32", name="unit_depth")(x)
    log_min, log_max = math.log(min_depth), math.log(max_depth)
    x = layers.Rescaling(log_max - log_min, offset=log_min, dtype="float32", name="log_depth")(x)
    outputs = layers.Activation("exponential", dtype="float32", name="depth")(x)
    return keras.Model(inputs, outputs, name="depth_unet")
