"""Tracking-data export: every format read back and compared with the layer cache.

A real synthetic clip, a real SQLite layer cache; After Effects keyframe text parsed with a small
parser written here; MOTChallenge, PoseTrack, YouTube-VIS and COCO-video read with the project's
own readers (and pycocotools for the YouTube-VIS masks).
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as cocomask

from editor_plugin.cli import main
from editor_plugin.exports.tracking_data import (
    after_effects_keyframes,
    decimal_string,
    export_clip_tracks,
)
from editor_plugin.media import VideoReader
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from inference.errors import InputError
from inference.synth import SynthConfig
from inference.tracking import read_mot_tracks
from inference.tracks import COCO_KEYPOINTS, PersonRecord, VideoInfo
from inference.tracks.io import load_tracks

W, H, N = 96, 64, 12
WRIST = COCO_KEYPOINTS.index("left_wrist")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    return write_synthetic_clip(tmp_path_factory.mktemp("clip"),
                                SynthConfig(people=2, frames=N, width=W, height=H, seed=1))


@pytest.fixture
def session(clip) -> ClipSession:
    s = ClipSession(clip[0])
    s.import_tracks(clip[1])
    return s


def records(session: ClipSession, source: str | None = None) -> list[PersonRecord]:
    with session.layers(source) as cache:
        return list(cache.records())


def points(recs: list[PersonRecord], track_id: int, joint: int) -> list[tuple[int, float, float]]:
    return [(r.frame_index, r.keypoints[joint, 0], r.keypoints[joint, 1]) for r in recs
            if r.track_id == track_id and r.keypoints[joint, 2] > 0]


def parse_ae(text: str) -> tuple[dict[str, str], list[tuple[int, float, float, float]]]:
    """Parse After Effects keyframe data with one Transform/Position block."""
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[0] == "Adobe After Effects 8.0 Keyframe Data"
    header: dict[str, str] = {}
    i = 1
    while lines[i] != "Transform\tPosition":
        if lines[i]:
            key, value = lines[i].strip("\t").split("\t")
            header[key] = value
        i += 1
    assert lines[i + 1].split("\t")[1:5] == ["Frame", "X pixels", "Y pixels", "Z pixels"]
    rows = []
    i += 2
    while lines[i]:
        f, x, y, z = lines[i].strip("\t").split("\t")
        rows.append((int(f), float(x), float(y), float(z)))
        i += 1
    assert "End of Keyframe Data" in lines[i:]
    return header, rows


def test_after_effects_one_file_round_trips(session, tmp_path):
    out = export_clip_tracks(session, tmp_path / "wrist.txt", "after-effects", persons=[1],
                             joints=["left_wrist"])
    header, rows = parse_ae(out.read_bytes().decode("utf-8"))
    assert header == {"Units Per Second": "24", "Source Width": "96", "Source Height": "64",
                      "Source Pixel Aspect Ratio": "1", "Comp Pixel Aspect Ratio": "1"}
    want = points(records(session), 1, WRIST)
    assert 0 < len(want) and [(f, x, y) for f, x, y, _ in rows] == want
    assert all(z == 0 for *_, z in rows)
    ntsc = after_effects_keyframes([(0, 1.5, 2.5)], VideoInfo(1, "c", 1920, 1080, 1,
                                                              Fraction(30000, 1001)))
    assert parse_ae(ntsc)[0]["Units Per Second"] == "29.97"


def test_after_effects_folder_has_one_file_per_person_and_joint(session, tmp_path):
    out = session.export_tracks(tmp_path / "ae", "after-effects")
    recs = records(session)
    expected = {f"person-{t}_{name}.txt" for t in (1, 2) for j, name in enumerate(COCO_KEYPOINTS)
                if points(recs, t, j)}
    assert {p.name for p in out.iterdir()} == expected and len(expected) > 17
    for path in out.iterdir():
        tid, joint = path.stem.removeprefix("person-").split("_", 1)
        _, rows = parse_ae(path.read_bytes().decode("utf-8"))
        assert [r[:3] for r in rows] == points(recs, int(tid), COCO_KEYPOINTS.index(joint))
    with pytest.raises(InputError, match="into a folder"):
        session.export_tracks(tmp_path / "all.txt", "after-effects")
    session.export_tracks(out, "after-effects", persons=[2])  # replaces the folder
    assert {p.name[:8] for p in out.iterdir()} == {"person-2"}


def test_nuke_chan_flips_y_and_numbers_frames(session, tmp_path):
    recs = records(session)
    ankle = COCO_KEYPOINTS.index("right_ankle")
    want = points(recs, 2, ankle)
    for start, first in ((None, 1), (1001, 1001)):
        out = session.export_tracks(tmp_path / f"ankle{first}.chan", "nuke-chan", persons=[2],
                                    joints=["right-ankle"], start_number=start)
        rows = [line.split(" ") for line in out.read_text().splitlines()]
        assert all(len(r) == 7 for r in rows) and rows
        got = [(int(r[0]) - first, float(r[1]), H - float(r[2])) for r in rows]
        assert [g[0] for g in got] == [w[0] for w in want]
        np.testing.assert_allclose([g[1:] for g in got], [w[1:] for w in want], atol=1e-9)
        assert all(r[3:] == ["0", "0", "0", "0"] for r in rows)


def test_csv_rows_are_the_labelled_joints(session, clip, tmp_path):
    out = session.export_tracks(tmp_path / "joints.csv", "csv")
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["frame", "time", "track_id", "joint", "x", "y", "v", "score"]
    with VideoReader(clip[0]) as r:
        times = r.timestamps
    recs = records(session)
    want = [(r.frame_index, r.track_id, COCO_KEYPOINTS[j], r.keypoints[j, 0], r.keypoints[j, 1],
             int(r.keypoints[j, 2]), r.score) for r in recs for j in range(17)
            if r.keypoints[j, 2] > 0]
    got = [(int(r["frame"]), int(r["track_id"]), r["joint"], float(r["x"]), float(r["y"]),
            int(r["v"]), float(r["score"])) for r in rows]
    assert got == want
    assert all(r["time"] == decimal_string(times[int(r["frame"])]) for r in rows)
    assert decimal_string(Fraction(1, 24)) == "0.041666667" and decimal_string(0) == "0"
    assert decimal_string(Fraction(1001, 30000)) == "0.033366667"

    wrists = session.export_tracks(tmp_path / "wrists.csv", "csv", persons=[2],
                                   joints="left_wrist,right_wrist")
    with wrists.open(newline="") as fh:
        sub = list(csv.DictReader(fh))
    assert sub and {(r["track_id"], r["joint"]) for r in sub} <= {
        ("2", "left_wrist"), ("2", "right_wrist")}


def test_json_is_versioned_and_columnar(session, tmp_path):
    out = session.export_tracks(tmp_path / "joints.json", "json")
    doc = json.loads(out.read_text())
    assert (doc["format"], doc["version"]) == ("humanfx-joint-tracks", 1)
    assert doc["video"] == {"file_name": "clip.mp4", "width": W, "height": H, "frame_count": N,
                            "fps": "24/1", "fps_decimal": "24"}
    assert doc["joints"] == list(COCO_KEYPOINTS) and doc["smoothing"] is None
    recs = records(session)
    assert [p["track_id"] for p in doc["persons"]] == [1, 2]
    for p in doc["persons"]:
        mine = [r for r in recs if r.track_id == p["track_id"]]
        assert p["frames"] == [r.frame_index for r in mine]
        assert p["time_exact"] == [f"{Fraction(f, 24).numerator}/{Fraction(f, 24).denominator}"
                                   for f in p["frames"]]
        assert p["bbox"] == [list(r.bbox) for r in mine]
        for j, name in enumerate(COCO_KEYPOINTS):
            col = p["joints"][name]
            assert col["v"] == [int(r.keypoints[j, 2]) for r in mine]
            assert col["x"] == [r.keypoints[j, 0] if r.keypoints[j, 2] > 0 else None
                                for r in mine]
            assert col["y"] == [r.keypoints[j, 1] if r.keypoints[j, 2] > 0 else None
                                for r in mine]


def test_mot_is_one_based_and_reads_back(session, tmp_path):
    out = session.export_tracks(tmp_path / "mot.txt", "mot")
    recs = records(session)
    assert int(out.read_text().split(",", 1)[0]) == min(r.frame_index for r in recs) + 1
    got = read_mot_tracks(out)
    flat = sorted((f, tid, tuple(b)) for f, items in got.items() for tid, b in items)
    want = sorted((r.frame_index, r.track_id, r.bbox) for r in recs)
    assert [g[:2] for g in flat] == [w[:2] for w in want]
    np.testing.assert_allclose([g[2] for g in flat], [w[2] for w in want], atol=5e-4)


def test_tracks_formats_read_back(session, tmp_path):
    video = session.video_info()
    recs = records(session)

    ts = load_tracks(session.export_tracks(tmp_path / "cv.json", "cocovideo"))
    assert ts.annotations == recs

    pt = load_tracks(session.export_tracks(tmp_path / "pt.json", "posetrack", persons=[2]),
                     video=video)
    mine = [r for r in recs if r.track_id == 2]
    assert [(a.frame_index, a.track_id) for a in pt.annotations] == [
        (r.frame_index, 2) for r in mine]
    no_eyes = [j for j, n in enumerate(COCO_KEYPOINTS) if "eye" not in n]  # PoseTrack has none
    for a, r in zip(pt.annotations, mine, strict=True):
        np.testing.assert_array_equal(a.keypoints[no_eyes], r.keypoints[no_eyes])

    yv_path = session.export_tracks(tmp_path / "yv.json", "youtube-vis")
    results = json.loads(yv_path.read_text())
    assert len(results) == 2
    with session.layers() as cache:
        for entry, tid in zip(results, (1, 2), strict=True):
            assert len(entry["segmentations"]) == N
            for f, seg in enumerate(entry["segmentations"]):
                layer = [p for p in cache.frame(f) if p.track_id == tid]
                if seg is None:
                    assert not layer
                    continue
                rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
                np.testing.assert_array_equal(cocomask.decode(rle), layer[0].mask)
    yv = load_tracks(yv_path, video=video)
    assert len(yv.annotations) == sum(1 for r in recs if r.segmentation is not None)


def test_smoothed_and_raw(session, clip, tmp_path):
    from inference.smoothing import KeypointSmoothing, smooth_cache, smooth_trackset

    raw = export_clip_tracks(session, tmp_path / "raw.json", "json", smoothed=False)
    smooth = export_clip_tracks(session, tmp_path / "smooth.json", "json", smoothed=True)
    raw_doc, smooth_doc = json.loads(raw.read_text()), json.loads(smooth.read_text())
    assert raw_doc["smoothing"] is None and smooth_doc["smoothing"]["keypoints"]
    with session.layers() as cache:
        ts = cache.to_trackset(session.video_info())
        expected = smooth_trackset(ts, KeypointSmoothing(), None)
        smoothed_path = smooth_cache(cache)
    exp = [r for r in expected.annotations if r.track_id == 1]
    xs = smooth_doc["persons"][0]["joints"]["left_wrist"]["x"]
    assert xs == [r.keypoints[WRIST, 0] if r.keypoints[WRIST, 2] > 0 else None for r in exp]
    assert xs != raw_doc["persons"][0]["joints"]["left_wrist"]["x"]

    # With a smoothed cache beside the raw one, --raw still reads the raw layers
    assert smoothed_path.exists()
    again = export_clip_tracks(session, tmp_path / "raw2.json", "json", smoothed=False)
    assert json.loads(again.read_text())["persons"] == raw_doc["persons"]
    with pytest.raises(InputError, match="smoothed"):
        export_clip_tracks(session, tmp_path / "x.json", "json", smoothed=False,
                           source="import.smooth")


def test_cli_export_tracks(session, tmp_path, capsys):
    out = tmp_path / "wrist.txt"
    assert main(["export-tracks", str(session.path), "--format", "after-effects", "-o", str(out),
                 "--person", "1", "--joint", "left_wrist", "--raw"]) == 0
    assert parse_ae(out.read_bytes().decode("utf-8"))[1]
    assert main(["export-tracks", str(session.path), "--format", "csv", "-o",
                 str(tmp_path / "all.csv"), "--person", "all", "--smoothed"]) == 0
    capsys.readouterr()
    assert main(["export-tracks", str(session.path), "--format", "cocovideo", "-o",
                 str(tmp_path / "cv.json"), "--joint", "nose"]) == 1
    assert "--joint applies to" in capsys.readouterr().err
    assert main(["export-tracks", str(session.path), "--format", "json", "-o",
                 str(tmp_path / "j.json"), "--joint", "tail"]) == 1
    assert "'tail' is not a COCO joint" in capsys.readouterr().err
    assert main(["export-tracks", str(session.path), "--format", "mot", "-o",
                 str(tmp_path / "m.txt"), "--person", "4"]) == 1
    assert "person 4 is not in this clip" in capsys.readouterr().err
