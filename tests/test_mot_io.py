"""MOTChallenge text I/O: round trips, malformed rows, and tracking a det.txt end to end."""

from __future__ import annotations

import numpy as np
import pytest

from inference.errors import InputError
from inference.tracking import (
    Detection,
    TrackedPerson,
    TrackerConfig,
    read_mot,
    read_mot_detections,
    read_mot_tracks,
    track_mot,
    write_mot_detections,
    write_mot_results,
)
from inference.tracking.evaluation import mot_metrics, persons_to_boxes


def test_results_round_trip(tmp_path):
    frames = {
        0: [TrackedPerson(2, 0, np.array([10.5, 20.25, 30.0, 60.125]), 0.9),
            TrackedPerson(1, 0, np.array([100.0, 20.0, 31.0, 62.0]), 0.8)],
        1: [],
        4: [TrackedPerson(1, 4, np.array([104.0, 21.0, 31.0, 62.0]), 1.0, interpolated=True)],
    }
    path = tmp_path / "out" / "res.txt"
    write_mot_results(path, frames)
    lines = path.read_text().splitlines()
    assert lines == ["1,1,100,20,31,62,1,-1,-1,-1", "1,2,10.5,20.25,30,60.125,1,-1,-1,-1",
                     "5,1,104,21,31,62,1,-1,-1,-1"]
    back = read_mot_tracks(path)
    assert sorted(back) == [0, 4]
    assert [tid for tid, _ in back[0]] == [1, 2]
    np.testing.assert_allclose(back[0][1][1], [10.5, 20.25, 30.0, 60.125])
    assert [p.name for p in path.parent.iterdir()] == ["res.txt"]  # no temp file left


def test_detections_round_trip(tmp_path):
    dets = {0: [Detection([1.5, 2.0, 10.0, 20.0], 0.987654)],
            2: [Detection([5.0, 6.0, 7.0, 8.0], 0.5), Detection([9.0, 9.0, 9.0, 9.0], 0.25)]}
    path = tmp_path / "det.txt"
    write_mot_detections(path, dets)
    assert path.read_text().splitlines()[0] == "1,-1,1.5,2,10,20,0.987654,-1,-1,-1"
    back = read_mot_detections(path)
    assert sorted(back) == [0, 2] and len(back[2]) == 2
    np.testing.assert_allclose(back[2][1].bbox, [9, 9, 9, 9])
    assert back[0][0].score == pytest.approx(0.987654)
    rows = read_mot(path)
    assert rows[0].frame_index == 0 and rows[0].track_id == -1


def test_blank_lines_and_extra_columns_are_accepted(tmp_path):
    path = tmp_path / "det.txt"
    path.write_text("\n1,-1,1,2,3,4,0.9,-1,-1,-1,extra\n\n2,-1,1,2,3,4,0.8\n")
    assert [r.frame_index for r in read_mot(path)] == [0, 1]


@pytest.mark.parametrize("bad, what", [
    ("1,-1,1,2,3", "expected at least 7"),
    ("1,-1,1,two,3,4,0.9,-1,-1,-1", "non-numeric"),
    ("0,-1,1,2,3,4,0.9,-1,-1,-1", "not a positive integer"),
    ("1.5,-1,1,2,3,4,0.9,-1,-1,-1", "not a positive integer"),
    ("1,-1,1,2,0,4,0.9,-1,-1,-1", "width/height must be > 0"),
    ("1,-1,nan,2,3,4,0.9,-1,-1,-1", "non-finite"),
    ("1,2.5,1,2,3,4,0.9,-1,-1,-1", "is not an integer"),
])
def test_malformed_row_names_file_and_line(tmp_path, bad, what):
    path = tmp_path / "det.txt"
    path.write_text("1,-1,1,2,3,4,0.9,-1,-1,-1\n\n" + bad + "\n2,-1,1,2,3,4,0.9,-1,-1,-1\n")
    with pytest.raises(InputError) as info:
        read_mot_detections(path)
    msg = str(info.value)
    assert "line 3:" in msg and what in msg and str(path) in msg
    assert "\n" not in msg


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        track_mot(tmp_path / "nope.txt")


def test_failed_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "res.txt"
    target.mkdir()  # a folder where the file should go: os.replace fails
    with pytest.raises(OSError):
        write_mot_results(target, {0: [TrackedPerson(1, 0, np.array([0, 0, 1, 1.0]), 1.0)]})
    assert [p.name for p in tmp_path.iterdir()] == ["res.txt"]


def test_track_mot_end_to_end(tmp_path):
    """Three walkers, noisy boxes, a few misses and some false positives, through the files."""
    rng = np.random.default_rng(7)
    starts = np.array([[20.0, 50.0], [300.0, 60.0], [150.0, 200.0]])
    vel = np.array([[3.0, 0.2], [-3.0, 0.0], [0.5, -1.0]])
    dets, gt = {}, {}
    for f in range(60):
        dets[f], gt[f] = [], []
        for i in range(3):
            box = np.array([*(starts[i] + vel[i] * f), 40.0, 100.0])
            gt[f].append((i + 1, box))
            if rng.random() > 0.08:
                dets[f].append(Detection(box + rng.normal(0, 1.0, 4), rng.uniform(0.9, 1.0)))
        if f % 17 == 0:  # an isolated, low-confidence false positive
            dets[f].append(Detection([500.0, 10.0 * (f % 5), 30.0, 70.0], 0.6))
    det_path, out_path = tmp_path / "det.txt", tmp_path / "res.txt"
    write_mot_detections(det_path, dets)
    result = track_mot(det_path, out_path, TrackerConfig())
    assert sorted(result) == list(range(60))
    assert read_mot_tracks(out_path).keys() == {f for f, ps in result.items() if ps}
    m = mot_metrics(gt, persons_to_boxes(result))
    assert m["num_switches"] == 0 and m["num_false_positives"] == 0, m
    assert m["mota"] > 0.97 and m["idf1"] > 0.97, m
