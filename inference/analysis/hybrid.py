"""Keypoint R-CNN poses + the seed's Local Segmenter as the mask stage.

The seed's Global Pose Tracker is replaceable ("our method possesses good modularity"); this
detector puts torchvision's Keypoint R-CNN in its place and keeps the Local Segmenter for the
masks.  It replaces Mask R-CNN (about 330 GFLOP a frame at 800 px) by one Local Segmenter crop
per person, so it is also the lighter R-CNN path on a CPU.  ``--model rcnn`` uses it when a
``segmenter`` weights slot is given (``humanfx analyze --model rcnn --segmenter-weights
FILE``); segmenter weights trained on real people (``SeedSegmenter_Weights.COCO_V1``, see
docs/seed-networks.md) are what it is meant for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from inference.models.rcnn import (
    PersonDetection,
    RCNNDetector,
    RCNNSettings,
    _autocast,
    _placed,
    _to_numpy,
    check_frames,
)


class KeypointSegmenterDetector(RCNNDetector):
    """Boxes and joints from a Keypoint R-CNN, soft masks from a
    :class:`~inference.models.segmenter.LocalSegmenter` fed each person's box and joints.

    Args:
        keypoint_model: a Keypoint R-CNN (eval mode).
        segmenter: a ``LocalSegmenter``.
        settings: the R-CNN thresholds.
        device: where the Keypoint R-CNN runs (the segmenter keeps its own device).
        identity: what distinguishes this detector's results (recorded by the cache).
    """

    def __init__(self, keypoint_model: Any, segmenter: Any, *,
                 settings: RCNNSettings | None = None,
                 device: str | torch.device = "cpu", identity: dict[str, Any] | None = None):
        self.device = torch.device(device)
        self.keypoint_model = _placed(keypoint_model, self.device, None)
        self.mask_model = None
        self.segmenter = segmenter
        self.settings = settings = (settings or RCNNSettings()).resolve()
        self.parallel = False  # the segmenter needs the poses: nothing to overlap
        self._worker = None
        self.identity = {"detector": self.name, "mask_stage": "segmenter",
                         "settings": asdict(settings), **(identity or {})}

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[PersonDetection]]:
        """People of each ``(h, w, 3)`` uint8 RGB frame: R-CNN poses, segmenter masks."""
        if not images:
            return []
        check_frames(images)
        with torch.inference_mode(), _autocast(self.device):
            poses = self._run(self.keypoint_model, self._to_device(images), keep_masks=False)
        pose_np = _to_numpy(poses, ("boxes", "scores", "keypoints", "keypoints_scores"))
        out = []
        for p, image in zip(pose_np, images, strict=True):
            kps = self._keypoints(p, image.shape[:2])
            xyxy = p["boxes"]
            boxes = np.stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0],
                              xyxy[:, 3] - xyxy[:, 1]], axis=1) if len(xyxy) else \
                np.zeros((0, 4))
            keep = [i for i in range(len(boxes)) if np.all(np.isfinite(boxes[i]))
                    and boxes[i, 2] >= 1.0 and boxes[i, 3] >= 1.0]
            alphas = self.segmenter.predict(image, [(tuple(boxes[i]), kps[i]) for i in keep])
            out.append([PersonDetection(boxes[i], float(p["scores"][i]), kps[i],
                                        np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8))
                        for i, a in zip(keep, alphas, strict=True)])
        return out


__all__ = ["KeypointSegmenterDetector"]
