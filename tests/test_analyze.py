"""`humanfx analyze`: the R-CNN backend end to end with randomly initialised weights (no
downloads), keyframe propagation against synthetic ground truth, resume and reuse.

Random weights give arbitrary detections, so these tests check structure, coverage and that an
interrupted-then-resumed analysis equals an uninterrupted one -- not accuracy.  Inputs are tiny
(64-pixel processing size, 10 proposals, 2 persons) so the real networks take ~0.5 s a frame on
a CPU.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from editor_plugin.analyze import AnalyzeOptions, analyze_clip, plan_frames, store_path
from editor_plugin.cli import main
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from inference.analysis import full_res_rle
from inference.analysis.keyframes import FlowPropagator, to_gray
from inference.cache import LayerCache
from inference.errors import HumanfxError, InputError
from inference.models.rcnn import (
    PersonDetection,
    RCNNDetector,
    RCNNSettings,
    keypointrcnn_resnet50_fpn,
    maskrcnn_resnet50_fpn_v2,
    pair_poses_with_masks,
)
from inference.models.weights import Weights
from inference.synth import SynthConfig, SyntheticScene
from inference.tracking import TrackerConfig
from inference.tracks.masks import decode_mask

SMALL = RCNNSettings(min_score=0.05, max_persons=2, proposals=10)
# Random weights score ~0.5: let the tracker start tracks from such detections.
LENIENT = TrackerConfig(low_score=0.05, high_score=0.3, new_track_score=0.3, min_hits=1,
                        min_track_length=1)


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    """Randomly initialised networks and their state dicts, saved like downloaded weights
    (the CLI test loads them back through the weights path: hashed, weights_only, strict)."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    files, models = {}, {}
    for slot, build in (("keypoint", keypointrcnn_resnet50_fpn),
                        ("mask", maskrcnn_resnet50_fpn_v2)):
        models[slot] = build(weights=None, **SMALL.model_kwargs())
        files[slot] = folder / f"{slot}.pth"
        torch.save(models[slot].state_dict(), files[slot])
    return files, models


@pytest.fixture(scope="module")
def weight_files(networks):
    return networks[0]


@pytest.fixture(scope="module")
def detector(networks):
    files, models = networks
    return RCNNDetector(models["keypoint"], models["mask"], settings=SMALL,
                        identity=RCNNDetector.describe(Weights.local(files["keypoint"]),
                                                       Weights.local(files["mask"])))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path, _ = write_synthetic_clip(tmp_path_factory.mktemp("clip"),
                                   SynthConfig(people=2, frames=7, width=128, height=96, seed=3))
    return path


def _options(**kw) -> AnalyzeOptions:
    base = {"device": "cpu", "keyframe_every": 3, "process_size": 64, "batch_size": 2,
            "tracker": LENIENT, "commit_every": 2}
    return AnalyzeOptions(**{**base, **kw})


def _records(path: Path) -> list:
    with LayerCache.open(path) as cache:
        return list(cache.records())


