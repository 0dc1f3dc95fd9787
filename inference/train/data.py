"""Training crops for the Local Segmenter from synthetic scenes or a COCO person dataset.

A *frame source* yields full frames with ground-truth persons (box, 17 joints, mask).  For each
sampled frame, a stand-in for the global tracker's output is made by jittering the ground-truth
boxes and joints (misses, sloppy and badly-placed boxes, noisy and dropped joints); the seed's
assignment rule (:func:`~inference.models.segmenter.assign.assign_regions`, eqs. 5-6) then picks
for every ground-truth person the predicted or the ground-truth box and joints, and the crop is
made with exactly the inference code (:func:`~inference.models.segmenter.inputs.person_input`).
The target is the ground-truth mask resampled with the same window.
"""

from __future__ import annotations

import json
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from inference.errors import InputError
from inference.models.segmenter.assign import TAU, assign_regions
from inference.models.segmenter.crops import crop_image
from inference.models.segmenter.inputs import person_input, skip_reason
from inference.models.segmenter.network import SegmenterConfig
from inference.synth import SynthConfig, SyntheticScene
from inference.tracks.masks import decode_mask, polygons_to_rle
from inference.tracks.model import NUM_KEYPOINTS, PERSON_CATEGORY_ID

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GtPerson:
    """One ground-truth person of a frame (frame coordinates).

    Attributes:
        bbox: ``(x, y, w, h)``.
        keypoints: ``(17, 3)`` ``(x, y, v)`` float64, or ``None`` when not annotated.
        mask: ``(H, W)`` bool or uint8 (non-zero = person).
    """

    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray | None
    mask: np.ndarray


Frame = tuple[np.ndarray, list[GtPerson]]


