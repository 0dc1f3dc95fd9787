"""Offline smoothing: keypoints (visibility-aware Savitzky-Golay), masks (aligned, edge-preserving
vote), the measures, the new "<source>.smooth" cache and `humanfx smooth`.

The accuracy tests add realistic noise to synthetic ground truth and check that smoothing
brings the tracks back towards it; thresholds are the measured numbers with some margin
(measured: keypoint error 2.52 -> 1.43 px, jitter 6.1 -> 0.8 px/frame², mask IoU 0.77 -> 0.81
and 0.72 -> 0.79, flicker 0.41 -> 0.29 and 0.37 -> 0.24).
"""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest

from editor_plugin.cli import main
from inference.cache import CacheMeta, LayerCache, list_caches
from inference.errors import InputError
from inference.smoothing import (
    KeypointSmoothing,
    MaskSmoothing,
    Noise,
    add_noise,
    keypoint_error,
    keypoint_jitter,
    mask_flicker,
    mask_iou,
    smooth_cache,
    smooth_track_keypoints,
    smooth_track_masks,
    smooth_trackset,
)
from inference.synth import SynthConfig, SyntheticScene
from inference.tracks.masks import encode_mask, mask_bbox
from inference.tracks.model import PersonRecord, Track, TrackSet, VideoInfo

W, H, N = 96, 64, 30


def _scene_gt(seed: int) -> TrackSet:
    return SyntheticScene(SynthConfig(people=3, frames=N, width=W, height=H, seed=seed)) \
        .trackset("clip.mp4")


NOISE = Noise(keypoint_sigma=2.0, keypoint_dropout=0.05, mask_radius=1)


# -- keypoints ----------------------------------------------------------------------------------

def test_polynomial_motion_passes_unchanged_and_no_lag():
    frames = np.arange(40)
    t = frames.astype(float)
    kp = np.zeros((40, 17, 3))
    kp[:, :, 0] = (10 + 1.5 * t + 0.05 * t ** 2)[:, None] + np.arange(17)
    kp[:, :, 1] = (50 - 0.7 * t)[:, None]
    kp[:, :, 2] = 2
    out = smooth_track_keypoints(frames, kp, KeypointSmoothing(window=9, polyorder=2))
    np.testing.assert_allclose(out, kp, atol=1e-9)


def test_keypoints_respect_visibility_gaps_and_flags():
    rng = np.random.default_rng(0)
    frames = np.array([*range(20), *range(23, 40)])  # a 3-frame gap: no record on 20-22
    n = len(frames)
    truth = np.zeros((n, 17, 2))
    truth[:, :, 0] = 60 + 2.0 * frames[:, None]
    truth[:, :, 1] = 40 + 0.5 * frames[:, None]
    kp = np.zeros((n, 17, 3))
    kp[:, :, :2] = truth + rng.normal(0, 2.0, truth.shape)
    kp[:, :, 2] = 2
    kp[5:8, 3] = 0.0  # joint 3 not labelled on three frames: COCO's (0, 0, 0)
    kp[10, 4] = (0.0, 0.0, 0.0)  # joint 4: one missing frame
    kp[::4, 6, 2] = 1  # joint 6 sometimes occluded (still labelled)
    kp[:, 16] = 0.0  # joint 16 never labelled
    kp[0:2, 7, 2] = 0  # joint 7: a run of one frame (2) after two unlabelled ones ...
    kp[3:, 7, 2] = 0  # ... then nothing: too short to smooth
    out = smooth_track_keypoints(frames, kp, KeypointSmoothing())

    assert np.array_equal(out[:, :, 2], kp[:, :, 2])  # flags preserved
    unlabelled = kp[:, :, 2] == 0
    assert np.array_equal(out[unlabelled], kp[unlabelled])  # untouched, still (0, 0) etc.
    assert np.array_equal(out[2, 7], kp[2, 7])  # a lone labelled frame is left as it is
    lab = ~unlabelled
    err_before = np.linalg.norm(kp[:, :, :2] - truth, axis=2)[lab]
    err_after = np.linalg.norm(out[:, :, :2] - truth, axis=2)[lab]
    assert err_after.mean() < 0.6 * err_before.mean()
    # Never pulled towards (0, 0) around the unlabelled frames, nor across the frame gap.
    near = [(4, 3), (8, 3), (9, 4), (11, 4), (19, 0), (20, 0)]
    for i, j in near:
        assert np.linalg.norm(out[i, j, :2] - truth[i, j]) < 5.0, (i, j)
    assert err_after.max() < 6.0