def test_rcnn_analysis_end_to_end_resume_and_reuse(clip, detector, tmp_path):
    # -- uninterrupted --------------------------------------------------------------------
    session = ClipSession(clip, cache_root=tmp_path / "a")
    seen = []
    result = analyze_clip(session, _options(), detector=detector,
                          progress=lambda done, total: seen.append((done, total)))
    assert result.complete and not result.reused
    assert (result.frames_detected, result.frames_carried, result.frames_replayed) == (3, 4, 0)
    assert result.process_size == (85, 64)
    assert seen[-1] == (7, 7)
    assert not store_path(result.cache_path).exists()
    full = _records(result.cache_path)
    with LayerCache.open(result.cache_path) as cache:
        assert cache.is_complete() and cache.integrity_check() == []
        assert cache.frames_done().tolist() == list(range(7))
        ids = cache.track_ids()
        assert cache.info["analysis"]["keyframe_every"] == 3
    assert result.persons == len(ids) >= 1
    assert ids == list(range(1, len(ids) + 1))  # finish() renumbers 1..N
    assert full and any(r.segmentation is not None for r in full)
    for r in full:
        x, y, w, h = r.bbox
        assert np.isfinite(r.bbox).all() and w > 0 and h > 0
        assert r.keypoints.shape == (17, 3) and np.isfinite(r.keypoints).all()
        assert x >= -1 and y >= -1 and x + w <= 129 and y + h <= 97  # full-resolution pixels
        if r.segmentation is not None:
            assert r.segmentation["size"] == [96, 128]
            assert decode_mask(r.segmentation).shape == (96, 128)

    again = analyze_clip(session, _options(), detector=detector)
    assert again.reused and again.complete and again.frames_detected == 0
    assert _records(result.cache_path) == full

    # -- interrupted (Ctrl-C after 5 frames), then resumed ---------------------------------
    session_b = ClipSession(clip, cache_root=tmp_path / "b")

    def interrupt(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze_clip(session_b, _options(), detector=detector, progress=interrupt)
    partial = session_b.layer_caches()
    assert len(partial) == 1 and not partial[0].complete
    with LayerCache.open(partial[0].path) as cache:
        assert cache.integrity_check() == []
        assert cache.next_frame_to_do() == 5  # everything processed before Ctrl-C was saved
    assert store_path(partial[0].path).exists()

    resumed = analyze_clip(session_b, _options(), detector=detector)
    assert resumed.complete and resumed.cache_path.name == result.cache_path.name
    # frames 0-2 replayed; detection restarts at keyframe 3 so frames 4-5 flow as before
    assert (resumed.frames_replayed, resumed.frames_detected, resumed.frames_carried) == (3, 2, 2)
    assert _records(resumed.cache_path) == full
    assert not store_path(resumed.cache_path).exists()


def test_range_fills_part_of_the_clip_then_the_rest(clip, detector, tmp_path):
    session = ClipSession(clip, cache_root=tmp_path)
    first = analyze_clip(session, _options(frames=(2, 5)), detector=detector)
    assert not first.complete and (first.frames_detected, first.frames_carried) == (2, 1)
    with LayerCache.open(first.cache_path) as cache:
        assert cache.frames_done().tolist() == [2, 3, 4]
        assert cache.track_ids() == sorted({r.track_id for r in cache.records()})
    rest = analyze_clip(session, _options(), detector=detector)
    # 0-1 are new; 2-4 are replayed; 5 resumes from keyframe 3 (stored, so re-detected)
    assert rest.complete
    assert (rest.frames_detected, rest.frames_carried, rest.frames_replayed) == (3, 3, 1)


def test_plan_frames_restarts_at_the_keyframe_before_a_gap():
    assert plan_frames(0, 10, set(), 3) == set(range(10))
    assert plan_frames(0, 10, {0, 1, 2, 3, 4}, 3) == {3, 4, 5, 6, 7, 8, 9}
    assert plan_frames(0, 10, {0, 1, 2, 3, 4}, 1) == {5, 6, 7, 8, 9}
    assert plan_frames(0, 10, set(range(10)), 3) == set()
    assert plan_frames(4, 8, {0, 1, 2, 3}, 3) == {3, 4, 5, 6, 7}


def test_keyframe_flow_carries_ground_truth_masks_and_joints():
    """Ground truth at keyframes 0 and 5, carried 1-4 frames by DIS flow, against the truth.

    Measured (this configuration, 64 carried frames): mean mask IoU 0.867 with flow vs 0.760
    keeping the keyframe's mask; median joint error 1.1% of the person's height vs 2.6%.  One
    person, no props: occlusion (which no flow can predict) is left out -- with two people
    crossing and props the same measure drops to ~0.3-0.5 (the synthetic people gesture fast).
    """
    ious, still, joint_err, joint_still = [], [], [], []
    for seed in range(8):
        scene = SyntheticScene(SynthConfig(people=1, frames=10, width=256, height=192,
                                           seed=seed, props=False))
        flow = FlowPropagator("fast")
        for key in (0, 5):
            image, persons = scene.render(key)
            if not persons:
                continue
            p0 = persons[0]
            carried = [PersonDetection(p0.bbox, 1.0, p0.keypoints, p0.mask.astype(np.uint8) * 255)]
            prev = to_gray(image)
            for f in range(key + 1, key + 5):
                image, persons = scene.render(f)
                gray = to_gray(image)
                carried = flow.carry(carried, prev, gray)
                prev = gray
                if not persons or not carried:
                    continue
                gt, d = persons[0], carried[0]
                ious.append(_iou(d.mask >= 128, gt.mask))
                still.append(_iou(p0.mask, gt.mask))
                vis = ((gt.keypoints[:, 2] == 2) & (p0.keypoints[:, 2] == 2)
                       & (d.keypoints[:, 2] > 0))
                h = gt.bbox[3]
                joint_err.append(np.median(np.hypot(*(d.keypoints[vis, :2]
                                                      - gt.keypoints[vis, :2]).T)) / h)
                joint_still.append(np.median(np.hypot(*(p0.keypoints[vis, :2]
                                                        - gt.keypoints[vis, :2]).T)) / h)
    assert len(ious) >= 48
    assert np.mean(ious) >= 0.82
    assert np.mean(ious) >= np.mean(still) + 0.06
    assert np.mean(joint_err) <= 0.02 and np.mean(joint_err) < np.mean(joint_still)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def test_carrying_a_mask_in_its_window_equals_resampling_the_whole_frame():
    """Keyframe flow resamples each mask only in the window it can reach; the result must be
    the whole-frame ``cv2.remap`` exactly (soft masks, a mask at the border, one leaving)."""
    import cv2

    scene = SyntheticScene(SynthConfig(people=2, frames=6, width=160, height=96, seed=4))
    rng = np.random.default_rng(1)
    flow = FlowPropagator("fast")
    frames = [to_gray(scene.render(i)[0]) for i in range(6)]
    soft = cv2.GaussianBlur((rng.random((96, 160)) > 0.6).astype(np.float32) * 255, (0, 0), 2)
    masks = [np.zeros((96, 160), np.uint8) for _ in range(3)]
    masks[0][20:60, 30:70] = soft[20:60, 30:70].astype(np.uint8) | 128
    masks[1][:30, 140:] = 255  # at the border
    masks[2][50:52, 0:2] = 200  # tiny, at the left edge
    dets = [PersonDetection([30, 20, 40, 40], 1.0, None, m) for m in masks]
    gx, gy = np.meshgrid(np.arange(160, dtype=np.float32), np.arange(96, dtype=np.float32))
    for prev, cur in itertools.pairwise(frames):
        f = flow.flow(prev, cur)
        f[..., 0] += 3.0  # everything also moves 3 px left: masks leave through the border
        out = flow.carry(dets, prev, cur, f)
        whole = [cv2.remap(d.mask, gx + f[..., 0], gy + f[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0) for d in dets]
        kept = [w for w in whole if (w >= 128).any()]
        assert len(out) == len(kept)
        for d, w in zip(out, kept, strict=True):
            np.testing.assert_array_equal(d.mask, w)
        dets = out
    assert len(dets) < 3  # the tiny mask at the left edge has left


def test_mask_head_on_the_pose_boxes_and_parallel_networks(networks, clip, tmp_path):
    """``mask_boxes="pose"``: the same poses as ``"own"``, each with the mask Mask R-CNN's head
    gives its box (lying in that box); running the networks at once changes nothing."""
    _, models = networks
    pose = SMALL.resolve(mask_boxes="pose")
    own = RCNNDetector(models["keypoint"], models["mask"], settings=SMALL)
    at_once = RCNNDetector(models["keypoint"], models["mask"], settings=pose, parallel=True)
    in_turn = RCNNDetector(models["keypoint"], models["mask"], settings=pose, parallel=False)
    assert at_once.identity["settings"]["mask_boxes"] == "pose"
    assert own.identity["settings"]["mask_boxes"] == "own"
    scene = SyntheticScene(SynthConfig(people=2, frames=3, width=128, height=96, seed=3))
    images = [scene.render(i)[0] for i in range(3)]
    threads = torch.get_num_threads()
    found = [d.detect_batch(images) for d in (own, at_once, in_turn)]
    assert torch.get_num_threads() == threads  # the caller's thread count is restored
    n_poses = 0
    for frame_own, frame_at_once, frame_in_turn in zip(*found, strict=True):
        poses = [d for d in frame_own if d.keypoints is not None]
        assert len(frame_at_once) == len(frame_in_turn) == len(poses)
        n_poses += len(poses)
        for p, a, b in zip(poses, frame_at_once, frame_in_turn, strict=True):
            np.testing.assert_allclose(a.bbox, p.bbox, atol=0.05)
            np.testing.assert_allclose(a.keypoints, p.keypoints, atol=0.05)
            np.testing.assert_allclose(a.bbox, b.bbox, atol=0.05)
            assert a.mask is not None and a.mask.shape == (96, 128)
            assert np.abs(a.mask.astype(int) - b.mask.astype(int)).max() <= 2
            ys, xs = np.nonzero(a.mask >= 128)
            x, y, w, h = a.bbox
            grow = max(w, h) / 28 + 1.5  # the mask is pasted with one cell of padding
            assert len(xs) == 0 or (xs.min() >= x - grow and xs.max() < x + w + grow
                                    and ys.min() >= y - grow and ys.max() < y + h + grow)
    assert n_poses >= 2
    # random Keypoint R-CNN poses score ~0.2: let such detections start tracks
    anyone = TrackerConfig(low_score=0.01, high_score=0.1, new_track_score=0.1, min_hits=1,
                           min_track_length=1)
    result = analyze_clip(ClipSession(clip, cache_root=tmp_path), _options(tracker=anyone),
                          detector=at_once)
    records = _records(result.cache_path)
    assert result.complete and records
    assert all(r.segmentation is not None and r.keypoints[:, 2].any() for r in records)


def test_rcnn_settings_left_to_the_device():
    from inference.analysis import MASK_BOXES_CHOICES
    from inference.analysis.device import CPU_DEFAULTS, GPU_DEFAULTS
    from inference.models.rcnn import MASK_BOXES, TORCHVISION_PROPOSALS

    assert MASK_BOXES_CHOICES == MASK_BOXES
    loose = RCNNSettings(min_score=0.3)
    assert loose.resolve() == RCNNSettings(min_score=0.3, proposals=TORCHVISION_PROPOSALS,
                                           mask_boxes="own")
    cpu = loose.resolve(proposals=CPU_DEFAULTS.rcnn_proposals,
                        mask_boxes=CPU_DEFAULTS.rcnn_mask_boxes)
    assert (cpu.proposals, cpu.mask_boxes, cpu.min_score) == (300, "pose", 0.3)
    gpu = loose.resolve(proposals=GPU_DEFAULTS.rcnn_proposals,
                        mask_boxes=GPU_DEFAULTS.rcnn_mask_boxes)
    assert (gpu.proposals, gpu.mask_boxes) == (1000, "own")
    assert SMALL.resolve(proposals=300, mask_boxes="pose").proposals == 10  # given wins
    assert loose.model_kwargs()["rpn_post_nms_top_n_test"] == TORCHVISION_PROPOSALS
    with pytest.raises(InputError, match="mask_boxes"):
        RCNNSettings(mask_boxes="box")


def test_full_res_rle_upsamples_only_around_the_mask():
    rng = np.random.default_rng(0)
    soft = np.zeros((48, 64), np.uint8)
    soft[10:30, 20:35] = rng.integers(0, 256, (20, 15))
    soft[40:48, 60:64] = 255  # touches the border
    rle = full_res_rle(soft, (200, 150))
    sx, sy = 64 / 200, 48 / 150
    m = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]])
    import cv2

    whole = cv2.warpAffine(soft, m, (200, 150), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE) >= 128
    assert rle["size"] == [150, 200]
    np.testing.assert_array_equal(decode_mask(rle).astype(bool), whole)


