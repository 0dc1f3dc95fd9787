"""Global camera motion between consecutive frames, and scene-cut detection.

Camera motion: corners (``cv2.goodFeaturesToTrack``) of the previous frame, away from the
people in it, are followed into the current frame with pyramidal Lucas-Kanade flow
(``cv2.calcOpticalFlowPyrLK``) on downscaled grey images; a partial affine (rotation, uniform
scale, translation) is fitted with RANSAC (``cv2.estimateAffinePartial2D``).  The result maps
*previous-frame* pixel coordinates to *current-frame* pixel coordinates at full resolution.

Scene cuts: the Bhattacharyya distance between consecutive frames' HSV histograms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from inference.errors import InputError

from .config import TrackerConfig

log = logging.getLogger(__name__)

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
_HIST_SIZE = (16, 8, 8)
_HIST_RANGES = (0, 180, 0, 256, 0, 256)


@dataclass(frozen=True)
class FrameMotion:
    """What happened between the previous frame and this one.

    Attributes:
        affine: ``(2, 3)`` float64, previous-frame pixels -> current-frame pixels (identity when
            unknown: first frame, a cut, too few inliers).
        reliable: ``affine`` comes from enough RANSAC inliers.
        scene_cut: this frame starts a new shot (histogram distance above the threshold, or a
            change of resolution).
        cut_distance: histogram distance to the previous frame in [0, 1] (0 on the first frame).
        inliers: RANSAC inliers behind ``affine``.
    """

    affine: np.ndarray
    reliable: bool
    scene_cut: bool
    cut_distance: float
    inliers: int


def frame_histogram(image: np.ndarray, max_width: int = 160) -> np.ndarray:
    """Normalised HSV histogram of a ``(H, W, 3)`` uint8 RGB frame (subsampled first)."""
    step = max(1, int(np.ceil(image.shape[1] / max_width)))
    hsv = cv2.cvtColor(np.ascontiguousarray(image[::step, ::step]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_HIST_SIZE), list(_HIST_RANGES))
    return cv2.normalize(hist, hist, alpha=1.0, norm_type=cv2.NORM_L1).flatten()


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance in [0, 1] between two :func:`frame_histogram` results."""
    return float(np.clip(cv2.compareHist(a.astype(np.float32), b.astype(np.float32),
                                         cv2.HISTCMP_BHATTACHARYYA), 0.0, 1.0))


def _downscale(image: np.ndarray, max_width: int) -> tuple[np.ndarray, float]:
    """``image`` shrunk by an integer factor so its width is at most ``max_width``.

    Returns the image and the scale factor (``1 / k``); integer factors keep area averaging
    cheap and the mapping between the two pixel grids exact.
    """
    h, w = image.shape[:2]
    k = int(np.ceil(w / max_width))
    if k <= 1:
        return np.ascontiguousarray(image), 1.0
    size = (w // k, max(h // k, 1))
    small = cv2.resize(np.ascontiguousarray(image[:size[1] * k, :size[0] * k]), size,
                       interpolation=cv2.INTER_AREA)
    return small, 1.0 / k


class CameraMotionEstimator:
    """Stateful per-clip estimator; feed it every frame in order.

    Args:
        config: uses the ``cmc_*``, ``detect_scene_cuts`` and ``scene_cut_threshold`` fields.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()):  # noqa: B008 (frozen)
        self.config = config
        self._prev_grey: np.ndarray | None = None
        self._prev_mask: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._prev_shape: tuple[int, ...] | None = None

    def reset(self) -> None:
        """Forget the previous frame (the next frame is treated as the first)."""
        self._prev_grey = self._prev_mask = self._prev_hist = None
        self._prev_shape = None

    def update(self, image: np.ndarray, exclude_boxes: np.ndarray | None = None,
               *, estimate_motion: bool = True) -> FrameMotion:
        """Motion from the previous frame to ``image``.

        Args:
            image: ``(H, W, 3)`` uint8 RGB frame.
            exclude_boxes: ``(N, 4)`` xywh boxes (people) in ``image``; excluded from the
                corners used when this frame becomes the previous one.
            estimate_motion: ``False`` skips the optical flow (scene cuts are still detected).
        """
        cfg = self.config
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"expected an (H, W, 3) RGB image, got shape {image.shape}",
                             hint="pass decoded RGB frames")
        resized = self._prev_shape is not None and self._prev_shape != image.shape
        if resized:  # another resolution: another source, and no flow to compare
            self._prev_grey = self._prev_mask = None
        small, factor = _downscale(image, cfg.cmc_max_width)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)

        cut, cut_distance = False, 0.0
        hist = frame_histogram(small) if cfg.detect_scene_cuts else None
        if hist is not None and self._prev_hist is not None:
            cut_distance = histogram_distance(self._prev_hist, hist)
            cut = cut_distance > cfg.scene_cut_threshold or resized

        affine, reliable, inliers = IDENTITY.copy(), False, 0
        if estimate_motion and not cut and self._prev_grey is not None:
            affine, reliable, inliers = self._estimate(grey, factor)

        self._prev_grey = grey
        self._prev_hist = hist
        self._prev_shape = image.shape
        self._prev_mask = self._feature_mask(grey.shape, exclude_boxes, factor)
        if cut:
            log.debug("scene cut (histogram distance %.3f)", cut_distance)
        return FrameMotion(affine, reliable, cut, cut_distance, inliers)

    def _feature_mask(self, shape: tuple[int, int], boxes: np.ndarray | None,
                      factor: float) -> np.ndarray:
        mask = np.full(shape, 255, dtype=np.uint8)
        if boxes is None:
            return mask
        m = self.config.cmc_box_margin
        for x, y, w, h in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
            x0 = int(np.floor((x - m * w) * factor))
            y0 = int(np.floor((y - m * h) * factor))
            x1 = int(np.ceil((x + w + m * w) * factor))
            y1 = int(np.ceil((y + h + m * h) * factor))
            mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0
        return mask

    def _estimate(self, grey: np.ndarray, factor: float) -> tuple[np.ndarray, bool, int]:
        cfg = self.config
        prev = self._prev_grey
        assert prev is not None
        pts = cv2.goodFeaturesToTrack(prev, maxCorners=cfg.cmc_max_corners, qualityLevel=0.01,
                                      minDistance=max(3, grey.shape[1] // 80), blockSize=3,
                                      mask=self._prev_mask)
        if pts is None or len(pts) < cfg.cmc_min_inliers:
            return IDENTITY.copy(), False, 0
        nxt, status, _err = cv2.calcOpticalFlowPyrLK(prev, grey, pts, None, winSize=(15, 15),
                                                     maxLevel=3)
        ok = status.reshape(-1).astype(bool)
        if ok.sum() < cfg.cmc_min_inliers:
            return IDENTITY.copy(), False, 0
        src, dst = pts.reshape(-1, 2)[ok], nxt.reshape(-1, 2)[ok]
        a, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                             ransacReprojThreshold=cfg.cmc_ransac_threshold)
        n_in = int(inl.sum()) if inl is not None else 0
        if a is None or n_in < cfg.cmc_min_inliers:
            return IDENTITY.copy(), False, n_in
        a = a.astype(np.float64)
        a[:, 2] /= factor  # translation back to full-resolution pixels (A is scale-invariant)
        return a, True, n_in