class FrameSource(Protocol):
    """Random access to ``(image (H, W, 3) uint8 RGB, [GtPerson])`` frames."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Frame: ...


class ListFrames:
    """Frames held in memory (hand-made test data)."""

    def __init__(self, frames: Sequence[Frame]) -> None:
        self.frames = list(frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Frame:
        return self.frames[index]


class SyntheticFrames:
    """The frames of ``SyntheticScene(config)``, rendered on demand; the last ``cache`` of them
    are kept in memory.  ``frames`` limits the count (default: all ``config.frames``)."""

    def __init__(self, config: SynthConfig, frames: int | None = None, *,
                 cache: int = 64) -> None:
        self.scene = SyntheticScene(config)
        total = len(self.scene)
        self.frames = total if frames is None else min(int(frames), total)
        if self.frames < 1:
            raise InputError(f"the synthetic clip has no frames to train on ({self.frames})",
                             hint="use a SynthConfig with frames >= 1")
        self._cache: OrderedDict[int, Frame] = OrderedDict()
        self._cache_size = max(0, int(cache))

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: int) -> Frame:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image, persons = self.scene.render(index)
        frame = (np.asarray(image, dtype=np.uint8),
                 [GtPerson(bbox=tuple(float(v) for v in p.bbox),  # type: ignore[arg-type]
                           keypoints=np.asarray(p.keypoints, dtype=np.float64).reshape(-1, 3),
                           mask=np.asarray(p.mask)) for p in persons])
        if self._cache_size:
            self._cache[index] = frame
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return frame


class ConcatFrames:
    """Several frame sources one after the other (e.g. synthetic clips of different seeds)."""

    def __init__(self, sources: Sequence[FrameSource]) -> None:
        self.sources = list(sources)
        self._starts = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} outside 0..{len(self) - 1}")
        k = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self.sources[k][index - int(self._starts[k])]


class CocoFrames:
    """COCO person annotations (keypoints + masks) and their image folder.

    Every non-crowd person annotation with a mask is a ground-truth person (its joints may be
    unlabelled); only images with at least one person are used.  The file must hold at least
    one person annotation with labelled keypoints.
    """

    def __init__(self, annotations: str | Path, images: str | Path) -> None:
        self.path = Path(annotations)
        self.images = Path(images)
        if not self.path.is_file():
            raise InputError("COCO annotation file not found", path=self.path)
        if not self.images.is_dir():
            raise InputError("COCO image folder not found", path=self.images)
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read COCO annotations ({exc})", path=self.path) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) \
                or not isinstance(doc.get("annotations"), list):
            raise InputError("not a COCO annotation file (no 'images'/'annotations' lists)",
                             path=self.path)
        person_ids = {c.get("id") for c in doc.get("categories", [])
                      if isinstance(c, dict) and c.get("name") == "person"} or {PERSON_CATEGORY_ID}
        self._images = {im["id"]: im for im in doc["images"] if isinstance(im, dict) and "id" in im}
        by_image: dict[Any, list[dict[str, Any]]] = {}
        with_kp = 0
        for ann in doc["annotations"]:
            if not isinstance(ann, dict) or ann.get("category_id") not in person_ids \
                    or ann.get("iscrowd", 0) or not ann.get("segmentation") \
                    or ann.get("image_id") not in self._images:
                continue
            by_image.setdefault(ann["image_id"], []).append(ann)
            kp = ann.get("keypoints")
            if kp and len(kp) == 3 * NUM_KEYPOINTS and any(v > 0 for v in kp[2::3]):
                with_kp += 1
        if with_kp == 0:
            raise InputError("no person annotations with keypoints", path=self.path,
                             hint="use COCO person_keypoints_*.json, which has joints and masks")
        self._ids = sorted(by_image, key=str)
        self._anns = by_image

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> Frame:
        info = self._images[self._ids[index]]
        path = self.images / str(info.get("file_name", ""))
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError("cannot read COCO image", path=path,
                             hint=f"check the image folder given with {self.path.name}")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        persons = []
        for ann in self._anns[self._ids[index]]:
            seg = ann["segmentation"]
            if isinstance(seg, list):
                mask = decode_mask(polygons_to_rle(seg, h, w))
            else:
                mask = decode_mask(seg)
            if mask.shape != (h, w):
                raise InputError(f"mask of annotation {ann.get('id')} is {mask.shape}, image is "
                                 f"{(h, w)}", path=self.path)
            kp = ann.get("keypoints")
            keypoints = (np.asarray(kp, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
                         if kp and len(kp) == 3 * NUM_KEYPOINTS else None)
            persons.append(GtPerson(bbox=tuple(float(v) for v in ann["bbox"]),  # type: ignore
                                    keypoints=keypoints, mask=mask))
        return image, persons


@dataclass(frozen=True)
class JitterSettings:
    """How the stand-in tracker predictions are drawn from the ground truth.

    Attributes:
        miss_rate: probability that a person has no prediction at all.
        bad_rate: probability that a prediction is badly placed (shifted by about one box size,
            so that usually ``O < tau`` and the ground-truth box is used).
        box_shift: std of the box-centre shift, as a fraction of the box width/height.
        box_scale: std of the log of the box size change.
        joint_noise: std of joint displacement, as a fraction of ``sqrt(w * h)``.
        joint_drop: probability that a labelled joint is missing from the prediction.
        tau: the assignment threshold (seed: 0.5).
        hflip: probability of mirroring a crop (the heatmap is joint-agnostic, so left/right
            labels need no swap).
    """

    miss_rate: float = 0.1
    bad_rate: float = 0.1
    box_shift: float = 0.08
    box_scale: float = 0.1
    joint_noise: float = 0.03
    joint_drop: float = 0.1
    tau: float = TAU
    hflip: float = 0.5

    def __post_init__(self) -> None:
        for name in ("miss_rate", "bad_rate", "joint_drop", "tau", "hflip"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"JitterSettings.{name} = {getattr(self, name)!r} must be in "
                                 "[0, 1]")
        for name in ("box_shift", "box_scale", "joint_noise"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0.0):
                raise InputError(f"JitterSettings.{name} = {getattr(self, name)!r} must be >= 0")


def jitter_predictions(persons: Sequence[GtPerson], rng: np.random.Generator,
                       jitter: JitterSettings
                       ) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Simulated tracker output for a frame: ``((N, 4) boxes, [joints (17, 3) | None])``."""
    boxes, joints = [], []
    for p in persons:
        if rng.random() < jitter.miss_rate:
            continue
        x, y, w, h = p.bbox
        shift = jitter.box_shift if rng.random() >= jitter.bad_rate else 1.0
        cx = x + w / 2 + rng.normal(0.0, shift) * w
        cy = y + h / 2 + rng.normal(0.0, shift) * h
        nw = w * math.exp(rng.normal(0.0, jitter.box_scale))
        nh = h * math.exp(rng.normal(0.0, jitter.box_scale))
        boxes.append((cx - nw / 2, cy - nh / 2, nw, nh))
        if p.keypoints is None:
            joints.append(None)
            continue
        kp = np.array(p.keypoints, dtype=np.float64, copy=True)
        scale = math.sqrt(max(w * h, 1.0)) * jitter.joint_noise
        kp[:, :2] += rng.normal(0.0, scale, size=(len(kp), 2)) + np.array([cx - x - w / 2,
                                                                            cy - y - h / 2])
        kp[rng.random(len(kp)) < jitter.joint_drop, 2] = 0
        kp[kp[:, 2] <= 0, :2] = 0
        joints.append(kp)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), joints