def test_boxes_of_maskless_records_are_smoothed_per_run():
    rng = np.random.default_rng(3)
    truth = {f: (10.0 + 1.5 * f, 8.0, 12.0, 30.0) for f in [*range(15), *range(18, 30)]}
    recs = [PersonRecord(1, f, 1, tuple(np.add(b, rng.normal(0, 1.5, 4)))) for f, b in
            truth.items()]
    ts = TrackSet([VideoInfo(1, "c.mp4", W, H, 30, Fraction(24))], [Track(1, 1)], recs)
    out = smooth_trackset(ts)
    err = [np.abs(np.subtract(r.bbox, truth[r.frame_index])).mean() for r in recs]
    err_out = [np.abs(np.subtract(r.bbox, truth[r.frame_index])).mean()
               for r in out.annotations]
    assert np.mean(err_out) < 0.7 * np.mean(err)
    assert all(r.segmentation is None and r.bbox[2] >= 0 for r in out.annotations)


def test_keypoint_parameters_are_validated():
    for bad in ({"window": 8}, {"window": 1}, {"polyorder": 9}, {"polyorder": -1},
                {"window": 9.0}):
        with pytest.raises(InputError):
            KeypointSmoothing(**bad)
    for bad in ({"radius": -1}, {"sigma": 0}, {"band": float("nan")}, {"align": "flow"},
                {"pose_reach": 2.0}):
        with pytest.raises(InputError):
            MaskSmoothing(**bad)


# -- measures -----------------------------------------------------------------------------------

def _square_track(shifts: list[tuple[int, int]], size: int = 12) -> list[PersonRecord]:
    recs = []
    for f, (dx, dy) in enumerate(shifts):
        m = np.zeros((H, W), np.uint8)
        m[10 + dy:10 + dy + size, 20 + dx:20 + dx + size] = 1
        kp = np.zeros((17, 3))
        kp[:, 0], kp[:, 1], kp[:, 2] = 20 + dx + np.arange(17), 10 + dy, 2
        recs.append(PersonRecord(1, f, 1, mask_bbox(m), kp, encode_mask(m)))
    return recs


def test_measures_on_known_tracks():
    moving = _square_track([(2 * f, f) for f in range(6)])
    assert keypoint_jitter(moving) == 0.0  # constant velocity: no acceleration
    assert mask_flicker(moving) == 0.0  # pure translation: no flicker
    jumpy = copy.deepcopy(moving)
    jumpy[2].keypoints[:, 0] += 3.0  # one frame 3 px off: |a| = 3, 6, 3 on frames 1-3
    assert keypoint_jitter(jumpy) == pytest.approx(12.0 / 4)
    assert keypoint_error(jumpy, moving) == pytest.approx(3.0 / 6)
    grown = _square_track([(0, 0), (0, 0)])
    grown[1] = _square_track([(0, 0)], size=13)[0]
    grown[1].frame_index = 1
    # 12x12 vs 13x13, centres 0.5 px apart -> rounded shift of 0 or 1; IoU 144/169 either way
    assert mask_flicker(grown) == pytest.approx(1 - 144 / 169)
    assert mask_iou(grown, grown) == 1.0


# -- masks --------------------------------------------------------------------------------------

def _disk(cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.uint8)


def test_masks_of_a_moving_disk_with_boundary_noise_get_closer_to_the_truth():
    rng = np.random.default_rng(1)
    from inference.smoothing.noise import perturb_mask

    frames = np.arange(20)
    truth = [_disk(20 + 2.5 * f, 30 + 0.5 * f, 11) for f in frames]
    noisy = [perturb_mask(m, rng, radius=1, edge=0.0) for m in truth]
    out = smooth_track_masks(frames, noisy, MaskSmoothing(align="centroid"))

    def iou(a, b):
        return np.count_nonzero(a & b) / np.count_nonzero(a | b)

    before = np.mean([iou(n, t) for n, t in zip(noisy, truth)])
    after = np.mean([iou(o, t) for o, t in zip(out, truth)])
    assert after > before + 0.03  # measured 0.894 -> 0.942
    recs_noisy = [PersonRecord(1, int(f), 1, (0, 0, 1, 1), segmentation=encode_mask(m))
                  for f, m in zip(frames, noisy)]
    recs_out = [PersonRecord(1, int(f), 1, (0, 0, 1, 1), segmentation=encode_mask(m))
                for f, m in zip(frames, out)]
    assert mask_flicker(recs_out) < 0.75 * mask_flicker(recs_noisy)  # measured 0.159 -> 0.099


