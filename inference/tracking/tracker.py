"""Online multi-person tracker with offline clean-up: stable IDs from per-frame detections.

Per frame (:meth:`PersonTracker.update`):

1. camera motion (sparse optical flow, partial affine) and scene cut, when an image is given;
   a cut sends every track to the lost buffer with its motion forgotten;
2. Kalman prediction of every track, then the camera motion applied to the predicted states;
3. stage 1: tracked + recently lost tracks vs high-score detections, cost = gated weighted mean
   of ``1 - IoU`` (predicted box), ``1 - OKS`` (last pose moved with the box) and the colour
   appearance distance (per-track EMA descriptor), Hungarian assignment;
4. stage 2 (ByteTrack): still-unmatched tracked tracks vs low-score detections, IoU only;
5. stage 3: re-identification of lost tracks by appearance (with a plausible position and
   size unless a scene cut intervened) -- occlusion, exit and re-entry;
6. stage 4: tentative tracks vs the remaining high-score detections;
7. births: unmatched confident detections start tentative tracks, confirmed after
   ``min_hits`` consecutive matches; tracks lost too long are retired.

:meth:`PersonTracker.finish` then drops short tracks, fills short gaps by interpolation and
renumbers identities ``1..N`` by first appearance.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field, replace

import numpy as np

from inference.errors import InputError

from .appearance import Appearance, compute_descriptors, distance_matrix
from .camera import CameraMotionEstimator
from .config import TrackerConfig
from .costs import INFEASIBLE, assign, fuse_costs, iou_matrix, oks_matrix, shift_keypoints
from .kalman import BoxKalmanFilter, cxcywh_to_xywh, warp_boxes, xywh_to_cxcywh
from .types import Detection, TrackedPerson

log = logging.getLogger(__name__)


class _State(enum.Enum):
    TENTATIVE = 0
    TRACKED = 1
    LOST = 2


@dataclass
class _Obs:
    frame_index: int
    bbox: np.ndarray
    score: float
    keypoints: np.ndarray | None
    detection_index: int
    segment: int  # interpolation never crosses a segment change (re-ID, scene cut)


@dataclass(eq=False)
class _Track:
    uid: int
    mean: np.ndarray
    cov: np.ndarray
    last_frame: int
    last_box: np.ndarray  # (4,) xywh where it was last seen, moved with the camera since
    last_keypoints: np.ndarray | None
    appearance: Appearance | None
    state: _State = _State.TENTATIVE
    hits: int = 1
    motion_valid: bool = True
    public_id: int | None = None
    segment: int = 0
    history: list[_Obs] = field(default_factory=list)

    def predicted_box(self) -> np.ndarray:
        return cxcywh_to_xywh(self.mean[:4])


class PersonTracker:
    """Track people across frames: feed :meth:`update` every frame in order, then :meth:`finish`.

    Args:
        config: every threshold and weight; see :class:`TrackerConfig`.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()):  # noqa: B008 (frozen)
        self.config = config
        self._kf = BoxKalmanFilter(config.kalman_position_noise, config.kalman_velocity_noise)
        self._camera = CameraMotionEstimator(config)
        self._tracks: list[_Track] = []
        self._retired: list[_Track] = []
        self._next_uid = 1
        self._next_public = 1
        self._last_frame: int | None = None
        self._frames: list[int] = []
        self._seen_images = False
        self._cuts: list[int] = []

    @property
    def scene_cuts(self) -> list[int]:
        """Frames detected as the first frame of a new shot (images only)."""
        return list(self._cuts)

    # ------------------------------------------------------------------ online
    def update(self, frame_index: int, detections: list[Detection],
               image: np.ndarray | None = None) -> list[TrackedPerson]:
        """Associate one frame's detections with the tracks.

        Args:
            frame_index: the frame; strictly greater than the previous call's (gaps allowed).
            detections: the people found in this frame.
            image: optional ``(H, W, 3)`` uint8 RGB frame, enables appearance, camera-motion
                compensation and scene-cut detection.

        Returns:
            The confirmed tracks matched in this frame (IDs are online IDs, see
            :class:`TrackedPerson`).
        """
        cfg = self.config
        frame_index = int(frame_index)
        if self._last_frame is not None and frame_index <= self._last_frame:
            raise InputError(f"frame {frame_index} is not after the previous frame "
                             f"{self._last_frame}",
                             hint="pass frames to the tracker in increasing order")
        boxes, scores, kps = self._validate(frame_index, detections, image)
        gap = 1 if self._last_frame is None else frame_index - self._last_frame
        self._last_frame = frame_index
        self._frames.append(frame_index)

        affine = None
        if image is not None:
            self._seen_images = True
            motion = self._camera.update(image, boxes, estimate_motion=cfg.use_camera_motion)
            if motion.scene_cut:
                self._cuts.append(frame_index)
                self._scene_cut()
            elif motion.reliable:
                affine = motion.affine
        else:
            self._camera.reset()

        apps: list[Appearance | None] = [None] * len(detections)
        partial = np.zeros(len(detections), bool)
        if image is not None and len(detections):
            h, w = image.shape[:2]
            m = cfg.appearance_edge_margin
            x0, y0 = boxes[:, 0], boxes[:, 1]
            partial = (x0 <= m) | (y0 <= m) | (x0 + boxes[:, 2] >= w - m) | \
                (y0 + boxes[:, 3] >= h - m)
        usable = np.flatnonzero(scores >= cfg.low_score)
        if image is not None and cfg.use_appearance and len(usable):
            found = compute_descriptors(image, boxes[usable], [detections[i].mask for i in usable],
                                        stripes=cfg.appearance_stripes,
                                        box_shrink=cfg.appearance_box_shrink,
                                        min_pixels=cfg.appearance_min_pixels)
            covered = _coverage(boxes)
            for i, d in zip(usable, found, strict=True):
                if detections[i].mask is not None or \
                        covered[i] <= cfg.appearance_max_occlusion:
                    apps[i] = d

        self._predict(frame_index, gap, affine)

        high = [int(i) for i in np.flatnonzero(scores >= cfg.high_score)]
        low = [int(i) for i in np.flatnonzero((scores >= cfg.low_score) &
                                               (scores < cfg.high_score))]
        matched: list[tuple[_Track, int, bool]] = []  # (track, detection, re-identified)

        # Stage 1: tracked and recently lost tracks vs confident detections, all cues.
        pool = [t for t in self._tracks if t.motion_valid and (
            t.state is _State.TRACKED or
            (t.state is _State.LOST and frame_index - t.last_frame <= cfg.max_lost_frames))]
        pairs, left_t, high = self._match(pool, high, boxes, kps, apps, cfg.iou_gate)
        matched += [(t, d, False) for t, d in pairs]

        # Stage 2: tracks seen in the previous frame vs low-score detections, IoU only.
        still = [t for t in left_t if t.state is _State.TRACKED]
        iou = iou_matrix(np.array([t.predicted_box() for t in still]).reshape(-1, 4), boxes[low])
        pairs2, _, _ = assign(np.where(iou >= cfg.low_iou_gate, 1.0 - iou, INFEASIBLE))
        matched += [(still[r], low[c], False) for r, c in pairs2]

        # Stage 3: re-identification of lost tracks by appearance (before the tentative
        # tracks, which may be following a returning person since the previous frame).
        taken = {id(t) for t, _, _ in matched}
        lost = [t for t in self._tracks if t.state is _State.LOST and id(t) not in taken
                and t.appearance is not None]
        pairs3, high = self._reidentify(frame_index, lost, high, boxes, apps)
        matched += [(t, d, True) for t, d in pairs3]

        # Stage 4: tentative tracks vs the remaining confident detections.
        tentative = [t for t in self._tracks if t.state is _State.TENTATIVE]
        pairs4, _, high = self._match(tentative, high, boxes, kps, apps, cfg.tentative_iou_gate)
        matched += [(t, d, False) for t, d in pairs4]

        out = self._apply_matches(frame_index, matched, boxes, scores, kps, apps, partial)
        self._age_and_birth(frame_index, matched, high, boxes, scores, kps, apps)
        return out

    def _validate(self, frame_index: int, detections: list[Detection],
                  image: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, list]:
        where = f"frame {frame_index}"
        if image is not None:
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise InputError(f"{where}: image must be (H, W, 3) uint8 RGB, got "
                                 f"{image.shape} {image.dtype}", hint="pass decoded RGB frames")
        boxes = np.zeros((len(detections), 4))
        scores = np.zeros(len(detections))
        kps: list[np.ndarray | None] = []
        for i, det in enumerate(detections):
            b = np.asarray(det.bbox, dtype=np.float64).reshape(-1)
            if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= 0 or b[3] <= 0:
                raise InputError(f"{where}: detection {i} has an invalid box {b.tolist()}",
                                 hint="boxes are finite x, y, w, h with w > 0 and h > 0")
            if not np.isfinite(det.score):
                raise InputError(f"{where}: detection {i} has a non-finite score",
                                 hint="scores are numbers in [0, 1]")
            if det.mask is not None and image is not None and det.mask.shape != image.shape[:2]:
                raise InputError(f"{where}: detection {i} mask is {det.mask.shape}, "
                                 f"image is {image.shape[:2]}", hint="masks are full-frame")
            k = None
            if det.keypoints is not None:
                k = np.array(det.keypoints, dtype=np.float64).reshape(17, 3)
                bad = ~np.all(np.isfinite(k), axis=1)
                k[bad] = 0.0
                if not np.any(k[:, 2] > 0):
                    k = None
            boxes[i], scores[i] = b, det.score
            kps.append(k)
        return boxes, scores, kps

    def _scene_cut(self) -> None:
        """New shot: positions and velocities mean nothing any more; appearance still does."""
        keep = []
        for t in self._tracks:
            if t.state is _State.TENTATIVE:
                continue
            t.state = _State.LOST
            t.motion_valid = False
            t.segment += 1
            if t.appearance is None:
                self._retired.append(t)
            else:
                keep.append(t)
        self._tracks = keep

    def _predict(self, frame_index: int, gap: int, affine: np.ndarray | None) -> None:
        """Kalman prediction of the tracks still in motion matching, then camera motion."""
        limit = self.config.max_lost_frames
        moving = [t for t in self._tracks if t.motion_valid and
                  (t.state is not _State.LOST or frame_index - t.last_frame <= limit)]
        if moving:
            mean = np.stack([t.mean for t in moving])
            cov = np.stack([t.cov for t in moving])
            not_tracked = np.array([t.state is not _State.TRACKED for t in moving])
            mean[not_tracked, 7] = 0.0  # no height drift while unobserved
            for _ in range(min(gap, self.config.max_lost_frames + 1)):
                mean, cov = self._kf.predict(mean, cov)
            if affine is not None:
                mean, cov = self._kf.warp(mean, cov, affine)
            for t, m, c in zip(moving, mean, cov, strict=True):
                t.mean, t.cov = m, c
        if affine is not None:
            for t in self._tracks:
                old = t.last_box
                t.last_box = warp_boxes(old, affine)[0]
                if t.last_keypoints is not None:
                    t.last_keypoints = shift_keypoints(t.last_keypoints, old, t.last_box)

    def _match(self, tracks: list[_Track], dets: list[int], boxes: np.ndarray,
               kps: list[np.ndarray | None], apps: list[Appearance | None],
               iou_gate: float) -> tuple[list[tuple[_Track, int]], list[_Track], list[int]]:
        """Fused-cost Hungarian matching; returns pairs, unmatched tracks, unmatched dets."""
        cfg = self.config
        if not tracks or not dets:
            return [], list(tracks), list(dets)
        pred = np.array([t.predicted_box() for t in tracks])
        det_boxes = boxes[dets]
        iou = iou_matrix(pred, det_boxes)
        oks = None
        if cfg.weight_oks > 0 and any(kps[d] is not None for d in dets) and \
                any(t.last_keypoints is not None for t in tracks):
            nan_kp = np.full((17, 3), np.nan)
            pk = np.stack([nan_kp if t.last_keypoints is None else
                           shift_keypoints(t.last_keypoints, t.last_box, p)
                           for t, p in zip(tracks, pred, strict=True)])
            dk = np.stack([nan_kp if kps[d] is None else kps[d] for d in dets])
            oks = oks_matrix(pk, dk, det_boxes, cfg.oks_min_joints)
        app = None
        if any(apps[d] is not None for d in dets):
            app = distance_matrix([t.appearance for t in tracks], [apps[d] for d in dets])
        app_gate = np.array([[cfg.appearance_gate if t.state is _State.LOST else 1.0]
                             for t in tracks])
        cost = fuse_costs(iou, iou_gate=iou_gate, weight_iou=cfg.weight_iou,
                          oks=oks, oks_gate=cfg.oks_gate, weight_oks=cfg.weight_oks,
                          app=app, app_gate=app_gate,
                          weight_app=cfg.weight_appearance)
        pairs, rows, cols = assign(cost)
        return ([(tracks[r], dets[c]) for r, c in pairs], [tracks[r] for r in rows],
                [dets[c] for c in cols])

    def _reidentify(self, frame_index: int, lost: list[_Track], dets: list[int],
                    boxes: np.ndarray, apps: list[Appearance | None]
                    ) -> tuple[list[tuple[_Track, int]], list[int]]:
        cfg = self.config
        cands = [d for d in dets if apps[d] is not None]
        if not lost or not cands:
            return [], dets
        dist = distance_matrix([t.appearance for t in lost], [apps[d] for d in cands])
        cost = np.where(np.nan_to_num(dist, nan=np.inf) <= cfg.reid_distance_threshold,
                        dist, INFEASIBLE)
        for r, t in enumerate(lost):
            if not t.motion_valid:
                continue  # after a scene cut anything goes
            age = frame_index - t.last_frame
            lc = xywh_to_cxcywh(t.last_box)
            for c, d in enumerate(cands):
                dc = xywh_to_cxcywh(boxes[d])
                h = max(lc[3], dc[3])
                ratio = dc[3] / max(lc[3], 1e-6)
                far = np.hypot(*(dc[:2] - lc[:2])) > (cfg.reid_max_displacement * age + 1.0) * h
                if far or not (1.0 / cfg.reid_max_scale_change <= ratio
                               <= cfg.reid_max_scale_change):
                    cost[r, c] = INFEASIBLE
        pairs, _, _ = assign(cost)
        used = {cands[c] for _, c in pairs}
        return [(lost[r], cands[c]) for r, c in pairs], [d for d in dets if d not in used]

    def _apply_matches(self, frame_index: int, matched: list[tuple[_Track, int, bool]],
                       boxes: np.ndarray, scores: np.ndarray, kps: list[np.ndarray | None],
                       apps: list[Appearance | None],
                       partial: np.ndarray) -> list[TrackedPerson]:
        cfg = self.config
        out: list[TrackedPerson] = []
        for t, d, reid in matched:
            z = xywh_to_cxcywh(boxes[d])
            if reid or not t.motion_valid:
                t.mean, t.cov = self._kf.initiate(z)
                t.motion_valid = True
                t.segment += 1
                log.debug("re-identified track %s at frame %d", t.public_id, frame_index)
            else:
                t.mean, t.cov = self._kf.update(t.mean, t.cov, z)
            if t.state is _State.TENTATIVE:
                t.hits += 1
                if t.hits >= cfg.min_hits:
                    self._confirm(t)
            else:
                t.state = _State.TRACKED
                t.hits += 1
            t.last_frame = frame_index
            t.last_box = boxes[d].copy()
            t.last_keypoints = kps[d]
            a = apps[d]
            if a is not None and scores[d] >= cfg.high_score and (
                    t.appearance is None or not partial[d]):
                t.appearance = a if t.appearance is None else t.appearance.blend(
                    a, cfg.appearance_ema)
            t.history.append(_Obs(frame_index, boxes[d].copy(), float(scores[d]), kps[d], d,
                                  t.segment))
            if t.state is _State.TRACKED:
                out.append(TrackedPerson(t.public_id, frame_index, boxes[d].copy(),
                                         float(scores[d]), kps[d], d))
        out.sort(key=lambda p: p.track_id)
        return out

    def _confirm(self, t: _Track) -> None:
        t.state = _State.TRACKED
        t.public_id = self._next_public
        self._next_public += 1

    def _age_and_birth(self, frame_index: int, matched: list[tuple[_Track, int, bool]],
                       free: list[int], boxes: np.ndarray, scores: np.ndarray,
                       kps: list[np.ndarray | None], apps: list[Appearance | None]) -> None:
        cfg = self.config
        hit = {id(t) for t, _, _ in matched}
        keep: list[_Track] = []
        for t in self._tracks:
            if id(t) in hit:
                keep.append(t)
                continue
            if t.state is _State.TENTATIVE:
                continue  # a miss before confirmation: spurious
            t.state = _State.LOST
            age = frame_index - t.last_frame
            can_reid = cfg.use_appearance and self._seen_images and t.appearance is not None
            limit = cfg.reid_max_lost_frames if can_reid else cfg.max_lost_frames
            if age > limit or (not t.motion_valid and not can_reid):
                self._retired.append(t)
            else:
                keep.append(t)
        for d in free:
            if scores[d] < cfg.new_track_score:
                continue
            mean, cov = self._kf.initiate(xywh_to_cxcywh(boxes[d]))
            t = _Track(self._next_uid, mean, cov, frame_index, boxes[d].copy(), kps[d], apps[d])
            self._next_uid += 1
            t.history.append(_Obs(frame_index, boxes[d].copy(), float(scores[d]), kps[d], d, 0))
            if cfg.min_hits <= 1:
                self._confirm(t)
            keep.append(t)
        self._tracks = keep

    # ----------------------------------------------------------------- offline
    def finish(self) -> dict[int, list[TrackedPerson]]:
        """Final assignment for every frame passed to :meth:`update`.

        Tracks that were never confirmed or have fewer than ``min_track_length`` matched
        detections are dropped, gaps of at most ``max_interpolation_gap`` frames inside a track
        (and not across a re-identification or scene cut) are filled by linear interpolation,
        and IDs are renumbered ``1..N`` by first appearance.  The tracker's state is unchanged,
        so ``finish`` may be called again after further updates.

        Returns:
            ``{frame_index: [TrackedPerson, ...]}`` for every frame seen (possibly empty
            lists), each list sorted by ``track_id``.
        """
        cfg = self.config
        confirmed = [t for t in self._retired + self._tracks if t.public_id is not None]
        kept = _stitch([t for t in confirmed if len(t.history) >= cfg.min_track_length], cfg)
        kept.sort(key=lambda t: (t.history[0].frame_index, t.public_id))
        seen = set(self._frames)
        out: dict[int, list[TrackedPerson]] = {f: [] for f in self._frames}
        for new_id, t in enumerate(kept, start=1):
            prev: _Obs | None = None
            for ob in t.history:
                if prev is not None and prev.segment == ob.segment and \
                        1 < ob.frame_index - prev.frame_index <= cfg.max_interpolation_gap + 1:
                    for f in range(prev.frame_index + 1, ob.frame_index):
                        if f in seen:
                            out[f].append(_interpolate(new_id, f, prev, ob))
                out[ob.frame_index].append(TrackedPerson(new_id, ob.frame_index, ob.bbox.copy(),
                                                         ob.score, ob.keypoints,
                                                         ob.detection_index))
                prev = ob
        for persons in out.values():
            persons.sort(key=lambda p: p.track_id)
        log.info("tracker: %d tracks kept of %d confirmed over %d frames", len(kept),
                 len(confirmed), len(self._frames))
        return out


