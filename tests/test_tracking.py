"""The person tracker on synthetic scenes: noisy boxes, misses, crossings, exits and re-entries,
camera pans and scene cuts.  Scenes are rendered here (coloured people on a textured
background) so that appearance and optical flow run on real pixels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytest

from inference.errors import InputError
from inference.tracking import Detection, PersonTracker, TrackerConfig
from inference.tracking.appearance import compute_descriptors, distance_matrix
from inference.tracking.camera import CameraMotionEstimator
from inference.tracking.costs import assign, fuse_costs, iou_matrix, oks_matrix
from inference.tracking.evaluation import mot_metrics, persons_to_boxes
from inference.tracking.kalman import BoxKalmanFilter, warp_boxes, xywh_to_cxcywh

W, H = 320, 240
RED, BLUE, GREEN, YELLOW, MAGENTA = (220, 30, 30), (30, 60, 220), (30, 180, 60), (230, 220, 40), \
    (200, 40, 200)
SKIN, GREY_TROUSERS, BLACK_TROUSERS = (225, 180, 150), (120, 120, 120), (25, 25, 30)


@dataclass
class Walker:
    """A synthetic person: a box moving at constant velocity, visible on some frames."""

    gid: int
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    start: tuple[float, float]  # top-left at frame 0
    velocity: tuple[float, float]
    size: tuple[float, float] = (30.0, 80.0)
    frames: range = range(10**6)

    def box(self, f: int) -> np.ndarray:
        return np.array([self.start[0] + self.velocity[0] * f, self.start[1] + self.velocity[1] * f,
                         *self.size])


def textured_background(seed: int, w: int, h: int) -> np.ndarray:
    """Random 8x8-pixel blocks: plenty of corners for optical flow; ``(h, w, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    small = rng.integers(60, 200, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    big = cv2.resize(small, ((w // 8 + 1) * 8, (h // 8 + 1) * 8), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(big[:h, :w])


def draw_person(img: np.ndarray, box: np.ndarray, walker: Walker) -> None:
    x, y, w, h = (round(float(v)) for v in box)
    cuts = [y, y + h // 5, y + h // 2, y + h]
    for (a, b), col in zip(itertools.pairwise(cuts), (SKIN, walker.shirt, walker.trousers)):
        img[max(a, 0):max(b, 0), max(x, 0):max(x + w, 0)] = col


def render(walkers: list[Walker], f: int, bg: np.ndarray, offset=(0, 0)) -> np.ndarray:
    """Frame ``f``: the background window at ``offset`` (camera position) with the walkers."""
    ox, oy = offset
    img = bg[oy:oy + H, ox:ox + W].copy()
    for wk in sorted(walkers, key=lambda w: w.start[1] + w.size[1]):  # farther first
        if f in wk.frames:
            draw_person(img, wk.box(f) - np.array([ox, oy, 0, 0]), wk)
    return img


def visible(wk: Walker, f: int, offset=(0, 0)) -> np.ndarray | None:
    """The walker's box in image coordinates, clipped to the frame; None when not visible."""
    if f not in wk.frames:
        return None
    x, y, w, h = wk.box(f) - np.array([offset[0], offset[1], 0, 0])
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 - x0 < 0.5 * w or y1 - y0 < 0.5 * h:
        return None
    return np.array([x0, y0, x1 - x0, y1 - y0])


def run(tracker: PersonTracker, walkers: list[Walker], n: int, *, seed: int = 0,
        noise: float = 1.0, miss: float = 0.0, images: bool = True, bg_seed: int = 1,
        offsets=None) -> tuple[dict, dict]:
    """Feed ``n`` frames; returns (finish() result, ground truth in image coordinates)."""
    rng = np.random.default_rng(seed)
    bg = textured_background(bg_seed, W + 200, H + 100)
    gt: dict[int, list[tuple[int, np.ndarray]]] = {}
    for f in range(n):
        off = (0, 0) if offsets is None else offsets(f)
        dets, gt[f] = [], []
        for wk in walkers:
            b = visible(wk, f, off)
            if b is None:
                continue
            gt[f].append((wk.gid, b))
            if rng.random() < miss:
                continue
            dets.append(Detection(b + rng.normal(0, noise, 4), float(rng.uniform(0.92, 1.0))))
        image = render(walkers, f, bg, off) if images else None
        tracker.update(f, dets, image)
    return tracker.finish(), gt


def ids_of(result: dict, walker_box, frames) -> set[int]:
    """Track IDs that cover ``walker_box(f)`` (IoU > 0.5) on the given frames."""
    out = set()
    for f in frames:
        for p in result.get(f, []):
            if iou_matrix(p.bbox[None], walker_box(f)[None])[0, 0] > 0.5:
                out.add(p.track_id)
    return out


# --------------------------------------------------------------------------- identity over time
def crossing_walkers() -> list[Walker]:
    return [
        Walker(1, RED, GREY_TROUSERS, (10, 40), (2.5, 0.3)),
        Walker(2, BLUE, BLACK_TROUSERS, (280, 50), (-2.5, 0.0)),
        Walker(3, GREEN, GREY_TROUSERS, (40, 140), (1.8, -0.2)),
        Walker(4, YELLOW, BLACK_TROUSERS, (250, 130), (-2.0, 0.2)),
        Walker(5, MAGENTA, GREY_TROUSERS, (150, 10), (0.2, 1.2), size=(26, 70)),
    ]


@pytest.mark.parametrize("images", [False, True], ids=["boxes-only", "with-images"])
def test_noisy_boxes_with_misses_and_crossings_keep_ids(images):
    walkers = crossing_walkers()
    result, gt = run(PersonTracker(), walkers, 110, noise=1.5, miss=0.1, images=images)
    m = mot_metrics(gt, persons_to_boxes(result))
    assert m["idf1"] >= 0.95, m
    assert m["num_switches"] <= 1, m
    assert m["mota"] >= 0.9, m
    ids = {p.track_id for ps in result.values() for p in ps}
    assert ids == set(range(1, len(ids) + 1))  # renumbered 1..N


def test_online_output_only_reports_confirmed_tracks():
    cfg = TrackerConfig(min_hits=3)
    tr = PersonTracker(cfg)
    box = np.array([50.0, 50.0, 30.0, 80.0])
    outs = [tr.update(f, [Detection(box + [2 * f, 0, 0, 0], 0.99)]) for f in range(5)]
    assert [len(o) for o in outs] == [0, 0, 1, 1, 1]
    assert outs[2][0].detection_index == 0
    final = tr.finish()
    assert sorted(final) == list(range(5)) and all(len(final[f]) == 0 for f in range(5))
    # ... five frames are shorter than min_track_length: dropped as spurious.
    final = PersonTracker(replace(cfg, min_track_length=5))
    for f in range(5):
        final.update(f, [Detection(box + [2 * f, 0, 0, 0], 0.99)])
    got = final.finish()
    assert [len(got[f]) for f in range(5)] == [1] * 5  # backfilled before confirmation


def test_low_score_detections_extend_but_never_start_tracks():
    cfg = TrackerConfig(min_track_length=1)
    box = np.array([100.0, 60.0, 30.0, 80.0])
    tr = PersonTracker(cfg)
    for f in range(20):
        tr.update(f, [Detection(box, 0.5)])  # low-score only
    assert all(len(v) == 0 for v in tr.finish().values())
    tr = PersonTracker(cfg)
    for f in range(20):
        tr.update(f, [Detection(box + [f, 0, 0, 0], 0.99 if f < 5 else 0.5)])
    res = tr.finish()
    assert all(len(res[f]) == 1 and res[f][0].track_id == 1 for f in range(20))


def test_short_gaps_are_interpolated_in_finish():
    tr = PersonTracker(TrackerConfig(max_interpolation_gap=5))
    box = np.array([20.0, 40.0, 30.0, 80.0])
    for f in range(30):
        dets = [] if 10 <= f < 14 else [Detection(box + [3 * f, 0, 0, 0], 0.99)]
        tr.update(f, dets)
    res = tr.finish()
    for f in range(10, 14):
        (p,) = res[f]
        assert p.interpolated and p.detection_index is None
        np.testing.assert_allclose(p.bbox, box + [3 * f, 0, 0, 0], atol=1e-6)
    assert not res[9][0].interpolated and res[9][0].track_id == res[14][0].track_id == 1


# ------------------------------------------------------------------------- re-identification
def reentry_scene() -> list[Walker]:
    # Red walks out on the right (frame ~22), is away for ~40 frames (longer than the motion
    # buffer, max_lost_frames), comes back from the right at frame 62.
    red_out = Walker(1, RED, BLACK_TROUSERS, (200, 60), (5.0, 0.0), frames=range(30))
    red_back = Walker(1, RED, BLACK_TROUSERS, (310 + 60 * 3.0, 70), (-3.0, 0.0),
                      frames=range(60, 100))
    blue = Walker(2, BLUE, GREY_TROUSERS, (30, 120), (0.5, 0.0), size=(32, 90))
    return [red_out, red_back, blue]


def test_reentry_after_exit_gets_the_same_id_by_appearance():
    walkers = reentry_scene()
    red_out, red_back, blue = walkers
    result, _ = run(PersonTracker(), walkers, 100)
    before = ids_of(result, red_out.box, range(5, 20))
    after = ids_of(result, red_back.box, range(65, 100))
    assert len(before) == 1 and before == after
    assert ids_of(result, blue.box, range(100)) == {2}


def test_reentry_without_appearance_is_a_new_person():
    walkers = reentry_scene()
    red_out, red_back, _ = walkers
    result, _ = run(PersonTracker(TrackerConfig(use_appearance=False)), walkers, 100)
    before = ids_of(result, red_out.box, range(5, 20))
    after = ids_of(result, red_back.box, range(65, 100))
    assert len(before) == 1 and len(after) == 1 and before != after


def test_a_different_person_entering_is_not_taken_for_the_one_who_left():
    red_out, red_back, blue = reentry_scene()
    green_in = replace(red_back, gid=3, shirt=GREEN, trousers=GREY_TROUSERS)
    result, _ = run(PersonTracker(), [red_out, green_in, blue], 100)
    before = ids_of(result, red_out.box, range(5, 20))
    after = ids_of(result, green_in.box, range(65, 100))
    assert len(before) == 1 and len(after) == 1 and before != after


def test_mask_pooling_ignores_pixels_claimed_by_two_masks():
    img = np.zeros((120, 120, 3), np.uint8)
    img[:, :] = (200, 200, 200)
    red_mask = np.zeros((120, 120), bool)
    red_mask[10:110, 20:70] = True
    blue_mask = np.zeros((120, 120), bool)
    blue_mask[10:110, 50:100] = True
    img[red_mask] = RED
    img[blue_mask] = BLUE  # blue stands in front; the red mask still claims the overlap
    boxes = np.array([[20, 10, 50, 100], [50, 10, 50, 100]], float)
    pure_red = np.zeros_like(img)
    pure_red[:] = RED
    (ref,) = compute_descriptors(pure_red, boxes[:1])
    with_masks = compute_descriptors(img, boxes, [red_mask, blue_mask])
    red_alone = compute_descriptors(img, boxes[:1], [red_mask])
    d_masked = distance_matrix([ref], [with_masks[0]])[0, 0]
    d_unmasked = distance_matrix([ref], red_alone)[0, 0]
    assert d_masked < 0.05  # the overlap's blue pixels were excluded
    assert d_unmasked > 0.2  # control: without the other mask they leak in
    assert distance_matrix([ref], [with_masks[1]])[0, 0] > 0.8


# --------------------------------------------------------------------- camera motion, scene cuts
def test_camera_motion_recovers_a_known_translation():
    bg = textured_background(3, W + 100, H + 100)
    est = CameraMotionEstimator(TrackerConfig(cmc_max_width=W))
    first = est.update(bg[40:40 + H, 40:40 + W])
    assert not first.reliable and not first.scene_cut
    # The camera moves right by 13 px and up by 7 px: content moves left 13, down 7.
    m = est.update(bg[33:33 + H, 53:53 + W], exclude_boxes=np.array([[100, 50, 30, 80]]))
    assert m.reliable and not m.scene_cut
    np.testing.assert_allclose(m.affine[:, :2], np.eye(2), atol=0.01)
    np.testing.assert_allclose(m.affine[:, 2], [-13.0, 7.0], atol=0.3)
    np.testing.assert_allclose(warp_boxes(np.array([[100, 50, 30, 80]]), m.affine),
                               [[87, 57, 30, 80]], atol=0.5)


def test_camera_motion_is_estimated_on_a_downscaled_frame():
    big = cv2.resize(textured_background(4, 400, 300), (1600, 1200),
                     interpolation=cv2.INTER_NEAREST)
    est = CameraMotionEstimator(TrackerConfig(cmc_max_width=320))
    est.update(big[100:1000, 100:1300])
    m = est.update(big[100:1000, 140:1340])  # camera right by 40 px at full resolution
    assert m.reliable
    np.testing.assert_allclose(m.affine[:, 2], [-40.0, 0.0], atol=1.5)


def test_sudden_pan_keeps_ids_only_with_camera_compensation():
    people = [Walker(1, RED, BLACK_TROUSERS, (120, 60), (0.0, 0.0)),
              Walker(2, BLUE, GREY_TROUSERS, (175, 70), (0.0, 0.0)),
              Walker(3, GREEN, GREY_TROUSERS, (230, 80), (0.0, 0.0))]

    def offsets(f):  # the camera jumps 40 px right at frame 15 and 40 more at frame 30
        return (100 + 40 * (f >= 15) + 40 * (f >= 30), 50)

    on, _ = run(PersonTracker(TrackerConfig(use_appearance=False)), people, 45, noise=0.5,
                offsets=offsets)
    off, _ = run(PersonTracker(TrackerConfig(use_appearance=False, use_camera_motion=False)),
                 people, 45, noise=0.5, offsets=offsets)
    n_on = len({p.track_id for ps in on.values() for p in ps})
    n_off = len({p.track_id for ps in off.values() for p in ps})
    assert n_on == 3
    assert n_off > 3  # control: without compensation the jump breaks the tracks


def test_scene_cut_is_detected_between_different_shots_only():
    est = CameraMotionEstimator(TrackerConfig())
    a = textured_background(5, W + 40, H)
    est.update(a[:, :W])
    assert not est.update(a[:, 20:20 + W]).scene_cut  # a pan is not a cut
    other = np.full((H, W, 3), (20, 90, 40), np.uint8)
    other[::2] = (40, 40, 160)
    cut = est.update(other)
    assert cut.scene_cut and cut.cut_distance > 0.5
    assert not est.update(other).scene_cut
    assert est.update(cv2.resize(other, (W // 2, H // 2))).scene_cut  # another resolution


def test_scene_cut_resets_motion_but_reidentifies_by_appearance():
    # Shot 1: red on the left, blue on the right.  Shot 2 (frame 30, another background):
    # they have swapped sides and are nearer to the camera.
    shot1 = [Walker(1, RED, BLACK_TROUSERS, (60, 60), (0.5, 0.0), frames=range(30)),
             Walker(2, BLUE, GREY_TROUSERS, (220, 60), (-0.5, 0.0), frames=range(30))]
    shot2 = [Walker(1, RED, BLACK_TROUSERS, (200, 40), (0.5, 0.0), size=(40, 110),
                    frames=range(30, 60)),
             Walker(2, BLUE, GREY_TROUSERS, (80, 40), (-0.5, 0.0), size=(40, 110),
                    frames=range(30, 60))]
    tr = PersonTracker()
    rng = np.random.default_rng(0)
    bgs = [textured_background(6, W, H), np.full((H, W, 3), (15, 15, 15), np.uint8)]
    for f in range(60):
        shot = shot1 if f < 30 else shot2
        img = render(shot, f, bgs[f >= 30])
        dets = [Detection(w.box(f) + rng.normal(0, 0.5, 4), 0.99) for w in shot]
        tr.update(f, dets, img)
    assert tr.scene_cuts == [30]
    res = tr.finish()
    for colour in (0, 1):
        ids = ids_of(res, shot1[colour].box, range(5, 30)) | \
            ids_of(res, shot2[colour].box, range(30, 60))
        assert len(ids) == 1, (colour, ids)
    # Control: box-only, the swap across the cut cannot be resolved, so IDs change.
    tr = PersonTracker()
    for f in range(60):
        shot = shot1 if f < 30 else shot2
        tr.update(f, [Detection(w.box(f), 0.99) for w in shot])
    res = tr.finish()
    red_ids = ids_of(res, shot1[0].box, range(5, 30)) | ids_of(res, shot2[0].box, range(30, 60))
    assert len(red_ids) > 1


# ------------------------------------------------------------------------------- building blocks
def test_kalman_learns_constant_velocity_and_follows_camera_motion():
    kf = BoxKalmanFilter()
    mean, cov = kf.initiate(xywh_to_cxcywh(np.array([10.0, 20.0, 30.0, 60.0])))
    for f in range(1, 30):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean[0], cov[0], xywh_to_cxcywh(np.array([10 + 3.0 * f, 20, 30, 60])))
    np.testing.assert_allclose(mean[4:6], [3.0, 0.0], atol=0.05)
    pred, _ = kf.predict(mean, cov)
    np.testing.assert_allclose(pred[0, 0], 25 + 3 * 30, atol=0.5)
    aff = np.array([[0.0, -2.0, 5.0], [2.0, 0.0, 1.0]])  # rotate 90 degrees, scale 2, shift
    warped, wcov = kf.warp(mean, cov, aff)
    np.testing.assert_allclose(warped[0, :2], aff[:, :2] @ mean[:2] + aff[:, 2])
    np.testing.assert_allclose(warped[0, 2:4], 2 * mean[2:4])
    np.testing.assert_allclose(warped[0, 4:6], aff[:, :2] @ mean[4:6], atol=1e-9)
    assert np.all(np.linalg.eigvalsh(wcov[0]) > 0)


def test_oks_and_fused_costs_gate_impossible_pairs():
    kp = np.zeros((17, 3))
    kp[:, 0] = np.linspace(100, 130, 17)
    kp[:, 1] = np.linspace(50, 130, 17)
    kp[:, 2] = 2
    far = kp.copy()
    far[:, 0] += 60
    none = np.full((17, 3), np.nan)
    boxes = np.array([[100, 50, 30, 80], [160, 50, 30, 80]], float)
    oks = oks_matrix(np.stack([kp, none]), np.stack([kp, far]), boxes)
    assert oks[0, 0] == pytest.approx(1.0) and oks[0, 1] < 0.05 and np.isnan(oks[1]).all()
    iou = iou_matrix(boxes, boxes)
    app = np.array([[0.1, np.nan], [0.9, 0.2]])
    cost = fuse_costs(iou, iou_gate=0.3, oks=oks, oks_gate=0.5, weight_oks=1.0, app=app,
                      app_gate=0.5, weight_app=1.0)
    assert cost[0, 0] == pytest.approx(0.1 / 3)  # (0 + 0 + 0.1) / 3
    assert cost[0, 1] >= 1e6 and cost[1, 0] >= 1e6  # no overlap / appearance too far
    assert cost[1, 1] == pytest.approx(0.2 / 2)
    matches, rows, cols = assign(cost)
    assert matches == [(0, 0), (1, 1)] and rows == [] and cols == []


def _pose(x: float, y: float, arms_up: bool = False) -> np.ndarray:
    """A standing person's 17 COCO joints, top of head at (x, y), ~80 px tall."""
    pts = [(0, 6), (-2, 4), (2, 4), (-4, 5), (4, 5), (-8, 16), (8, 16), (-10, 30), (10, 30),
           (-11, 42), (11, 42), (-6, 44), (6, 44), (-6, 62), (6, 62), (-6, 79), (6, 79)]
    kp = np.array([(x + dx, y + dy, 2.0) for dx, dy in pts])
    if arms_up:  # elbows and wrists stretched out sideways and up
        kp[7:11, :2] = [(x - 35, y + 5), (x + 35, y + 5), (x - 60, y - 25), (x + 60, y - 25)]
    return kp


def test_keypoints_keep_the_id_when_the_box_jumps():
    """Arms flung out: the detector's box grows from 30x80 to 150x110 (IoU 0.15, below the
    gate); the joints that did not move (head, torso, legs) keep the match via OKS."""

    def frames(with_kp: bool):
        for f in range(40):
            x = 100.0 + 0.5 * f
            up = 20 <= f < 30
            kp = _pose(x + 15, 50, up)
            box = np.array([x - 45, 20, 150, 110]) if up else np.array([x, 50, 30, 80])
            yield f, [Detection(box, 0.99, kp if with_kp else None)]

    n_ids = {}
    for with_kp in (True, False):
        tr = PersonTracker(TrackerConfig(min_track_length=5))
        for f, dets in frames(with_kp):
            tr.update(f, dets)
        n_ids[with_kp] = len({p.track_id for ps in tr.finish().values() for p in ps})
    assert n_ids[True] == 1
    assert n_ids[False] > 1  # control: box-only, the jump starts another track


def test_bad_input_raises_one_line_errors():
    tr = PersonTracker()
    tr.update(3, [])
    with pytest.raises(InputError, match="frame 3 is not after the previous frame 3"):
        tr.update(3, [])
    with pytest.raises(InputError, match="detection 1 has an invalid box"):
        tr.update(4, [Detection([0, 0, 10, 10], 0.9), Detection([0, 0, -1, 10], 0.9)])
    with pytest.raises(InputError, match="image must be"):
        tr.update(5, [], np.zeros((10, 10), np.uint8))


def test_config_defaults_are_valid_and_bad_values_are_named():
    cfg = TrackerConfig()
    assert cfg.new_track_score >= cfg.high_score >= cfg.low_score
    with pytest.raises(AttributeError):
        cfg.min_hits = 5  # type: ignore[misc]
    for bad, field in [({"iou_gate": 1.5}, "iou_gate"), ({"min_hits": 0}, "min_hits"),
                       ({"min_hits": 2.5}, "min_hits"), ({"appearance_ema": 1.0}, "appearance_ema"),
                       ({"low_score": 0.9}, "low_score"),
                       ({"new_track_score": 0.1}, "new_track_score"),
                       ({"reid_max_lost_frames": 3}, "reid_max_lost_frames"),
                       ({"use_appearance": 1}, "use_appearance"),
                       ({"kalman_position_noise": float("nan")}, "kalman_position_noise"),
                       ({"weight_iou": 0.0}, "weight_iou")]:
        with pytest.raises(InputError, match=f"TrackerConfig.{field} ="):
            TrackerConfig(**bad)
