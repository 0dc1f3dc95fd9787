"""`humanfx track` and `humanfx eval` through the CLI, on files the test generates."""

from __future__ import annotations

import json

import numpy as np

from editor_plugin.cli import main


def test_eval_scores_a_prediction_missing_one_person(tmp_path, capsys):
    assert main(["-q", "synth", str(tmp_path), "--people", "3", "--frames", "16",
                 "--size", "96x64", "--seed", "4"]) == 0
    gt = tmp_path / "clip.tracks.json"
    data = json.loads(gt.read_text())
    track_ids = sorted({a["track_id"] for a in data["annotations"]})
    assert len(track_ids) >= 2
    dropped = track_ids[-1]
    data["annotations"] = [a for a in data["annotations"] if a["track_id"] != dropped]
    data["tracks"] = [t for t in data["tracks"] if t["id"] != dropped]
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["eval", str(pred), str(gt), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    n = len(track_ids)
    assert abs(scores["mask_ar"] - (n - 1) / n) < 1e-9
    # every remaining prediction is perfect: precision 1 up to recall (n-1)/n, COCO's 101 points
    expected_ap = np.count_nonzero(np.linspace(0, 1, 101) <= (n - 1) / n + 1e-12) / 101
    assert abs(scores["mask_ap"] - expected_ap) < 1e-6
    assert scores["misses"] > 0 and scores["false_positives"] == 0
    assert scores["idf1"] < 1.0


def test_track_mot_detections(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = []
    for f in range(1, 31):  # two people walking towards each other, no detections missing
        for x0, vx in ((20.0, 4.0), (200.0, -4.0)):
            x = x0 + vx * f + rng.normal(0, 0.5)
            rows.append(f"{f},-1,{x:.2f},{50 + rng.normal(0, 0.5):.2f},40,100,0.95,-1,-1,-1")
    det = tmp_path / "det.txt"
    det.write_text("\n".join(rows) + "\n")
    out = tmp_path / "res.txt"
    assert main(["track", "--detections", str(det), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    ids = {int(line.split(",")[1]) for line in lines}
    assert ids == {1, 2}
    assert len(lines) == 60


def test_track_reports_malformed_row_with_line_number(tmp_path, capsys):
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,10,20,40,0.9,-1,-1,-1\n2,-1,ten,10,20,40,0.9,-1,-1,-1\n")
    assert main(["track", "--detections", str(det), "-o", str(tmp_path / "o.txt")]) == 1
    err = capsys.readouterr().err
    assert "det.txt" in err and "2" in err
    assert not (tmp_path / "o.txt").exists()
