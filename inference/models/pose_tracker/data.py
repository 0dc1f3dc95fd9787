"""Training samples of the Global Pose Tracker: pairs of frames, augmented CenterTrack's way.

A :class:`FramePair` holds a previous and a current frame with their people in **frame**
pixels.  :func:`make_sample` turns one into network inputs and targets at the input size:

* both frames are letterboxed, then the current one gets a random scale / shift / flip
  (CenterNet's crop augmentation) and the previous one the same plus a small independent
  disturbance (CenterTrack's ``shift``/``scale`` of the previous frame);
* the previous centre heatmap ``C_{t-1}`` is drawn from the previous people with CenterTrack's
  noise: centres jittered (``hm_disturb``), people dropped (``lost_disturb``) and false
  positives added near people (``fp_disturb``);
* the tracking target of each current person is its previous centre (un-jittered).

Sources: :class:`SyntheticPairSource` samples pairs from :mod:`inference.synth` scenes with a
random frame gap (CenterTrack samples the "previous" frame within ``max_frame_gap`` frames, in
either direction); :class:`ListPairSource` samples from fixed pairs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from .letterbox import Letterbox, affine_for_cv2, apply_affine, compose
from .targets import PersonAnn, TargetConfig, build_targets, clipped_box, render_center_heatmap

#: COCO left/right joint pairs, swapped by a horizontal flip.
FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (CenterTrack's names where they exist).

    Attributes:
        scale: current frame scale factor drawn from ``[1 - scale, 1 + scale]``.
        shift: current frame shift, fraction of the input size, drawn from ``[-shift, shift]``.
        flip: probability of a horizontal flip (both frames).
        pre_scale, pre_shift: extra Gaussian disturbance of the previous frame (std, clipped
            at 2 std) as fractions.
        hm_disturb: std of the ``C_{t-1}`` centre jitter, as a fraction of box size.
        lost_disturb: probability a previous person is left out of ``C_{t-1}``.
        fp_disturb: probability of a false-positive blob next to a previous person.
        max_frame_gap: the previous frame is up to this many frames away (either direction).
        color: strength of brightness/contrast/saturation jitter (0 disables).
    """

    scale: float = 0.3
    shift: float = 0.1
    flip: float = 0.5
    pre_scale: float = 0.05
    pre_shift: float = 0.05
    hm_disturb: float = 0.05
    lost_disturb: float = 0.4
    fp_disturb: float = 0.1
    max_frame_gap: int = 3
    color: float = 0.2


@dataclass
class FramePair:
    """Two frames of one clip (RGB uint8 ``(H, W, 3)``) with their people in frame pixels."""

    prev_image: np.ndarray
    prev_people: list[PersonAnn]
    image: np.ndarray
    people: list[PersonAnn]


class PairSource(Protocol):
    """Anything that can draw a random :class:`FramePair`."""

    def sample(self, rng: np.random.Generator) -> FramePair: ...


class ListPairSource:
    """Uniform sampling from a fixed list of pairs."""

    def __init__(self, pairs: Sequence[FramePair]):
        if not pairs:
            raise ValueError("ListPairSource needs at least one pair")
        self.pairs = list(pairs)

    def sample(self, rng: np.random.Generator) -> FramePair:
        return self.pairs[int(rng.integers(len(self.pairs)))]


@dataclass(frozen=True)
class SynthSourceConfig:
    """Synthetic scenes to train on (:class:`inference.synth.SynthConfig` fields).

    Attributes:
        scenes: number of distinct scenes (seeds ``seed, seed + 1, ...``).
        people: ``(min, max)`` people per scene.
        frames: frames per scene.
        width, height: frame size.
        fps: frame rate.
        cache_frames: rendered frames kept in memory.
    """

    scenes: int = 64
    people: tuple[int, int] = (1, 5)
    frames: int = 48
    width: int = 320
    height: int = 240
    fps: int = 24
    cache_frames: int = 512


