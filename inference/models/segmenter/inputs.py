"""The network input of one person: RGB crop (+ joint heatmap), shared by training and inference.

Training crops and inference crops go through :func:`person_input`, so the padding, resampling
and heatmap conventions cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inference.models.segmenter.crops import CropWindow, crop_image, crop_window, joint_heatmap
from inference.models.segmenter.network import SegmenterConfig


@dataclass(frozen=True)
class PersonInput:
    """One person's network input.

    Attributes:
        tensor: ``(C, S, S)`` float32: RGB in ``[0, 1]`` then (if the config uses it) the joint
            heatmap in ``[0, 1]``.
        window: the crop window (crop <-> frame mapping for the paste-back).
    """

    tensor: np.ndarray
    window: CropWindow


def skip_reason(bbox: tuple[float, float, float, float], config: SegmenterConfig) -> str | None:
    """Why a person box cannot be segmented (``None`` when it can)."""
    vals = [float(v) for v in bbox]
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        return f"box {tuple(bbox)} is not four finite numbers"
    _, _, w, h = vals
    if w < config.min_box_size or h < config.min_box_size:
        return (f"box {w:.1f}x{h:.1f} px is smaller than min_box_size "
                f"{config.min_box_size:g} px")
    return None


def person_window(bbox: tuple[float, float, float, float], config: SegmenterConfig) -> CropWindow:
    """The crop window of a person box under ``config``."""
    return crop_window(bbox, config.crop_size, expand=config.box_expand,
                       square=config.square_crop)


def person_input(image: np.ndarray, bbox: tuple[float, float, float, float],
                 keypoints: np.ndarray | None, config: SegmenterConfig) -> PersonInput:
    """Crop one person from a full-resolution frame.

    Args:
        image: ``(H, W, 3)`` uint8 RGB frame.
        bbox: ``(x, y, w, h)`` frame coordinates (check :func:`skip_reason` first).
        keypoints: ``(K, 3)`` ``(x, y, v)`` frame coordinates, or ``None``.
        config: the segmenter settings.
    """
    window = person_window(bbox, config)
    rgb = crop_image(image, window).astype(np.float32) * (1.0 / 255.0)
    planes = [rgb.transpose(2, 0, 1)]
    if config.use_heatmap:
        planes.append(joint_heatmap(keypoints, window, config.sigma)[None])
    return PersonInput(tensor=np.ascontiguousarray(np.concatenate(planes, 0)), window=window)
