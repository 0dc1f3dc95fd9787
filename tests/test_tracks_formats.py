"""Tracks file formats: COCO-video (canonical, validated), YouTube-VIS and PoseTrack 2018.

Real files in tmp_path, small synthetic masks and poses generated here.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as cocomask

from inference.errors import InputError
from inference.tracks import COCO_KEYPOINTS, PersonRecord, Track, TrackSet, VideoInfo
from inference.tracks.cocovideo import canonical, dumps_cocovideo
from inference.tracks.io import load_tracks, save_tracks
from inference.tracks.masks import check_rle, decode_mask, encode_mask, rle_counts
from inference.tracks.posetrack import POSETRACK18_KEYPOINTS, to_posetrack
from inference.tracks.youtube_vis import to_youtube_vis_results

W, H, N = 40, 30, 8
VIDEO = VideoInfo(id=1, file_name="clip.mp4", width=W, height=H, length=N,
                  fps=Fraction(30000, 1001))


def _mask(frame: int, track: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[3 + frame: 12 + frame, 4 + 12 * track: 11 + 12 * track] = 1
    m[5 + frame, 2 + 12 * track] = 1  # a detached pixel: more than one run per column
    return m


def _keypoints(frame: int, track: int, rng: np.random.Generator) -> np.ndarray:
    kp = np.zeros((17, 3))
    kp[:, 0] = rng.random(17) * W
    kp[:, 1] = rng.random(17) * H
    kp[:, 2] = rng.choice([0, 1, 2], 17)
    kp[kp[:, 2] == 0, :2] = 0
    kp[0] = (0.1, 1e-7, 2)  # awkward floats must survive exactly
    kp[5] = (123456.789, -0.5 + frame, 1)
    return kp


def sample_trackset() -> TrackSet:
    """Canonical order, ids set, compressed masks: ``load(dump(ts)) == ts`` must hold."""
    rng = np.random.default_rng(7)
    anns = []
    for f in range(N):
        for t in (1, 2):
            if (f, t) == (3, 2):
                continue  # track 2 missing on frame 3
            seg = encode_mask(_mask(f, t)) if t == 1 or f % 2 else None
            anns.append(PersonRecord(video_id=1, frame_index=f, track_id=t,
                                     bbox=(4.0 + 12 * t, 3.0 + f, 7.25, 9.0),
                                     keypoints=_keypoints(f, t, rng), segmentation=seg,
                                     score=[0.875, 1.0, 0.1][(f + t) % 3], id=100 + 2 * f + t))
    # a mask-only record on a third track
    anns.append(PersonRecord(video_id=1, frame_index=N - 1, track_id=3, bbox=(0, 0, 2, 2),
                             segmentation=encode_mask(np.eye(H, W, dtype=np.uint8)), id=999))
    anns.sort(key=lambda a: (a.frame_index, a.track_id))
    return TrackSet(videos=[VIDEO],
                    tracks=[Track(1, 1, "Zoë"), Track(2, 1), Track(3, 1, "mask only")],
                    annotations=anns, info={"generator": "test", "nested": {"b": 1, "a": [1.5]}})


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


# -- shared helpers added to masks.py / model.py ------------------------------------------------
def test_rle_counts_match_column_major_runs_and_check_rle_rejects_bad_runs():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        flat = m.T.ravel()
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]))
        runs = np.diff(bounds)
        if flat[0]:
            runs = np.concatenate(([0], runs))
        rle = encode_mask(m)
        assert np.array_equal(rle_counts(rle), runs)
        check_rle(rle, h, w)
    for bad, why in [({"size": [4, 4], "counts": "1"}, "cover 1 pixels"),
                     ({"size": [4, 4], "counts": [3, 5]}, "cover 8 pixels"),
                     ({"size": [4, 4], "counts": "zz"}, "alphabet"),
                     ({"size": [4], "counts": "1"}, "size must be")]:
        with pytest.raises(ValueError, match=why):
            check_rle(bad)
    with pytest.raises(ValueError, match="size is"):
        check_rle(encode_mask(np.ones((4, 5))), 5, 4)


def test_person_records_compare_by_value():
    a = PersonRecord(1, 0, 1, (0, 0, 1, 1), keypoints=np.ones((17, 3)))
    b = copy.deepcopy(a)
    assert a == b
    b.keypoints[3, 0] = 2
    assert a != b


# -- COCO-video ----------------------------------------------------------------------------------
def test_cocovideo_round_trip_is_exact_and_byte_identical(tmp_path):
    ts = sample_trackset()
    path = save_tracks(ts, tmp_path / "tracks.json")
    first = path.read_bytes()
    loaded = load_tracks(path)
    assert loaded == ts
    assert loaded.annotations[0].keypoints[0, 1] == 1e-7
    again = save_tracks(loaded, tmp_path / "again.json").read_bytes()
    assert again == first
    assert dumps_cocovideo(load_tracks(path)).encode("utf-8") == first
    data = json.loads(first)
    assert data["info"]["format"] == "humanfx-cocovideo" and data["info"]["version"] == 1
    assert data["categories"][0]["keypoints"] == list(COCO_KEYPOINTS)
    ann = data["annotations"][0]
    assert list(ann) == ["id", "video_id", "frame_index", "track_id", "category_id", "bbox",
                         "keypoints", "num_keypoints", "segmentation", "area", "iscrowd",
                         "score"]
    assert ann["bbox"] == [16, 3, 7.25, 9] and isinstance(ann["bbox"][0], int)
    assert data["videos"][0]["fps"] == [30000, 1001]
    assert not list(tmp_path.glob(".*.tmp"))


def test_cocovideo_dump_is_canonical_whatever_the_input_order(tmp_path):
    ts = sample_trackset()
    shuffled = copy.deepcopy(ts)
    rng = np.random.default_rng(1)
    shuffled.annotations = [shuffled.annotations[i]
                            for i in rng.permutation(len(shuffled.annotations))]
    shuffled.tracks.reverse()
    shuffled.info = dict(reversed(list(ts.info.items())))
    assert dumps_cocovideo(shuffled) == dumps_cocovideo(ts)
    # records without ids get fresh ones, after the largest, in canonical order
    for a in shuffled.annotations:
        if a.frame_index == 0:
            a.id = None
    loaded = load_tracks(save_tracks(shuffled, tmp_path / "t.json"))
    assert [a.id for a in loaded.annotations if a.frame_index == 0] == [1000, 1001]
    expected = canonical(shuffled)
    expected.annotations[0].id, expected.annotations[1].id = 1000, 1001
    assert loaded == expected


def _valid_file_dict() -> dict:
    return json.loads(dumps_cocovideo(sample_trackset()))


def test_cocovideo_accepts_uncompressed_rle_polygons_and_missing_keypoints(tmp_path):
    data = _valid_file_dict()
    m = _mask(2, 1)
    flat = m.T.ravel()
    runs = np.diff(np.concatenate(([0], np.flatnonzero(np.diff(flat)) + 1, [flat.size])))
    a0, a1 = data["annotations"][0], data["annotations"][1]
    a0["segmentation"] = {"size": [H, W], "counts": [int(r) for r in runs]}
    polygon = [[5.0, 5.0, 20.0, 5.0, 20.0, 15.0, 5.0, 15.0]]
    a1["segmentation"] = polygon
    del a1["keypoints"]
    ts = load_tracks(_write(tmp_path / "t.json", data))
    assert ts.annotations[0].segmentation == encode_mask(m)
    assert isinstance(ts.annotations[1].segmentation["counts"], str)
    expected = cocomask.decode(cocomask.merge(cocomask.frPyObjects(polygon, H, W)))
    assert np.array_equal(decode_mask(ts.annotations[1].segmentation), expected)
    assert not ts.annotations[1].keypoints.any()


def _set(path: str, value):
    """A mutation that sets ``path`` (dotted, with [i]) in the file dict."""
    def apply(d):
        keys = path.replace("[", ".").replace("]", "").split(".")
        for k in keys[:-1]:
            d = d[int(k)] if k.isdigit() else d[k]
        last = keys[-1]
        if value is _DELETE:
            del d[int(last) if last.isdigit() else last]
        else:
            d[int(last) if last.isdigit() else last] = value
    return apply


_DELETE = object()

BAD_FILES = [
    (_set("annotations[12].keypoints", [0] * 34), "annotations[12].keypoints must have 51 numbers"),
    (_set("annotations[3].keypoints[7]", "x"), "annotations[3].keypoints must have 51 numbers"),
    (_set("annotations[4].keypoints[5]", 3), "annotations[4].keypoints visibility flags"),
    (_set("annotations[2].track_id", 9), "annotations[2].track_id is 9, which is not in 'tracks'"),
    (_set("annotations[1].frame_index", N), "annotations[1].frame_index is 8, past the video"),
    (_set("annotations[1].frame_index", -1), "annotations[1].frame_index must be at least 0"),
    (_set("annotations[0].bbox", [1, 2, -3, 4]), "annotations[0].bbox must have a non-negative"),
    (_set("annotations[0].bbox", [1, 2, 3]), "annotations[0].bbox must have 4 numbers"),
    (_set("annotations[0].segmentation.size", [W, H]), "annotations[0].segmentation size is"),
    (_set("annotations[0].segmentation.counts", "1"), "annotations[0].segmentation counts cover"),
    (_set("annotations[0].segmentation", [[1, 2, 3, 4, 5]]),
     "annotations[0].segmentation[0] must be a polygon"),
    (_set("annotations[0].category_id", 2), "annotations[0].category_id must be 1"),
    (_set("annotations[0].iscrowd", 1), "annotations[0].iscrowd must be 0"),
    (_set("annotations[0].score", "high"), "annotations[0].score must be a finite number"),
    (_set("annotations[5].id", 100 + 1), "annotations[5].id repeats annotation id"),
    (_set("annotations[1].track_id", 1), "annotations[1] repeats track 1 on frame 0"),
    (_set("annotations[0].video_id", 5), "annotations[0].video_id is 5, which is not in 'videos'"),
    (_set("annotations[0].frame_index", _DELETE), "annotations[0] has no 'frame_index'"),
    (_set("videos[0].fps", [30, 0]), "videos[0].fps must be [numerator, denominator]"),
    (_set("videos[0].fps", 29.97), "videos[0].fps must be [numerator, denominator]"),
    (_set("videos[0].width", 0), "videos[0].width must be at least 1"),
    (_set("tracks[1].id", 1), "tracks[1].id repeats track id 1"),
    (_set("tracks[0].video_id", 3), "tracks[0].video_id is 3, which is not in 'videos'"),
    (_set("categories[0].keypoints", list(POSETRACK18_KEYPOINTS)),
     "categories[0].keypoints must be the 17 COCO"),
    (_set("info.version", 2), "info.version is 2; this humanfx reads version 1"),
    (_set("annotations", {}), "annotations must be a JSON array"),
    (_set("videos", _DELETE), "the file has no 'videos'"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "expected"), BAD_FILES, ids=[e for _, e in BAD_FILES])
def test_cocovideo_validation_names_the_file_and_the_bad_element(tmp_path, mutate, expected):
    data = _valid_file_dict()
    mutate(data)
    path = _write(tmp_path / "bad tracks.json", data)
    with pytest.raises(InputError) as err:
        load_tracks(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"videos": [}', "is not valid JSON: Expecting value at line 1 column 13"),
    ('{"videos": [], "tracks": [], "x": NaN}', "NaN is not a JSON number"),
    ("\udcff", "is not UTF-8 text"),
])
def test_unreadable_json_is_an_input_error(tmp_path, text, expected):
    path = tmp_path / "t.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(InputError, match=expected) as err:
        load_tracks(path)
    assert str(path) in str(err.value)


def test_unknown_files_are_rejected_clearly(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_tracks(tmp_path / "missing.json")
    with pytest.raises(InputError, match="COCO image dataset"):
        load_tracks(_write(tmp_path / "coco.json", {"images": [{"id": 1}],
                                                     "annotations": [{"image_id": 1}]}))
    with pytest.raises(InputError, match="not a tracks file"):
        load_tracks(_write(tmp_path / "x.json", {"hello": 1}))
    with pytest.raises(InputError, match="unknown tracks format 'mp4'"):
        save_tracks(sample_trackset(), tmp_path / "o.json", format="mp4")


def test_failed_save_leaves_the_old_file_and_no_temporaries(tmp_path):
    path = save_tracks(sample_trackset(), tmp_path / "t.json")
    before = path.read_bytes()
    bad = sample_trackset()
    bad.annotations[0].bbox = (float("nan"), 0.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        save_tracks(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


# -- YouTube-VIS ---------------------------------------------------------------------------------
def _ytvis_results() -> list:
    out = []
    for k, (start, stop, score) in enumerate([(0, N, 0.9), (2, 5, 0.5)]):
        segs = [encode_mask(_mask(f, k)) if start <= f < stop else None for f in range(N)]
        out.append({"video_id": 7, "category_id": 1, "segmentations": segs, "score": score})
    return out


def test_youtube_vis_results_round_trip(tmp_path):
    results = _ytvis_results()
    path = _write(tmp_path / "results.json", results)
    ts = load_tracks(path)
    assert ts.videos == [VideoInfo(7, "", W, H, N, Fraction(0))]  # size from masks, no fps
    assert [t.id for t in ts.tracks] == [1, 2]
    assert len(ts.annotations) == N + 3
    assert all(not a.keypoints.any() for a in ts.annotations)
    assert to_youtube_vis_results(ts) == results
    # with the clip: its id, name and rate
    ts2 = load_tracks(path, video=VIDEO)
    assert ts2.videos == [VIDEO] and {a.video_id for a in ts2.annotations} == {1}
    out = json.loads(save_tracks(ts2, tmp_path / "out.json", format="youtube-vis").read_text())
    assert [e["segmentations"] for e in out] == [e["segmentations"] for e in results]


def test_youtube_vis_checks_categories_sizes_and_the_clip(tmp_path):
    results = _ytvis_results()
    results[1]["category_id"] = 26
    path = _write(tmp_path / "r.json", results)
    with pytest.raises(InputError, match="have 2 categories .*pass category_id"):
        load_tracks(path)
    assert len(load_tracks(path, category_id=26).tracks) == 1
    short = VideoInfo(1, "c.mp4", W, H, N + 1, Fraction(25))
    with pytest.raises(InputError, match="has 8 frames but the clip has 9") as err:
        load_tracks(path, video=short, category_id=1)
    assert str(path) in str(err.value)
    no_masks = [{"video_id": 1, "category_id": 1, "segmentations": [None] * N, "score": 1}]
    with pytest.raises(InputError, match="frame size is unknown.*video="):
        load_tracks(_write(tmp_path / "n.json", no_masks))
    results = _ytvis_results()
    results[0]["segmentations"][3]["counts"] = "00"
    with pytest.raises(InputError, match=r"\[0\]\.segmentations\[3\] counts cover 0 pixels"):
        load_tracks(_write(tmp_path / "b.json", results))


def test_youtube_vis_dataset_file(tmp_path):
    poly = [[2.0, 2.0, 10.0, 2.0, 10.0, 9.0, 2.0, 9.0]]
    data = {
        "videos": [{"id": 3, "width": W, "height": H, "length": 3,
                    "file_names": [f"0043f083b5/{i * 5:05d}.jpg" for i in range(3)]}],
        "categories": [{"id": 1, "name": "giant_panda"}, {"id": 26, "name": "person"}],
        "annotations": [
            {"id": 11, "video_id": 3, "category_id": 26, "iscrowd": 0,
             "segmentations": [encode_mask(_mask(0, 0)), None, poly],
             "bboxes": [[4, 3, 7, 10], None, [2, 2, 8, 7]]},
            {"id": 12, "video_id": 3, "category_id": 1, "segmentations": [None] * 3},
        ],
    }
    ts = load_tracks(_write(tmp_path / "train.json", data))
    assert ts.videos == [VideoInfo(3, "0043f083b5", W, H, 3, Fraction(0))]
    assert [t.id for t in ts.tracks] == [11]
    assert [(a.frame_index, a.bbox) for a in ts.annotations] == [(0, (4, 3, 7, 10)),
                                                                 (2, (2, 2, 8, 7))]
    data["annotations"][0]["segmentations"].append(None)
    with pytest.raises(InputError, match=r"annotations\[0\]\.segmentations has 4 frames"):
        load_tracks(_write(tmp_path / "bad.json", data))


# -- PoseTrack 2018 ------------------------------------------------------------------------------
def _posetrack_file() -> dict:
    """As PoseTrack 2018 ships it: string vid_id, 0/1 flags, head_bottom/head_top labelled."""
    images = [{"has_no_densepose": True, "is_labeled": True, "nframes": 4,
               "file_name": f"images/val/000342_mpii_test/{i:06d}.jpg",
               "frame_id": 10003420000 + i, "vid_id": "000342", "id": 10003420000 + i}
              for i in range(4)]
    images.reverse()  # frame order comes from frame_id, not file order
    kp = np.zeros((17, 3))
    kp[0] = (10, 5, 1)       # nose
    kp[1] = (11, 7, 1)       # head_bottom
    kp[2] = (12, 1, 1)       # head_top
    kp[5] = (8, 10, 1)       # left_shoulder
    kp[16] = (20, 28, 1)     # right_ankle
    anns = [{"bbox_head": [1, 1, 2, 2], "keypoints": (kp + [f, 0, 0]).ravel().tolist(),
             "track_id": t, "image_id": 10003420000 + f, "bbox": [f, 1.5, 20, 27],
             "scores": [], "category_id": 1, "id": 1000 + 10 * f + t}
            for f in (0, 2, 3) for t in (0, 4)]
    return {"images": images, "annotations": anns,
            "categories": [{"supercategory": "person", "id": 1, "name": "person",
                            "keypoints": list(POSETRACK18_KEYPOINTS), "skeleton": []}]}


def test_posetrack_keypoints_map_by_name_and_frames_follow_frame_id(tmp_path):
    clip = VideoInfo(1, "000342.mp4", 64, 48, 4, Fraction(25))
    ts = load_tracks(_write(tmp_path / "000342_mpii_test.json", _posetrack_file()), video=clip)
    assert ts.videos == [clip]
    assert [t.id for t in ts.tracks] == [0, 4]
    assert [(a.frame_index, a.track_id) for a in ts.annotations] == [
        (0, 0), (0, 4), (2, 0), (2, 4), (3, 0), (3, 4)]
    a = ts.annotations[2]
    assert a.bbox == (2.0, 1.5, 20.0, 27.0) and a.id == 1020 and a.segmentation is None
    nose, leye, reye = (COCO_KEYPOINTS.index(n) for n in ("nose", "left_eye", "right_eye"))
    assert a.keypoints[nose].tolist() == [12, 5, 2]  # PoseTrack's 1 (labelled) -> visible
    assert a.keypoints[leye].tolist() == [0, 0, 0] and a.keypoints[reye].tolist() == [0, 0, 0]
    assert a.keypoints[COCO_KEYPOINTS.index("left_shoulder")].tolist() == [10, 10, 2]
    assert a.keypoints[COCO_KEYPOINTS.index("right_ankle")].tolist() == [22, 28, 2]
    assert int((a.keypoints[:, 2] > 0).sum()) == 3  # head_bottom/head_top dropped


def test_posetrack_round_trip_through_the_converter(tmp_path):
    rng = np.random.default_rng(3)
    anns = []
    for f in range(N):
        for t in (0, 5):
            kp = _keypoints(f, t, rng)
            kp[1:3] = 0  # COCO eyes have no PoseTrack counterpart
            ann_id = None if f == 2 else 50 + f * 2 + t
            anns.append(PersonRecord(1, f, t, (1.5 * f, 2.0, 10.0, 20.25), kp,
                                     score=0.25 + 0.5 * (t == 0), id=ann_id))
    ts = TrackSet(videos=[VIDEO], tracks=[Track(0, 1), Track(5, 1)], annotations=anns)
    path = save_tracks(ts, tmp_path / "pt.json", format="posetrack")
    data = json.loads(path.read_text())
    assert len(data["images"]) == N and data["images"][0]["vid_id"] == "000001"
    assert data["categories"][0]["keypoints"] == list(POSETRACK18_KEYPOINTS)
    back = load_tracks(path, video=VIDEO)
    for a in ts.annotations:  # export assigned ids after the largest one
        if a.id is None:
            a.id = 70 + a.track_id // 5  # largest existing id is 50 + 7 * 2 + 5 = 69
    assert back == ts
    assert to_posetrack(back) == data


def test_posetrack_needs_the_clip_and_accepts_sparse_images(tmp_path):
    data = _posetrack_file()
    path = _write(tmp_path / "p.json", data)
    with pytest.raises(InputError, match="no frame size.*video=") as err:
        load_tracks(path)
    assert str(path) in str(err.value)
    with pytest.raises(InputError, match="describe 4 frames but the clip has 8"):
        load_tracks(path, video=VIDEO)
    # Only the labelled frames listed: indices come from the file names.
    data["images"] = [im for im in data["images"] if im["frame_id"] % 10 != 1]
    for im in data["images"]:
        im["nframes"] = 10
    clip = VideoInfo(1, "c.mp4", 64, 48, 10, Fraction(25))
    ts = load_tracks(_write(tmp_path / "sparse.json", data), video=clip)
    assert sorted({a.frame_index for a in ts.annotations}) == [0, 2, 3]
    data["annotations"][0]["image_id"] = 5
    with pytest.raises(InputError, match=r"annotations\[0\]\.image_id is 5, which is not in"):
        load_tracks(_write(tmp_path / "bad.json", data), video=clip)