def test_masks_keep_edges_that_move():
    """A body with an arm swinging 3 px/frame: clean masks must come back nearly unchanged."""
    frames = np.arange(16)
    masks, kps = [], []
    for f in frames:
        m = np.zeros((H, W), np.uint8)
        m[20:56, 40:52] = 1  # body
        ay = 22 + 3 * f if f < 8 else 22 + 3 * (15 - f)  # arm sweeping down and back up
        m[ay:ay + 4, 52:70] = 1
        masks.append(m)
        kp = np.zeros((17, 3))
        kp[:, 2] = 2
        kp[:8] = (46, 24, 2)
        kp[8:12] = (46, 50, 2)
        kp[12:] = (68, ay + 2, 2)  # the "wrist"
        kps.append(kp)
    for align in ("pose", "centroid"):
        out = smooth_track_masks(frames, masks, MaskSmoothing(align=align), np.stack(kps))
        for o, m in zip(out, masks):
            assert np.count_nonzero(o & m) / np.count_nonzero(o | m) > 0.93, align
            arm = np.flatnonzero(m[:, 60])  # 4 rows; the window's ends may shave one off
            core = arm if align == "pose" else arm[1:-1]
            assert o[core, 60].all(), "the arm is kept where the frame has it"


def test_masks_none_and_empty_are_passed_through():
    frames = np.arange(4)
    m = _disk(30, 30, 8)
    out = smooth_track_masks(frames, [None, m, np.zeros_like(m), m], MaskSmoothing())
    assert out[0] is None and not out[2].any()
    assert out[1].dtype == np.uint8 and out[1].shape == (H, W)


# -- whole tracks sets --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [5, 7])
def test_smoothing_noisy_ground_truth_gets_closer_to_it(seed):
    gt = _scene_gt(seed)
    noisy = add_noise(gt, NOISE, np.random.default_rng(seed))
    out = smooth_trackset(noisy)
    assert noisy.annotations[0].keypoints is not out.annotations[0].keypoints
    assert noisy == add_noise(gt, NOISE, np.random.default_rng(seed))  # input unchanged

    err0, err1 = keypoint_error(noisy, gt), keypoint_error(out, gt)
    assert err0 > 2.3 and err1 < 0.65 * err0  # measured 2.52 -> 1.43, 2.51 -> 1.44
    jit0, jit1 = keypoint_jitter(noisy), keypoint_jitter(out)
    assert jit1 < 0.2 * jit0  # measured 6.1 -> 0.81
    iou0, iou1 = mask_iou(noisy, gt), mask_iou(out, gt)
    assert iou1 > iou0 + 0.02  # measured 0.772 -> 0.805, 0.721 -> 0.793
    fl0, fl1 = mask_flicker(noisy), mask_flicker(out)
    assert fl1 < fl0 - 0.07  # measured 0.407 -> 0.292, 0.369 -> 0.242

    # Same records, flags and ids; boxes follow the masks (tight box stays tight).
    assert [(a.frame_index, a.track_id, a.id, a.score) for a in out.annotations] == \
        [(a.frame_index, a.track_id, a.id, a.score) for a in noisy.annotations]
    for a, b in zip(noisy.annotations, out.annotations):
        assert np.array_equal(a.keypoints[:, 2], b.keypoints[:, 2])
    assert out.info["smoothing"]["keypoints"] == {"window": 9, "polyorder": 2}


@pytest.mark.parametrize("seed", [5, 7])
def test_smoothing_clean_ground_truth_changes_it_little(seed):
    gt = _scene_gt(seed)
    out = smooth_trackset(gt)
    assert keypoint_error(out, gt) < 0.15  # measured 0.05
    assert mask_iou(out, gt) > 0.97  # measured 0.99
    assert mask_flicker(out) <= mask_flicker(gt) + 0.005


