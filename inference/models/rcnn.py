"""The torchvision R-CNN backend: Keypoint R-CNN poses + Mask R-CNN v2 person masks.

Per frame, ``keypointrcnn_resnet50_fpn`` finds people (boxes + 17 COCO joints) and
``maskrcnn_resnet50_fpn_v2`` finds person masks; each pose is paired with at most one mask by
Hungarian assignment on box IoU and the share of the pose's visible joints that fall inside the
mask.  Masks nobody's pose took are kept as mask-only persons unless they duplicate a pose.

The networks are built with ``weights=None, weights_backbone=None`` (torchvision never
downloads anything) and their state dicts come from humanfx's own weights files
(:mod:`inference.models.weights`).  Frames are given at the *processing* resolution chosen by
the caller; the models' internal resize is set to keep that size, and masks are pasted only for
the persons kept, at that resolution (full-resolution masks are the caller's business, as RLE).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torchvision
from scipy.optimize import linear_sum_assignment
from torchvision.models.detection import KeypointRCNN, MaskRCNN

from inference.errors import HumanfxError, InputError
from inference.models.weights import (
    KeypointRCNN_ResNet50_FPN_Weights,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    Weights,
    WeightsEnum,
    WeightsLike,
    cache_location,
    find_file,
    load_weights,
    weights_name,
)
from inference.tracks.model import NUM_KEYPOINTS, V_NONE, V_OCCLUDED, V_VISIBLE

log = logging.getLogger(__name__)

#: The person class of both networks.
PERSON_LABEL = 1


@dataclass
class PersonDetection:
    """One person found in one frame, at the processing resolution ``(h, w)``.

    The common output of humanfx's frame detectors (R-CNN, the seed's networks) and of keyframe
    propagation.

    Attributes:
        bbox: ``(4,)`` float64 ``x, y, w, h`` in processing pixels (``w, h > 0``).
        score: confidence in ``[0, 1]``.
        keypoints: ``(17, 3)`` float64 ``x, y, v`` (COCO order and flags) or ``None``.
        mask: ``(h, w)`` uint8 soft mask, ``0..255`` (``>= 128`` is the person), or ``None``.
    """

    bbox: np.ndarray
    score: float
    keypoints: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.bbox = np.asarray(self.bbox, dtype=np.float64).reshape(4)
        self.score = float(self.score)
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)


@dataclass(frozen=True)
class RCNNSettings:
    """Named settings of the R-CNN backend.

    Attributes:
        min_score: person detections of either network scoring below this are dropped (the
            tracker's own ``low_score``/``high_score`` then split the rest).
        max_persons: at most this many detections per frame and network (torchvision's
            ``box_detections_per_img``).
        proposals: region proposals kept per frame (``rpn_post_nms_top_n_test``); fewer is
            faster on CPU (Mask R-CNN v2's box head costs ~0.1 GFLOP per proposal) and may miss
            people in crowds.
        pair_min_iou: a pose and a mask may pair only when their boxes overlap at least this.
        duplicate_iou: an unpaired mask overlapping a pose's box at least this much is a
            duplicate of that person and dropped; below, it is kept as a mask-only person.
        keypoint_visible_logit: joints whose heatmap logit reaches this are ``V_VISIBLE``, the
            others ``V_OCCLUDED`` (their position is still a guess); joints outside the frame
            are ``V_NONE``.
        mask_threshold: mask probability that counts as the person (``0.5``).
    """

    min_score: float = 0.2
    max_persons: int = 50
    proposals: int = 1000
    pair_min_iou: float = 0.3
    duplicate_iou: float = 0.5
    keypoint_visible_logit: float = 2.0
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("min_score", "pair_min_iou", "duplicate_iou", "mask_threshold"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"RCNNSettings.{name} = {v!r} must be in [0, 1]")
        if self.max_persons < 1 or self.proposals < 1:
            raise InputError("RCNNSettings.max_persons and proposals must be >= 1")

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the torchvision models for these settings."""
        return {"box_score_thresh": self.min_score, "box_detections_per_img": self.max_persons,
                "rpn_post_nms_top_n_test": self.proposals,
                "rpn_pre_nms_top_n_test": max(self.proposals, 1000)}


# -- model builders (registered in inference.models.registry) --------------------------------

def _load_into(model: torch.nn.Module, w: WeightsLike, progress: bool) -> None:
    state = load_weights(w, progress=progress)
    path = find_file(w) or cache_location(w)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise HumanfxError(f"the weights do not fit {type(model).__name__} ({first})",
                           path=path, hint=f"use the file of {weights_name(w)}") from None


def _resolve(enum_cls: type[WeightsEnum], weights: Any) -> WeightsLike | None:
    if isinstance(weights, Weights):
        return weights
    return enum_cls.verify(weights)


def keypointrcnn_resnet50_fpn(*, weights: Any = None, progress: bool = True,
                              **kwargs: Any) -> KeypointRCNN:
    """torchvision's Keypoint R-CNN, built without any implicit download; ``weights`` (a
    :class:`KeypointRCNN_ResNet50_FPN_Weights` member, its name, ``"DEFAULT"``, or local
    :class:`Weights`) are loaded from humanfx's weights files, ``None`` leaves it random."""
    w = _resolve(KeypointRCNN_ResNet50_FPN_Weights, weights)
    kwargs.setdefault("num_classes", 2)
    kwargs.setdefault("num_keypoints", NUM_KEYPOINTS)
    model = torchvision.models.detection.keypointrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, **kwargs)
    if w is not None:
        _load_into(model, w, progress)
    return model.eval()


def maskrcnn_resnet50_fpn_v2(*, weights: Any = None, progress: bool = True,
                             **kwargs: Any) -> MaskRCNN:
    """torchvision's Mask R-CNN v2 (91 COCO classes), built without any implicit download;
    see :func:`keypointrcnn_resnet50_fpn` for ``weights``."""
    w = _resolve(MaskRCNN_ResNet50_FPN_V2_Weights, weights)
    kwargs.setdefault("num_classes", 91)
    model = torchvision.models.detection.maskrcnn_resnet50_fpn_v2(
        weights=None, weights_backbone=None, **kwargs)
    if w is not None:
        _load_into(model, w, progress)
    return model.eval()


# -- pairing ---------------------------------------------------------------------------------

def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, M)`` IoU of ``(N, 4)`` and ``(M, 4)`` ``x1, y1, x2, y2`` boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    iw, ih = np.moveaxis(np.clip(hi - lo, 0, None), -1, 0)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def joints_inside(keypoints: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(P, M)`` share of each pose's visible joints lying on each mask (0 without joints).

    ``keypoints`` ``(P, 17, 3)`` processing pixels; ``masks`` ``(M, h, w)`` uint8 soft masks.
    """
    p, m = len(keypoints), len(masks)
    out = np.zeros((p, m))
    if p == 0 or m == 0:
        return out
    h, w = masks.shape[1:]
    for i, kp in enumerate(keypoints):
        vis = kp[:, 2] >= V_VISIBLE
        if not vis.any():
            continue
        xs = np.clip(np.floor(kp[vis, 0]).astype(np.int64), 0, w - 1)
        ys = np.clip(np.floor(kp[vis, 1]).astype(np.int64), 0, h - 1)
        out[i] = (masks[:, ys, xs] >= 128).mean(axis=1)
    return out


def pair_poses_with_masks(pose_boxes: np.ndarray, pose_keypoints: np.ndarray,
                          mask_boxes: np.ndarray, masks: np.ndarray, *,
                          min_iou: float) -> list[tuple[int, int]]:
    """Hungarian pairing of poses with masks; returns ``(pose, mask)`` index pairs.

    Affinity = mean of box IoU and the share of the pose's visible joints inside the mask;
    pairs whose boxes overlap less than ``min_iou`` are forbidden.
    """
    if len(pose_boxes) == 0 or len(mask_boxes) == 0:
        return []
    iou = box_iou_xyxy(pose_boxes, mask_boxes)
    affinity = 0.5 * iou + 0.5 * joints_inside(pose_keypoints, masks)
    feasible = iou >= min_iou
    cost = np.where(feasible, -affinity, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if feasible[r, c]]


# -- the detector ------------------------------------------------------------------------------

def _autocast(device: torch.device):
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    out = boxes.astype(np.float64).copy()
    out[:, 2:] -= out[:, :2]
    return out


class RCNNDetector:
    """People (box, joints, soft mask) in frames, with torchvision's R-CNNs.

    Args:
        keypoint_model: a Keypoint R-CNN (eval mode).
        mask_model: a Mask R-CNN whose class :data:`PERSON_LABEL` is "person".
        settings: thresholds; the models should have been built with
            ``settings.model_kwargs()``.
        device: where the models run.
        identity: what distinguishes this detector's results (weights names, settings), used
            by the analysis cache.
    """

    name = "rcnn"

    def __init__(self, keypoint_model: KeypointRCNN, mask_model: MaskRCNN, *,
                 settings: RCNNSettings = RCNNSettings(),
                 device: str | torch.device = "cpu", identity: dict[str, Any] | None = None):
        self.device = torch.device(device)
        self.keypoint_model = keypoint_model.to(self.device).eval()
        self.mask_model = mask_model.to(self.device).eval()
        self.settings = settings
        self.identity = {"detector": self.name, "settings": asdict(settings), **(identity or {})}

    @classmethod
    def from_weights(cls, keypoint_weights: Any = "DEFAULT", mask_weights: Any = "DEFAULT", *,
                     settings: RCNNSettings = RCNNSettings(),
                     device: str | torch.device = "cpu", progress: bool = True,
                     **model_kwargs: Any) -> RCNNDetector:
        """Build both networks and load their weights (downloading missing files)."""
        kw = {**settings.model_kwargs(), **model_kwargs}
        kp_w = _resolve(KeypointRCNN_ResNet50_FPN_Weights, keypoint_weights)
        mk_w = _resolve(MaskRCNN_ResNet50_FPN_V2_Weights, mask_weights)
        kp = keypointrcnn_resnet50_fpn(weights=kp_w, progress=progress, **kw)
        mk = maskrcnn_resnet50_fpn_v2(weights=mk_w, progress=progress, **kw)
        return cls(kp, mk, settings=settings, device=device,
                   identity=cls.describe(kp_w, mk_w, model_kwargs))

    @staticmethod
    def describe(keypoint_weights: Any, mask_weights: Any,
                 model_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``identity`` entries :meth:`from_weights` records, without loading anything."""
        kp_w = _resolve(KeypointRCNN_ResNet50_FPN_Weights, keypoint_weights)
        mk_w = _resolve(MaskRCNN_ResNet50_FPN_V2_Weights, mask_weights)
        return {"keypoint_weights": None if kp_w is None else weights_name(kp_w),
                "mask_weights": None if mk_w is None else weights_name(mk_w),
                "model_kwargs": {k: v for k, v in (model_kwargs or {}).items()
                                 if isinstance(v, int | float | str | bool)}}

    # -- running ---------------------------------------------------------------------------
    def _to_device(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """One host-to-device copy of the uint8 batch (pinned on CUDA), then float on device."""
        shapes = {im.shape for im in images}
        if len(shapes) == 1:
            batch = torch.from_numpy(np.stack(images))
            if self.device.type == "cuda":
                batch = batch.pin_memory()
            batch = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
            return list(batch)
        return [torch.from_numpy(np.ascontiguousarray(im)).to(self.device).permute(2, 0, 1)
                .float().div_(255) for im in images]

    @staticmethod
    def _run(model: torch.nn.Module, images: list[torch.Tensor], keep_masks: bool
             ) -> list[dict[str, torch.Tensor]]:
        """The model's forward, with persons selected *before* masks are pasted."""
        sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        transform = model.transform
        h, w = sizes[0]
        transform.min_size, transform.max_size = (min(h, w),), max(h, w)  # keep the size
        batch, _ = transform(images)
        features = model.backbone(batch.tensors)
        proposals, _ = model.rpn(batch, features)
        found, _ = model.roi_heads(features, proposals, batch.image_sizes)
        persons = []
        for d in found:
            keep = d["labels"] == PERSON_LABEL
            sel = {k: (v[keep].float() if v.is_floating_point() else v[keep])
                   for k, v in d.items() if keep_masks or k != "masks"}
            persons.append(sel)
        out = transform.postprocess(persons, batch.image_sizes, sizes)
        for d in out:
            if "masks" in d:  # (N, 1, h, w) probabilities -> uint8 soft masks, 4x less to copy
                d["masks"] = (d["masks"][:, 0] * 255.0).round_().to(torch.uint8)
        return out

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[PersonDetection]]:
        """People of each ``(h, w, 3)`` uint8 RGB frame (processing resolution, one size)."""
        if not images:
            return []
        for im in images:
            if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
                raise InputError(f"the R-CNN needs (H, W, 3) uint8 RGB frames, got {im.shape} "
                                 f"{im.dtype}")
        with torch.inference_mode(), _autocast(self.device):
            x = self._to_device(images)
            poses = self._run(self.keypoint_model, x, keep_masks=False)
            masks = self._run(self.mask_model, x, keep_masks=True)
        # One device-to-host copy per kind of tensor for the whole batch.
        pose_np = _to_numpy(poses, ("boxes", "scores", "keypoints", "keypoints_scores"))
        mask_np = _to_numpy(masks, ("boxes", "scores", "masks"))
        return [self._combine(p, m, im.shape[:2])
                for p, m, im in zip(pose_np, mask_np, images, strict=True)]

    def _keypoints(self, poses: dict[str, np.ndarray], hw: tuple[int, int]) -> np.ndarray:
        """``(N, 17, 3)`` COCO joints of the Keypoint R-CNN's people (frame pixels; joints
        scored below ``keypoint_visible_logit`` are occluded, those outside the frame absent)."""
        h, w = hw
        kps = np.zeros((len(poses["boxes"]), NUM_KEYPOINTS, 3))
        if len(kps):
            kps[:, :, :2] = poses["keypoints"][:, :, :2]
            visible = poses["keypoints_scores"] >= self.settings.keypoint_visible_logit
            kps[:, :, 2] = np.where(visible, V_VISIBLE, V_OCCLUDED)
            outside = ((kps[:, :, 0] < 0) | (kps[:, :, 0] >= w) | (kps[:, :, 1] < 0)
                       | (kps[:, :, 1] >= h))
            kps[outside] = (0.0, 0.0, V_NONE)
        return kps

    def _combine(self, poses: dict[str, np.ndarray], masks: dict[str, np.ndarray],
                 hw: tuple[int, int]) -> list[PersonDetection]:
        s = self.settings
        h, w = hw
        kps = self._keypoints(poses, hw)
        soft = masks["masks"].reshape(-1, h, w)
        if s.mask_threshold != 0.5:  # re-centre so that >= 128 means >= mask_threshold
            soft = _rescale_soft(soft, s.mask_threshold)
        pairs = dict(pair_poses_with_masks(poses["boxes"], kps, masks["boxes"], soft,
                                           min_iou=s.pair_min_iou))
        out: list[PersonDetection] = []
        boxes = _xywh(poses["boxes"])
        for i in range(len(boxes)):
            m = pairs.get(i)
            out.append(PersonDetection(boxes[i], poses["scores"][i], kps[i],
                                       None if m is None else soft[m]))
        taken = set(pairs.values())
        iou = box_iou_xyxy(masks["boxes"], poses["boxes"])
        mboxes = _xywh(masks["boxes"])
        for j in range(len(mboxes)):
            if j in taken or (iou.shape[1] and iou[j].max() >= s.duplicate_iou):
                continue
            out.append(PersonDetection(mboxes[j], masks["scores"][j], None, soft[j]))
        return [d for d in out if d.bbox[2] >= 1.0 and d.bbox[3] >= 1.0
                and np.all(np.isfinite(d.bbox))]


def _rescale_soft(soft: np.ndarray, threshold: float) -> np.ndarray:
    """Map probabilities so that ``threshold`` lands on 128 (piecewise linear)."""
    p = soft.astype(np.float32) / 255.0
    t = float(np.clip(threshold, 1e-3, 1 - 1e-3))
    q = np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))
    return np.round(q * 255.0).astype(np.uint8)


def _to_numpy(results: list[dict[str, torch.Tensor]], keys: tuple[str, ...]
              ) -> list[dict[str, np.ndarray]]:
    counts = [len(r["boxes"]) for r in results]
    out: list[dict[str, np.ndarray]] = [{} for _ in results]
    for k in keys:
        parts = [r[k] for r in results]
        flat = torch.cat(parts).cpu()
        flat_np = flat.numpy() if flat.dtype == torch.uint8 else flat.float().numpy()
        start = 0
        for i, n in enumerate(counts):
            out[i][k] = flat_np[start:start + n]
            start += n
    return out


__all__ = ["PERSON_LABEL", "PersonDetection", "RCNNDetector", "RCNNSettings", "box_iou_xyxy",
           "joints_inside", "keypointrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2",
           "pair_poses_with_masks"]
