"""The synthetic clip generator: determinism, exact ground truth, occlusion, tracks and audio."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from inference.errors import InputError
from inference.synth import SynthConfig, SyntheticScene, SynthPerson
from inference.tracks.masks import decode_mask, mask_bbox
from inference.tracks.model import NUM_KEYPOINTS, V_NONE, V_OCCLUDED, V_VISIBLE

BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def _full_masks(
    scene: SyntheticScene, index: int, persons: list[SynthPerson]
) -> dict[int, np.ndarray]:
    """Each person's unoccluded silhouette, measured from pixels alone: drawn over black and over
    white, a pixel is the person's exactly when it is the same in both."""
    out = {}
    for p in persons:
        a = scene.render_person(index, p.track_id, BLACK)
        b = scene.render_person(index, p.track_id, WHITE)
        out[p.track_id] = np.all(a == b, axis=-1)
    return out


@pytest.fixture(scope="module")
def small() -> SyntheticScene:
    return SyntheticScene(
        SynthConfig(people=3, frames=48, width=160, height=120, seed=0, props=False)
    )


# -- config ------------------------------------------------------------------------------------


def test_config_normalises_and_validates():
    assert SynthConfig().fps == Fraction(24)
    assert SynthConfig(fps=30).fps == Fraction(30) and isinstance(SynthConfig(fps=30).fps, Fraction)
    assert SynthConfig(fps="30000/1001").fps == Fraction(30000, 1001)
    assert SynthConfig(frames=48, fps=Fraction(24)).duration == 2
    for bad in (
        {"people": -1},
        {"width": 4},
        {"height": 100000},
        {"fps": 0},
        {"fps": "fast"},
        {"frames": -3},
        {"audio_rate": 0},
        {"people": 2.5},
    ):
        with pytest.raises(InputError):
            SynthConfig(**bad)


def test_index_out_of_range():
    scene = SyntheticScene(SynthConfig(people=1, frames=3, width=32, height=32))
    with pytest.raises(IndexError):
        scene.render(3)
    with pytest.raises(IndexError):
        scene.render(-1)


# -- determinism -------------------------------------------------------------------------------


def _same_truth(a: list[SynthPerson], b: list[SynthPerson]) -> bool:
    return [p.track_id for p in a] == [p.track_id for p in b] and all(
        p.bbox == q.bbox
        and p.depth == q.depth
        and np.array_equal(p.keypoints, q.keypoints)
        and np.array_equal(p.mask, q.mask)
        for p, q in zip(a, b, strict=True)
    )


def test_same_seed_same_clip_in_any_order():
    cfg = SynthConfig(people=3, frames=20, width=96, height=72, seed=4)
    one, two = SyntheticScene(cfg), SyntheticScene(cfg)
    forward = [one.render(i) for i in range(cfg.frames)]
    for i in reversed(range(cfg.frames)):  # random access, other instance, other order
        frame, persons = two.render(i)
        assert np.array_equal(frame, forward[i][0])
        assert _same_truth(persons, forward[i][1])
    assert np.array_equal(one.audio(), two.audio())
    assert not np.array_equal(forward[0][0], forward[10][0])  # things move


def test_different_seed_different_clip():
    a = SyntheticScene(SynthConfig(frames=4, width=96, height=72, seed=1)).render(2)
    b = SyntheticScene(SynthConfig(frames=4, width=96, height=72, seed=2)).render(2)
    assert not np.array_equal(a[0], b[0])
    assert not _same_truth(a[1], b[1])


def test_people_and_iteration_agree_with_render():
    scene = SyntheticScene(SynthConfig(people=2, frames=6, width=64, height=48, seed=3))
    items = list(scene)
    assert [i for i, _, _ in items] == list(range(6))
    for i, frame, persons in items:
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert _same_truth(persons, scene.people(i))
        assert np.array_equal(frame, scene.render(i)[0])


# -- exact ground truth ------------------------------------------------------------------------


def test_masks_are_exactly_the_drawn_pixels(small):
    """Without props, a person's visible mask is their silhouette minus nearer people's, and the
    frame (before blur and noise) shows exactly the person's own pixels there."""
    checked = 0
    for i in range(0, small.config.frames, 3):
        clean, persons = small.render(i, clean=True)
        full = _full_masks(small, i, persons)
        for p in persons:
            assert p.mask.dtype == bool and p.mask.shape == (120, 160) and p.mask.any()
            nearer = np.zeros_like(p.mask)
            for q in persons:
                if q.depth > p.depth:
                    nearer |= full[q.track_id]
            assert np.array_equal(p.mask, full[p.track_id] & ~nearer)
            alone = small.render_person(i, p.track_id, BLACK)
            assert np.array_equal(clean[p.mask], alone[p.mask])
            assert p.bbox == mask_bbox(p.mask)
            checked += 1
        # no pixel belongs to two people
        if persons:
            assert np.stack([p.mask for p in persons]).sum(0).max() == 1
    assert checked >= 30


