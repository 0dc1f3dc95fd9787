"""Hand-checkable cases for inference.metrics: boundaries, video IoU, temporal AP, MOT, MOTS, OKS."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy import ndimage

from inference.errors import InputError
from inference.metrics import (
    MOTSAccumulator,
    boundary_iou,
    boundary_rle,
    dilation_pixels,
    evaluate,
    keypoint_ap,
    mask_to_boundary,
    mot_metrics,
    mots_metrics,
    temporal_boundary_ap,
    temporal_mask_ap,
    video_iou_matrix,
)
from inference.metrics.coco_ap import accumulate, match_image
from inference.tracks.masks import decode_mask, encode_mask
from inference.tracks.model import PersonRecord, Track, TrackSet, VideoInfo

H, W = 60, 80


def rect(x0: int, y0: int, x1: int, y1: int, h: int = H, w: int = W) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def rec(
    frame: int,
    tid: int,
    mask: np.ndarray | None = None,
    *,
    bbox=None,
    score: float = 1.0,
    keypoints=None,
    video: int = 1,
) -> PersonRecord:
    if bbox is None:
        ys, xs = np.nonzero(mask)
        bbox = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    kw = {} if keypoints is None else {"keypoints": keypoints}
    seg = None if mask is None else encode_mask(mask)
    return PersonRecord(video, frame, tid, bbox, segmentation=seg, score=score, **kw)


def trackset(records: list[PersonRecord], h: int = H, w: int = W, length: int = 10) -> TrackSet:
    vids = sorted({r.video_id for r in records}) or [1]
    videos = [VideoInfo(v, f"clip{v}.mp4", w, h, length, Fraction(30)) for v in vids]
    tids = sorted({(r.video_id, r.track_id) for r in records})
    return TrackSet(videos, [Track(t, v) for v, t in tids], records)


# ---------------------------------------------------------------------------- boundary


def test_dilation_width_follows_the_seed_ratio() -> None:
    assert dilation_pixels(720, 1280, 0.01) == 15  # round(0.01 * 1468.6)
    assert dilation_pixels(480, 854, 0.01) == 10
    assert dilation_pixels(10, 10, 0.01) == 1  # never below one pixel


@pytest.mark.parametrize("d", [1, 2, 3])
def test_boundary_of_a_square_is_the_expected_ring(d: int) -> None:
    h = w = 100
    ratio = d / np.hypot(h, w)  # round(ratio * diagonal) == d
    assert dilation_pixels(h, w, ratio) == d
    sq = rect(20, 30, 60, 70, h, w)  # 40 x 40
    ring = sq.copy()
    ring[30 + d : 70 - d, 20 + d : 60 - d] = 0
    assert np.array_equal(mask_to_boundary(sq, ratio), ring)
    assert ring.sum() == 40 * 40 - (40 - 2 * d) ** 2


def test_boundary_along_the_frame_edge() -> None:
    # a mask filling the left half: its boundary runs along the frame's top, left and bottom
    # edges too (pixels outside the image are background), as Boundary IoU pads with zeros
    m = rect(0, 0, 40, H)
    b = mask_to_boundary(m, 1 / np.hypot(H, W))  # d = 1
    expected = m.copy()
    expected[1 : H - 1, 1:39] = 0
    assert np.array_equal(b, expected)


def test_boundary_is_chessboard_distance_band_and_rle_path_agrees() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:120, :160]
    for k in range(6):
        cx, cy = rng.uniform(-10, 170), rng.uniform(-10, 130)
        m = ((xx - cx) / rng.uniform(10, 60)) ** 2 + ((yy - cy) / rng.uniform(10, 60)) ** 2 < 1
        m = m.astype(np.uint8)
        for ratio in (0.01, 0.02, 0.05):
            d = dilation_pixels(120, 160, ratio)
            # independent definition: mask pixels whose chessboard distance to background
            # (the outside of the image included) is at most d
            dist = ndimage.distance_transform_cdt(np.pad(m, 1), metric="chessboard")[1:-1, 1:-1]
            expected = ((dist >= 1) & (dist <= d)).astype(np.uint8)
            got = mask_to_boundary(m, ratio)
            assert np.array_equal(got, expected), (k, ratio)
            assert np.array_equal(decode_mask(boundary_rle(encode_mask(m), ratio)), got)


def test_boundary_rle_edge_cases_and_rle_parser() -> None:
    from pycocotools import mask as cocomask

    from inference.metrics.boundary import rle_counts

    cases = {
        "empty": np.zeros((H, W), np.uint8),
        "full": np.ones((H, W), np.uint8),
        "top-left pixel": rect(0, 0, 1, 1),
        "bottom-right corner": rect(W - 7, H - 5, W, H),
        "right edge strip": rect(W - 3, 10, W, 50),
        "left edge strip": rect(0, 0, 4, H),
        "one row": rect(10, 30, 70, 31),
    }
    for name, m in cases.items():
        rle = encode_mask(m)
        counts = rle_counts(rle)
        assert counts.sum() == H * W, name
        again = cocomask.frPyObjects({"size": [H, W], "counts": counts.tolist()}, H, W)
        assert again["counts"].decode() == rle["counts"], name
        for ratio in (0.01, 0.08):
            got = decode_mask(boundary_rle(rle, ratio))
            assert np.array_equal(got, mask_to_boundary(m, ratio)), (name, ratio)


def test_boundary_iou_of_a_shrunk_square() -> None:
    # 100x100 square vs the same square shrunk by 2 px per side, d = 3 on a 200x200 frame:
    # rings of 100²-94² = 1164 and 96²-90² = 1116 px share the 96²-94² = 380 px on x or y ∈ {52, 147}
    gt = rect(50, 50, 150, 150, 200, 200)
    dt = rect(52, 52, 148, 148, 200, 200)
    assert dilation_pixels(200, 200, 0.01) == 3
    assert boundary_iou(gt, dt, 0.01) == pytest.approx(380 / (1164 + 1116 - 380))


# ---------------------------------------------------------------------------- video IoU


def test_video_iou_sums_over_frames() -> None:
    a = rect(0, 0, 10, 10)  # area 100
    shifted = rect(2, 0, 12, 10)  # overlap 80, union 120
    gt = [{0: encode_mask(a), 1: encode_mask(a), 2: encode_mask(a)}]
    dt = [{0: encode_mask(a), 1: encode_mask(shifted), 3: encode_mask(a)}]
    iou, inter, union = video_iou_matrix(dt, gt)
    # frame 0: 100/100, frame 1: 80/120, frame 2: gt only (+100), frame 3: prediction only (+100)
    assert inter.tolist() == [[180]]
    assert union.tolist() == [[100 + 120 + 100 + 100]]
    assert iou[0, 0] == pytest.approx(180 / 420)


# ---------------------------------------------------------------------------- temporal AP

LEFT, RIGHT = rect(5, 10, 25, 50), rect(50, 10, 70, 50)  # disjoint, 800 px each


def two_people(n: int = 4) -> list[PersonRecord]:
    return [rec(f, 1, LEFT) for f in range(n)] + [rec(f, 2, RIGHT) for f in range(n)]


def test_perfect_prediction_has_ap_one() -> None:
    gt = trackset(two_people())
    pred = trackset(
        [
            rec(r.frame_index, r.track_id + 10, decode_mask(r.segmentation), score=0.9)
            for r in gt.annotations
        ]
    )
    for res in (temporal_mask_ap(pred, gt), temporal_boundary_ap(pred, gt)):
        assert (res.ap, res.ap50, res.ap75, res.ar) == pytest.approx((1, 1, 1, 1), abs=1e-12)
    m = evaluate(pred, gt)
    assert m["mask_ap"] == pytest.approx(1, abs=1e-12)
    assert m["boundary_ap"] == pytest.approx(1, abs=1e-12)
    assert m["smotsa"] == m["mota"] == m["idf1"] == 1.0
    assert m["motp"] == 1.0 and m["id_switches"] == 0


def test_missing_track_halves_recall() -> None:
    gt = trackset(two_people())
    pred = trackset([rec(f, 1, LEFT) for f in range(4)])
    res = temporal_mask_ap(pred, gt)
    assert res.ar == 0.5
    # precision 1 up to recall 0.5, then nothing: 51 of the 101 recall samples (0.00..0.50)
    assert res.ap == pytest.approx(51 / 101)
    missed = [t for t in res.tracks if t.matched_pred_track_id_50 is None]
    assert [t.gt_track_id for t in missed] == [2]


def test_id_swap_lowers_temporal_iou() -> None:
    gt = trackset(two_people(5))
    # the two predicted identities swap people for the last frame of five:
    # TMIoU = 4·800 / (4·800 + 2·800) = 2/3 for both pairs
    pred = []
    for f in range(5):
        swap = f == 4
        pred.append(rec(f, 11, RIGHT if swap else LEFT))
        pred.append(rec(f, 12, LEFT if swap else RIGHT))
    res = temporal_mask_ap(trackset(pred), gt)
    assert [t.best_iou for t in res.tracks] == pytest.approx([2 / 3, 2 / 3])
    assert [t.matched_pred_track_id_50 for t in res.tracks] == [11, 12]
    # matched at IoU 0.50, 0.55, 0.60, 0.65 only
    assert res.ap50 == pytest.approx(1.0) and res.ap75 == 0.0 and res.ap == pytest.approx(0.4)
    # swapping half-way: TMIoU = 2/6 — nothing is matched at all
    half = [rec(f, 11, LEFT if f < 2 else RIGHT) for f in range(4)]
    half += [rec(f, 12, RIGHT if f < 2 else LEFT) for f in range(4)]
    res = temporal_mask_ap(trackset(half), trackset(two_people(4)))
    assert [t.best_iou for t in res.tracks] == pytest.approx([1 / 3, 1 / 3])
    assert res.ap == 0.0


def test_score_order_of_a_false_positive_matters() -> None:
    gt = trackset([rec(f, 1, LEFT) for f in range(3)])
    tp = [rec(f, 10, LEFT, score=0.8) for f in range(3)]
    fp_high = [rec(f, 20, RIGHT, score=0.9) for f in range(3)]
    fp_low = [rec(f, 20, RIGHT, score=0.7) for f in range(3)]
    assert temporal_mask_ap(trackset(tp + fp_high), gt).ap == pytest.approx(0.5)
    # (COCO's precision tp / (tp + fp + eps) is 1 - 2**-52 for one lone true positive)
    assert temporal_mask_ap(trackset(tp + fp_low), gt).ap == pytest.approx(1.0, abs=1e-12)


def test_boundary_ap_punishes_a_coarse_edge_that_mask_ap_forgives() -> None:
    gt = trackset([rec(0, 1, rect(50, 50, 150, 150, 200, 200))], 200, 200)
    pred = trackset([rec(0, 9, rect(52, 52, 148, 148, 200, 200))], 200, 200)
    mask = temporal_mask_ap(pred, gt)
    assert mask.videos[0].iou[0, 0] == pytest.approx(96**2 / 100**2)
    assert mask.ap == pytest.approx(0.9)  # 0.9216 passes thresholds 0.50..0.90
    bnd = temporal_boundary_ap(pred, gt)
    assert bnd.videos[0].iou[0, 0] == pytest.approx(0.2)
    assert bnd.ap == 0.0 and bnd.dilation_ratio == 0.01


def test_no_ground_truth_gives_nan_ap() -> None:
    res = accumulate([match_image(np.zeros((1, 0)), [0.5], [])])
    assert np.isnan(res.ap) and res.num_dt == 1


# ---------------------------------------------------------------------------- MOT


def box_records(tracks: dict[int, dict[int, tuple]], video: int = 1) -> list[PersonRecord]:
    return [rec(f, tid, bbox=b, video=video) for tid, fr in tracks.items() for f, b in fr.items()]


BA, BB = (0, 0, 10, 20), (50, 0, 10, 20)


def test_mot_counts_a_swap() -> None:
    gt = trackset(box_records({1: {f: BA for f in range(4)}, 2: {f: BB for f in range(4)}}))
    pred = trackset(
        box_records({10: {0: BA, 1: BA, 2: BB, 3: BB}, 20: {0: BB, 1: BB, 2: BA, 3: BA}})
    )
    r = mot_metrics(pred, gt)
    assert (r.num_switches, r.num_false_positives, r.num_misses) == (2, 0, 0)
    assert r.mota == pytest.approx(1 - 2 / 8)
    assert r.idtp == 4 and r.idf1 == pytest.approx(0.5)  # each identity right half the time
    assert r.motp == 1.0 and r.num_fragmentations == 0


def test_mot_counts_a_miss_a_fragment_and_a_false_positive() -> None:
    gt = trackset(box_records({1: {f: BA for f in range(5)}}))
    # IoU of (0,0,10,20) and (0,0,10,10) is exactly 0.5: a match for MOT (IoU >= 0.5)
    pred = trackset(box_records({7: {0: BA, 1: BA, 3: (0, 0, 10, 10), 4: BA}, 8: {2: BB}}))
    r = mot_metrics(pred, gt)
    assert (r.num_misses, r.num_false_positives, r.num_switches) == (1, 1, 0)
    assert r.num_fragmentations == 1 and r.mostly_tracked == 1  # tracked 4/5 = 0.8
    assert r.mota == pytest.approx(1 - 2 / 5)
    assert r.motp == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert r.idf1 == pytest.approx(2 * 4 / (5 + 5))


# ---------------------------------------------------------------------------- MOTS


def test_mots_hand_computed() -> None:
    a, b = rect(0, 0, 10, 10), rect(40, 0, 50, 10)
    b_shift2 = rect(42, 0, 52, 10)  # IoU with b: 80/120 = 2/3
    b_shift4 = rect(44, 0, 54, 10)  # 60/140 = 3/7 < 0.5
    fp = rect(60, 30, 70, 40)
    gt = [rec(f, 1, a) for f in range(3)] + [rec(f, 2, b) for f in range(3)]
    pred = [
        rec(0, 10, a), rec(0, 20, b_shift2),    # 2 TP (1 + 2/3)
        rec(1, 10, a), rec(1, 30, fp),          # 1 TP, 1 FP, gt 2 missed
        rec(2, 20, a), rec(2, 10, b_shift4),    # gt 1 now from track 20: IDS; 3/7 -> FP + FN
    ]  # fmt: skip
    r = mots_metrics(trackset(pred), trackset(gt))
    assert (r.num_gt, r.tp, r.fp, r.fn, r.ids) == (6, 4, 2, 2, 1)
    assert r.tp_soft == pytest.approx(1 + 2 / 3 + 1 + 1)
    assert r.motsa == pytest.approx((4 - 2 - 1) / 6)
    assert r.smotsa == pytest.approx((11 / 3 - 2 - 1) / 6)
    assert r.motsp == pytest.approx((11 / 3) / 4)


def test_mots_needs_iou_strictly_above_half() -> None:
    acc = MOTSAccumulator()
    assert acc.update([1], [5], np.array([[0.5]])) == []
    assert acc.update([1], [5], np.array([[0.5000001]])) == [(1, 5)]
    assert (acc.result.tp, acc.result.fp, acc.result.fn) == (1, 1, 1)


# ---------------------------------------------------------------------------- keypoints


def person_keypoints(x: float, y: float) -> np.ndarray:
    kp = np.zeros((17, 3))
    kp[:, 0] = x + np.arange(17) * 2.0
    kp[:, 1] = y + np.arange(17) * 3.0
    kp[:, 2] = 2
    return kp


def test_keypoint_ap_perfect_and_unlabelled_ground_truth_is_ignored() -> None:
    kp1, kp2 = person_keypoints(5, 5), person_keypoints(40, 5)
    unlabelled = np.zeros((17, 3))
    gt = trackset([rec(0, 1, bbox=(5, 5, 33, 49), keypoints=kp1),
                   rec(0, 2, bbox=(40, 5, 33, 49), keypoints=kp2),
                   rec(0, 3, bbox=(5, 5, 10, 10), keypoints=unlabelled)])  # fmt: skip
    pred = trackset([rec(0, 1, bbox=(5, 5, 33, 49), keypoints=kp1, score=0.9),
                     rec(0, 2, bbox=(40, 5, 33, 49), keypoints=kp2, score=0.8)])  # fmt: skip
    res = keypoint_ap(pred, gt)
    assert res.ap == pytest.approx(1, abs=1e-12) and res.ar == 1.0 and res.ap_result.num_gt == 2
    # one person's joints 10 px off: OKS well below 0.5 for this 33x49 box -> recall 0.5
    far = kp2.copy()
    far[:, :2] += 10
    pred2 = trackset([rec(0, 1, bbox=(5, 5, 33, 49), keypoints=kp1, score=0.9),
                      rec(0, 2, bbox=(40, 5, 33, 49), keypoints=far, score=0.8)])  # fmt: skip
    assert keypoint_ap(pred2, gt).ar == 0.5


# ---------------------------------------------------------------------------- evaluate()


def test_evaluate_reports_only_what_the_inputs_support() -> None:
    boxes = trackset(box_records({1: {f: BA for f in range(3)}}))
    m = evaluate(boxes, boxes)
    assert "mask_ap" not in m and "keypoint_ap" not in m and "smotsa" not in m
    assert m["mota"] == 1.0 and m["gt_boxes"] == 3
    masks = trackset([rec(f, 1, LEFT) for f in range(3)])
    m = evaluate(masks, masks)
    assert {"mask_ap", "mask_ap50", "mask_ap75", "mask_ap95", "boundary_ap", "smotsa"} <= set(m)
    assert "keypoint_ap" not in m
    # masks on one side only: no mask metrics
    assert "mask_ap" not in evaluate(boxes, masks)


def test_evaluate_rejects_mismatched_inputs() -> None:
    gt = trackset([rec(0, 1, LEFT, video=1), rec(0, 1, LEFT, video=2)])
    stray = trackset([rec(0, 1, LEFT, video=3)])
    with pytest.raises(InputError, match="video id 3"):
        evaluate(stray, gt)
    small = trackset([rec(0, 1, rect(0, 0, 5, 5, 30, 40))], 30, 40)
    with pytest.raises(InputError, match="40x30"):
        evaluate(small, trackset([rec(0, 1, LEFT)]))
    with pytest.raises(InputError, match="dilation ratio"):
        evaluate(gt, gt, dilation_ratio=0.0)
    dup = trackset([rec(0, 1, LEFT), rec(0, 1, RIGHT)])
    with pytest.raises(InputError, match="two records on frame 0"):
        evaluate(dup, gt)


def test_single_videos_pair_whatever_their_ids() -> None:
    gt = trackset([rec(f, 1, LEFT, video=7) for f in range(2)])
    pred = trackset([rec(f, 3, LEFT, video=1) for f in range(2)])
    assert evaluate(pred, gt)["mask_ap"] == pytest.approx(1.0, abs=1e-12)
