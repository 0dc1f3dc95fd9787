"""Every threshold of the person tracker, as one frozen, validated dataclass.

Units: scores are detector confidences in [0, 1]; IoU, OKS and appearance distances are unitless
in [0, 1]; frame counts are frames of the clip; pixel values are pixels of the full-resolution
frame unless a field says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from inference.errors import InputError


@dataclass(frozen=True)
class TrackerConfig:
    """Thresholds and weights of :class:`~inference.tracking.tracker.PersonTracker`.

    Defaults: the score thresholds, ``min_track_length`` and ``max_interpolation_gap`` were
    tuned on the two MOT15 sequences with ground truth (TUD-Campus, TUD-Stadtmitte) with SORT's
    Faster R-CNN detections (box-only); the Kalman noise follows ByteTrack/BoT-SORT; the
    scene-cut threshold sits between the in-shot and cross-shot histogram distances measured on
    the DAVIS and crowd clips; appearance thresholds between same-person and different-person
    descriptor distances measured on DAVIS.  See ``benchmarks/bench_tracker_mot.py``.  They
    are meant for people filmed at 25-30 fps; a detector with differently calibrated scores
    may want other ``high_score`` / ``new_track_score`` values.

    Detection scores (ByteTrack-style two-stage association):

    Attributes:
        high_score: detections scoring at least this take part in the first association stage
            and may start new tracks.
        low_score: detections scoring below this are ignored; detections in
            ``[low_score, high_score)`` can only extend tracks that were tracked in the
            previous frame (second stage), never start one.
        new_track_score: an unmatched detection needs at least this score to start a tentative
            track (``>= high_score``).

    Motion (Kalman filter on ``(cx, cy, w, h)`` + velocities, constant-velocity model):

    Attributes:
        kalman_position_noise: standard deviation of position/size noise, as a fraction of the
            box size (measurement noise and per-frame process noise).
        kalman_velocity_noise: standard deviation of the per-frame velocity process noise, as a
            fraction of the box size.

    Association cost = weighted mean of the available terms ``1 - IoU``, ``1 - OKS`` and the
    appearance distance, with gates that forbid impossible pairs:

    Attributes:
        iou_gate: first stage: minimum IoU between a track's predicted box and a detection
            (a pair below it is still allowed when the OKS passes ``oks_gate``).
        oks_gate: minimum object keypoint similarity that admits a pair whose IoU is below
            ``iou_gate`` (only when both sides have keypoints).
        oks_min_joints: joints that must be labelled on both sides for the OKS term to count.
        low_iou_gate: second stage (low-score detections): minimum IoU, no other term.
        tentative_iou_gate: minimum IoU to extend a tentative (unconfirmed) track.
        weight_iou: weight of ``1 - IoU`` in the fused cost.
        weight_oks: weight of ``1 - OKS`` when both sides have keypoints.
        weight_appearance: weight of the appearance distance when both sides have descriptors.
            1.5 (with ``appearance_gate`` 0.4): over the 24 synthetic clips of
            ``tests/test_tracking_synth.py``'s protocol (3-4 people, seeds 0-11, noisy ground
            truth) mean IDF1 0.968 with 22 clips >= 0.95, against 0.959 and 21 with 0.5/0.5; at
            crossings geometry alone is ambiguous and appearance decides (seed 004).  2.0 scores
            the same there but lets a lookalike pair flicker (4 switches on the crossing walkers
            of ``tests/test_tracking.py``, 0 at 1.5).  Box-only input (MOTChallenge) has no
            appearance term, so it is unaffected.
        appearance_gate: a *lost* track (not matched in the previous frame) may not take a
            detection whose appearance distance exceeds this.  For tracks matched in the
            previous frame appearance only weighs in the cost: their motion is reliable, while
            a box-only descriptor of a partly occluded person is not.

    Appearance (colour histograms in horizontal stripes of the person, pooled inside the mask
    when given, inside the central part of the box otherwise):

    Attributes:
        use_appearance: compute descriptors when an image is passed to ``update``.
        appearance_stripes: number of horizontal stripes of the person.
        appearance_box_shrink: box-only detections: fraction of the box width dropped on each
            side (background) before pooling.
        appearance_min_pixels: a stripe with fewer usable (resampled) pixels is left out.
        appearance_ema: per-track EMA factor: ``new = ema * old + (1 - ema) * observed``.
        appearance_edge_margin: a detection whose box comes within this many pixels of the
            image border shows only part of the person (entering or leaving): its descriptor is
            used for matching but not blended into the track's appearance profile, so a partial
            view never spoils the profile that re-identifies the person later.
        appearance_max_occlusion: a box-only detection whose box is covered by another
            detection's box over more than this fraction of its area has an unreliable
            descriptor (it shows the occluder): it is neither used for association nor blended
            into the track's descriptor.  Detections with masks are exempt (pixels claimed by
            two masks are already left out).

    Track life cycle:

    Attributes:
        min_hits: consecutive matched frames before a tentative track is confirmed (born).
        max_lost_frames: a lost track stays in motion-based matching this many frames.
        reid_max_lost_frames: a lost track with an appearance descriptor can be re-identified by
            appearance this many frames after it was last seen (``>= max_lost_frames``).
        stitch_tracklets: in :meth:`PersonTracker.finish`, join a track that starts after
            another ended when their appearance profiles (built over the whole track) match —
            the offline counterpart of re-identification, for returns the online pass missed.
        stitch_distance_threshold: maximum profile distance for such a join.
        reid_distance_threshold: maximum appearance distance for a re-identification.
        reid_max_displacement: plausible position for a re-identification: the centre may have
            moved at most this many box heights per frame lost (plus one box height).
        reid_max_scale_change: maximum ratio between the re-identified box height and the
            height last seen (either way).
        min_track_length: ``finish()`` drops tracks with fewer matched detections than this.
        max_interpolation_gap: ``finish()`` fills gaps of at most this many frames inside a
            track by linear interpolation (0 disables).

    Camera motion compensation (sparse optical flow, partial affine) and scene cuts:

    Attributes:
        use_camera_motion: estimate the global camera motion when an image is given.
        cmc_max_width: frames are downscaled to at most this width (pixels) before flow.
        cmc_max_corners: at most this many corners are tracked.
        cmc_min_inliers: fewer RANSAC inliers than this means "no reliable motion" (identity).
        cmc_ransac_threshold: RANSAC reprojection threshold, in downscaled pixels.
        cmc_box_margin: detection boxes, grown by this fraction of their size, are excluded
            from corner detection (people move on their own).
        detect_scene_cuts: compare consecutive frames' colour histograms.
        scene_cut_threshold: Bhattacharyya distance between consecutive frames' HSV histograms
            above which the frame starts a new shot (motion is reset, appearance re-ID is kept).
    """

    high_score: float = 0.7
    low_score: float = 0.1
    new_track_score: float = 0.9
    kalman_position_noise: float = 1.0 / 20.0
    kalman_velocity_noise: float = 1.0 / 160.0
    iou_gate: float = 0.2
    oks_gate: float = 0.5
    oks_min_joints: int = 3
    low_iou_gate: float = 0.5
    tentative_iou_gate: float = 0.3
    weight_iou: float = 1.0
    weight_oks: float = 1.0
    weight_appearance: float = 1.5
    appearance_gate: float = 0.4
    use_appearance: bool = True
    appearance_stripes: int = 4
    appearance_box_shrink: float = 0.15
    appearance_min_pixels: int = 20
    appearance_ema: float = 0.9
    appearance_max_occlusion: float = 0.3
    appearance_edge_margin: float = 2.0
    min_hits: int = 3
    max_lost_frames: int = 30
    reid_max_lost_frames: int = 300
    reid_distance_threshold: float = 0.3
    reid_max_displacement: float = 0.25
    reid_max_scale_change: float = 2.0
    min_track_length: int = 10
    stitch_tracklets: bool = True
    stitch_distance_threshold: float = 0.3
    max_interpolation_gap: int = 30
    use_camera_motion: bool = True
    cmc_max_width: int = 480
    cmc_max_corners: int = 200
    cmc_min_inliers: int = 12
    cmc_ransac_threshold: float = 1.5
    cmc_box_margin: float = 0.1
    detect_scene_cuts: bool = True
    scene_cut_threshold: float = 0.4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    self._fail(f.name, value, "must be True or False")
            elif f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int):
                    self._fail(f.name, value, "must be an integer")
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                self._fail(f.name, value, "must be a number")
            elif not math.isfinite(value):
                self._fail(f.name, value, "must be finite")

        for name in ("high_score", "low_score", "new_track_score", "iou_gate", "oks_gate",
                     "low_iou_gate", "tentative_iou_gate", "appearance_gate",
                     "reid_distance_threshold", "appearance_max_occlusion",
                     "scene_cut_threshold", "stitch_distance_threshold"):
            self._range(name, 0.0, 1.0)
        self._range("appearance_box_shrink", 0.0, 0.45)
        self._range("appearance_ema", 0.0, 1.0, high_open=True)
        for name in ("kalman_position_noise", "kalman_velocity_noise", "reid_max_displacement",
                     "cmc_ransac_threshold"):
            self._positive(name)
        for name in ("weight_iou", "weight_oks", "weight_appearance", "cmc_box_margin",
                     "appearance_edge_margin"):
            self._range(name, 0.0, math.inf)
        if self.weight_iou <= 0.0:
            self._fail("weight_iou", self.weight_iou, "must be > 0 (IoU is always available)")
        for name in ("min_hits", "appearance_stripes", "min_track_length", "oks_min_joints",
                     "cmc_min_inliers", "appearance_min_pixels"):
            if getattr(self, name) < 1:
                self._fail(name, getattr(self, name), "must be >= 1")
        for name in ("max_lost_frames", "max_interpolation_gap"):
            if getattr(self, name) < 0:
                self._fail(name, getattr(self, name), "must be >= 0")
        if self.oks_min_joints > 17:
            self._fail("oks_min_joints", self.oks_min_joints, "must be <= 17")
        if self.cmc_max_width < 32:
            self._fail("cmc_max_width", self.cmc_max_width, "must be >= 32")
        if self.cmc_max_corners < self.cmc_min_inliers:
            self._fail("cmc_max_corners", self.cmc_max_corners, "must be >= cmc_min_inliers")
        if self.reid_max_scale_change < 1.0:
            self._fail("reid_max_scale_change", self.reid_max_scale_change, "must be >= 1")
        if self.low_score > self.high_score:
            self._fail("low_score", self.low_score, f"must be <= high_score ({self.high_score})")
        if self.new_track_score < self.high_score:
            self._fail("new_track_score", self.new_track_score,
                       f"must be >= high_score ({self.high_score})")
        if self.reid_max_lost_frames < self.max_lost_frames:
            self._fail("reid_max_lost_frames", self.reid_max_lost_frames,
                       f"must be >= max_lost_frames ({self.max_lost_frames})")

    def _range(self, name: str, low: float, high: float, *, high_open: bool = False) -> None:
        value = getattr(self, name)
        if value < low or value > high or (high_open and value >= high):
            bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
            self._fail(name, value, f"must be in {bound}")

    def _positive(self, name: str) -> None:
        value = getattr(self, name)
        if value <= 0.0:
            self._fail(name, value, "must be > 0")

    @staticmethod
    def _fail(name: str, value: object, why: str) -> None:
        raise InputError(f"TrackerConfig.{name} = {value!r} {why}",
                         hint="fix the tracker setting")