def test_nearer_person_wins_where_two_overlap(small):
    overlaps = 0
    for i in range(small.config.frames):
        persons = small.people(i)
        full = _full_masks(small, i, persons)
        for p in persons:
            for q in persons:
                if p.depth >= q.depth:
                    continue  # p is the farther one
                both = full[p.track_id] & full[q.track_id]
                if not both.any():
                    continue
                overlaps += 1
                assert not (p.mask & both).any(), (
                    f"frame {i}: {p.track_id} shows through {q.track_id}"
                )
                by_third = np.zeros_like(both)
                for r in persons:
                    if r.depth > q.depth:
                        by_third |= full[r.track_id]
                assert np.array_equal(q.mask & both, both & ~by_third)
                assert not np.array_equal(p.mask, full[p.track_id])  # p really lost pixels
    assert overlaps >= 3, "the two first people should cross in front of each other"


def test_props_hide_people_behind_them():
    """With props on: pixels of a person that are hidden but not by a nearer person show the
    clean background plate there (the prop), and the frame shows the person on the mask."""
    hidden_by_prop = 0
    for seed in (1, 3):  # scenes with props
        scene = SyntheticScene(SynthConfig(people=4, frames=60, width=128, height=96, seed=seed))
        assert scene.props
        for i in range(0, 60, 4):
            clean, persons = scene.render(i, clean=True)
            plate = scene.plate(i)
            full = _full_masks(scene, i, persons)
            for p in persons:
                nearer = np.zeros_like(p.mask)
                for q in persons:
                    if q.depth > p.depth:
                        nearer |= full[q.track_id]
                assert not (p.mask & (nearer | ~full[p.track_id])).any()
                hidden = full[p.track_id] & ~p.mask & ~nearer
                if hidden.any():
                    hidden_by_prop += 1
                    assert np.array_equal(clean[hidden], plate[hidden])
                alone = scene.render_person(i, p.track_id, BLACK)
                assert np.array_equal(clean[p.mask], alone[p.mask])
    assert hidden_by_prop > 0


def test_keypoint_flags_follow_frame_bounds_and_masks():
    counts = np.zeros(3, int)
    hidden_by_other = 0
    for seed in range(3):
        scene = SyntheticScene(SynthConfig(people=4, frames=72, width=128, height=96, seed=seed))
        for i in range(0, 72, 3):
            persons = scene.people(i)
            for p in persons:
                kp = p.keypoints
                assert kp.shape == (NUM_KEYPOINTS, 3) and kp.dtype == np.float64
                inside = (kp[:, 0] >= 0) & (kp[:, 0] < 128) & (kp[:, 1] >= 0) & (kp[:, 1] < 96)
                v = kp[:, 2]
                assert set(np.unique(v)) <= {V_NONE, V_OCCLUDED, V_VISIBLE}
                assert np.array_equal(v == V_NONE, ~inside)
                for x, y, flag in kp[inside]:
                    r, c = int(y), int(x)
                    if flag == V_VISIBLE:
                        assert p.mask[r, c]
                    if any(q.mask[r, c] for q in persons if q is not p):
                        assert flag == V_OCCLUDED
                        hidden_by_other += 1
                counts += np.bincount(v.astype(int), minlength=3)
    assert counts.min() > 0, counts  # all three flags occur
    assert hidden_by_other > 0


def test_people_leave_and_come_back():
    cfg = SynthConfig(people=3, frames=480, width=64, height=48, seed=0)
    scene = SyntheticScene(cfg)
    present: dict[int, list[int]] = {}
    entries_at_edge = 0
    for i in range(cfg.frames):
        for p in scene.people(i):
            frames = present.setdefault(p.track_id, [])
            if not frames or frames[-1] != i - 1:  # (re-)appearing
                x, y, w, h = p.bbox
                if i > 0 and (x == 0 or y == 0 or x + w == cfg.width or y + h == cfg.height):
                    entries_at_edge += 1
            frames.append(i)
    assert sorted(present) == [1, 2, 3]
    gaps = [k for k, fr in present.items() if np.any(np.diff(fr) > 1)]
    assert gaps, "someone should leave the frame and come back"
    assert entries_at_edge > 0
    assert present[1][0] == 0  # person 1 is always there from the start