def test_poses_pair_with_the_mask_holding_their_joints():
    masks = np.zeros((2, 60, 80), np.uint8)
    masks[0, 10:50, 10:30] = 255
    masks[1, 10:50, 25:45] = 255
    kps = np.zeros((2, 17, 3))
    kps[0, :, :2] = (40.0, 30.0)  # pose 0's joints lie on mask 1, pose 1's on mask 0
    kps[1, :, :2] = (15.0, 30.0)
    kps[:, :, 2] = 2
    boxes = np.array([[18.0, 10, 40, 50], [16, 10, 38, 50]])  # both overlap both masks
    mask_boxes = np.array([[10.0, 10, 30, 50], [25, 10, 45, 50]])
    assert sorted(pair_poses_with_masks(boxes, kps, mask_boxes, masks, min_iou=0.3)) == \
        [(0, 1), (1, 0)]
    far = np.array([[60.0, 0, 80, 10], [60, 50, 80, 60]])
    assert pair_poses_with_masks(far, kps, mask_boxes, masks, min_iou=0.3) == []


def test_cli_analyze_a_clip_with_nobody(weight_files, tmp_path, capsys):
    clip, _ = write_synthetic_clip(tmp_path / "empty", SynthConfig(people=0, frames=5,
                                                                    width=96, height=64))
    argv = ["-q", "analyze", str(clip), "--device", "cpu", "--rcnn-size", "48",
            "--keyframe-every", "5", "--min-score", "1", "--rcnn-proposals", "10",
            "--max-persons", "2", "--keypoint-weights", str(weight_files["keypoint"]),
            "--mask-weights", str(weight_files["mask"])]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "nobody was found in this clip" in out and "1 detected, 4 carried" in out
    [entry] = ClipSession(clip).layer_caches()
    assert entry.complete and entry.frames_done == 5
    with LayerCache.open(entry.path) as cache:
        assert cache.track_ids() == [] and list(cache.records()) == []
        settings = cache.meta.settings["detector"]["settings"]
        assert (settings["proposals"], settings["mask_boxes"]) == (10, "pose")  # CPU default
    assert main(argv) == 0
    assert "already analysed: 0 persons" in capsys.readouterr().out
    # the device's defaults are overridable: another analysis, in another cache
    assert main([*argv, "--rcnn-mask-boxes", "own", "--no-parallel-networks"]) == 0
    assert "1 detected, 4 carried" in capsys.readouterr().out
    own = [e for e in ClipSession(clip).layer_caches() if e.path != entry.path]
    assert len(own) == 1 and own[0].complete
    with LayerCache.open(own[0].path) as cache:
        assert cache.meta.settings["detector"]["settings"]["mask_boxes"] == "own"


