"""Matte export: every output read back with PyAV and compared with the layer cache's masks.

Real parts only: a synthetic H.264 clip written with PyAV, a real SQLite layer cache, real
ProRes 4444 / FFV1 / PNG files decoded again.
"""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from editor_plugin.cli import main
from editor_plugin.exports.mattes import MatteSpec, export_mattes, id_values
from editor_plugin.media import Codec, VideoReader
from editor_plugin.render import FrameRange
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.matte import build_alpha
from inference.errors import CancelledError, InputError
from inference.synth import SynthConfig
from inference.tracks import PersonRecord, Track, TrackSet, VideoInfo
from inference.tracks.io import save_tracks
from inference.tracks.masks import encode_mask, mask_bbox

W, H, N = 96, 64, 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    return write_synthetic_clip(tmp_path_factory.mktemp("clip"),
                                SynthConfig(people=2, frames=N, width=W, height=H, seed=1))


@pytest.fixture
def session(clip) -> ClipSession:
    s = ClipSession(clip[0])
    s.import_tracks(clip[1])
    return s


def cached_masks(session: ClipSession) -> dict[int, list[np.ndarray]]:
    """``{track_id: [(H, W) uint8 0/1 per frame]}`` (zeros where the person is absent)."""
    out: dict[int, list[np.ndarray]] = {}
    with session.layers() as cache:
        ids = cache.track_ids()
        for tid in ids:
            out[tid] = [np.zeros((H, W), np.uint8) for _ in range(N)]
        for i in range(N):
            for p in cache.frame(i):
                out[p.track_id][i] = p.mask
    return out


def decode_all(path: Path, fmt: str) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def png_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def hidden_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


def test_ffv1_mattes_equal_the_masks_with_the_source_timing(session, clip, tmp_path):
    masks = cached_masks(session)
    result = export_mattes(session, MatteSpec(codec=Codec.FFV1), tmp_path / "out")
    assert set(result.persons) == set(masks) == {1, 2}
    with VideoReader(clip[0]) as src:
        times = src.timestamps
    for tid, path in result.persons.items():
        assert path == tmp_path / "out" / f"person-{tid}.mkv"
        with VideoReader(path) as r:
            assert len(r) == N
            # Matroska keeps milliseconds: the source's times to the container's precision
            assert all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(r.timestamps, times))
            for i, frame in enumerate(r.iter_frames()):
                want = masks[tid][i] * 255
                for c in range(3):
                    np.testing.assert_array_equal(frame.image[..., c], want)
        assert any(m.any() for m in masks[tid])
    assert result.id_matte is None and result.legend is None
    assert hidden_leftovers(tmp_path / "out") == []


def test_prores4444_carries_the_matte_as_alpha_and_luma(session, clip, tmp_path):
    masks = cached_masks(session)
    result = export_mattes(session, MatteSpec(persons=(2,), codec=Codec.PRORES4444),
                           tmp_path / "out")
    path = result.persons[2]
    assert path.name == "person-2.mov" and list(result.persons) == [2]
    with av.open(str(clip[0])) as c:
        src_stream = c.streams.video[0]
        src_tb, src_rate = src_stream.time_base, src_stream.average_rate
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        assert cc.name == "prores" and cc.pix_fmt.startswith("yuva444p")
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (1, 1, 1)  # BT.709
        assert cc.color_range == 1  # ProRes Y'CbCr is video range; alpha is full range
        assert s.time_base == src_tb and s.average_rate == src_rate
        frames = [(f.pts, f.to_ndarray(format="rgba")) for f in c.decode(s)]
    assert len(frames) == N
    with VideoReader(clip[0]) as src:
        assert [p * src_tb for p, _ in frames] == src.timestamps
    for i, (_, rgba) in enumerate(frames):
        want = masks[2][i].astype(int) * 255
        assert np.abs(rgba[..., 3].astype(int) - want).max() <= 1, f"alpha, frame {i}"
        assert np.abs(rgba[..., 0].astype(int) - want).max() <= 1, f"luma, frame {i}"


def test_png_sequence_honours_range_and_start_number(session, tmp_path):
    masks = cached_masks(session)
    out = tmp_path / "out"
    spec = MatteSpec(persons=(1,), codec=Codec.PNG, start_number=1001,
                     frames=FrameRange(3, 9))
    result = export_mattes(session, spec, out)
    assert result.frames == 6
    files = png_files(result.persons[1])
    assert [f.name for f in files] == [f"person-1.{n:06d}.png" for n in range(1001, 1007)]
    for f, i in zip(files, range(3, 9), strict=True):
        (rgb,) = decode_all(f, "rgb24")
        for c in range(3):
            np.testing.assert_array_equal(rgb[..., c], masks[1][i] * 255)

    # exporting again replaces the sequence; the default start number is the range's start
    again = export_mattes(session, MatteSpec(persons=(1,), codec=Codec.PNG,
                                             frames=FrameRange(2, 4)), out)
    assert [f.name for f in png_files(again.persons[1])] == ["person-1.000002.png",
                                                             "person-1.000003.png"]
    assert hidden_leftovers(out) == []


def test_png_16_bit_is_grey_0_or_65535(session, tmp_path):
    masks = cached_masks(session)
    result = export_mattes(session, MatteSpec(codec=Codec.PNG, bit_depth=16, start_number=1001),
                           tmp_path / "out")
    for tid, folder in result.persons.items():
        files = png_files(folder)
        assert [f.name for f in files] == [f"person-{tid}.{n:06d}.png"
                                           for n in range(1001, 1001 + N)]
        for i, f in enumerate(files):
            with av.open(str(f)) as c:
                frame = next(c.decode(video=0))
                assert frame.format.name.startswith("gray16")
                grey = frame.to_ndarray()
            assert grey.dtype == np.uint16 and grey.shape == (H, W)
            assert set(np.unique(grey).tolist()) <= {0, 65535}
            np.testing.assert_array_equal(grey, masks[tid][i].astype(np.uint16) * 65535)