def _stitch(tracks: list[_Track], cfg: TrackerConfig) -> list[_Track]:
    """Offline tracklet stitching: join a track that starts after another one ended when their
    appearance profiles match (distance <= ``cfg.stitch_distance_threshold``, gap <=
    ``cfg.reid_max_lost_frames``).

    The online re-identification must decide while a returning person is still a sliver at the
    frame edge; here the whole clip is known, so each track's profile is the one built from its
    full views.  Pairs are joined greedily, most similar first, each track at most once on each
    side.  Returns new track objects (the tracker's own state is left unchanged); interpolation
    never crosses a join.
    """
    if not cfg.stitch_tracklets or len(tracks) < 2:
        return list(tracks)
    tracks = sorted(tracks, key=lambda t: t.history[0].frame_index)
    pairs = []
    for i, a in enumerate(tracks):
        for j, b in enumerate(tracks):
            if a.appearance is None or b.appearance is None:
                continue
            gap = b.history[0].frame_index - a.history[-1].frame_index
            if 0 < gap <= cfg.reid_max_lost_frames:
                d = float(distance_matrix([a.appearance], [b.appearance])[0, 0])
                if d <= cfg.stitch_distance_threshold:
                    pairs.append((d, i, j))
    following: dict[int, int] = {}
    preceding: dict[int, int] = {}
    for _, i, j in sorted(pairs):
        if i not in following and j not in preceding:
            following[i], preceding[j] = j, i
    out = []
    for i, head in enumerate(tracks):
        if i in preceding:
            continue
        chain = [i]
        while chain[-1] in following:
            chain.append(following[chain[-1]])
        if len(chain) == 1:
            out.append(head)
            continue
        history, offset = [], 0
        for k in chain:
            part = tracks[k].history
            history += [replace(ob, segment=ob.segment + offset) for ob in part]
            offset += max(ob.segment for ob in part) + 1
        log.debug("stitched tracks %s", [tracks[k].public_id for k in chain])
        out.append(replace(head, history=history, appearance=tracks[chain[-1]].appearance))
    return out


def _coverage(boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` largest fraction of each ``(N, 4)`` xywh box's area covered by another box."""
    n = len(boxes)
    if n < 2:
        return np.zeros(n)
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    iw = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0.0, None)
    ih = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0.0, None)
    frac = iw * ih / np.maximum(boxes[:, 2] * boxes[:, 3], 1e-12)[:, None]
    np.fill_diagonal(frac, 0.0)
    return frac.max(axis=1)


def _interpolate(track_id: int, frame: int, a: _Obs, b: _Obs) -> TrackedPerson:
    """Linear interpolation between two observations of one track."""
    w = (frame - a.frame_index) / (b.frame_index - a.frame_index)
    box = (1.0 - w) * a.bbox + w * b.bbox
    kp = None
    if a.keypoints is not None and b.keypoints is not None:
        kp = (1.0 - w) * a.keypoints + w * b.keypoints
        kp[:, 2] = np.minimum(a.keypoints[:, 2], b.keypoints[:, 2])
    return TrackedPerson(track_id, frame, box, min(a.score, b.score), kp, None, True)
