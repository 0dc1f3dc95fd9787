"""Global Pose Tracker: targets, losses, decoding, letterbox, association, tracker, training."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch

from inference.errors import InputError
from inference.models.pose_tracker import (
    GlobalPoseTracker,
    Letterbox,
    PoseNetConfig,
    PoseTrackerConfig,
    PoseTrackerNet,
    PoseTrainConfig,
    load_pose_tracker,
    train_pose_tracker,
)
from inference.models.pose_tracker.data import (
    AugmentConfig,
    FramePair,
    ListPairSource,
    SynthSourceConfig,
    make_sample,
)
from inference.models.pose_tracker.decode import Detection, decode, to_frame
from inference.models.pose_tracker.letterbox import affine_for_cv2
from inference.models.pose_tracker.losses import focal_loss, pose_tracker_loss, reg_l1_loss
from inference.models.pose_tracker.network import head_channels
from inference.models.pose_tracker.targets import (
    PersonAnn,
    build_targets,
    clipped_box,
    dense_head_maps,
    draw_gaussian,
    gaussian_radius,
    render_center_heatmap,
)
from inference.models.pose_tracker.tracker import CenterTrackAssociator, greedy_match
from inference.tracks.model import V_NONE, V_OCCLUDED, V_VISIBLE


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """These 64-256 px workloads gain nothing from intra-op threads, and on a busy 2-core
    machine OpenMP threads waiting on each other made training here ~8x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL_NET = PoseNetConfig(backbone="resnet18", neck_channels=(64, 32, 32), head_channels=32)

# A standing stick figure: joint offsets as fractions of (height, height) from the box centre.
# Neighbouring joints are >= 0.06 * height apart along x or y, so people at least 80 input
# pixels tall never put two joints in one stride-4 cell (they would share ``hp_offset``).
_TEMPLATE = np.array(
    [
        (0.00, -0.40),
        (-0.06, -0.45),
        (0.06, -0.45),
        (-0.12, -0.43),
        (0.12, -0.43),
        (-0.12, -0.30),
        (0.12, -0.30),
        (-0.16, -0.12),
        (0.16, -0.12),
        (-0.18, 0.04),
        (0.18, 0.04),
        (-0.08, 0.02),
        (0.08, 0.02),
        (-0.09, 0.22),
        (0.09, 0.22),
        (-0.10, 0.44),
        (0.10, 0.44),
    ]
)


def stick_person(track_id: int, cx: float, cy: float, height: float, v=V_VISIBLE) -> PersonAnn:
    """A person whose box is ``0.44 * height`` wide and ``height`` tall, centred at (cx, cy)."""
    kps = np.zeros((17, 3))
    kps[:, :2] = np.array([cx, cy]) + _TEMPLATE * height
    kps[:, 2] = v
    w = 0.44 * height
    return PersonAnn(track_id, (cx - w / 2, cy - height / 2, w, height), kps)


