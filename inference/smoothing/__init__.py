"""Offline temporal smoothing of recorded tracks, and how to measure it.

* :mod:`~inference.smoothing.keypoints` — zero-phase Savitzky–Golay smoothing of each joint over
  each run of labelled frames (:class:`KeypointSmoothing`);
* :mod:`~inference.smoothing.masks` — motion-aligned truncated signed-distance voting against
  mask flicker (:class:`MaskSmoothing`);
* :mod:`~inference.smoothing.apply` — :func:`smooth_trackset` and :func:`smooth_cache` (which
  writes a NEW ``"<source>.smooth"`` cache and never touches the raw analysis);
* :mod:`~inference.smoothing.metrics` — keypoint jitter, mask flicker, error against ground truth;
* :mod:`~inference.smoothing.noise` — realistic per-frame noise for evaluation.
"""

from inference.smoothing.apply import (
    SMOOTH_SUFFIX,
    content_digest,
    smooth_cache,
    smooth_trackset,
    smoothing_settings,
)
from inference.smoothing.keypoints import KeypointSmoothing, smooth_track_keypoints
from inference.smoothing.masks import MaskSmoothing, smooth_track_masks
from inference.smoothing.metrics import (
    keypoint_error,
    keypoint_jitter,
    mask_flicker,
    mask_iou,
    stability_report,
)
from inference.smoothing.noise import Noise, add_noise

__all__ = [
    "SMOOTH_SUFFIX", "KeypointSmoothing", "MaskSmoothing", "Noise", "add_noise",
    "content_digest", "keypoint_error", "keypoint_jitter", "mask_flicker", "mask_iou",
    "smooth_cache", "smooth_track_keypoints", "smooth_track_masks", "smooth_trackset",
    "smoothing_settings", "stability_report",
]  # fmt: skip
