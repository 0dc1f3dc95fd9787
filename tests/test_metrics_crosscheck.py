"""inference.metrics number for number against reference implementations:
py-motmetrics (CLEAR MOT / ID metrics), pycocotools COCOeval (segm AP, keypoint AP), and
motmetrics' published table for the real MOT15 TUD sequences (when the shared data is present).
"""

from __future__ import annotations

import contextlib
import io
from fractions import Fraction
from pathlib import Path

import motmetrics as mm
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from inference.metrics import keypoint_ap, mot_metrics, temporal_mask_ap, video_iou_matrix
from inference.tracks.masks import decode_mask, encode_mask, rle_area
from inference.tracks.model import (
    COCO_KEYPOINTS,
    COCO_SKELETON,
    PersonRecord,
    Track,
    TrackSet,
    VideoInfo,
)

MOT15 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mot15-gt"


def make_trackset(records: list[PersonRecord], w: int, h: int, length: int) -> TrackSet:
    vids = sorted({r.video_id for r in records})
    videos = [VideoInfo(v, f"v{v}", w, h, length, Fraction(25)) for v in vids]
    tracks = [Track(t, v) for v, t in sorted({(r.video_id, r.track_id) for r in records})]
    return TrackSet(videos, tracks, records)


# ---------------------------------------------------------------------------- motmetrics

MM_METRICS = [
    "mota", "motp", "idf1", "idp", "idr", "num_switches", "num_false_positives", "num_misses",
    "num_objects", "num_predictions", "mostly_tracked", "partially_tracked", "mostly_lost",
    "num_fragmentations", "recall", "precision", "num_unique_objects",
]  # fmt: skip


def motmetrics_summary(
    gt: list[PersonRecord], pred: list[PersonRecord], distth: float = 0.5
) -> dict:
    """motmetrics on the same boxes, frame by frame (its ``iou_matrix`` needs NumPy < 2, so the
    distance matrix is built from its ``boxiou`` exactly as ``iou_matrix`` builds it)."""
    acc = mm.MOTAccumulator()
    for f in sorted({r.frame_index for r in gt + pred}):
        g = [r for r in gt if r.frame_index == f]
        p = [r for r in pred if r.frame_index == f]
        if g and p:
            iou = mm.distances.boxiou(np.array([r.bbox for r in g])[:, None],
                                      np.array([r.bbox for r in p])[None, :])  # fmt: skip
            dist = 1 - iou
            dist = np.where(dist > distth, np.nan, dist)
        else:
            dist = np.empty((len(g), len(p)))
        acc.update([r.track_id for r in g], [r.track_id for r in p], dist, frameid=f)
    summary = mm.metrics.create().compute(acc, metrics=MM_METRICS, name="x")
    return {k: float(summary[k].iloc[0]) for k in MM_METRICS}


def assert_same_as_motmetrics(ours, ref: dict) -> None:
    assert ours.num_switches == ref["num_switches"]
    assert ours.num_false_positives == ref["num_false_positives"]
    assert ours.num_misses == ref["num_misses"]
    assert ours.num_gt == ref["num_objects"] and ours.num_pred == ref["num_predictions"]
    assert ours.num_fragmentations == ref["num_fragmentations"]
    assert (ours.mostly_tracked, ours.partially_tracked, ours.mostly_lost) == (
        ref["mostly_tracked"], ref["partially_tracked"], ref["mostly_lost"])  # fmt: skip
    assert ours.num_unique_objects == ref["num_unique_objects"]
    for name in ("mota", "idf1", "idp", "idr", "recall", "precision"):
        assert getattr(ours, name) == pytest.approx(ref[name], abs=1e-12), name
    assert 1 - ours.motp == pytest.approx(ref["motp"], abs=1e-12)  # motmetrics: mean 1 - IoU