def draw_people(people, size, seed) -> np.ndarray:
    """RGB frame with each person drawn as a coloured stick figure on a noisy background."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 90, (h, w, 3), dtype=np.uint8)
    for p in people:
        colour = tuple(int(c) for c in (np.array([200, 80, 40]) + 37 * p.track_id) % 256)
        k = p.keypoints[:, :2]
        thick = max(2, int(p.bbox[3] / 12))
        for a, b in (
            (5, 7),
            (7, 9),
            (6, 8),
            (8, 10),
            (11, 13),
            (13, 15),
            (12, 14),
            (14, 16),
            (5, 6),
            (11, 12),
            (5, 11),
            (6, 12),
        ):
            cv2.line(img, tuple(int(v) for v in k[a]), tuple(int(v) for v in k[b]), colour, thick)
        cv2.circle(img, tuple(int(v) for v in k[0]), thick * 2, (240, 220, 200), -1)
    return img


# --------------------------------------------------------------------------- targets


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return inter / (area(a) + area(b) - inter)


@pytest.mark.parametrize("h,w", [(100, 40), (40, 100), (12, 9), (300, 150)])
@pytest.mark.parametrize("o", [0.5, 0.7])
def test_gaussian_radius_keeps_min_overlap_and_is_tight(h, w, o):
    r = gaussian_radius(h, w, o)
    box = (0.0, 0.0, w, h)
    shifted = _iou(box, (r, r, w + r, h + r))
    shrunk = _iou(box, (r, r, w - r, h - r))
    grown = _iou(box, (-r, -r, w + r, h + r))
    assert min(shifted, shrunk, grown) >= o - 1e-9
    assert min(shifted, shrunk, grown) == pytest.approx(o, abs=1e-6)  # the radius is the largest
    assert gaussian_radius(2 * h, 2 * w, o) > r  # grows with the box
    assert gaussian_radius(h, w, o + 0.2) < r  # shrinks as the required overlap rises


def test_draw_gaussian_peak_and_max_merge():
    hm = np.zeros((20, 30), np.float32)
    draw_gaussian(hm, (10, 8), 3)
    assert hm[8, 10] == 1.0 and hm.max() == 1.0
    assert np.allclose(hm[8, 7:14], hm[8, 7:14][::-1])  # symmetric
    assert hm[8, 11] < 1.0 and hm[8, 14] == 0.0  # zero beyond the radius
    before = hm.copy()
    draw_gaussian(hm, (12, 8), 3, k=0.5)
    assert np.all(hm >= before) and hm[8, 10] == 1.0  # max-merge keeps the first peak
    draw_gaussian(hm, (0, 19), 4)  # corner: clipped, no error
    assert hm[19, 0] == 1.0


def test_build_targets_centre_size_offsets_joints_and_ignores():
    p = stick_person(7, 50.5, 61.0, 80.0)
    p.keypoints[3, 2] = V_OCCLUDED
    p.keypoints[4, 2] = V_NONE
    t = build_targets([p], (128, 128), prev_centres={7: np.array([10.0, 12.5])})
    box = clipped_box(p.bbox, 128, 128) / 4
    ct = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    ci = np.floor(ct).astype(int)
    assert t["hm"][0, ci[1], ci[0]] == 1.0 and t["hm"].max() == 1.0
    assert t["ind"][0] == ci[1] * 32 + ci[0] and t["mask"].tolist()[:2] == [1.0, 0.0]
    assert np.allclose(t["wh"][0], [box[2] - box[0], box[3] - box[1]])
    assert np.allclose(t["reg"][0], ct - ci)
    assert np.allclose(t["tracking"][0], np.array([10.0, 12.5]) - ci) and t["tracking_mask"][0, 0]
    hps = t["hps"][0].reshape(17, 2)
    assert np.allclose(hps[0], p.keypoints[0, :2] / 4 - ci, atol=1e-5)
    assert t["hps_mask"][0].reshape(17, 2)[:, 0].tolist() == [1] * 4 + [0] + [1] * 12
    # occluded joint: regressed but its heatmap peak is not a positive
    assert t["hp_mask"][3] == 0 and t["hp_mask"][0] == 1
    nose = np.floor(p.keypoints[0, :2] / 4).astype(int)
    assert t["hm_hp"][0, nose[1], nose[0]] == 1.0
    assert t["hp_ind"][0] == nose[1] * 32 + nose[0]
    # unlabelled joint: its channel is ignored (1.0) over the whole box
    x1, y1 = int(box[0]), int(box[1])
    assert np.all(t["hm_hp"][4, y1 : int(box[3]), x1 : int(box[2])] == 1.0)
    assert t["hm_hp"][4].sum() > 0 and t["hp_mask"][4] == 0


def test_render_center_heatmap_peaks_at_box_centres():
    boxes = np.array([[10, 10, 40, 90], [70, 20, 110, 100]], float)
    hm = render_center_heatmap(boxes, (128, 128))
    assert hm[50, 25] == 1.0 and hm[60, 90] == 1.0
    assert hm.shape == (128, 128) and hm.max() == 1.0
    assert render_center_heatmap(boxes, (128, 128), weights=np.zeros(2)).max() == 0.0


# --------------------------------------------------------------------------- losses


def test_focal_loss_small_when_perfect_large_when_wrong():
    people = [stick_person(1, 40, 50, 60), stick_person(2, 90, 70, 70)]
    t = build_targets(people, (128, 128))
    gt = torch.from_numpy(t["hm"])[None]
    ind, mask = torch.from_numpy(t["ind"])[None], torch.from_numpy(t["mask"])[None]
    perfect = gt.clamp(1e-4, 1 - 1e-4)
    wrong = torch.full_like(gt, 0.5)
    shifted = torch.roll(perfect, shifts=(5, 5), dims=(2, 3))
    l_perfect = float(focal_loss(perfect, gt, ind, mask))
    assert 0 <= l_perfect < 0.05
    assert float(focal_loss(wrong, gt, ind, mask)) > 100 * max(l_perfect, 1e-3)
    assert float(focal_loss(shifted, gt, ind, mask)) > 1.0


def test_reg_l1_loss_counts_only_masked_entries():
    out = torch.zeros(1, 2, 4, 4)
    out[0, :, 1, 2] = torch.tensor([3.0, 4.0])
    ind = torch.tensor([[1 * 4 + 2, 0]])
    target = torch.tensor([[[1.0, 1.0], [9.0, 9.0]]])
    assert float(reg_l1_loss(out, ind, torch.tensor([[1.0, 0.0]]), target)) == pytest.approx(
        (2 + 3) / 2, rel=1e-3
    )
    assert float(reg_l1_loss(out, ind, torch.tensor([[0.0, 0.0]]), target)) == 0.0


def test_total_loss_reports_every_component():
    t = build_targets([stick_person(1, 40, 50, 60)], (64, 64))
    batch = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    net = PoseTrackerNet(SMALL_NET)
    x = torch.rand(1, 3, 64, 64)
    total, terms = pose_tracker_loss(net(x, x, torch.zeros(1, 1, 64, 64)), batch)
    assert set(terms) == set(head_channels()) | {"total"}
    assert terms["total"] == pytest.approx(float(total.detach())) and math.isfinite(terms["total"])


# --------------------------------------------------------------------------- letterbox, decode


def test_letterbox_round_trip_and_image_placement():
    lb = Letterbox.fit((320, 200), (128, 128))
    assert lb.scale_x == pytest.approx(0.4) and lb.pad_x == 0 and lb.pad_y == 24
    pts = np.random.default_rng(0).uniform([0, 0], [320, 200], (50, 2))
    assert np.allclose(lb.input_to_frame(lb.frame_to_input(pts)), pts)
    frame = np.zeros((200, 320, 3), np.uint8)
    frame[100:120, 200:240] = 255  # white block centred at (220, 110)
    img = lb.apply(frame)
    ys, xs = np.nonzero(img[..., 0].astype(float) > 0)
    wts = img[ys, xs, 0].astype(float)
    centroid = np.array([(xs + 0.5) @ wts, (ys + 0.5) @ wts]) / wts.sum()
    assert np.allclose(centroid, lb.frame_to_input([220.0, 110.0]), atol=0.25)
    assert img[:24].max() == 0 and img[-24:].max() == 0  # padding
    tall = Letterbox.fit((90, 300), (64, 128))
    assert np.allclose(
        tall.input_to_frame(tall.frame_to_input([[0, 0], [90, 300]])), [[0, 0], [90, 300]]
    )


def test_affine_for_cv2_matches_point_mapping():
    img = np.zeros((60, 80), np.uint8)
    img[20:30, 40:50] = 255  # centre (45, 25) in continuous coordinates
    m = np.array([[-0.7, 0.0, 70.0], [0.0, 0.7, 5.0]])
    out = cv2.warpAffine(img, affine_for_cv2(m), (80, 60), flags=cv2.INTER_LINEAR).astype(float)
    ys, xs = np.nonzero(out)
    c = np.array([(xs + 0.5) @ out[ys, xs], (ys + 0.5) @ out[ys, xs]]) / out[ys, xs].sum()
    assert np.allclose(c, m[:, :2] @ [45.0, 25.0] + m[:, 2], atol=0.1)


def test_decode_of_ideal_head_maps_recovers_people_in_frame_pixels():
    frame_size, input_size = (320, 200), (256, 256)
    lb = Letterbox.fit(frame_size, input_size)
    frame_people = [
        stick_person(1, 60.3, 100.2, 120.0),
        stick_person(2, 170.7, 90.9, 150.0),
        stick_person(3, 262.2, 110.4, 100.0),
    ]
    frame_people[1].keypoints[5, 2] = V_OCCLUDED
    prev_frame_centres = {1: (55.0, 98.0), 3: (270.5, 112.25)}

    def to_input(p):
        (x1, y1), (x2, y2) = lb.frame_to_input(
            [[p.bbox[0], p.bbox[1]], [p.bbox[0] + p.bbox[2], p.bbox[1] + p.bbox[3]]]
        )
        kps = p.keypoints.copy()
        kps[:, :2] = lb.frame_to_input(kps[:, :2])
        return PersonAnn(p.track_id, (x1, y1, x2 - x1, y2 - y1), kps)

    prev = {k: lb.frame_to_input(v) / 4 for k, v in prev_frame_centres.items()}
    t = build_targets([to_input(p) for p in frame_people], input_size, prev_centres=prev)
    labelled = t["hps_mask"][:, 0::2].reshape(-1) > 0
    assert len(set(t["hp_ind"][labelled].tolist())) == labelled.sum() == 51  # no shared cells
    heads = {k: torch.from_numpy(v)[None] for k, v in dense_head_maps(t).items()}
    dets = to_frame(decode(heads, k=20), 0, lb, score_thresh=0.5)
    assert len(dets) == 3
    by_x = sorted(dets, key=lambda d: d.centre[0])
    for p, d in zip(frame_people, by_x):
        assert np.allclose(d.bbox, p.bbox, atol=1.0)
        assert np.allclose(d.keypoints[:, :2], p.keypoints[:, :2], atol=1.0)
        assert d.score == pytest.approx(1.0)
        assert set(d.keypoints[:, 2].tolist()) <= {V_VISIBLE}
        if p.track_id in prev_frame_centres:
            assert np.allclose(d.prev_centre, prev_frame_centres[p.track_id], atol=1.0)
    # without snapping, regressed joints are exact too (from the centre cell)
    raw = to_frame(decode(heads, k=20, snap_joints=False), 0, lb, score_thresh=0.5)
    assert np.allclose(
        sorted(raw, key=lambda d: d.centre[0])[1].keypoints[:, :2],
        frame_people[1].keypoints[:, :2],
        atol=1.0,
    )


def test_decode_snaps_noisy_regressions_onto_joint_peaks():
    p = stick_person(1, 64.0, 64.0, 100.0)
    t = build_targets([p], (128, 128))
    maps = dense_head_maps(t)
    y, x = divmod(int(t["ind"][0]), 32)
    maps["hps"][:, y, x] += np.random.default_rng(1).uniform(-1.2, 1.2, 34)  # ~5 input px off
    heads = {k: torch.from_numpy(v)[None] for k, v in maps.items()}
    snapped = decode(heads, k=5).keypoints[0, 0].numpy()
    raw = decode(heads, k=5, snap_joints=False).keypoints[0, 0].numpy()
    assert np.abs(raw - p.keypoints[:, :2]).max() > 2.0
    assert np.allclose(snapped, p.keypoints[:, :2], atol=1e-3)


# --------------------------------------------------------------------------- association


def _det(cx, cy, w, h, score=0.9, tracking=(0.0, 0.0)):
    return Detection(
        (cx - w / 2, cy - h / 2, w, h),
        np.zeros((17, 3)),
        np.zeros(17),
        score,
        np.array([cx, cy], float),
        np.array(tracking, float),
    )


def test_greedy_match_respects_size_gate_and_score_order():
    prev = np.array([[0.0, 0.0], [5.0, 0.0]])
    tracks = np.array([[1.0, 0.0], [50.0, 0.0]])
    pairs = greedy_match(prev, np.array([100.0, 100.0]), tracks, np.array([100.0, 100.0]))
    assert pairs == [(0, 0)]  # the better detection claims the near track; the far one is gated


def test_associator_keeps_ids_of_crossing_people_and_handles_new_ones():
    assoc = CenterTrackAssociator(new_thresh=0.5, max_age=1)
    ids0 = assoc.update([_det(100, 100, 40, 100), _det(140, 100, 40, 100)])
    assert sorted(ids0) == [1, 2]
    a, b = ids0
    # the two walk towards and past each other, 16 px per frame; tracking offsets say so
    seq = [(a, b)]
    for t in range(1, 6):
        xa, xb = 100 + 16 * t, 140 - 16 * t
        dets = [_det(xb, 100, 40, 100, 0.8, (16, 0)), _det(xa, 100, 40, 100, 0.9, (-16, 0))]
        ids = assoc.update(dets)
        seq.append((ids[1], ids[0]))
    assert all(s == (a, b) for s in seq)
    # a newcomer gets a fresh id; a low-score newcomer is dropped
    ids = assoc.update(
        [
            _det(xa + 16, 100, 40, 100, 0.9, (-16, 0)),
            _det(300, 50, 30, 80, 0.9),
            _det(20, 20, 30, 80, 0.3),
        ]
    )
    assert ids[0] == a and ids[1] == 3 and ids[2] == -1
    # person ``a`` is missed for one frame (max_age=1) and found again
    assoc.update([_det(300, 50, 30, 80, 0.9)])
    ids = assoc.update([_det(xa + 48, 100, 40, 100, 0.9, (-16, 0)), _det(300, 50, 30, 80, 0.9)])
    assert ids == [a, 3]
    assoc.reset()
    assert assoc.update([_det(10, 10, 5, 5)]) == [1]


# --------------------------------------------------------------------------- tracker


class OracleNet(torch.nn.Module):
    """Test double of the network: outputs the ideal head maps of known people.

    It stands in for a trained network, which a unit test cannot train; everything around it
    (letterbox, ``C_{t-1}`` rendering, decoding, association) is the real code.
    """

    def __init__(self, frames_people, frame_size, input_size):
        super().__init__()
        self.frames_people, self.lb = frames_people, Letterbox.fit(frame_size, input_size)
        self.input_size, self.t, self.pre_hms = input_size, 0, []

    def _inp(self, people):
        out = []
        for p in people:
            (x1, y1), (x2, y2) = self.lb.frame_to_input(
                [[p.bbox[0], p.bbox[1]], [p.bbox[0] + p.bbox[2], p.bbox[1] + p.bbox[3]]]
            )
            kps = p.keypoints.copy()
            kps[:, :2] = self.lb.frame_to_input(kps[:, :2])
            out.append(PersonAnn(p.track_id, (x1, y1, x2 - x1, y2 - y1), kps))
        return out

    def forward(self, image, pre_image, pre_hm):
        self.pre_hms.append(pre_hm[0, 0].cpu().numpy().copy())
        people = self._inp(self.frames_people[self.t])
        prev = {}
        if self.t > 0:
            for p in self._inp(self.frames_people[self.t - 1]):
                box = clipped_box(p.bbox, *self.input_size)
                prev[p.track_id] = (box[:2] + box[2:]) / 2 / 4
        self.t += 1
        maps = dense_head_maps(build_targets(people, self.input_size, prev_centres=prev))
        out = {}
        for k, v in maps.items():
            v = torch.from_numpy(v)[None]
            out[k] = torch.logit(v.clamp(1e-6, 1 - 1e-6)) if k in ("hm", "hm_hp") else v
        return out


def test_tracker_with_ideal_network_keeps_ids_and_feeds_back_previous_centres():
    frame_size, input_size = (320, 240), (256, 256)
    frames = []
    for t in range(6):
        people = [stick_person(11, 60 + 6 * t, 120, 120), stick_person(12, 250 - 5 * t, 130, 140)]
        if t >= 3:
            people.append(stick_person(13, 160, 60 + 4 * t, 110))
        frames.append(people)
    oracle = OracleNet(frames, frame_size, input_size)
    tracker = GlobalPoseTracker(oracle, PoseTrackerConfig(input_size=input_size), device="cpu")
    images = [draw_people(p, frame_size, t) for t, p in enumerate(frames)]
    results = [tracker.step(images[0])] + tracker.step_batch(images[1:])
    mapping = {}
    lb = Letterbox.fit(frame_size, input_size)
    for t, (people, dets) in enumerate(zip(frames, results)):
        assert len(dets) == len(people)
        for p in people:
            d = min(dets, key=lambda d: abs(d.bbox[0] - p.bbox[0]) + abs(d.bbox[1] - p.bbox[1]))
            assert np.allclose(d.bbox, p.bbox, atol=1.0)
            assert np.allclose(d.keypoints[:, :2], p.keypoints[:, :2], atol=1.0)
            assert mapping.setdefault(p.track_id, d.track_id) == d.track_id  # id persists
        if t == 0:
            assert oracle.pre_hms[0].max() == 0.0
        else:  # C_{t-1} peaks at the previous frame's people
            for p in frames[t - 1]:
                c = lb.frame_to_input([p.bbox[0] + p.bbox[2] / 2, p.bbox[1] + p.bbox[3] / 2])
                assert oracle.pre_hms[t][int(c[1]), int(c[0])] == pytest.approx(1.0)
    assert len(set(mapping.values())) == 3
    tracker.reset()
    oracle.t = 0
    assert sorted(d.track_id for d in tracker.step(images[0])) == [1, 2]


def test_tracker_runs_untrained_network_and_rejects_bad_frames():
    torch.manual_seed(0)
    tracker = GlobalPoseTracker(
        PoseTrackerNet(SMALL_NET), PoseTrackerConfig(input_size=64, track_thresh=0.0), device="cpu"
    )
    out = tracker.step(np.zeros((48, 80, 3), np.uint8))
    out2 = tracker.step(np.zeros((90, 30, 3), np.uint8))  # size change resets, still works
    for d in out + out2:
        assert d.keypoints.shape == (17, 3) and len(d.bbox) == 4 and 0 <= d.score <= 1
    with pytest.raises(InputError, match="uint8"):
        tracker.step(np.zeros((48, 80, 3), np.float32))
    with pytest.raises(InputError):
        PoseTrackerConfig(input_size=100)


# --------------------------------------------------------------------------- training


def _pairs(n, size=(96, 96), seed=0):
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        base = [(rng.uniform(20, 76), rng.uniform(35, 60), rng.uniform(40, 60)) for _ in range(2)]
        vel = rng.uniform(-4, 4, (2, 2))
        prev = [stick_person(k + 1, x, y, h) for k, (x, y, h) in enumerate(base)]
        cur = [
            stick_person(k + 1, x + vel[k, 0], y + vel[k, 1], h) for k, (x, y, h) in enumerate(base)
        ]
        pairs.append(
            FramePair(draw_people(prev, size, 2 * i), prev, draw_people(cur, size, 2 * i + 1), cur)
        )
    return pairs


def test_make_sample_shapes_pre_heatmap_and_tracking_targets():
    pair = _pairs(1)[0]
    aug = AugmentConfig(
        lost_disturb=0.0,
        fp_disturb=0.0,
        hm_disturb=0.0,
        flip=0.0,
        scale=0.0,
        shift=0.0,
        pre_scale=0.0,
        pre_shift=0.0,
        color=0.0,
    )
    s = make_sample(pair, (64, 64), np.random.default_rng(0), aug=aug)
    assert s["image"].shape == (3, 64, 64) and s["pre_hm"].shape == (1, 64, 64)
    assert s["hm"].shape == (1, 16, 16) and s["image"].max() <= 1.0
    lb = Letterbox.fit((96, 96), (64, 64))
    for k, p in enumerate(pair.people):
        q = pair.prev_people[k]
        prev_c = lb.frame_to_input([q.bbox[0] + q.bbox[2] / 2, q.bbox[1] + q.bbox[3] / 2])
        assert s["pre_hm"][0, int(prev_c[1]), int(prev_c[0])] == 1.0
        ci = np.array([s["ind"][k] % 16, s["ind"][k] // 16])
        assert np.allclose(s["tracking"][k] + ci, prev_c / 4, atol=1e-4)
    flipped = make_sample(
        pair, (64, 64), np.random.default_rng(0), aug=dataclasses.replace(aug, flip=1.0)
    )

    def joints(sample):
        ci = np.array([sample["ind"][0] % 16, sample["ind"][0] // 16])
        return (sample["hps"][0].reshape(17, 2) + ci) * 4

    plain, mirrored = joints(s), joints(flipped)
    assert np.allclose(mirrored[0], [64 - plain[0, 0], plain[0, 1]], atol=1e-3)  # nose mirrored
    # left/right swapped with the image: the template's left joints stay on the image left
    assert np.allclose(mirrored[5], [64 - plain[6, 0], plain[6, 1]], atol=1e-3)
    assert mirrored[5, 0] < mirrored[6, 0] and plain[5, 0] < plain[6, 0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """30 AdamW steps on pairs of nearby frames of two small synthetic scenes, at 64x64 (lr
    raised to 1e-3 so that the loss visibly falls within the test's budget)."""
    cfg = PoseTrainConfig(
        net=SMALL_NET,
        lr=1e-3,
        log_every=10,
        augment=AugmentConfig(scale=0.1, shift=0.05),
        synth=SynthSourceConfig(scenes=2, people=(2, 3), frames=8, width=128, height=96),
    )
    out = tmp_path_factory.mktemp("pose-train")
    return train_pose_tracker(
        cfg, out_dir=out, device="cpu", steps=30, batch_size=2, input_size=64, seed=3
    )


def test_training_loss_falls(trained):
    losses = [h["total"] for h in trained.history]
    assert len(losses) == 30 and all(math.isfinite(v) for v in losses)
    assert [h["step"] for h in trained.history] == list(range(1, 31))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    for term in ("hm", "wh", "hps", "hm_hp"):
        first = np.mean([h[term] for h in trained.history[:5]])
        assert np.mean([h[term] for h in trained.history[-5:]]) < first, term


def test_checkpoint_loads_and_drives_the_tracker(trained):
    model, info = load_pose_tracker(trained.checkpoint)
    assert info.step == 30 and info.input_size == (64, 64) and info.net == SMALL_NET
    assert not model.training
    tracker = GlobalPoseTracker.from_checkpoint(trained.checkpoint, device="cpu")
    assert tracker.config.input_size == (64, 64)
    for pair in _pairs(2, seed=9):
        for d in tracker.step(pair.image):
            assert d.track_id >= 1 and d.keypoints.shape == (17, 3)
    done = train_pose_tracker(
        PoseTrainConfig(net=SMALL_NET),
        out_dir=trained.checkpoint.parent,
        steps=30,
        batch_size=2,
        input_size=64,
        seed=3,
        source=ListPairSource(_pairs(1)),
    )
    assert done.history == [] and done.step == 30  # nothing left to do


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    cfg = PoseTrainConfig(net=SMALL_NET)
    kw = {
        "device": "cpu",
        "batch_size": 1,
        "input_size": 64,
        "seed": 5,
        "source": ListPairSource(_pairs(3)),
    }
    full = train_pose_tracker(cfg, out_dir=tmp_path / "a", steps=2, **kw)
    train_pose_tracker(cfg, out_dir=tmp_path / "b", steps=1, **kw)
    resumed = train_pose_tracker(cfg, out_dir=tmp_path / "b", steps=2, **kw)
    assert [h["step"] for h in resumed.history] == [2.0]
    assert resumed.history[-1]["total"] == pytest.approx(full.history[-1]["total"], rel=1e-5)
    a, _ = load_pose_tracker(full.checkpoint)
    b, _ = load_pose_tracker(resumed.checkpoint)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(pa, pb, atol=1e-6), name


def test_bad_checkpoints_raise_input_error_naming_the_file(trained, tmp_path):
    ckpt = trained.checkpoint
    other = PoseNetConfig(neck_channels=(64, 32, 16), head_channels=32)
    with pytest.raises(InputError, match="architecture") as err:
        train_pose_tracker(
            PoseTrainConfig(net=other),
            out_dir=ckpt.parent,
            steps=31,
            batch_size=1,
            input_size=64,
            seed=0,
            source=ListPairSource(_pairs(1)),
        )
    assert str(ckpt) in str(err.value)
    with pytest.raises(InputError, match="fit") as err:
        load_pose_tracker(ckpt, net=other)
    assert str(ckpt) in str(err.value)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[:5000])
    with pytest.raises(InputError, match="truncated") as err:
        load_pose_tracker(truncated)
    assert str(truncated) in str(err.value)
    with pytest.raises(InputError, match="not found"):
        load_pose_tracker(tmp_path / "missing.pt")
    assert not list(ckpt.parent.glob(".*.tmp"))  # atomic writes leave no temp files
