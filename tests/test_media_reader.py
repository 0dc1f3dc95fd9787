"""probe() and VideoReader on real files written with PyAV: counts, timestamps, exact seeking,
rotation, truncated and bad inputs."""

from __future__ import annotations

import random
import threading
from fractions import Fraction

import numpy as np
import pytest
from media_fixtures import H, W, frame_number, has_bframes, make_audio_only, make_clip, stamped

from editor_plugin.media import MediaError, VideoReader, probe
from inference.errors import InputError


def _vfr_pts(n: int, seed: int = 3) -> list[int]:
    """Irregular, increasing timestamps in milliseconds."""
    rng = random.Random(seed)
    pts, t = [], 0
    for _ in range(n):
        pts.append(t)
        t += rng.choice([17, 33, 40, 100, 250])
    return pts


# -- frame count and timestamps ---------------------------------------------------------------

def test_cfr_mp4_count_timestamps_and_info(tmp_path):
    clip = make_clip(tmp_path / "cfr.mp4", n=75, fps=30, audio_seconds=2.5)
    info = probe(clip)
    assert (info.width, info.height, info.frame_count) == (W, H, 75)
    assert info.fps == 30 and info.duration == Fraction(75, 30)
    assert not info.is_vfr and info.rotation == 0
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.has_audio and info.audio_codec == "aac"
    assert (info.audio_rate, info.audio_channels) == (44100, 2)
    with VideoReader(clip) as reader:
        assert len(reader) == 75
        assert reader.timestamps == [Fraction(i, 30) for i in range(75)]
        frames = list(reader.iter_frames())
    assert [f.index for f in frames] == list(range(75))
    assert [frame_number(f.image) for f in frames] == list(range(75))
    assert [f.time for f in frames] == [Fraction(i, 30) for i in range(75)]
    first = frames[0]
    assert first.image.shape == (H, W, 3) and first.image.dtype == np.uint8
    assert first.image.flags["C_CONTIGUOUS"]
    # the picture itself, not only the stamp, is the right one (lossy: small error)
    assert np.abs(frames[40].image.astype(int) - stamped(40)).mean() < 6


def test_cfr_mkv_timestamps_are_the_containers_milliseconds(tmp_path):
    clip = make_clip(tmp_path / "cfr.mkv", n=40, fps=30)
    info = probe(clip)
    assert info.frame_count == 40 and info.fps == 30 and not info.is_vfr
    assert info.time_base == Fraction(1, 1000) and info.has_audio is False
    with VideoReader(clip) as reader:
        assert reader.timestamps == [Fraction(round(i * 1000 / 30), 1000) for i in range(40)]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_vfr_count_and_exact_timestamps(tmp_path, suffix):
    pts = _vfr_pts(50)
    clip = make_clip(tmp_path / f"vfr{suffix}", n=50, fps=30, pts=pts,
                     time_base=Fraction(1, 1000))
    info = probe(clip)
    assert info.frame_count == 50 and info.is_vfr
    assert info.duration > Fraction(pts[-1], 1000)
    assert info.fps == Fraction(50) / info.duration
    with VideoReader(clip) as reader:
        assert reader.timestamps == [Fraction(p, 1000) for p in pts]
        assert [frame_number(f.image) for f in reader.iter_frames()] == list(range(50))
        # frames found by time: the frame shown at t is the last one starting at or before t
        for i in (0, 7, 23, 49):
            t = Fraction(pts[i], 1000)
            assert reader.index_at_time(t) == i
            assert reader.index_at_time(t + Fraction(1, 1000)) == i
            if i:
                assert reader.index_at_time(t - Fraction(1, 1000)) == i - 1
                assert reader.read(i).time == t


def test_index_at_time_clamps(tmp_path):
    with VideoReader(make_clip(tmp_path / "c.mp4", n=10)) as reader:
        assert reader.index_at_time(Fraction(-1)) == 0
        assert reader.index_at_time(Fraction(100)) == 9
        assert reader.index_at_time(Fraction(1, 30) - Fraction(1, 10**9)) == 0
        assert reader.index_at_time(Fraction(1, 30)) == 1


# -- frame-accurate random access ------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_random_read_matches_sequential_decode_with_bframes(tmp_path, suffix):
    clip = make_clip(tmp_path / f"b{suffix}", n=90, options={"g": "12", "bf": "3"})
    assert has_bframes(clip)  # otherwise this test would not test reordering
    with VideoReader(clip) as reader:
        sequential = [f.image for f in reader.iter_frames()]
        order = list(range(90))
        random.Random(7).shuffle(order)
        for i in order[:35] + [89, 0, 45, 46, 47, 12, 11]:
            frame = reader.read(i)
            assert frame.index == i and frame_number(frame.image) == i
            assert np.array_equal(frame.image, sequential[i]), i
            assert frame.time == reader.timestamps[i]


def test_iter_frames_range_after_random_reads(tmp_path):
    clip = make_clip(tmp_path / "r.mp4", n=50, options={"g": "10", "bf": "2"})
    with VideoReader(clip) as reader:
        reader.read(40)
        got = [(f.index, frame_number(f.image)) for f in reader.iter_frames(13, 31)]
        assert got == [(i, i) for i in range(13, 31)]
        assert [frame_number(f.image) for f in reader.iter_frames(47)] == [47, 48, 49]
        assert frame_number(reader.read(-1).image) == 49
        with pytest.raises(IndexError):
            reader.read(50)