def synthetic_box_tracks(seed: int, n_frames: int = 40, n_people: int = 7):
    """Crowded moving boxes; predictions with jitter (IoU around 0.5), misses, identity
    changes and swaps, and false positives."""
    rng = np.random.default_rng(seed)
    gt, pred = [], []
    next_id = 100
    for pid in range(1, n_people + 1):
        start = int(rng.integers(0, n_frames // 2))
        end = int(rng.integers(start + 5, n_frames + 1))
        pos = rng.uniform([0, 0], [160, 100])
        vel = rng.uniform(-3, 3, 2)
        size = rng.uniform([15, 30], [35, 60])
        hyp = next_id = next_id + 1
        for f in range(start, end):
            box = (*(pos + vel * f), *size)
            gt.append(PersonRecord(1, f, pid, box))
            if rng.random() < 0.05:  # the tracker picks a new identity
                hyp = next_id = next_id + 1
            if rng.random() < 0.85:
                jitter = rng.normal(0, 4, 4)
                pred.append(PersonRecord(1, f, hyp, tuple(np.array(box) + jitter), score=0.9))
    # swap the identities of two predicted tracks from some frame on
    ids = sorted({r.track_id for r in pred})
    a, b = rng.choice(ids, 2, replace=False)
    for r in pred:
        if r.frame_index >= n_frames // 2 and r.track_id in (a, b):
            r.track_id = int(b if r.track_id == a else a)
    # false positives, some persistent
    for k in range(12):
        f = int(rng.integers(0, n_frames))
        fid = 900 + int(rng.integers(0, 4))
        if any(r.frame_index == f and r.track_id == fid for r in pred):
            continue
        pred.append(
            PersonRecord(1, f, fid, (*rng.uniform([0, 0], [180, 120]), 25.0, 45.0), score=0.3)
        )
    return gt, pred


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_mot_matches_motmetrics_on_random_tracks(seed: int) -> None:
    gt, pred = synthetic_box_tracks(seed)
    ours = mot_metrics(make_trackset(pred, 240, 180, 40), make_trackset(gt, 240, 180, 40))
    ref = motmetrics_summary(gt, pred)
    assert ref["num_switches"] > 0 and ref["num_misses"] > 0  # the case is not trivial
    assert_same_as_motmetrics(ours, ref)


def test_mot_matches_motmetrics_at_another_threshold() -> None:
    gt, pred = synthetic_box_tracks(7)
    ours = mot_metrics(make_trackset(pred, 240, 180, 40), make_trackset(gt, 240, 180, 40),
                       iou_threshold=0.3)  # fmt: skip
    assert_same_as_motmetrics(ours, motmetrics_summary(gt, pred, distth=0.7))


# ---------------------------------------------------------------------------- COCOeval helpers


def quiet(fn, *a, **kw):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **kw)


def coco_eval(gt_dataset: dict, dt_anns: list[dict], iou_type: str) -> COCOeval:
    cgt = COCO()
    cgt.dataset = gt_dataset
    quiet(cgt.createIndex)
    cdt = quiet(cgt.loadRes, dt_anns)
    ev = COCOeval(cgt, cdt, iou_type)
    quiet(ev.evaluate)
    quiet(ev.accumulate)
    quiet(ev.summarize)
    return ev


PERSON = {"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS),
          "skeleton": [list(p) for p in COCO_SKELETON]}  # fmt: skip


def random_blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    rx, ry = rng.uniform(6, w / 3), rng.uniform(6, h / 3)
    m = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
    if rng.random() < 0.5:
        m |= (np.abs(xx - cx - rx) < rx / 2) & (np.abs(yy - cy) < ry / 3)
    if not m.any():
        m[int(cy) % h, int(cx) % w] = True
    return m.astype(np.uint8)


def perturb(rng: np.random.Generator, m: np.ndarray) -> np.ndarray:
    dy, dx = rng.integers(-2, 3, 2) if rng.random() < 0.7 else (0, 0)
    out = np.roll(np.roll(m, dy, 0), dx, 1)
    if rng.random() < 0.5:
        out = out | (np.roll(out, 1, 1) if rng.random() < 0.5 else out)
    return out.astype(np.uint8)


def bbox_of(m: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(m)
    return (
        float(xs.min()),
        float(ys.min()),
        float(xs.max() - xs.min() + 1),
        float(ys.max() - ys.min() + 1),
    )


def random_video_masks(rng, n_videos: int, n_frames: int, h: int, w: int):
    """Per video: ground-truth and predicted tracks as lists of per-frame masks (None = absent),
    predictions with scores (ties on purpose)."""
    videos = []
    for _ in range(n_videos):
        n_gt = int(rng.integers(0, 4))
        gts = []
        for _ in range(n_gt):
            gts.append(
                [random_blob(rng, h, w) if rng.random() < 0.9 else None for _ in range(n_frames)]
            )
        preds = []
        for g in gts:
            if rng.random() < 0.8:
                preds.append(([perturb(rng, m) if m is not None and rng.random() < 0.9 else None
                               for m in g], float(np.round(rng.uniform(0.1, 1), 1))))  # fmt: skip
        for _ in range(int(rng.integers(0, 3))):  # false positives
            preds.append(([random_blob(rng, h, w) if rng.random() < 0.7 else None
                           for _ in range(n_frames)], float(np.round(rng.uniform(0.1, 1), 1))))  # fmt: skip
        preds = [p for p in preds if any(m is not None for m in p[0])]
        gts = [g for g in gts if any(m is not None for m in g)]
        videos.append((gts, preds))
    return videos


def video_trackset(videos, h: int, w: int, n_frames: int, *, predicted: bool) -> TrackSet:
    records = []
    for vi, (gts, preds) in enumerate(videos, start=1):
        tracks = [(p, s) for p, s in preds] if predicted else [(g, 1.0) for g in gts]
        for ti, (masks, score) in enumerate(tracks, start=1):
            for f, m in enumerate(masks):
                if m is not None and m.any():
                    records.append(
                        PersonRecord(
                            vi, f, ti, bbox_of(m), segmentation=encode_mask(m), score=score
                        )
                    )
    vids = [VideoInfo(v, f"v{v}", w, h, n_frames, Fraction(25)) for v in range(1, len(videos) + 1)]
    tr = sorted({(r.video_id, r.track_id) for r in records})
    return TrackSet(vids, [Track(t, v) for v, t in tr], records)


def stacked_coco(videos, h: int, w: int, n_frames: int):
    """Each video as ONE COCO image of its frames stacked vertically: the COCO mask IoU of two
    stacked tracks is then exactly Σ_t |∩| / Σ_t |∪|, the YouTube-VIS video IoU."""
    images, gt_anns, dt_anns = [], [], []

    def stack(masks):
        full = np.vstack([m if m is not None else np.zeros((h, w), np.uint8) for m in masks])
        return full if full.any() else None

    for vi, (gts, preds) in enumerate(videos, start=1):
        images.append({"id": vi, "width": w, "height": h * n_frames})
        for g in gts:
            full = stack(g)
            if full is None:
                continue
            rle = encode_mask(full)
            gt_anns.append({"id": len(gt_anns) + 1, "image_id": vi, "category_id": 1, "iscrowd": 0,
                            "segmentation": rle, "area": rle_area(rle), "bbox": list(bbox_of(full))})  # fmt: skip
        for p, s in preds:
            full = stack(p)
            if full is not None:
                dt_anns.append(
                    {
                        "image_id": vi,
                        "category_id": 1,
                        "segmentation": encode_mask(full),
                        "score": s,
                    }
                )
    return {"images": images, "annotations": gt_anns, "categories": [PERSON]}, dt_anns


@pytest.mark.parametrize(("seed", "n_frames"), [(0, 1), (1, 1), (2, 3), (3, 4)])
def test_temporal_mask_ap_matches_cocoeval(seed: int, n_frames: int) -> None:
    """n_frames == 1 is plain COCO segm AP per frame; longer videos go through COCOeval as
    frames stacked into one image, which leaves every video IoU unchanged."""
    h, w = 40, 56
    rng = np.random.default_rng(seed)
    videos = random_video_masks(rng, 12, n_frames, h, w)
    pred = video_trackset(videos, h, w, n_frames, predicted=True)
    gt = video_trackset(videos, h, w, n_frames, predicted=False)
    ours = temporal_mask_ap(pred, gt, max_dets=100)
    gt_ds, dt_anns = stacked_coco(videos, h, w, n_frames)
    ev = coco_eval(gt_ds, dt_anns, "segm")
    # stats: 0 AP@[.5:.95], 1 AP50, 2 AP75 (area 'all', maxDets 100); 8 AR@100
    assert ours.ap == pytest.approx(ev.stats[0], abs=1e-12)
    assert ours.ap50 == pytest.approx(ev.stats[1], abs=1e-12)
    assert ours.ap75 == pytest.approx(ev.stats[2], abs=1e-12)
    assert ours.ar == pytest.approx(ev.stats[8], abs=1e-12)
    # the whole precision table, not just its means
    np.testing.assert_allclose(
        ours.ap_result.precision, ev.eval["precision"][:, :, 0, 0, 2], atol=1e-12
    )
    assert 0.05 < ours.ap < 0.95  # a case with both hits and misses


def test_video_iou_matches_dense_numpy() -> None:
    rng = np.random.default_rng(5)
    h, w, n = 30, 40, 6
    seqs = [
        {f: encode_mask(random_blob(rng, h, w)) for f in range(n) if rng.random() < 0.8}
        for _ in range(5)
    ]
    iou, inter, union = video_iou_matrix(seqs[:3], seqs[3:])
    for i, d in enumerate(seqs[:3]):
        for j, g in enumerate(seqs[3:]):
            dm = (
                np.stack(
                    [decode_mask(d[f]) if f in d else np.zeros((h, w), np.uint8) for f in range(n)]
                )
                > 0
            )
            gm = (
                np.stack(
                    [decode_mask(g[f]) if f in g else np.zeros((h, w), np.uint8) for f in range(n)]
                )
                > 0
            )
            assert inter[i, j] == np.count_nonzero(dm & gm)
            assert union[i, j] == np.count_nonzero(dm | gm)
            assert iou[i, j] == np.count_nonzero(dm & gm) / np.count_nonzero(dm | gm)


# ---------------------------------------------------------------------------- keypoints


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoint_ap_matches_cocoeval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w, n_frames = 120, 160, 8
    records_gt, records_dt = [], []
    images, gt_anns, dt_anns = [], [], []
    for f in range(n_frames):
        images.append({"id": f + 1, "width": w, "height": h})
        n_people = 24 if f == 0 else int(rng.integers(0, 5))  # frame 0: more than maxDets=20
        for p in range(n_people):
            bw, bh = rng.uniform(10, 60), rng.uniform(20, 90)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            kp = np.zeros((17, 3))
            kp[:, 0] = rng.uniform(x, x + bw, 17)
            kp[:, 1] = rng.uniform(y, y + bh, 17)
            kp[:, 2] = rng.choice([0, 1, 2], 17, p=[0.2, 0.2, 0.6])
            if rng.random() < 0.1:
                kp[:, 2] = 0  # no labelled joint: COCO ignores this ground truth
            kp[kp[:, 2] == 0, :2] = 0
            with_mask = rng.random() < 0.3
            seg = None
            area = bw * bh
            if with_mask:
                m = np.zeros((h, w), np.uint8)
                m[int(y) : int(y + bh), int(x) : int(x + bw)] = 1
                seg = encode_mask(m)
                area = rle_area(seg)
            tid = f * 100 + p
            records_gt.append(
                PersonRecord(1, f, tid, (x, y, bw, bh), keypoints=kp, segmentation=seg)
            )
            gt_anns.append({"id": len(gt_anns) + 1, "image_id": f + 1, "category_id": 1, "iscrowd": 0,
                            "keypoints": kp.reshape(-1).tolist(), "num_keypoints": int((kp[:, 2] > 0).sum()),
                            "area": float(area), "bbox": [x, y, bw, bh]})  # fmt: skip
            if rng.random() < 0.85:
                noise = rng.normal(0, rng.choice([0.5, 2, 5, 10]), (17, 2))
                dk = np.zeros((17, 3))
                dk[:, :2] = (
                    np.where(kp[:, 2:] > 0, kp[:, :2], rng.uniform(x, x + bw, (17, 2))) + noise
                )
                dk[:, 2] = 1
                score = float(np.round(rng.uniform(0.05, 1), 1))
                records_dt.append(
                    PersonRecord(1, f, tid, (x, y, bw, bh), keypoints=dk, score=score)
                )
                dt_anns.append({"image_id": f + 1, "category_id": 1,
                                "keypoints": dk.reshape(-1).tolist(), "score": score})  # fmt: skip
        for _ in range(int(rng.integers(0, 2))):  # a false positive
            dk = np.zeros((17, 3))
            dk[:, 0], dk[:, 1], dk[:, 2] = rng.uniform(0, w, 17), rng.uniform(0, h, 17), 1
            score = float(np.round(rng.uniform(0.05, 1), 1))
            records_dt.append(
                PersonRecord(1, f, 5000 + len(records_dt), (0, 0, 1, 1), keypoints=dk, score=score)
            )
            dt_anns.append(
                {
                    "image_id": f + 1,
                    "category_id": 1,
                    "keypoints": dk.reshape(-1).tolist(),
                    "score": score,
                }
            )
    ev = coco_eval(
        {"images": images, "annotations": gt_anns, "categories": [PERSON]}, dt_anns, "keypoints"
    )
    ours = keypoint_ap(
        make_trackset(records_dt, w, h, n_frames), make_trackset(records_gt, w, h, n_frames)
    )
    # stats: 0 AP, 1 AP50, 2 AP75 (area 'all', maxDets 20), 5 AR
    assert ours.ap == pytest.approx(ev.stats[0], abs=1e-12)
    assert ours.ap50 == pytest.approx(ev.stats[1], abs=1e-12)
    assert ours.ap75 == pytest.approx(ev.stats[2], abs=1e-12)
    assert ours.ar == pytest.approx(ev.stats[5], abs=1e-12)
    np.testing.assert_allclose(
        ours.ap_result.precision, ev.eval["precision"][:, :, 0, 0, 0], atol=1e-12
    )
    assert 0.05 < ours.ap < 0.95


# ---------------------------------------------------------------------------- real MOT15 files


def load_mot15(path: Path, video_id: int) -> list[PersonRecord]:
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return [
        PersonRecord(video_id, int(r[0]) - 1, int(r[1]), (r[2], r[3], r[4], r[5])) for r in rows
    ]


# motmetrics' expected table (PROVENANCE.txt): IDF1 IDP IDR Rcll Prcn GT MT PT ML FP FN IDs FM MOTA MOTP
EXPECTED = {
    "TUD-Campus": (55.77, 72.97, 45.13, 58.22, 94.14, 8, 1, 6, 1, 13, 150, 7, 7, 52.65, 0.2772),
    "TUD-Stadtmitte": (
        64.46,
        81.98,
        53.11,
        60.90,
        93.99,
        10,
        5,
        4,
        1,
        45,
        452,
        7,
        6,
        56.40,
        0.3459,
    ),
    "OVERALL": (62.43, 79.92, 51.22, 60.26, 94.03, 18, 6, 10, 2, 58, 602, 14, 13, 55.51, 0.3302),
}


@pytest.mark.skipif(not MOT15.exists(), reason=f"shared MOT15 data not found at {MOT15}")
@pytest.mark.parametrize("name", ["TUD-Campus", "TUD-Stadtmitte", "OVERALL"])
def test_mot15_tud_matches_motmetrics_published_table(name: str) -> None:
    seqs = ["TUD-Campus", "TUD-Stadtmitte"] if name == "OVERALL" else [name]
    gt, pred = [], []
    for vid, seq in enumerate(seqs, start=1):
        gt += load_mot15(MOT15 / seq / "gt.txt", vid)
        pred += load_mot15(MOT15 / seq / "test.txt", vid)
    length = max(r.frame_index for r in gt + pred) + 1
    r = mot_metrics(make_trackset(pred, 640, 480, length), make_trackset(gt, 640, 480, length))
    idf1, idp, idr, rcll, prcn, n_gt, mt, pt, ml, fp, fn, ids, fm, mota, motp = EXPECTED[name]
    assert (r.num_unique_objects, r.mostly_tracked, r.partially_tracked, r.mostly_lost) == (
        n_gt,
        mt,
        pt,
        ml,
    )
    assert (r.num_false_positives, r.num_misses, r.num_switches, r.num_fragmentations) == (
        fp,
        fn,
        ids,
        fm,
    )
    for ours, pct in ((r.idf1, idf1), (r.idp, idp), (r.idr, idr), (r.recall, rcll),
                      (r.precision, prcn), (r.mota, mota)):  # fmt: skip
        assert round(100 * ours, 2) == pct
    assert round(1 - r.motp, 4) == motp
    if name != "OVERALL":  # and exactly what motmetrics computes from the same boxes
        assert_same_as_motmetrics(r, motmetrics_summary(gt, pred))