def frame_crops(image: np.ndarray, persons: Sequence[GtPerson], config: SegmenterConfig,
                rng: np.random.Generator, jitter: JitterSettings
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training pairs of one frame: ``[(input (C, S, S) float32, target (1, S, S) float32)]``."""
    usable = [p for p in persons if np.any(p.mask)]
    if not usable:
        return []
    pred_boxes, pred_joints = jitter_predictions(usable, rng, jitter)
    gt_boxes = np.asarray([p.bbox for p in usable], dtype=np.float64)
    regions = assign_regions(gt_boxes, pred_boxes, [p.keypoints for p in usable], pred_joints,
                             tau=jitter.tau)
    out = []
    for region in regions:
        if skip_reason(region.bbox, config) is not None:
            continue
        person = usable[region.gt_index]
        inp = person_input(image, region.bbox, region.keypoints, config)
        target = crop_image(person.mask.astype(np.float32), inp.window)[None]
        x = inp.tensor
        if rng.random() < jitter.hflip:
            x, target = x[:, :, ::-1], target[:, :, ::-1]
        out.append((np.ascontiguousarray(x), np.ascontiguousarray(np.clip(target, 0.0, 1.0))))
    return out


class CropSampler:
    """Draws batches of training crops from frames ``indices`` of a source."""

    def __init__(self, frames: FrameSource, indices: Sequence[int], config: SegmenterConfig,
                 jitter: JitterSettings) -> None:
        if len(indices) == 0:
            raise InputError("no frames to draw segmenter training crops from")
        self.frames = frames
        self.indices = list(indices)
        self.config = config
        self.jitter = jitter

    def sample(self, rng: np.random.Generator, batch_size: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """``(x (B, C, S, S) float32, y (B, 1, S, S) float32)``; frames drawn with ``rng``."""
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        empty = 0
        while len(xs) < batch_size:
            idx = self.indices[int(rng.integers(len(self.indices)))]
            image, persons = self.frames[idx]
            crops = frame_crops(image, persons, self.config, rng, self.jitter)
            if not crops:
                empty += 1
                if empty > 10 * batch_size + 50:
                    raise InputError("the training frames hold no usable persons (masks and "
                                     f"boxes of at least {self.config.min_box_size:g} px)")
                continue
            for k in rng.permutation(len(crops)):
                if len(xs) < batch_size:
                    xs.append(crops[k][0])
                    ys.append(crops[k][1])
        return np.stack(xs), np.stack(ys)

    def fixed_set(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A reproducible set of ``count`` crops (validation): same seed -> same crops.

        They are drawn like training crops (jittered predictions + assignment rule), so the
        validation IoU reflects tracker-quality boxes and joints, not perfect ones."""
        return self.sample(np.random.default_rng(seed), count)