def _box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def test_id_matte_values_legend_and_depth_order(clip, tmp_path):
    """Overlapping masks: the person whose feet are lower in the frame (nearer) wins."""
    far, near, other = _box(5, 40, 10, 50), _box(20, 60, 30, 70), _box(5, 30, 80, 95)
    video = VideoInfo(id=1, file_name=clip[0].name, width=W, height=H, length=N,
                      fps=Fraction(24))
    records = []
    for f in range(N):
        layers = [(3, far), (7, other)] + ([(5, near)] if f < 6 else [])
        for tid, m in layers:
            records.append(PersonRecord(video_id=1, frame_index=f, track_id=tid,
                                        bbox=mask_bbox(m), segmentation=encode_mask(m)))
    ts = TrackSet(videos=[video], tracks=[Track(3, 1, "far"), Track(5, 1, "near"),
                                          Track(7, 1, None)], annotations=records)
    tracks = save_tracks(ts, tmp_path / "overlap.json")
    session = ClipSession(clip[0])
    session.import_tracks(tracks)

    result = export_mattes(session, MatteSpec(codec=Codec.PNG, id_matte=True), tmp_path / "out")
    values = {3: 85, 5: 170, 7: 255}  # round(k * 255 / 3), k = 1..3 in track-id order
    assert id_values([7, 3, 5], 255) == values
    legend = json.loads(result.legend.read_text())
    assert legend == {"85": {"track_id": 3, "name": "far"},
                      "170": {"track_id": 5, "name": "near"},
                      "255": {"track_id": 7, "name": None}}
    files = png_files(result.id_matte)
    assert len(files) == N
    for f, path in enumerate(files):
        (rgb,) = decode_all(path, "rgb24")
        ids = rgb[..., 0]
        want = np.zeros((H, W), np.uint8)
        want[far.astype(bool)] = values[3]
        want[other.astype(bool)] = values[7]
        if f < 6:
            want[near.astype(bool)] = values[5]  # nearer: drawn over the far person
        np.testing.assert_array_equal(ids, want, err_msg=f"frame {f}")
        assert (rgb[..., 1] == ids).all() and (rgb[..., 2] == ids).all()
    assert ((far & near).astype(bool)).any()

    # 16-bit ID matte of two selected persons: values spread over 0..65535, others left out
    r16 = export_mattes(session, MatteSpec(persons=(3, 5), codec=Codec.PNG, bit_depth=16,
                                           id_matte=True), tmp_path / "out16")
    assert json.loads(r16.legend.read_text()) == {"32768": {"track_id": 3, "name": "far"},
                                                  "65535": {"track_id": 5, "name": "near"}}
    with av.open(str(png_files(r16.id_matte)[0])) as c:
        ids16 = next(c.decode(video=0)).to_ndarray()
    assert set(np.unique(ids16).tolist()) == {0, 32768, 65535}
    assert ids16[25, 40] == 65535 and ids16[10, 15] == 32768 and ids16[10, 85] == 0


def test_feathered_mattes_are_build_alpha_exactly(session, tmp_path):
    masks = cached_masks(session)
    result = export_mattes(session, MatteSpec(persons=(1,), codec=Codec.FFV1, refine="feather"),
                           tmp_path / "out")
    frames = decode_all(result.persons[1], "rgb24")
    soft = 0
    for i, rgb in enumerate(frames):
        want = build_alpha([masks[1][i]], refine="feather")
        np.testing.assert_array_equal(rgb[..., 0], want)
        soft += int(((want > 0) & (want < 255)).sum())
    assert soft > 0


def test_bad_requests_and_cancel_leave_nothing(session, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="person 9 is not in this clip"):
        export_mattes(session, MatteSpec(persons=(9,)), out)
    with pytest.raises(InputError, match="16-bit"):
        MatteSpec(codec=Codec.PRORES4444, bit_depth=16)
    with pytest.raises(InputError, match="range"):
        export_mattes(session, MatteSpec(frames=FrameRange(5, 99)), out)
    (out / "person-1").mkdir()
    (out / "person-1" / "keep.psd").write_text("someone else's")
    with pytest.raises(InputError, match="already holds other files"):
        export_mattes(session, MatteSpec(codec=Codec.PNG), out)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        export_mattes(session, MatteSpec(codec=Codec.FFV1, id_matte=True), out, cancel=cancel)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "person-1"]
    assert [p.name for p in (out / "person-1").iterdir()] == ["keep.psd"]


def test_cli_export_mattes(session, tmp_path, capsys):
    out = tmp_path / "mattes"
    assert main(["-q", "export-mattes", str(session.path), "--person", "all", "-o", str(out),
                 "--codec", "png", "--id-matte", "--start-number", "1001",
                 "--range", "0:4"]) == 0
    printed = capsys.readouterr().out
    assert "id-matte.json" in printed
    assert sorted(p.name for p in out.iterdir()) == ["id-matte", "id-matte.json", "person-1",
                                                     "person-2"]
    assert len(png_files(out / "id-matte")) == 4
    assert png_files(out / "person-2")[0].name == "person-2.001001.png"

    code = main(["-q", "export-mattes", str(session.path), "--person", "1", "-o", str(out),
                 "--codec", "ffv1", "--bit-depth", "16"])
    assert code == 1
    assert "16-bit mattes are written as PNG sequences" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse rejects a bad person list
        main(["-q", "export-mattes", str(session.path), "--person", "one", "-o", str(out)])
