"""Evaluation metrics of person tracks: predicted :class:`~inference.tracks.model.TrackSet`
against ground truth.

* :mod:`~inference.metrics.video_ap` — Temporal Mask AP (TMIoU) and Temporal Boundary AP (TBIoU),
  YouTube-VIS-style AP over IoU 0.50:0.05:0.95 (the seed paper's metrics);
* :mod:`~inference.metrics.boundary` — Boundary IoU boundary regions (dilation ratio 0.01 by
  default, as in the seed);
* :mod:`~inference.metrics.mot` — MOTA, MOTP, IDF1, ID switches on boxes (py-motmetrics rules);
* :mod:`~inference.metrics.mots` — sMOTSA, MOTSA, MOTSP on masks;
* :mod:`~inference.metrics.keypoints` — COCO keypoint AP by OKS;
* :func:`evaluate` — everything the inputs support, as a ``dict[str, float]``.
"""

from inference.metrics.boundary import (
    DEFAULT_DILATION_RATIO,
    boundary_iou,
    boundary_rle,
    dilation_pixels,
    mask_to_boundary,
)
from inference.metrics.coco_ap import APResult, accumulate, match_image
from inference.metrics.evaluate import METRIC_DESCRIPTIONS, evaluate
from inference.metrics.keypoints import COCO_OKS_SIGMAS, KeypointAPResult, keypoint_ap, oks_matrix
from inference.metrics.mot import ClearMotAccumulator, MOTResult, box_iou_matrix, mot_metrics
from inference.metrics.mots import MOTSAccumulator, MOTSResult, mask_iou_matrix, mots_metrics
from inference.metrics.video_ap import (
    TrackMatch,
    VideoAPResult,
    temporal_boundary_ap,
    temporal_mask_ap,
    video_iou_matrix,
)

__all__ = [
    "COCO_OKS_SIGMAS",
    "DEFAULT_DILATION_RATIO",
    "METRIC_DESCRIPTIONS",
    "APResult",
    "ClearMotAccumulator",
    "KeypointAPResult",
    "MOTResult",
    "MOTSAccumulator",
    "MOTSResult",
    "TrackMatch",
    "VideoAPResult",
    "accumulate",
    "boundary_iou",
    "boundary_rle",
    "box_iou_matrix",
    "dilation_pixels",
    "evaluate",
    "keypoint_ap",
    "mask_iou_matrix",
    "mask_to_boundary",
    "match_image",
    "mot_metrics",
    "mots_metrics",
    "oks_matrix",
    "temporal_boundary_ap",
    "temporal_mask_ap",
    "video_iou_matrix",
]  # fmt: skip