# -- caches and the CLI -------------------------------------------------------------------------

def _meta(ts: TrackSet, source: str = "import") -> CacheMeta:
    v = ts.videos[0]
    return CacheMeta(clip_hash="5eed" * 16, source=source, settings={"file": "t.json"},
                     width=v.width, height=v.height, frame_count=v.length, fps=v.fps,
                     clip_name=v.file_name)


def test_smooth_cache_writes_a_new_cache_and_keeps_the_raw_one(tmp_path):
    gt = _scene_gt(5)
    noisy = add_noise(gt, NOISE, np.random.default_rng(5))
    video = noisy.videos[0]
    root = tmp_path / "layers"
    raw_path = root / "raw.sqlite"
    with LayerCache.from_trackset(raw_path, noisy, _meta(noisy)) as raw:
        before = raw.to_trackset(video)
        out = smooth_cache(raw, root=root)
        assert raw.to_trackset(video) == before  # the raw analysis is untouched
        with LayerCache.open(out) as sm:
            assert sm.meta.source == "import.smooth" and sm.is_complete()
            s = sm.meta.settings
            assert s["from"]["source"] == "import" and s["from"]["settings"] == {"file": "t.json"}
            assert s["keypoints"] == {"window": 9, "polyorder": 2}
            assert s["masks"]["radius"] == 2 and s["method"]
            smoothed = sm.to_trackset(video)
            with pytest.raises(InputError, match="already smoothed"):
                smooth_cache(sm, root=root)
        assert smoothed.annotations == smooth_trackset(before).annotations
        assert keypoint_error(smoothed, gt) < 0.65 * keypoint_error(before, gt)
        mtime = out.stat().st_mtime_ns
        assert smooth_cache(raw, root=root) == out and out.stat().st_mtime_ns == mtime  # reused
        kp_only = smooth_cache(raw, masks=None, root=root)
        assert kp_only != out
        with LayerCache.open(kp_only) as sm:
            assert sm.meta.settings["masks"] is None
            assert [r.segmentation for r in sm.records()] == \
                [r.segmentation for r in before.annotations]
        with pytest.raises(InputError, match="nothing to smooth"):
            smooth_cache(raw, keypoints=None, masks=None, root=root)
    assert {e.meta.source for e in list_caches("5eed" * 16, root=root)} >= {"import.smooth"}


def test_smooth_cache_refuses_an_unfinished_analysis(tmp_path):
    ts = TrackSet([VideoInfo(1, "c.mp4", W, H, 10, Fraction(24))], [Track(1, 1)], [])
    meta = _meta(ts, "model")
    with LayerCache.create(tmp_path / "c.sqlite", meta) as cache:
        cache.write_frames([(0, [])])
        with pytest.raises(InputError, match="not completely analysed"):
            smooth_cache(cache, root=tmp_path)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("smooth-clip")
    assert main(["-q", "synth", str(out), "--people", "2", "--frames", "16", "--size", "96x64",
                 "--seed", "4"]) == 0
    return out / "clip.mp4", out / "clip.tracks.json"


def test_cli_smooth(clip, capsys):
    video, tracks = clip
    assert main(["-q", "smooth", str(video)]) == 1
    assert "no person layers" in capsys.readouterr().err
    assert main(["import", str(video), str(tracks)]) == 0
    capsys.readouterr()
    assert main(["-q", "smooth", str(video), "--window", "7", "--align", "centroid"]) == 0
    out = capsys.readouterr().out
    assert "into 'import.smooth' layers" in out and "keypoint jitter" in out
    # The newest cache is now the smoothed one; smoothing again picks the raw one by itself.
    assert main(["-q", "smooth", str(video), "--window", "7", "--align", "centroid"]) == 0
    assert main(["persons", str(video), "--layers", "import.smooth"]) == 0
    assert main(["-q", "smooth", str(video), "--layers", "import.smooth"]) == 1
    assert "already smoothed" in capsys.readouterr().err
    assert main(["-q", "smooth", str(video), "--window", "4"]) == 1
    assert "odd number" in capsys.readouterr().err
