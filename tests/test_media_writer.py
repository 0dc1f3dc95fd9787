"""VideoWriter on real files: every codec read back, exact FFV1, timestamps, odd sizes, audio
copy/re-encode, atomic writes and bad destinations."""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media_fixtures import audio_samples, frame_number, make_clip, packet_layout, stamped, tone

from editor_plugin.media import AudioSpec, Codec, MediaError, VideoReader, VideoWriter, probe

W, H = 160, 96


def _write(path, codec=Codec.H264, n=20, *, width=W, height=H, fps=Fraction(30), images=None,
           times=None, **kw) -> Path:
    with VideoWriter(path, codec=codec, width=width, height=height, fps=fps, **kw) as writer:
        for i in range(n):
            image = images[i] if images is not None else stamped(i, width, height)
            writer.write(image, None if times is None else times[i])
    return writer.close()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- each codec, read back -----------------------------------------------------------------------

def test_ffv1_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (47, 65, 3), dtype=np.uint8) for _ in range(6)]
    out = _write(tmp_path / "exact.mkv", Codec.FFV1, n=6, width=65, height=47, images=images)
    info = probe(out)
    assert (info.width, info.height, info.frame_count, info.codec) == (65, 47, 6, "ffv1")
    with VideoReader(out) as reader:
        for frame, image in zip(reader.iter_frames(), images, strict=True):
            assert np.array_equal(frame.image, image)


def test_h264_mp4_count_timestamps_and_picture(tmp_path):
    out = _write(tmp_path / "out.mp4", Codec.H264, n=45)
    assert _files(tmp_path) == ["out.mp4"]
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (W, H, 45)
    assert info.fps == 30 and info.duration == Fraction(45, 30) and not info.has_audio
    with VideoReader(out) as reader:
        assert reader.timestamps == [Fraction(i, 30) for i in range(45)]
        for frame in reader.iter_frames():
            assert frame_number(frame.image) == frame.index
            # colours survive the BT.709 round trip (lossy, so only close)
            assert np.abs(frame.image.astype(int) - stamped(frame.index)).mean() < 6


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_vfr_times_are_preserved(tmp_path, suffix):
    times = [Fraction(t, 1000) for t in (0, 40, 73, 200, 217, 400, 450, 1000, 1033, 1100)]
    out = _write(tmp_path / f"vfr{suffix}", Codec.H264, n=10, times=times,
                 time_base=Fraction(1, 1000))
    info = probe(out)
    assert info.frame_count == 10 and info.is_vfr
    with VideoReader(out) as reader:
        assert reader.timestamps == times
        assert [frame_number(f.image) for f in reader.iter_frames()] == list(range(10))


def test_default_times_follow_fps(tmp_path):
    out = _write(tmp_path / "ntsc.mov", Codec.H264, n=12, fps=Fraction(30000, 1001))
    info = probe(out)
    assert info.fps == Fraction(30000, 1001) and info.frame_count == 12
    with VideoReader(out) as reader:
        assert reader.timestamps == [i * Fraction(1001, 30000) for i in range(12)]


def test_h264_odd_size_is_padded_by_edge_replication(tmp_path):
    images = [stamped(i, 171, 97) for i in range(8)]
    out = _write(tmp_path / "odd.mp4", Codec.H264, n=8, width=171, height=97, images=images)
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (172, 98, 8)
    with VideoReader(out) as reader:
        image = reader.read(5).image.astype(int)
    assert np.abs(image[:97, :171] - images[5]).mean() < 6
    # the added column/row repeat the last real ones
    assert np.abs(image[:97, 171] - images[5][:, 170]).mean() < 6
    assert np.abs(image[97, :171] - images[5][96]).mean() < 6


def test_hevc_mp4_is_tagged_hvc1(tmp_path):
    out = _write(tmp_path / "hevc.mp4", Codec.HEVC, n=10)
    info = probe(out)
    assert (info.codec, info.frame_count, info.width, info.height) == ("hevc", 10, W, H)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_tag == "hvc1"
    with VideoReader(out) as reader:
        assert [frame_number(f.image) for f in reader.iter_frames()] == list(range(10))


def test_prores4444_keeps_alpha(tmp_path):
    alpha = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    images = [np.dstack([stamped(i), alpha]) for i in range(4)]
    out = _write(tmp_path / "alpha.mov", Codec.PRORES4444, n=4, images=images)
    info = probe(out)
    assert (info.codec, info.frame_count, info.width, info.height) == ("prores", 4, W, H)
    assert info.pix_fmt.startswith("yuva444p")
    with av.open(str(out)) as c:
        rgba = next(c.decode(video=0)).to_ndarray(format="rgba")
    assert np.abs(rgba[..., 3].astype(int) - alpha).max() <= 2
    assert np.abs(rgba[..., :3].astype(int) - images[0][..., :3]).mean() < 3
    with VideoReader(out) as reader:
        assert reader.read(2).image.shape == (H, W, 3)


