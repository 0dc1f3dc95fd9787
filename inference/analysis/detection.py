"""Frame detectors the analyzer can drive: the R-CNN backend and the seed's networks.

A detector has ``name`` (``"rcnn"``/``"seed"``), ``identity`` (a JSON-able dict of what
determines its results: weights, settings) and ``detect_batch(images) -> [[PersonDetection]]``
taking ``(h, w, 3)`` uint8 RGB frames at the processing resolution, in clip order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Protocol

import numpy as np
import torch

from inference.analysis import MODEL_CHOICES
from inference.errors import InputError
from inference.models.rcnn import PersonDetection, RCNNDetector, RCNNSettings


class FrameDetector(Protocol):
    """What :class:`~inference.analysis.analyzer.Analyzer` needs from a detector."""

    name: str
    identity: dict[str, Any]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[PersonDetection]]: ...


class SeedDetector:
    """The seed's pipeline: the Global Pose Tracker finds poses, the Local Segmenter their
    masks.  The pose tracker is stateful (it looks at the previous frame it was given), so
    frames must come in clip order; its own identities are not used (humanfx's
    :class:`~inference.tracking.PersonTracker` assigns them, as for the R-CNN)."""

    name = "seed"

    def __init__(self, pose_tracker: Any, segmenter: Any, *,
                 identity: dict[str, Any] | None = None):
        self.pose_tracker = pose_tracker
        self.segmenter = segmenter
        self.identity = {"detector": self.name, **(identity or {})}

    @classmethod
    def from_weights(cls, pose_weights: Any = "DEFAULT", segmenter_weights: Any = "DEFAULT", *,
                     device: str | torch.device = "cpu", progress: bool = True) -> SeedDetector:
        """Load both networks (``SeedPoseTracker_Weights`` / ``SeedSegmenter_Weights``); a
        missing file raises a HumanfxError saying where it is expected."""
        from inference.models.pose_tracker import GlobalPoseTracker, PoseTrackerConfig
        from inference.models.pose_tracker.checkpoint import load_pose_tracker
        from inference.models.segmenter import LocalSegmenter, load_network
        from inference.models.weights import (
            SeedPoseTracker_Weights,
            SeedSegmenter_Weights,
            Weights,
            weights_file,
        )

        pw = pose_weights if isinstance(pose_weights, Weights) else \
            SeedPoseTracker_Weights.verify(pose_weights)
        sw = segmenter_weights if isinstance(segmenter_weights, Weights) else \
            SeedSegmenter_Weights.verify(segmenter_weights)
        if pw is None or sw is None:
            raise InputError("the seed detector needs trained weights for both networks",
                             hint="pass weights, or analyze with --model rcnn")
        identity = cls.describe(pw, sw)
        pose_path = weights_file(pw, progress=progress)
        seg_path = weights_file(sw, progress=progress)
        model, info = load_pose_tracker(pose_path, device=device)
        tracker = GlobalPoseTracker(model, PoseTrackerConfig.for_checkpoint(info),
                                    device=device)
        net, _ = load_network(seg_path, device)
        segmenter = LocalSegmenter(net, device=device)
        return cls(tracker, segmenter, identity=identity)

    @staticmethod
    def describe(pose_weights: Any, segmenter_weights: Any) -> dict[str, Any]:
        """The ``identity`` entries :meth:`from_weights` records, without loading anything."""
        from inference.models.weights import (
            SeedPoseTracker_Weights,
            SeedSegmenter_Weights,
            Weights,
            weights_name,
        )

        pw = pose_weights if isinstance(pose_weights, Weights) else \
            SeedPoseTracker_Weights.verify(pose_weights)
        sw = segmenter_weights if isinstance(segmenter_weights, Weights) else \
            SeedSegmenter_Weights.verify(segmenter_weights)
        return {"pose_weights": None if pw is None else weights_name(pw),
                "segmenter_weights": None if sw is None else weights_name(sw)}

    def confidence(self, score: float) -> float:
        """The pose tracker's centre-heatmap peak on the person tracker's confidence scale.

        The pose tracker keeps only peaks at or above its ``track_thresh`` (calibrated with its
        weights and stored in their file): those are its confident detections, so they map
        linearly from ``[track_thresh, 1]`` onto ``[0.9, 1]``, where humanfx's person tracker
        (whose thresholds are set for R-CNN scores) starts and extends tracks.
        """
        t = float(getattr(getattr(self.pose_tracker, "config", None), "track_thresh", 0.0))
        if t >= 1.0:
            return float(score)
        return float(np.clip(0.9 + 0.1 * (score - t) / (1.0 - t), 0.0, 1.0))

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[PersonDetection]]:
        out = []
        for image, poses in zip(images, self.pose_tracker.step_batch(list(images)), strict=True):
            alphas = self.segmenter.predict(image, [(p.bbox, p.keypoints) for p in poses])
            dets = []
            for p, alpha in zip(poses, alphas, strict=True):
                box = np.asarray(p.bbox, dtype=np.float64)
                if not (np.all(np.isfinite(box)) and box[2] >= 1 and box[3] >= 1):
                    continue
                soft = np.round(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)
                dets.append(PersonDetection(box, self.confidence(p.score), p.keypoints, soft))
            out.append(dets)
        return out


def _check_slots(model: str, weights: dict[str, Any]) -> None:
    allowed = {"rcnn": {"keypoint", "mask", "segmenter"}, "seed": {"pose", "segmenter"}}
    if model not in allowed:
        raise InputError(f"unknown model {model!r}", hint=f"use {' or '.join(MODEL_CHOICES)}")
    unknown = set(weights) - allowed[model]
    if unknown:
        raise InputError(f"unknown {model} weights slot {min(unknown)!r}",
                         hint=f"use {' or '.join(sorted(allowed[model]))}")
    if model == "rcnn" and {"mask", "segmenter"} <= set(weights):
        raise InputError("the R-CNN takes 'mask' weights or 'segmenter' weights, not both",
                         hint="drop one: masks come from Mask R-CNN or the Local Segmenter")


def detector_identity(model: str, *, weights: dict[str, Any] | None = None,
                      rcnn_settings: RCNNSettings | None = None) -> dict[str, Any]:
    """The ``identity`` :func:`build_detector` would give its detector, without building it
    (so a finished analysis is found before any weights are loaded)."""
    weights = dict(weights or {})
    _check_slots(model, weights)
    settings = (rcnn_settings or RCNNSettings()).resolve()
    if model == "rcnn" and "segmenter" in weights:
        kp = RCNNDetector.describe(weights.get("keypoint", "DEFAULT"), None)
        return {"detector": "rcnn", "mask_stage": "segmenter",
                "settings": asdict(settings),
                **{k: v for k, v in kp.items() if k != "mask_weights"},
                "segmenter_weights": SeedDetector.describe(None, weights["segmenter"])[
                    "segmenter_weights"]}
    if model == "rcnn":
        return {"detector": "rcnn", "settings": asdict(settings),
                **RCNNDetector.describe(weights.get("keypoint", "DEFAULT"),
                                        weights.get("mask", "DEFAULT"))}
    return {"detector": "seed", **SeedDetector.describe(weights.get("pose", "DEFAULT"),
                                                        weights.get("segmenter", "DEFAULT"))}


def build_detector(model: str, *, device: torch.device, weights: dict[str, Any] | None = None,
                   rcnn_settings: RCNNSettings | None = None, progress: bool = True,
                   parallel: bool = False, **model_kwargs: Any) -> FrameDetector:
    """The detector for ``--model rcnn|seed``.

    ``weights`` overrides the default weights: ``{"keypoint": ..., "mask": ...}`` for the R-CNN,
    ``{"pose": ..., "segmenter": ...}`` for the seed (names, members or ``Weights.local``).
    ``rcnn_settings``' ``None`` fields take :meth:`RCNNSettings.resolve`'s fallbacks (fill them
    with the device's defaults first).  ``parallel`` runs the Keypoint and Mask R-CNN at the same
    time (:class:`~inference.models.rcnn.RCNNDetector`).
    """
    weights = dict(weights or {})
    _check_slots(model, weights)
    if model == "rcnn" and "segmenter" in weights:
        return _keypoint_segmenter(weights, rcnn_settings or RCNNSettings(), device, progress,
                                   model_kwargs)
    if model == "rcnn":
        return RCNNDetector.from_weights(weights.get("keypoint", "DEFAULT"),
                                         weights.get("mask", "DEFAULT"),
                                         settings=rcnn_settings or RCNNSettings(),
                                         device=device, progress=progress, parallel=parallel,
                                         **model_kwargs)
    return SeedDetector.from_weights(weights.get("pose", "DEFAULT"),
                                     weights.get("segmenter", "DEFAULT"),
                                     device=device, progress=progress)


def _keypoint_segmenter(weights: dict[str, Any], settings: RCNNSettings, device: torch.device,
                        progress: bool, model_kwargs: dict[str, Any]) -> FrameDetector:
    """Keypoint R-CNN + Local Segmenter (:mod:`inference.analysis.hybrid`)."""
    from inference.analysis.hybrid import KeypointSegmenterDetector
    from inference.models.rcnn import keypointrcnn_resnet50_fpn
    from inference.models.segmenter import LocalSegmenter, load_network
    from inference.models.weights import SeedSegmenter_Weights, Weights, weights_file

    kp_w = weights.get("keypoint", "DEFAULT")
    sw = weights["segmenter"]
    sw = sw if isinstance(sw, Weights) else SeedSegmenter_Weights.verify(sw)
    kp = keypointrcnn_resnet50_fpn(weights=kp_w, progress=progress,
                                   **{**settings.model_kwargs(), **model_kwargs})
    net, _ = load_network(weights_file(sw, progress=progress), device)
    identity = detector_identity("rcnn", weights=weights, rcnn_settings=settings)
    identity.pop("detector", None)
    identity.pop("mask_stage", None)
    identity.pop("settings", None)
    return KeypointSegmenterDetector(kp, LocalSegmenter(net, device=device), settings=settings,
                                     device=device, identity=identity)


__all__ = ["MODEL_CHOICES", "FrameDetector", "PersonDetection", "SeedDetector",
           "build_detector", "detector_identity"]
