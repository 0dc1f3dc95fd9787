"""Bad input through the CLI: one clear line naming the file, non-zero exit, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from editor_plugin.cli import main


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two small synthetic clips of different sizes, with their ground truth."""
    root = tmp_path_factory.mktemp("clips")
    a, b = root / "a", root / "b"
    assert main(["-q", "synth", str(a), "--people", "2", "--frames", "12", "--size", "96x64",
                 "--seed", "1"]) == 0
    assert main(["-q", "synth", str(b), "--people", "2", "--frames", "10", "--size", "64x48",
                 "--seed", "2"]) == 0
    return a / "clip.mp4", a / "clip.tracks.json", b / "clip.mp4", b / "clip.tracks.json"


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = [ln for ln in err.splitlines() if ln.startswith("humanfx:")]
    assert len(lines) == 1, err
    return lines[0]


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.mp4"
    assert main(["persons", str(missing)]) == 1
    assert "nope.mp4" in _err(capsys)


@pytest.mark.parametrize("content", [b"", b"this is not a video\n" * 50], ids=["empty", "text"])
def test_not_a_video(tmp_path, capsys, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    assert main(["persons", str(bad)]) == 1
    assert "bad.mp4" in _err(capsys)


def test_truncated_video(clips, tmp_path, capsys):
    clip = clips[0]
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert main(["persons", str(cut)]) == 1
    assert "cut.mp4" in _err(capsys)


def test_no_video_stream(tmp_path, capsys):
    audio_only = tmp_path / "sound.wav"
    with wave.open(str(audio_only), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.sin(np.arange(8000) / 5.0) * 1000).astype("<i2").tobytes())
    assert main(["import", str(audio_only), str(tmp_path / "x.json")]) == 1
    line = _err(capsys)
    assert "sound.wav" in line and "video" in line


def test_tracks_for_another_clip(clips, capsys):
    clip_a, _, _, tracks_b = clips
    assert main(["import", str(clip_a), str(tracks_b)]) == 1
    line = _err(capsys)
    assert "clip.tracks.json" in line and "64x48" in line


def test_tracks_with_frame_outside_clip(clips, tmp_path, capsys):
    clip_a, tracks_a, _, _ = clips
    data = json.loads(tracks_a.read_text())
    data["annotations"][-1]["frame_index"] = 500
    bad = tmp_path / "late.json"
    bad.write_text(json.dumps(data))
    assert main(["import", str(clip_a), str(bad)]) == 1
    assert "late.json" in _err(capsys)


def test_malformed_tracks_file(clips, tmp_path, capsys):
    clip_a = clips[0]
    bad = tmp_path / "broken.json"
    bad.write_text('{"videos": [')
    assert main(["import", str(clip_a), str(bad)]) == 1
    assert "broken.json" in _err(capsys)


def test_unknown_person(clips, tmp_path, capsys):
    clip_a, tracks_a, _, _ = clips
    assert main(["import", str(clip_a), str(tracks_a)]) == 0
    capsys.readouterr()
    out = tmp_path / "out.mp4"
    assert main(["render", str(clip_a), "-o", str(out), "--person", "99",
                 "--background", "color:#000000"]) == 1
    line = _err(capsys)
    assert "99" in line and "persons" in line
    assert not out.exists()


def test_render_before_import(tmp_path, capsys):
    clip_dir = tmp_path / "fresh"
    assert main(["-q", "synth", str(clip_dir), "--frames", "4", "--size", "64x48"]) == 0
    capsys.readouterr()
    assert main(["render", str(clip_dir / "clip.mp4"), "-o", str(tmp_path / "o.mp4"),
                 "--person", "1", "--background", "blur:5"]) == 1
    assert "humanfx import" in _err(capsys)


def test_bad_background_spec(clips, tmp_path, capsys):
    clip_a, tracks_a, _, _ = clips
    assert main(["import", str(clip_a), str(tracks_a)]) == 0
    capsys.readouterr()
    assert main(["render", str(clip_a), "-o", str(tmp_path / "o.mp4"), "--person", "1",
                 "--background", "sparkles"]) == 1
    assert "color:#RRGGBB" in _err(capsys)


def test_unwritable_output(clips, tmp_path, capsys):
    clip_a, tracks_a, _, _ = clips
    assert main(["import", str(clip_a), str(tracks_a)]) == 0
    capsys.readouterr()
    blocker = tmp_path / "afile.txt"
    blocker.write_text("I am a file, not a folder")
    out = blocker / "out.mp4"
    assert main(["render", str(clip_a), "-o", str(out), "--person", "1",
                 "--background", "color:#000000"]) == 1
    assert "out.mp4" in _err(capsys)
    assert _listing(tmp_path) == ["afile.txt"]


def test_ctrl_c_during_render_leaves_nothing(tmp_path):
    """A real SIGINT to a real `humanfx render` process: exit 130, no output, no temp files."""
    env = dict(os.environ)
    src = tmp_path / "src"
    run = [sys.executable, "-m", "editor_plugin.cli", "-q"]
    subprocess.run(run + ["synth", str(src), "--people", "2", "--frames", "150",
                          "--size", "320x240", "--seed", "5"], check=True, env=env)
    subprocess.run(run + ["import", str(src / "clip.mp4"), str(src / "clip.tracks.json")],
                   check=True, env=env)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen(run + ["render", str(src / "clip.mp4"), "-o", str(out_dir / "r.mp4"),
                                   "--person", "1", "--background", "blur:9"],
                            env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(out_dir.iterdir()):
        time.sleep(0.02)  # wait until the render has started writing its temporary file
    assert any(out_dir.iterdir()), "render never started writing"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert _listing(out_dir) == []