def person_from_synth(p) -> PersonAnn:
    """A :class:`PersonAnn` from an ``inference.synth`` ``SynthPerson``."""
    return PersonAnn(
        int(p.track_id),
        tuple(float(v) for v in p.bbox),
        np.asarray(p.keypoints, dtype=np.float64).reshape(-1, 3),
    )


class SyntheticPairSource:
    """Pairs of nearby frames of synthetic scenes (rendered lazily, LRU-cached)."""

    def __init__(self, cfg: SynthSourceConfig, *, seed: int, max_frame_gap: int = 3):
        from inference.synth import SynthConfig, SyntheticScene  # only needed for training

        self.cfg, self.max_gap = cfg, max_frame_gap
        self._scenes = []
        rng = np.random.default_rng(seed)
        for i in range(cfg.scenes):
            n = int(rng.integers(cfg.people[0], cfg.people[1] + 1))
            sc = SynthConfig(
                people=n,
                frames=cfg.frames,
                width=cfg.width,
                height=cfg.height,
                fps=cfg.fps,
                seed=seed + i,
            )
            self._scenes.append(SyntheticScene(sc))
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, list[PersonAnn]]] = (
            OrderedDict()
        )

    def _frame(self, scene: int, index: int) -> tuple[np.ndarray, list[PersonAnn]]:
        key = (scene, index)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        image, people = self._scenes[scene].render(index)
        item = (image, [person_from_synth(p) for p in people])
        self._cache[key] = item
        while len(self._cache) > self.cfg.cache_frames:
            self._cache.popitem(last=False)
        return item

    def sample(self, rng: np.random.Generator) -> FramePair:
        s = int(rng.integers(len(self._scenes)))
        t = int(rng.integers(self.cfg.frames))
        gap = int(rng.integers(-self.max_gap, self.max_gap + 1))
        t_prev = min(max(t + gap, 0), self.cfg.frames - 1)
        prev_image, prev_people = self._frame(s, t_prev)
        image, people = self._frame(s, t)
        return FramePair(prev_image, prev_people, image, people)


def _random_affine(rng, size, scale, shift, flip) -> np.ndarray:
    """Scale about the input centre, shift, optional horizontal flip; ``(2, 3)`` float64."""
    w, h = size
    s = 1.0 + rng.uniform(-scale, scale) if scale > 0 else 1.0
    tx, ty = (rng.uniform(-shift, shift, 2) * np.array([w, h])) if shift > 0 else (0.0, 0.0)
    fx = -s if flip else s
    return np.array([[fx, 0.0, w / 2 - fx * w / 2 + tx], [0.0, s, h / 2 - s * h / 2 + ty]])


def _disturb(rng, size, scale, shift) -> np.ndarray:
    w, h = size
    s = 1.0 + float(np.clip(rng.normal() * scale, -2 * scale, 2 * scale))
    tx = float(np.clip(rng.normal() * shift, -2 * shift, 2 * shift)) * w
    ty = float(np.clip(rng.normal() * shift, -2 * shift, 2 * shift)) * h
    return np.array([[s, 0.0, w / 2 - s * w / 2 + tx], [0.0, s, h / 2 - s * h / 2 + ty]])


def _warp_people(people: Sequence[PersonAnn], m: np.ndarray, flipped: bool) -> list[PersonAnn]:
    out = []
    for p in people:
        x, y, w, h = p.bbox
        corners = apply_affine(m, np.array([[x, y], [x + w, y + h]]))
        (x1, y1), (x2, y2) = corners.min(0), corners.max(0)
        kps = np.asarray(p.keypoints, dtype=np.float64).reshape(-1, 3).copy()
        kps[:, :2] = apply_affine(m, kps[:, :2])
        if flipped:
            for a, b in FLIP_PAIRS:
                kps[[a, b]] = kps[[b, a]]
        out.append(PersonAnn(p.track_id, (x1, y1, x2 - x1, y2 - y1), kps))
    return out