def test_cli_analyze_errors(clip, tmp_path, capsys):
    assert main(["analyze", str(clip), "--pose-weights", str(tmp_path / "x.pt")]) == 1
    assert "does not apply to --model rcnn" in capsys.readouterr().err
    assert main(["analyze", str(clip), "--device", "cpu", "--range", "8:20"]) == 1
    assert "outside the clip's 7 frames" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["analyze", str(clip), "--device", "cuda"]) == 1
        err = capsys.readouterr().err
        assert "--device cuda" in err and "--device cpu" in err


def test_seed_model_without_weights_says_where_they_go(clip, tmp_path, monkeypatch):
    from inference.models import weights as wmod

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(wmod, "ASSETS_DIR", tmp_path / "assets")
    with pytest.raises(HumanfxError, match="not shipped yet"):
        analyze_clip(ClipSession(clip), AnalyzeOptions(model="seed", device="cpu"))


def test_seed_model_runs_through_the_same_pipeline(tmp_path):
    """The seed's networks (randomly initialised, saved as their own checkpoints) through
    ``--model seed``: checkpoint loading, pose tracker + segmenter adapter, tracker, cache."""
    from inference.models.pose_tracker import PoseNetConfig, PoseTrackerNet
    from inference.models.pose_tracker.checkpoint import save_checkpoint as save_pose
    from inference.models.segmenter import LocalSegmenterNet, SegmenterConfig
    from inference.models.segmenter import save_checkpoint as save_segmenter

    torch.manual_seed(0)
    save_pose(tmp_path / "pose.pt", {"net": PoseNetConfig().to_dict(), "input_size": [64, 64],
                                     "step": 0, "seed": 0,
                                     "model": PoseTrackerNet(PoseNetConfig()).state_dict()})
    config = SegmenterConfig(crop_size=64)
    save_segmenter(tmp_path / "seg.pt", {"config": config.to_dict(),
                                         "model": LocalSegmenterNet(config).state_dict()})
    clip, _ = write_synthetic_clip(tmp_path / "clip", SynthConfig(people=1, frames=3, width=96,
                                                                   height=64, seed=2))
    weights = {"pose": Weights.local(tmp_path / "pose.pt", format="humanfx.pose_tracker"),
               "segmenter": Weights.local(tmp_path / "seg.pt", format="humanfx.local_segmenter")}
    result = analyze_clip(ClipSession(clip, cache_root=tmp_path / "cache"),
                          AnalyzeOptions(model="seed", device="cpu", keyframe_every=3,
                                         weights=weights))
    assert result.complete and result.source == "seed"
    assert (result.frames_detected, result.frames_carried) == (1, 2)
    with LayerCache.open(result.cache_path) as cache:
        assert cache.is_complete() and cache.meta.settings["detector"]["pose_weights"] \
            .startswith("file:pose.pt@")