def test_png_sequence_folder_with_rgba_and_audio_sidecar(tmp_path):
    folder = tmp_path / "frames"
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (H, W, 4), dtype=np.uint8) for _ in range(5)]
    audio = AudioSpec(samples=tone(0.5, 48000), sample_rate=48000)
    result = _write(folder, Codec.PNG, n=5, images=images, audio=audio)
    assert result == folder
    assert _files(folder) == ["audio.wav"] + [f"frame_{i:06d}.png" for i in range(5)]
    assert _files(tmp_path) == ["frames"]  # no temporary folder left behind
    for i, image in enumerate(images):
        with av.open(str(folder / f"frame_{i:06d}.png")) as c:
            frame = next(c.decode(video=0))
            assert frame.format.name == "rgba"
            assert np.array_equal(frame.to_ndarray(), image)
    assert audio_samples(folder / "audio.wav") == ("pcm_s16le", 48000, 24000)


def test_png_sequence_pattern_and_start_number(tmp_path):
    out = _write(tmp_path / "seq" / "shot_%04d.png", Codec.PNG, n=3, start_number=100)
    assert out == tmp_path / "seq"
    assert _files(out) == ["shot_0100.png", "shot_0101.png", "shot_0102.png"]
    with av.open(str(out / "shot_0101.png")) as c:
        frame = next(c.decode(video=0))
        assert frame.format.name == "rgb24" and np.array_equal(frame.to_ndarray(), stamped(1))
    # writing the same sequence again replaces it
    _write(tmp_path / "seq" / "shot_%04d.png", Codec.PNG, n=2, start_number=7)
    assert _files(out) == ["shot_0007.png", "shot_0008.png"]


# -- audio ---------------------------------------------------------------------------------------

def test_whole_audio_is_copied(tmp_path):
    src = make_clip(tmp_path / "src.mp4", n=45, audio_seconds=1.5)
    out = _write(tmp_path / "out.mp4", Codec.H264, n=45, audio=AudioSpec(source=src))
    with av.open(str(src)) as a, av.open(str(out)) as b:
        src_packets = [bytes(p) for p in a.demux(audio=0) if p.size]
        out_packets = [bytes(p) for p in b.demux(audio=0) if p.size]
    assert out_packets == src_packets  # copied, not re-encoded
    assert probe(out).audio_codec == "aac"


def test_trimmed_audio_is_reencoded_to_the_right_length(tmp_path):
    src = make_clip(tmp_path / "src.mp4", n=60, audio_seconds=2.0, audio_rate=44100)
    spec = AudioSpec(source=src, start=Fraction(1, 2), end=Fraction(3, 2))
    mp4 = _write(tmp_path / "cut.mp4", Codec.H264, n=30, audio=spec)
    codec, rate, n = audio_samples(mp4)
    assert codec == "aac" and rate == 44100
    assert abs(n / rate - 1.0) < 0.05  # AAC pads to whole 1024-sample frames
    mkv = _write(tmp_path / "cut.mkv", Codec.FFV1, n=30, audio=spec)
    assert audio_samples(mkv) == ("flac", 44100, 44100)  # sample-exact trim


def test_raw_samples_are_encoded_and_interleaved(tmp_path):
    audio = AudioSpec(samples=tone(13.0, 48000), sample_rate=48000)
    out = _write(tmp_path / "raw.mkv", Codec.H264, n=130, fps=Fraction(10), audio=audio)
    codec, rate, n = audio_samples(out)
    assert (codec, rate, n) == ("flac", 48000, 13 * 48000)
    # Audio is muxed as the video is written.  Audio muxed only at close() would come after
    # the ~3 s of video FFmpeg's interleaver lets through (its window is 10 s; clip is 13 s).
    layout = packet_layout(out)
    assert sum(pos < min(layout["audio"]) for pos in layout["video"]) <= 10
    mp4 = _write(tmp_path / "raw.mp4", Codec.H264, n=30, fps=Fraction(10), audio=audio)
    codec, rate, n = audio_samples(mp4)
    assert (codec, rate) == ("aac", 48000) and abs(n / rate - 13.0) < 0.05


def test_audio_source_without_audio_is_refused(tmp_path):
    src = make_clip(tmp_path / "silent.mp4", n=5)
    with pytest.raises(MediaError, match="silent.mp4.*no audio stream"):
        VideoWriter(tmp_path / "o.mp4", codec=Codec.H264, width=W, height=H, fps=30,
                    audio=AudioSpec(source=src))
    assert _files(tmp_path) == ["silent.mp4"]