def _color_jitter(rng, img: np.ndarray, strength: float) -> np.ndarray:
    if strength <= 0:
        return img
    f = img.astype(np.float32)
    gray = f.mean(axis=2, keepdims=True)
    sat = 1 + rng.uniform(-strength, strength)
    f = gray + (f - gray) * sat
    con = 1 + rng.uniform(-strength, strength)
    f = (f - f.mean()) * con + f.mean()
    f = f * (1 + rng.uniform(-strength, strength))
    return np.clip(f, 0, 255).astype(np.uint8)


def make_sample(
    pair: FramePair,
    input_size: tuple[int, int],
    rng: np.random.Generator,
    *,
    aug: AugmentConfig | None = None,
    targets: TargetConfig | None = None,
) -> dict[str, np.ndarray]:
    """Network inputs and targets of one pair.

    Returns the :func:`.targets.build_targets` dict plus ``image`` and ``pre_image``
    (``(3, H, W)`` float32 in [0, 1]) and ``pre_hm`` (``(1, H, W)`` float32), ``(W, H) =
    input_size``; ``aug`` and ``targets`` default to their dataclasses' defaults.
    """
    aug = aug or AugmentConfig()
    targets = targets or TargetConfig()
    iw, ih = input_size
    flipped = bool(rng.random() < aug.flip)
    fh, fw = pair.image.shape[:2]
    ph, pw = pair.prev_image.shape[:2]
    crop = _random_affine(rng, input_size, aug.scale, aug.shift, flipped)
    m_cur = compose(crop, Letterbox.fit((fw, fh), input_size).matrix())
    # The previous frame sees the same crop as the current one, slightly disturbed.
    disturb = _disturb(rng, input_size, aug.pre_scale, aug.pre_shift)
    m_prev = compose(disturb, compose(crop, Letterbox.fit((pw, ph), input_size).matrix()))

    def warp(img, m):  # colour first, so the padding stays black as at inference
        return cv2.warpAffine(
            _color_jitter(rng, img, aug.color),
            affine_for_cv2(m),
            (iw, ih),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )

    image, pre_image = warp(pair.image, m_cur), warp(pair.prev_image, m_prev)
    people = _warp_people(pair.people, m_cur, flipped)
    prev_people = _warp_people(pair.prev_people, m_prev, flipped)

    boxes, jittered, weights = [], [], []
    prev_centres: dict[int, np.ndarray] = {}
    for p in prev_people:
        box = clipped_box(p.bbox, iw, ih)
        if box is None:
            continue
        ct = (box[:2] + box[2:]) / 2
        bw, bh = box[2] - box[0], box[3] - box[1]
        prev_centres[p.track_id] = ct / targets.stride
        boxes.append(box)
        jittered.append(ct + rng.normal(size=2) * aug.hm_disturb * np.array([bw, bh]))
        weights.append(0.0 if rng.random() < aug.lost_disturb else 1.0)
        if rng.random() < aug.fp_disturb:
            boxes.append(box)
            jittered.append(ct + rng.normal(size=2) * 0.05 * np.array([bw, bh]))
            weights.append(weights[-1])
    pre_hm = render_center_heatmap(
        np.array(boxes).reshape(-1, 4),
        input_size,
        min_overlap=targets.min_overlap,
        centres=np.array(jittered).reshape(-1, 2),
        weights=np.array(weights),
    )
    sample = build_targets(people, input_size, prev_centres=prev_centres, cfg=targets)
    sample["image"] = image.transpose(2, 0, 1).astype(np.float32) / 255.0
    sample["pre_image"] = pre_image.transpose(2, 0, 1).astype(np.float32) / 255.0
    sample["pre_hm"] = pre_hm[None]
    return sample


def collate(samples: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack per-sample arrays along a new batch axis."""
    return {k: np.stack([s[k] for s in samples]) for k in samples[0]}
