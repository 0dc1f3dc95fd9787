"""Foundation, end to end: synth -> import ground truth -> render -> compare with NumPy.

Real files all the way: the clip is encoded with PyAV, the layers go into a real SQLite cache,
the composite is made in a real (EGL/llvmpipe) GL context and the output is decoded again.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from editor_plugin.cli import main
from editor_plugin.media import VideoReader, probe
from inference.tracks.masks import decode_mask


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("synth")
    assert main(["-q", "synth", str(out), "--people", "3", "--frames", "30", "--size", "160x120",
                 "--seed", "3"]) == 0
    return out / "clip.mp4", out / "clip.tracks.json"


def _gt_masks(tracks_file: Path, track_id: int) -> dict[int, np.ndarray]:
    data = json.loads(tracks_file.read_text())
    return {a["frame_index"]: decode_mask(a["segmentation"]) for a in data["annotations"]
            if a["track_id"] == track_id}


def test_render_matches_numpy_reference(synth_clip, tmp_path, capsys):
    clip, tracks = synth_clip
    assert main(["import", str(clip), str(tracks)]) == 0
    assert main(["persons", str(clip)]) == 0
    listing = capsys.readouterr().out
    assert "coverage" in listing

    out = tmp_path / "green.mkv"
    code = main(["-q", "render", str(clip), "-o", str(out), "--person", "1",
                 "--background", "color:#00FF00", "--refine", "none", "--codec", "ffv1"])
    assert code == 0 and out.exists()

    masks = _gt_masks(tracks, 1)
    assert masks, "person 1 should appear in the synthetic clip"
    src_info, out_info = probe(clip), probe(out)
    assert out_info.frame_count == src_info.frame_count == 30
    assert (out_info.width, out_info.height) == (160, 120)
    assert out_info.has_audio, "the audio stream must survive a render"

    green = np.array([0, 255, 0], dtype=np.int16)
    with VideoReader(clip) as src, VideoReader(out) as dst:
        # mkv keeps time in milliseconds: timestamps equal to the container's precision
        for ts, td in zip(src.timestamps, dst.timestamps, strict=True):
            assert abs(ts - td) <= Fraction(1, 1000)
        n_person_pixels = 0
        for fs, fd in zip(src.iter_frames(), dst.iter_frames(), strict=True):
            mask = masks.get(fs.index)
            ref = np.broadcast_to(green, fs.image.shape).copy()
            if mask is not None:
                keep = mask.astype(bool)
                ref[keep] = fs.image[keep]
                n_person_pixels += int(keep.sum())
            err = np.abs(fd.image.astype(np.int16) - ref).max()
            assert err <= 1, f"frame {fs.index}: max abs error {err}"
        assert n_person_pixels > 0


def test_export_tracks_round_trips_annotation_for_annotation(synth_clip, tmp_path):
    clip, tracks = synth_clip
    assert main(["import", str(clip), str(tracks)]) == 0
    out = tmp_path / "back.json"
    assert main(["export-tracks", str(clip), "--format", "cocovideo", "-o", str(out)]) == 0
    a, b = json.loads(tracks.read_text()), json.loads(out.read_text())
    assert len(a["annotations"]) == len(b["annotations"]) > 0
    for x, y in zip(a["annotations"], b["annotations"], strict=True):
        assert x == y
    assert a["tracks"] == b["tracks"]
    assert a["videos"] == b["videos"]
    assert out.read_bytes() == tracks.read_bytes()


def test_video_background_loops_time_synced(synth_clip, tmp_path):
    """`video:PATH` shows the other clip's frame at the same clip time, looped."""
    clip, tracks = synth_clip
    assert main(["import", str(clip), str(tracks)]) == 0
    bg_dir = tmp_path / "bg"
    assert main(["-q", "synth", str(bg_dir), "--people", "0", "--frames", "7", "--size", "160x120",
                 "--seed", "9"]) == 0
    out = tmp_path / "video-bg.mkv"
    assert main(["-q", "render", str(clip), "-o", str(out), "--person", "2", "--background",
                 f"video:{bg_dir / 'clip.mp4'}", "--refine", "none", "--codec", "ffv1",
                 "--no-audio"]) == 0
    masks = _gt_masks(tracks, 2)
    with VideoReader(bg_dir / "clip.mp4") as bg:
        bg_frames = [f.image.astype(np.int16) for f in bg.iter_frames()]
    with VideoReader(out) as dst:
        assert not dst.info.has_audio
        for fd in dst.iter_frames():
            background = ~masks[fd.index].astype(bool) if fd.index in masks else np.ones(
                fd.image.shape[:2], bool)
            expected = bg_frames[fd.index % len(bg_frames)]
            err = np.abs(fd.image.astype(np.int16) - expected)[background].max()
            assert err <= 1, f"frame {fd.index}: background differs by {err}"


@pytest.mark.parametrize("codec,name", [("png", "frames"), ("prores4444", "out.mov"),
                                        ("hevc", "out.mp4")])
def test_render_codecs(synth_clip, tmp_path, codec, name):
    """Every export codec writes a complete, readable result with the clip's frame count."""
    clip, tracks = synth_clip
    assert main(["import", str(clip), str(tracks)]) == 0
    out = tmp_path / name
    assert main(["-q", "render", str(clip), "-o", str(out), "--person", "1,2", "--background",
                 "blur:7", "--codec", codec, "--range", "5:17"]) == 0
    if codec == "png":
        frames = sorted(out.glob("*.png"))
        assert len(frames) == 12
        assert (out / "audio.wav").exists()
        assert probe(frames[0]).width == 160
    else:
        info = probe(out)
        assert info.frame_count == 12 and (info.width, info.height) == (160, 120)
        assert info.has_audio
        assert abs(info.duration - Fraction(12, 24)) <= Fraction(1, 24)