def test_keypoint_rcnn_with_the_local_segmenter_as_mask_stage(clip, weight_files, tmp_path):
    """``--model rcnn`` with a ``segmenter`` slot: Keypoint R-CNN poses, Local Segmenter masks
    (both loaded through the weights path from files), through the whole analysis."""
    from inference.analysis.detection import build_detector, detector_identity
    from inference.analysis.hybrid import KeypointSegmenterDetector
    from inference.models.segmenter import LocalSegmenterNet, SegmenterConfig
    from inference.models.segmenter import save_checkpoint as save_segmenter

    torch.manual_seed(0)
    config = SegmenterConfig(crop_size=64)
    save_segmenter(tmp_path / "seg.pt", {"config": config.to_dict(),
                                         "model": LocalSegmenterNet(config).state_dict()})
    weights = {"keypoint": Weights.local(weight_files["keypoint"]),
               "segmenter": Weights.local(tmp_path / "seg.pt", format="humanfx.local_segmenter")}
    det = build_detector("rcnn", device=torch.device("cpu"), weights=weights,
                         rcnn_settings=SMALL, progress=False)
    assert isinstance(det, KeypointSegmenterDetector) and det.mask_model is None
    assert det.identity == detector_identity("rcnn", weights=weights, rcnn_settings=SMALL)
    assert det.identity["mask_stage"] == "segmenter" and "mask_weights" not in det.identity
    # a random Keypoint R-CNN scores ~0.2: let such detections start tracks
    anyone = TrackerConfig(low_score=0.01, high_score=0.1, new_track_score=0.1, min_hits=1,
                           min_track_length=1)
    result = analyze_clip(ClipSession(clip, cache_root=tmp_path / "cache"),
                          _options(tracker=anyone), detector=det)
    assert result.complete
    records = _records(result.cache_path)
    assert records and any(r.segmentation is not None for r in records)
    assert all(r.keypoints is not None for r in records)
    with pytest.raises(InputError, match="not both"):
        detector_identity("rcnn", weights={**weights, "mask": weights["keypoint"]})