# -- atomic writes -------------------------------------------------------------------------------

@pytest.mark.parametrize("codec, name", [(Codec.H264, "out.mp4"), (Codec.FFV1, "out.mkv"),
                                         (Codec.PNG, "out")])
def test_exception_inside_with_leaves_nothing(tmp_path, codec, name):
    audio = AudioSpec(samples=tone(1.0, 48000))
    with (pytest.raises(RuntimeError, match="boom"),
          VideoWriter(tmp_path / name, codec=codec, width=W, height=H, fps=30,
                      audio=audio) as writer):
        for i in range(5):
            writer.write(stamped(i))
        raise RuntimeError("boom")
    assert _files(tmp_path) == []


def test_abort_keeps_the_previous_file(tmp_path):
    out = _write(tmp_path / "keep.mp4", Codec.H264, n=5)
    before = out.read_bytes()
    writer = VideoWriter(out, codec=Codec.H264, width=W, height=H, fps=30)
    writer.write(stamped(0))
    writer.abort()
    writer.abort()
    assert out.read_bytes() == before and _files(tmp_path) == ["keep.mp4"]


def test_close_is_idempotent_and_needs_frames(tmp_path):
    writer = VideoWriter(tmp_path / "a.mkv", codec=Codec.FFV1, width=W, height=H, fps=30)
    writer.write(stamped(0))
    assert writer.close() == writer.close() == tmp_path / "a.mkv"
    with pytest.raises(MediaError, match="b.mkv.*no frames"):
        VideoWriter(tmp_path / "b.mkv", codec=Codec.FFV1, width=W, height=H, fps=30).close()
    assert _files(tmp_path) == ["a.mkv"]


# -- refused destinations and inputs --------------------------------------------------------------

@pytest.mark.parametrize("codec, name", [(Codec.PRORES4444, "x.mp4"), (Codec.FFV1, "x.mp4"),
                                         (Codec.H264, "x.avi"), (Codec.HEVC, "x"),
                                         (Codec.PNG, "x.mp4")])
def test_codec_container_mismatch(tmp_path, codec, name):
    with pytest.raises(MediaError) as err:
        VideoWriter(tmp_path / name, codec=codec, width=W, height=H, fps=30)
    assert name in str(err.value) and "\n" not in str(err.value)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("codec, name", [(Codec.H264, "o.mp4"), (Codec.PNG, "frames")])
def test_unwritable_destination(tmp_path, codec, name):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    for path in (not_a_folder / name, tmp_path / "missing" / name):
        with pytest.raises(MediaError) as err:
            VideoWriter(path, codec=codec, width=W, height=H, fps=30)
        assert name in str(err.value)
    assert _files(tmp_path) == ["file.txt"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permission bits do not stop root")
def test_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(MediaError, match="o.mp4"):
            VideoWriter(locked / "o.mp4", codec=Codec.H264, width=W, height=H, fps=30)
    finally:
        locked.chmod(0o700)


def test_bad_frames_are_refused(tmp_path):
    with VideoWriter(tmp_path / "o.mp4", codec=Codec.H264, width=W, height=H, fps=30) as writer:
        with pytest.raises(ValueError):
            writer.write(np.zeros((H, W, 4), np.uint8))  # RGBA only for ProRes 4444 / PNG
        with pytest.raises(ValueError):
            writer.write(np.zeros((H + 1, W, 3), np.uint8))
        with pytest.raises(ValueError):
            writer.write(np.zeros((H, W, 3), np.float32))
        writer.write(stamped(0), Fraction(1))
        with pytest.raises(ValueError):
            writer.write(stamped(1), Fraction(1))  # time must increase
        writer.write(stamped(1), Fraction(2))
    assert probe(tmp_path / "o.mp4").frame_count == 2


def test_abort_from_another_thread_waits_for_the_write_in_progress(tmp_path):
    writer = VideoWriter(tmp_path / "o.mp4", codec=Codec.H264, width=W, height=H, fps=30,
                         audio=AudioSpec(samples=tone(60.0, 48000)))
    started, outcome = threading.Event(), []

    def encode_forever():
        try:
            for i in range(10**6):
                writer.write(stamped(i % 1000))
                started.set()
        except ValueError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=encode_forever)
    thread.start()
    started.wait(30)
    writer.abort()
    thread.join(30)
    assert not thread.is_alive() and len(outcome) == 1 and "closed" in str(outcome[0])
    assert _files(tmp_path) == []