def test_vfr_random_access(tmp_path):
    pts = _vfr_pts(60, seed=11)
    clip = make_clip(tmp_path / "v.mkv", n=60, pts=pts, time_base=Fraction(1, 1000),
                     options={"g": "8", "bf": "3"})
    with VideoReader(clip) as reader:
        for i in [59, 3, 30, 31, 8, 0, 17]:
            frame = reader.read(i)
            assert frame_number(frame.image) == i and frame.time == Fraction(pts[i], 1000)


def test_raw_h264_stream_without_timestamps(tmp_path):
    clip = make_clip(tmp_path / "raw.h264", n=30, fmt="h264", options={"g": "10", "bf": "2"})
    info = probe(clip)
    assert info.frame_count == 30 and info.fps == 30
    with VideoReader(clip) as reader:
        assert [frame_number(f.image) for f in reader.iter_frames()] == list(range(30))
        assert frame_number(reader.read(17).image) == 17
        assert frame_number(reader.read(4).image) == 4


# -- rotation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ccw, rotation", [(90, 270), (-90, 90), (180, 180)])
def test_display_matrix_rotation_is_applied(tmp_path, ccw, rotation):
    """PyAV writes the display matrix (``set_display_rotation`` takes counter-clockwise
    degrees); ClipInfo.rotation is the clockwise angle, as in the legacy ``rotate`` tag."""
    clip = make_clip(tmp_path / "rot.mp4", n=5, rotation=ccw)
    info = probe(clip)
    assert info.rotation == rotation
    expected_wh = (H, W) if rotation in (90, 270) else (W, H)
    assert (info.width, info.height) == expected_wh
    with VideoReader(clip) as reader:
        image = reader.read(3).image
    assert image.shape == (info.height, info.width, 3) and image.flags["C_CONTIGUOUS"]
    want = np.rot90(stamped(3), k=ccw // 90)  # np.rot90 turns counter-clockwise
    assert np.abs(image.astype(int) - want).mean() < 6


# -- damaged and wrong inputs ------------------------------------------------------------------

def _assert_names_file(err: pytest.ExceptionInfo, path) -> None:
    message = str(err.value)
    assert path.name in message and "\n" not in message
    assert isinstance(err.value, InputError)


def test_truncated_mkv_decodes_what_is_there(tmp_path):
    clip = make_clip(tmp_path / "full.mkv", n=60)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: int(clip.stat().st_size * 0.6)])
    info = probe(cut)
    assert 10 < info.frame_count < 60
    with VideoReader(cut) as reader:
        numbers = [frame_number(f.image) for f in reader.iter_frames()]
        assert numbers == list(range(info.frame_count))
        assert frame_number(reader.read(info.frame_count // 2).image) == info.frame_count // 2


def test_truncated_faststart_mp4_decodes_what_is_there(tmp_path):
    """With the index (moov) at the front, a cut MP4 opens; frames whose data is gone, or that
    cannot be decoded without it, are left out."""
    clip = make_clip(tmp_path / "full.mp4", n=60, container_options={"movflags": "+faststart"})
    data = clip.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    info = probe(cut)
    assert 10 < info.frame_count < 60
    with VideoReader(cut) as reader:
        assert len(reader) == info.frame_count
        numbers = [frame_number(f.image) for f in reader.iter_frames()]
    assert len(numbers) == info.frame_count
    assert numbers[:-3] == list(range(info.frame_count - 3))


def _bad_inputs(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 40)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    mp4 = make_clip(tmp_path / "whole.mp4", n=40)
    cut_mp4 = tmp_path / "cut.mp4"  # the index (moov) is at the end: cut it off
    cut_mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    mkv = make_clip(tmp_path / "whole.mkv", n=40)
    cut_mkv = tmp_path / "cut.mkv"  # headers only, no frame survives
    cut_mkv.write_bytes(mkv.read_bytes()[:400])
    audio = make_audio_only(tmp_path / "voice.m4a")
    return {"missing": tmp_path / "nope.mp4", "text": text, "empty": empty,
            "truncated mp4": cut_mp4, "truncated mkv": cut_mkv, "audio only": audio,
            "folder": tmp_path}


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated mp4", "truncated mkv",
                                  "audio only", "folder"])
def test_bad_input_raises_media_error_naming_the_file(tmp_path, kind):
    path = _bad_inputs(tmp_path)[kind]
    with pytest.raises(MediaError) as err:
        probe(path)
    _assert_names_file(err, path)
    with pytest.raises(MediaError) as err:
        VideoReader(path)
    _assert_names_file(err, path)
    if kind == "audio only":
        assert "no video stream" in str(err.value)
    if kind in ("text", "truncated mp4"):
        assert "not a readable video" in str(err.value)


def test_closed_reader_refuses_reads(tmp_path):
    reader = VideoReader(make_clip(tmp_path / "c.mp4", n=5))
    reader.close()
    reader.close()
    with pytest.raises(ValueError):
        reader.read(0)


def test_close_from_another_thread_waits_for_the_read_in_progress(tmp_path):
    """A decode thread (as in a prefetching render) must not crash when the owner closes the
    reader under it: the read in progress finishes, the next one raises ValueError."""
    clip = make_clip(tmp_path / "c.mp4", n=60, options={"g": "30", "bf": "3"})
    reader = VideoReader(clip)
    started, outcome = threading.Event(), []

    def decode_forever():
        rng = random.Random(0)
        try:
            while True:
                frame = reader.read(rng.randrange(60))  # seeks: long stretches inside FFmpeg
                assert frame_number(frame.image) == frame.index
                started.set()
        except ValueError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=decode_forever)
    thread.start()
    started.wait(30)
    reader.close()
    thread.join(30)
    assert not thread.is_alive() and len(outcome) == 1 and "closed" in str(outcome[0])