def test_sizes_vary():
    heights = []
    for seed in range(4):
        scene = SyntheticScene(SynthConfig(people=4, frames=24, width=96, height=72, seed=seed))
        for i in (0, 12, 23):
            heights += [
                p.bbox[3] / 72
                for p in scene.people(i)
                if 0 < p.bbox[1] and p.bbox[1] + p.bbox[3] < 72
            ]  # whole height visible
    assert min(heights) < 0.35 and max(heights) > 0.55


# -- the whole ground truth ----------------------------------------------------------------------


def test_trackset_matches_render():
    cfg = SynthConfig(people=3, frames=12, width=96, height=64, seed=1)
    scene = SyntheticScene(cfg)
    ts = scene.trackset("clip.mp4")
    assert len(ts.videos) == 1
    v = ts.videos[0]
    assert (v.id, v.file_name, v.width, v.height, v.length, v.fps) == (
        1,
        "clip.mp4",
        96,
        64,
        12,
        Fraction(24),
    )
    assert [a.id for a in ts.annotations] == list(range(1, len(ts.annotations) + 1))
    assert [(a.frame_index, a.track_id) for a in ts.annotations] == sorted(
        (a.frame_index, a.track_id) for a in ts.annotations
    )
    assert {t.id for t in ts.tracks} == {a.track_id for a in ts.annotations}
    assert all(t.name == f"person {t.id}" and t.video_id == 1 for t in ts.tracks)
    by_frame = ts.by_frame()
    for i in range(cfg.frames):
        _, persons = scene.render(i)
        records = by_frame.get(i, [])
        assert [r.track_id for r in records] == [p.track_id for p in persons]
        for r, p in zip(records, persons, strict=True):
            assert r.video_id == 1 and r.score == 1.0
            assert r.bbox == p.bbox
            assert np.array_equal(r.keypoints, p.keypoints)
            assert np.array_equal(decode_mask(r.segmentation).astype(bool), p.mask)
            assert r.segmentation["size"] == [64, 96]


def test_empty_scene():
    scene = SyntheticScene(SynthConfig(people=0, frames=5, width=80, height=60))
    for i, frame, persons in scene:
        assert frame.shape == (60, 80, 3) and persons == []
    ts = scene.trackset("empty.mkv")
    assert ts.tracks == [] and ts.annotations == [] and ts.videos[0].length == 5
    audio = scene.audio()
    assert audio.shape == (2, 10000) and np.abs(audio).max() > 0


# -- pixels: camera, noise, sizes ------------------------------------------------------------


def test_camera_motion_moves_the_background():
    still = SyntheticScene(
        SynthConfig(people=0, frames=24, width=96, height=72, camera_motion=False)
    )
    assert np.array_equal(still.plate(0), still.plate(23))
    moving = SyntheticScene(SynthConfig(people=0, frames=24, width=96, height=72))
    assert not np.array_equal(moving.plate(0), moving.plate(23))


def test_noise_and_blur_are_mild():
    scene = SyntheticScene(SynthConfig(frames=2, width=96, height=72, seed=2))
    noisy, persons = scene.render(1)
    clean, persons2 = scene.render(1, clean=True)
    assert not np.array_equal(noisy, clean)
    assert np.abs(noisy.astype(int) - clean.astype(int)).mean() < 6
    assert _same_truth(persons, persons2)


@pytest.mark.parametrize("size", [(16, 16), (64, 48), (1280, 720)])
def test_frame_sizes(size):
    w, h = size
    scene = SyntheticScene(SynthConfig(people=3, frames=3, width=w, height=h, seed=7))
    frame, persons = scene.render(2)
    assert frame.shape == (h, w, 3) and frame.dtype == np.uint8
    for p in persons:
        assert p.mask.shape == (h, w)


# -- audio -------------------------------------------------------------------------------------


def test_audio_shape_range_and_footsteps():
    cfg = SynthConfig(people=3, frames=30, fps=Fraction(30000, 1001), audio_rate=44100, seed=5)
    audio = SyntheticScene(cfg).audio()
    n = round(Fraction(30) / Fraction(30000, 1001) * 44100)
    assert audio.shape == (2, n) and audio.dtype == np.float32
    assert np.all(np.abs(audio) <= 1.0) and np.sqrt(np.mean(audio**2)) > 0.005
    silent_walkers = SyntheticScene(
        SynthConfig(people=0, frames=30, fps=Fraction(30000, 1001), audio_rate=44100, seed=5)
    ).audio()
    steps = audio - silent_walkers  # the same chord, so what is left are the footsteps
    assert np.abs(steps).max() > 0.05
    assert not np.array_equal(steps[0], steps[1])  # panned
