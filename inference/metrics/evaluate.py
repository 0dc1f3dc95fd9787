"""One call that scores a predicted :class:`TrackSet` against ground truth with every metric the
inputs support; the CLI's ``humanfx eval PRED GT`` prints its result as a table.
"""

from __future__ import annotations

import logging

from inference.errors import InputError
from inference.metrics.boundary import DEFAULT_DILATION_RATIO
from inference.metrics.keypoints import keypoint_ap
from inference.metrics.mot import mot_metrics
from inference.metrics.mots import mots_metrics
from inference.metrics.video_ap import temporal_boundary_ap, temporal_mask_ap
from inference.tracks.model import TrackSet

log = logging.getLogger(__name__)

#: Thresholds at which temporal AP is reported besides the 0.50:0.95 mean (the seed's tables
#: use 50, 75 and 85, 90, 95).
AP_THRESHOLDS_REPORTED: tuple[int, ...] = (50, 75, 85, 90, 95)

#: One line per key :func:`evaluate` can return, in display order.  Rates are fractions in [0, 1]
#: (MOTA and sMOTSA can be negative); counts are whole numbers stored as floats; NaN = undefined.
METRIC_DESCRIPTIONS: dict[str, str] = {
    "mask_ap": "Temporal Mask AP (TMIoU), IoU 0.50:0.95",
    **{f"mask_ap{t}": f"Temporal Mask AP at TMIoU 0.{t}" for t in AP_THRESHOLDS_REPORTED},
    "mask_ar": "Temporal Mask AR (max 100 tracks/video), IoU 0.50:0.95",
    "boundary_ap": "Temporal Boundary AP (TBIoU), IoU 0.50:0.95",
    **{f"boundary_ap{t}": f"Temporal Boundary AP at TBIoU 0.{t}" for t in AP_THRESHOLDS_REPORTED},
    "boundary_ar": "Temporal Boundary AR, IoU 0.50:0.95",
    "smotsa": "soft MOTS accuracy (mask IoU > 0.5)",
    "motsa": "MOTS accuracy",
    "motsp": "MOTS precision (mean mask IoU of true positives)",
    "keypoint_ap": "COCO keypoint AP, OKS 0.50:0.95 (per frame)",
    "keypoint_ap50": "COCO keypoint AP at OKS 0.50",
    "keypoint_ap75": "COCO keypoint AP at OKS 0.75",
    "keypoint_ar": "COCO keypoint AR (max 20/frame), OKS 0.50:0.95",
    "mota": "MOTA (boxes, IoU >= 0.5)",
    "motp": "MOTP: mean box IoU of matches",
    "idf1": "IDF1",
    "idp": "ID precision",
    "idr": "ID recall",
    "id_switches": "ID switches",
    "false_positives": "false positive boxes",
    "misses": "missed boxes",
    "fragmentations": "track fragmentations",
    "recall": "box recall",
    "precision": "box precision",
    "mostly_tracked": "ground-truth tracks mostly tracked (>= 80%)",
    "partially_tracked": "ground-truth tracks partially tracked",
    "mostly_lost": "ground-truth tracks mostly lost (< 20%)",
    "gt_boxes": "ground-truth boxes",
    "pred_boxes": "predicted boxes",
}


def _has_masks(ts: TrackSet) -> bool:
    return any(a.segmentation is not None for a in ts.annotations)


def _has_keypoints(ts: TrackSet) -> bool:
    return any(a.has_keypoints for a in ts.annotations)


def evaluate(
    pred: TrackSet, gt: TrackSet, *, dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> dict[str, float]:
    """Score ``pred`` against ``gt``.

    Box tracking metrics (MOTA, IDF1, …) are always computed; temporal mask/boundary AP and the
    MOTS metrics only when both sets carry masks; keypoint AP only when both carry keypoints.
    Keys and their meaning: :data:`METRIC_DESCRIPTIONS` (returned in that order).

    Args:
        dilation_ratio: boundary width for Temporal Boundary AP, as a fraction of the image
            diagonal (the seed paper uses 0.01).

    Raises:
        InputError: the two sets do not describe the same videos, or ``dilation_ratio`` is not
            in (0, 1).
    """
    if not 0 < dilation_ratio < 1:
        raise InputError(
            f"dilation ratio {dilation_ratio} is out of range",
            hint="pass a fraction of the image diagonal in (0, 1), e.g. 0.01",
        )
    out: dict[str, float] = {}
    if _has_masks(pred) and _has_masks(gt):
        for prefix, res in (
            ("mask", temporal_mask_ap(pred, gt)),
            ("boundary", temporal_boundary_ap(pred, gt, dilation_ratio=dilation_ratio)),
        ):
            out[f"{prefix}_ap"] = res.ap
            for t in AP_THRESHOLDS_REPORTED:
                out[f"{prefix}_ap{t}"] = res.ap_at(t / 100)
            out[f"{prefix}_ar"] = res.ar
        mots = mots_metrics(pred, gt)
        out.update(smotsa=mots.smotsa, motsa=mots.motsa, motsp=mots.motsp)
    else:
        log.info(
            "mask metrics skipped: %s has no masks",
            "prediction" if _has_masks(gt) else "ground truth",
        )
    if _has_keypoints(pred) and _has_keypoints(gt):
        kp = keypoint_ap(pred, gt)
        out.update(
            keypoint_ap=kp.ap, keypoint_ap50=kp.ap50, keypoint_ap75=kp.ap75, keypoint_ar=kp.ar
        )
    out.update(mot_metrics(pred, gt).as_dict())
    return {k: float(out[k]) for k in METRIC_DESCRIPTIONS if k in out}
