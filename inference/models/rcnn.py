"""The torchvision R-CNN backend: Keypoint R-CNN poses + Mask R-CNN v2 person masks.

Per frame, ``keypointrcnn_resnet50_fpn`` finds people (boxes + 17 COCO joints) and
``maskrcnn_resnet50_fpn_v2`` their masks, in one of two ways (``RCNNSettings.mask_boxes``):

* ``"own"``: Mask R-CNN finds person masks with its own region proposals and box head; each
  pose is paired with at most one mask by Hungarian assignment on box IoU and the share of the
  pose's visible joints that fall inside the mask.  Masks nobody's pose took are kept as
  mask-only persons unless they duplicate a pose.
* ``"pose"``: Mask R-CNN's mask head runs on the Keypoint R-CNN's person boxes (its backbone
  features, its RoIAlign, its person-class mask), as Mask R-CNN itself does on its own final
  boxes at inference.  Every pose gets the mask of its own box, and Mask R-CNN's region proposal
  network and box head (at 512 px with 1000 proposals more than half of its compute: the v2 box
  head costs ~0.23 GFLOP per proposal) are skipped.  Persons only Mask R-CNN would have found
  are not reported.

With ``parallel=True`` the two networks run at the same time, the CPU threads split between
them (on two cores, one each): the serial parts of one (proposal selection, NMS, pasting) then
overlap the other's convolutions, and no thread waits at the barriers of a shared OpenMP team
when another process takes a core.

The networks are built with ``weights=None, weights_backbone=None`` (torchvision never
downloads anything) and their state dicts come from humanfx's own weights files
(:mod:`inference.models.weights`).  Frames are given at the *processing* resolution chosen by
the caller; the models' internal resize is set to keep that size, and masks are pasted only for
the persons kept, at that resolution (full-resolution masks are the caller's business, as RLE).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import numpy as np
import torch
import torchvision
from torchvision.models.detection import KeypointRCNN, MaskRCNN
from torchvision.models.detection.roi_heads import maskrcnn_inference
from torchvision.models.detection.transform import resize_boxes

from inference.errors import HumanfxError, InputError
from inference.models.rcnn_pairing import box_iou_xyxy, joints_inside, pair_poses_with_masks
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
#: Region proposals per frame when neither the settings nor a device default say
#: (torchvision's ``rpn_post_nms_top_n_test``).
TORCHVISION_PROPOSALS = 1000
#: Where Mask R-CNN's masks come from (see the module docstring); the first is the default when
#: neither the settings nor a device default say.
MASK_BOXES = ("own", "pose")

_T = TypeVar("_T")
_U = TypeVar("_U")


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
            faster on CPU (Mask R-CNN v2's box head costs ~0.23 GFLOP per proposal) and may miss
            people in crowds.  ``None``: the device's default (``DeviceDefaults.rcnn_proposals``
            in :mod:`inference.analysis.device`), else :data:`TORCHVISION_PROPOSALS`.
        mask_boxes: ``"own"`` (Mask R-CNN's own detections, paired with the poses) or
            ``"pose"`` (Mask R-CNN's mask head on the poses' boxes); see the module docstring.
            ``None``: the device's default (``DeviceDefaults.rcnn_mask_boxes``), else ``"own"``.
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
    proposals: int | None = None
    mask_boxes: str | None = None
    pair_min_iou: float = 0.3
    duplicate_iou: float = 0.5
    keypoint_visible_logit: float = 2.0
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("min_score", "pair_min_iou", "duplicate_iou", "mask_threshold"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"RCNNSettings.{name} = {v!r} must be in [0, 1]")
        if self.max_persons < 1 or (self.proposals is not None and self.proposals < 1):
            raise InputError("RCNNSettings.max_persons and proposals must be >= 1")
        if self.mask_boxes is not None and self.mask_boxes not in MASK_BOXES:
            raise InputError(f"RCNNSettings.mask_boxes = {self.mask_boxes!r} is not one of "
                             f"{', '.join(MASK_BOXES)}")

    def resolve(self, *, proposals: int | None = None, mask_boxes: str | None = None
                ) -> RCNNSettings:
        """These settings with their ``None`` fields filled: by the arguments (a device's
        defaults) where given, else by :data:`TORCHVISION_PROPOSALS` and ``"own"``."""
        return replace(self,
                       proposals=self.proposals or proposals or TORCHVISION_PROPOSALS,
                       mask_boxes=self.mask_boxes or mask_boxes or MASK_BOXES[0])

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the torchvision models for these settings."""
        proposals = self.resolve().proposals
        assert proposals is not None
        return {"box_score_thresh": self.min_score, "box_detections_per_img": self.max_persons,
                "rpn_post_nms_top_n_test": proposals,
                "rpn_pre_nms_top_n_test": max(proposals, 1000)}


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


# -- the detector ------------------------------------------------------------------------------

