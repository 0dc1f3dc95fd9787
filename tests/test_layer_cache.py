"""The SQLite layer cache: real files, a real writer process killed with SIGKILL, resume."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from inference.cache import (
    SCHEMA_VERSION,
    CacheMeta,
    LayerCache,
    cache_path,
    cache_root,
    clip_content_hash,
    list_caches,
    settings_key,
)
from inference.errors import InputError
from inference.tracks import PersonRecord, Track, TrackSet, VideoInfo
from inference.tracks.masks import decode_mask, encode_mask

W, H, N = 32, 24, 600
CLIP_HASH = "c0ffee" * 10 + "abcd"
META = CacheMeta(clip_hash=CLIP_HASH, source="test", settings={"model": "x", "thr": 0.5},
                 width=W, height=H, frame_count=N, fps=Fraction(30000, 1001), clip_name="a.mp4")
VIDEO = VideoInfo(id=1, file_name="a.mp4", width=W, height=H, length=N, fps=META.fps)


def persons(frame: int) -> list[PersonRecord]:
    """Deterministic persons of a frame: track 1 always, track 2 on even frames (mask-less on
    multiples of 4), nobody on frames divisible by 7."""
    if frame % 7 == 0:
        return []
    out = []
    for t in (1, 2) if frame % 2 == 0 else (1,):
        m = np.zeros((H, W), np.uint8)
        x = (frame + 9 * t) % (W - 6)
        m[4:20, x:x + 5] = 1
        kp = np.zeros((17, 3))
        kp[:, 0] = np.linspace(0.1, W - 0.3, 17) + frame / 3
        kp[:, 1] = np.linspace(H - 1e-9, 0.5, 17)
        kp[:, 2] = [2, 1, 0] * 5 + [2, 2]
        seg = None if (t == 2 and frame % 4 == 0) else encode_mask(m)
        out.append(PersonRecord(video_id=1, frame_index=frame, track_id=t,
                                bbox=(x + 0.5, 4.0, 5.0, 16.0 + frame / 7), keypoints=kp,
                                segmentation=seg, score=1 / (t + 2), id=frame * 10 + t))
    return out


def _assert_frame_matches(cache: LayerCache, frame: int) -> None:
    got = cache.frame(frame)
    want = persons(frame)
    assert [g.track_id for g in got] == [w.track_id for w in want]
    for g, w in zip(got, want):
        assert g.bbox == w.bbox and g.score == w.score and g.annotation_id == w.id
        assert np.array_equal(g.keypoints, w.keypoints) and g.keypoints.dtype == np.float64
        assert g.rle == w.segmentation
        if w.segmentation is None:
            assert g.mask is None
        else:
            assert g.mask.shape == (H, W) and g.mask.dtype == np.uint8
            assert g.mask.flags.c_contiguous
            assert np.array_equal(g.mask, decode_mask(w.segmentation))


def test_write_read_and_summaries(tmp_path):
    path = tmp_path / "c.sqlite"
    with LayerCache.create(path, META) as cache:
        assert cache.next_frame_to_do() == 0 and not cache.is_complete()
        cache.add_tracks([Track(1, 1, "Ann"), Track(9, 1, "never seen")])
        cache.write_frames((f, persons(f)) for f in range(20))
        cache.write_frames([(25, persons(25))])  # a gap: frames 20-24 not analysed
        assert cache.frames_done().tolist() == [*range(20), 25]
        assert cache.frames_done().dtype == np.int64
        assert cache.next_frame_to_do() == 20
        cache.add_tracks([Track(1, 1, None)])  # None keeps the name
    with LayerCache.open(path) as cache:
        assert cache.meta == META
        for f in (0, 1, 2, 4, 7, 14, 25):
            _assert_frame_matches(cache, f)
        assert cache.frame(7) == [] and cache.frame(22) == []
        lazy = cache.frame(2, decode_masks=False)
        assert all(p.mask is None for p in lazy) and lazy[0].rle == persons(2)[0].segmentation
        assert cache.track_ids() == [1, 2, 9]
        summary = {t.id: t for t in cache.tracks()}
        ones = [f for f in [*range(20), 25] if f % 7]
        assert summary[1].name == "Ann" and summary[1].frames_present == len(ones)
        assert (summary[1].first_frame, summary[1].last_frame) == (1, 25)
        assert summary[1].coverage == len(ones) / N
        assert (summary[9].frames_present, summary[9].first_frame, summary[9].coverage) == (
            0, None, 0.0)
        twos = list(cache.records(2))
        assert [r.frame_index for r in twos] == [f for f in range(20) if f % 2 == 0 and f % 7]
        assert twos == [r for f in range(20) for r in persons(f) if r.track_id == 2]
        with pytest.raises(ValueError, match="read-only"):
            cache.write_frames([(30, [])])


def test_write_frames_is_one_transaction(tmp_path):
    path = tmp_path / "c.sqlite"
    with LayerCache.create(path, META) as cache:
        cache.write_frames([(0, persons(0))])

        def failing():
            yield 1, persons(1)
            yield 2, persons(2)
            raise RuntimeError("model crashed")

        with pytest.raises(RuntimeError, match="model crashed"):
            cache.write_frames(failing())
        bad = persons(3)
        bad[0].segmentation = encode_mask(np.ones((H + 1, W)))
        with pytest.raises(ValueError, match="mask of track 1 on frame 3: size is"):
            cache.write_frames([(1, persons(1)), (3, bad)])
        with pytest.raises(ValueError, match="outside the clip"):
            cache.write_frames([(1, persons(1)), (N, [])])
        assert cache.frames_done().tolist() == [0]
        assert cache.frame(1) == []
        # rewriting a frame replaces its persons
        cache.write_frames([(2, persons(2)[:1])])
        assert [p.track_id for p in cache.frame(2)] == [1]


def test_resume_and_meta_mismatch(tmp_path):
    path = tmp_path / "deep" / "dir" / "c.sqlite"
    with LayerCache.create(path, META) as cache:
        cache.write_frames((f, persons(f)) for f in range(5))
    renamed = CacheMeta(**{**META.__dict__, "clip_name": "renamed.mp4"})
    with LayerCache.create(path, renamed) as cache:
        assert cache.next_frame_to_do() == 5 and cache.meta.clip_name == "renamed.mp4"
    other = CacheMeta(**{**META.__dict__, "settings": {"model": "y"}, "width": W + 1})
    with pytest.raises(InputError, match="made with a different width, settings") as err:
        LayerCache.create(path, other)
    assert str(path) in str(err.value) and "delete it" in str(err.value)


def _slow_writer(path: str, progress, in_transaction) -> None:
    """Runs in a child process: 3 frames per transaction, slowly, and never finishes."""
    with LayerCache.create(path, META) as cache:
        start = cache.next_frame_to_do()
        for first in range(start, N, 3):
            def batch(first=first):
                # consumed inside write_frames, i.e. between BEGIN and COMMIT
                for f in range(first, first + 3):
                    in_transaction.value = f - first + 1
                    time.sleep(0.002)
                    yield f, persons(f)
            cache.write_frames(batch())
            in_transaction.value = 0
            progress.value = first + 3
            if first >= 300:
                time.sleep(600)  # parked: the parent kills us long before


def test_sigkill_mid_analysis_leaves_a_consistent_resumable_cache(tmp_path):
    path = tmp_path / "killed.sqlite"
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Value("i", 0, lock=False)
    in_transaction = ctx.Value("i", 0, lock=False)
    child = ctx.Process(target=_slow_writer, args=(str(path), progress, in_transaction))
    child.start()
    try:
        deadline = time.monotonic() + 60
        # Kill once 30 frames are committed, while a transaction holds 2 uncommitted frames.
        while progress.value < 30 or in_transaction.value != 3:
            assert child.is_alive() and time.monotonic() < deadline, "writer did not progress"
            time.sleep(0.0002)
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == -signal.SIGKILL

    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()
    with LayerCache.open(path) as cache:
        assert cache.integrity_check() == []
        done = cache.frames_done()
        n = len(done)
        assert 30 <= n < N and n % 3 == 0  # whole transactions only
        assert done.tolist() == list(range(n))
        assert cache.next_frame_to_do() == n
        assert list(cache.records()) == [r for f in range(n) for r in persons(f)]
    with LayerCache.create(path, META) as cache:  # resume
        assert cache.next_frame_to_do() == n
        cache.write_frames((f, persons(f)) for f in range(n, N))
        assert cache.is_complete() and cache.next_frame_to_do() == N
        for f in (n - 1, n, N - 1):
            _assert_frame_matches(cache, f)


def test_reader_sees_commits_of_an_open_writer(tmp_path):
    path = tmp_path / "c.sqlite"
    with LayerCache.create(path, META) as writer:
        writer.write_frames([(0, persons(0)), (1, persons(1))])
        with LayerCache.open(path) as reader:
            assert reader.frames_done().tolist() == [0, 1]
            writer.write_frames([(2, persons(2))])
            assert reader.next_frame_to_do() == 3
            _assert_frame_matches(reader, 2)


def _set_meta(path: Path, key: str, value: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    conn.close()


def test_incompatible_or_foreign_files_are_clear_errors(tmp_path):
    newer = tmp_path / "newer.sqlite"
    LayerCache.create(newer, META).close()
    _set_meta(newer, "schema_version", str(SCHEMA_VERSION + 1))
    with pytest.raises(InputError) as err:
        LayerCache.open(newer)
    msg = str(err.value)
    assert msg.startswith(f"{newer}: ") and f"schema version {SCHEMA_VERSION + 1}" in msg
    assert "update humanfx" in msg and "delete it and re-run" in msg
    with pytest.raises(InputError, match="schema version 0, this humanfx reads"):
        _set_meta(newer, "schema_version", "0")
        LayerCache.create(newer, META)

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(8192))
    with pytest.raises(InputError, match="not a humanfx layer cache .*delete it") as err:
        LayerCache.open(junk)
    assert str(junk) in str(err.value)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(InputError, match="is not a humanfx layer cache"):
        LayerCache.open(other, readonly=False)
    with pytest.raises(InputError, match="there is no layer cache here"):
        LayerCache.open(tmp_path / "missing.sqlite")


def _trackset() -> TrackSet:
    anns = [r for f in range(0, N, 5) for r in persons(f)]
    anns[3].id = None
    return TrackSet(videos=[VIDEO],
                    tracks=[Track(1, 1, "Ann"), Track(2, 1), Track(4, 1, "no records")],
                    annotations=anns, info={"source_file": "t.json"})


def test_from_trackset_round_trip_and_atomic_replace(tmp_path):
    path = tmp_path / "import.sqlite"
    ts = _trackset()
    with LayerCache.from_trackset(path, ts, META) as cache:
        assert cache.is_complete()
        assert cache.to_trackset(VIDEO) == ts
        assert cache.frame(1) == []  # imported frames without persons count as analysed
    # importing again replaces the file as a whole
    smaller = TrackSet(videos=[VIDEO], tracks=[Track(1, 1)], annotations=persons(3)[:1])
    with LayerCache.from_trackset(path, smaller, META) as cache:
        assert cache.to_trackset(VIDEO) == smaller
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) \
        == ["import.sqlite"]
    bad = _trackset()
    bad.annotations[0].frame_index = N
    with pytest.raises(InputError, match=f"frame {N} is outside"):
        LayerCache.from_trackset(path, bad, META)
    bad = _trackset()
    bad.annotations[1].segmentation = encode_mask(np.ones((H, W + 2)))
    with pytest.raises(InputError, match="cannot cache these tracks: mask of track"):
        LayerCache.from_trackset(path, bad, META)
    with LayerCache.open(path) as cache:  # the failed imports left the old cache alone
        assert cache.to_trackset(VIDEO) == smaller
    assert not list(tmp_path.glob(".*tmp*"))


def test_clip_hash_is_content_based(tmp_path):
    small = tmp_path / "clip.mp4"
    small.write_bytes(os.urandom(300_000))
    renamed = tmp_path / "sub" / "other name.mov"
    renamed.parent.mkdir()
    renamed.write_bytes(small.read_bytes())
    h = clip_content_hash(small)
    assert len(h) == 64 and h == clip_content_hash(renamed)
    data = bytearray(small.read_bytes())
    data[150_000] ^= 1
    renamed.write_bytes(bytes(data))
    assert clip_content_hash(renamed) != h  # small files are hashed whole

    big = tmp_path / "big.mp4"
    size = 40 * 1024 * 1024
    with big.open("wb") as fh:
        fh.truncate(size)  # sparse: cheap to make
    hb = clip_content_hash(big)
    with big.open("r+b") as fh:
        fh.seek(size - 10)
        fh.write(b"x")  # inside the last chunk
    assert clip_content_hash(big) != hb
    hb = clip_content_hash(big)
    with big.open("r+b") as fh:
        fh.seek(size // 16 + 100 * 1024)  # between sampled chunks: the documented trade-off
        fh.write(b"x")
    assert clip_content_hash(big) == hb
    with big.open("ab") as fh:
        fh.write(b"y")
    assert clip_content_hash(big) != hb  # size is hashed
    with pytest.raises(InputError, match="no such clip"):
        clip_content_hash(tmp_path / "nope.mp4")


def test_cache_paths_and_listing(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMANFX_CACHE_DIR", str(tmp_path / "root"))
    assert cache_root() == tmp_path / "root"
    monkeypatch.delenv("HUMANFX_CACHE_DIR")
    assert cache_root().parts[-2:] == ("humanfx", "layers")
    key = settings_key("yolo", {"a": 1, "b": [1, 2]})
    assert key == settings_key("yolo", {"b": [1, 2], "a": 1}) and len(key) == 16
    assert key != settings_key("yolo", {"a": 2, "b": [1, 2]}) != settings_key("rt", {"a": 1})
    root = tmp_path / "root"
    p1 = cache_path(CLIP_HASH, "test", META.settings, root=root)
    assert p1 == root / CLIP_HASH[:16] / f"test-{settings_key('test', META.settings)}.sqlite"
    with pytest.raises(ValueError):
        cache_path(CLIP_HASH, "../evil", {}, root=root)

    with LayerCache.create(p1, META) as c:
        c.write_frames((f, []) for f in range(N))
    meta2 = CacheMeta(**{**META.__dict__, "source": "import", "settings": {}})
    p2 = cache_path(CLIP_HASH, "import", {}, root=root)
    with LayerCache.create(p2, meta2) as c:
        c.write_frames([(0, persons(0))])
    os.utime(p1, (1_000_000, 1_000_000))
    (p1.parent / "junk.sqlite").write_bytes(b"not a database" * 100)
    twin = CacheMeta(**{**META.__dict__, "clip_hash": CLIP_HASH[:16] + "f" * 48})
    LayerCache.create(p1.parent / "twin.sqlite", twin).close()  # same prefix, other clip
    entries = list_caches(CLIP_HASH, root=root)
    assert [e.path for e in entries] == [p2, p1]
    assert [(e.complete, e.frames_done) for e in entries] == [(False, 1), (True, N)]
    assert entries[1].meta == META and entries[0].size_bytes > 0
    assert list_caches("f" * 64, root=root) == []