def check_frames(images: Sequence[np.ndarray]) -> None:
    """Raise :class:`InputError` unless every image is ``(H, W, 3)`` uint8 RGB."""
    for im in images:
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise InputError(f"the R-CNN needs (H, W, 3) uint8 RGB frames, got {im.shape} "
                             f"{im.dtype}")


def _autocast(device: torch.device):
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _placed(model: torch.nn.Module, device: torch.device, channels_last: bool | None
            ) -> torch.nn.Module:
    """``model`` on ``device`` in eval mode, channels-last when asked (``None``: on the CPU)."""
    model = model.to(device).eval()
    if device.type == "cpu" if channels_last is None else channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


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
            ``settings.model_kwargs()``.  ``None`` fields take :meth:`RCNNSettings.resolve`'s
            fallbacks (a device's defaults are the caller's to fill in).
        device: where the models run.
        identity: what distinguishes this detector's results (weights names, settings), used
            by the analysis cache.
        parallel: run the two networks at the same time, the CPU threads split between them
            (see the module docstring); results are those of a sequential run.
        channels_last: keep the networks' weights and activations channels-last (NHWC), where
            oneDNN's CPU convolutions run ~10% faster; results equal up to float rounding.
            ``None``: on the CPU only.
    """

    name = "rcnn"

    def __init__(self, keypoint_model: KeypointRCNN, mask_model: MaskRCNN, *,
                 settings: RCNNSettings = RCNNSettings(),
                 device: str | torch.device = "cpu", identity: dict[str, Any] | None = None,
                 parallel: bool = False, channels_last: bool | None = None):
        self.device = torch.device(device)
        self.keypoint_model = _placed(keypoint_model, self.device, channels_last)
        self.mask_model = _placed(mask_model, self.device, channels_last)
        self.settings = settings = settings.resolve()
        self.parallel = parallel
        self._worker: ThreadPoolExecutor | None = None
        self.identity = {"detector": self.name, "settings": asdict(settings), **(identity or {})}

    @classmethod
    def from_weights(cls, keypoint_weights: Any = "DEFAULT", mask_weights: Any = "DEFAULT", *,
                     settings: RCNNSettings = RCNNSettings(),
                     device: str | torch.device = "cpu", progress: bool = True,
                     parallel: bool = False, **model_kwargs: Any) -> RCNNDetector:
        """Build both networks and load their weights (downloading missing files)."""
        kw = {**settings.model_kwargs(), **model_kwargs}
        kp_w = _resolve(KeypointRCNN_ResNet50_FPN_Weights, keypoint_weights)
        mk_w = _resolve(MaskRCNN_ResNet50_FPN_V2_Weights, mask_weights)
        kp = keypointrcnn_resnet50_fpn(weights=kp_w, progress=progress, **kw)
        mk = maskrcnn_resnet50_fpn_v2(weights=mk_w, progress=progress, **kw)
        return cls(kp, mk, settings=settings, device=device, parallel=parallel,
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
    def _features(model: torch.nn.Module, images: list[torch.Tensor]) -> tuple[Any, Any, list]:
        """``(image_list, features, sizes)``: the model's transform (which keeps the frames'
        size) and backbone; ``sizes`` are the frames' ``(h, w)``."""
        sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        transform = model.transform
        h, w = sizes[0]
        transform.min_size, transform.max_size = (min(h, w),), max(h, w)  # keep the size
        batch, _ = transform(images)
        return batch, model.backbone(batch.tensors), sizes

    @staticmethod
    def _run(model: torch.nn.Module, images: list[torch.Tensor], keep_masks: bool
             ) -> list[dict[str, torch.Tensor]]:
        """The model's forward, with persons selected *before* masks are pasted."""
        return RCNNDetector._heads(model, *RCNNDetector._features(model, images), keep_masks)

    @staticmethod
    def _heads(model: torch.nn.Module, batch: Any, features: Any, sizes: list[tuple[int, int]],
               keep_masks: bool) -> list[dict[str, torch.Tensor]]:
        """The rest of :meth:`_run` after :meth:`_features`: proposals, heads, persons."""
        proposals, _ = model.rpn(batch, features)
        found, _ = model.roi_heads(features, proposals, batch.image_sizes)
        persons = []
        for d in found:
            keep = d["labels"] == PERSON_LABEL
            sel = {k: (v[keep].float() if v.is_floating_point() else v[keep])
                   for k, v in d.items() if keep_masks or k != "masks"}
            persons.append(sel)
        return _soft_uint8(model.transform.postprocess(persons, batch.image_sizes, sizes))

    def _pose_box_masks(self, batch: Any, features: Any, sizes: list[tuple[int, int]],
                        poses: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """Mask R-CNN's person masks for the poses' boxes (``mask_boxes="pose"``), from its
        ``(batch, features, sizes)`` (:meth:`_features`): ``{"boxes", "masks"}`` per frame,
        masks ``(N, h, w)`` uint8 in the order of the poses."""
        heads = self.mask_model.roi_heads
        boxes = [resize_boxes(p["boxes"].float(), size, tuple(im_size))
                 for p, size, im_size in zip(poses, sizes, batch.image_sizes, strict=True)]
        if sum(len(b) for b in boxes) == 0:
            return [{"boxes": b, "masks": torch.zeros((0, h, w), dtype=torch.uint8,
                                                      device=b.device)}
                    for b, (h, w) in zip(boxes, sizes, strict=True)]
        x = heads.mask_roi_pool(features, boxes, batch.image_sizes)
        logits = heads.mask_predictor(heads.mask_head(x))
        labels = [torch.full((len(b),), PERSON_LABEL, dtype=torch.int64, device=b.device)
                  for b in boxes]
        probs = maskrcnn_inference(logits.float(), labels)
        found = [{"boxes": b, "masks": m} for b, m in zip(boxes, probs, strict=True)]
        return _soft_uint8(self.mask_model.transform.postprocess(found, batch.image_sizes,
                                                                 sizes))

    def _concurrently(self, side: Callable[[], _T], main: Callable[[], _U]) -> tuple[_T, _U]:
        """``side()`` and ``main()``: at the same time (``side`` in the detector's worker
        thread, the CPU threads split between them) when ``parallel``, else one after the
        other.  Grad mode and autocast are per thread, so the worker sets its own."""
        threads = torch.get_num_threads()
        if not self.parallel or threads < 2:
            return side(), main()
        mine = threads // 2

        def work() -> _T:
            torch.set_num_threads(threads - mine)
            with torch.inference_mode(), _autocast(self.device):
                return side()

        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="humanfx-rcnn")
            weakref.finalize(self, self._worker.shutdown, wait=False)
        pending = self._worker.submit(work)
        torch.set_num_threads(mine)
        try:
            here = main()
        finally:
            torch.set_num_threads(threads)
            wait_futures([pending])  # never leave the worker busy with this batch
        return pending.result(), here

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[PersonDetection]]:
        """People of each ``(h, w, 3)`` uint8 RGB frame (processing resolution, one size)."""
        if not images:
            return []
        check_frames(images)
        with torch.inference_mode(), _autocast(self.device):
            x = self._to_device(images)
            if self.settings.mask_boxes == "pose":
                # The two backbones (about equal work) at once, then the keypoint heads and
                # the mask head on their boxes with every thread.
                mask_in, pose_in = self._concurrently(
                    lambda: self._features(self.mask_model, x),
                    lambda: self._features(self.keypoint_model, x))
                poses = self._heads(self.keypoint_model, *pose_in, keep_masks=False)
                masks = self._pose_box_masks(*mask_in, poses)
            else:
                masks, poses = self._concurrently(
                    lambda: self._run(self.mask_model, x, keep_masks=True),
                    lambda: self._run(self.keypoint_model, x, keep_masks=False))
        # One device-to-host copy per kind of tensor for the whole batch.
        pose_np = _to_numpy(poses, ("boxes", "scores", "keypoints", "keypoints_scores"))
        if self.settings.mask_boxes == "pose":
            mask_np = _to_numpy(masks, ("masks",))
            return [self._combine_pose_boxes(p, m["masks"], im.shape[:2])
                    for p, m, im in zip(pose_np, mask_np, images, strict=True)]
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

    def _combine_pose_boxes(self, poses: dict[str, np.ndarray], masks: np.ndarray,
                            hw: tuple[int, int]) -> list[PersonDetection]:
        """Persons of ``mask_boxes="pose"``: each pose with the ``(N, h, w)`` uint8 mask of
        its box."""
        h, w = hw
        kps = self._keypoints(poses, hw)
        soft = masks.reshape(-1, h, w)
        if self.settings.mask_threshold != 0.5:
            soft = _rescale_soft(soft, self.settings.mask_threshold)
        boxes = _xywh(poses["boxes"])
        out = [PersonDetection(boxes[i], poses["scores"][i], kps[i], soft[i])
               for i in range(len(boxes))]
        return [d for d in out if d.bbox[2] >= 1.0 and d.bbox[3] >= 1.0
                and np.all(np.isfinite(d.bbox))]


def _rescale_soft(soft: np.ndarray, threshold: float) -> np.ndarray:
    """Map probabilities so that ``threshold`` lands on 128 (piecewise linear)."""
    p = soft.astype(np.float32) / 255.0
    t = float(np.clip(threshold, 1e-3, 1 - 1e-3))
    q = np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))
    return np.round(q * 255.0).astype(np.uint8)


def _soft_uint8(results: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Pasted ``(N, 1, h, w)`` mask probabilities -> ``(N, h, w)`` uint8 soft masks (4x less
    to copy), in place."""
    for d in results:
        if "masks" in d:
            d["masks"] = (d["masks"][:, 0] * 255.0).round_().to(torch.uint8)
    return results


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


__all__ = ["MASK_BOXES", "PERSON_LABEL", "TORCHVISION_PROPOSALS", "PersonDetection",
           "RCNNDetector", "RCNNSettings", "box_iou_xyxy", "joints_inside",
           "keypointrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2", "pair_poses_with_masks"]
