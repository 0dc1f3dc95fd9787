"""Identity edits on a real SQLite layer cache: merge, split, swap, delete, rename; undo/redo
restore the rows exactly, the log survives reopening, errors are clear, old files upgrade."""

from __future__ import annotations

import sqlite3
from fractions import Fraction

import numpy as np
import pytest

from editor_plugin.cli import main
from inference.cache import SCHEMA_VERSION, CacheMeta, LayerCache
from inference.cache.edits import TrackEditor
from inference.errors import InputError
from inference.tracks.masks import encode_mask
from inference.tracks.model import PersonRecord, Track, TrackSet, VideoInfo

W, H, N = 48, 32, 30
VIDEO = VideoInfo(1, "clip.mp4", W, H, N, Fraction(25))
META = CacheMeta(clip_hash="ed17" * 16, source="import", settings={}, width=W, height=H,
                 frame_count=N, fps=VIDEO.fps, clip_name="clip.mp4")


def _record(frame: int, track: int) -> PersonRecord:
    m = np.zeros((H, W), np.uint8)
    x = (3 * track + frame) % (W - 8)
    m[4 + track:20 + track, x:x + 6] = 1
    kp = np.zeros((17, 3))
    kp[:, 0] = x + np.arange(17) / 4
    kp[:, 1] = 5.0 + track + frame / 10
    kp[:, 2] = 2
    return PersonRecord(1, frame, track, (float(x), 4.0 + track, 6.0, 16.0), kp,
                        encode_mask(m) if track != 3 else None, 0.5 + track / 10,
                        1000 * track + frame)


def _trackset() -> TrackSet:
    """Person 1 on frames 0-19, person 2 on 10-29, person 3 (no masks) on 0-29, person 4 named
    but never seen."""
    spans = {1: range(20), 2: range(10, 30), 3: range(30)}
    anns = [_record(f, t) for t, frames in spans.items() for f in frames]
    anns.sort(key=lambda r: (r.frame_index, r.track_id))
    tracks = [Track(1, 1, "Ann"), Track(2, 1), Track(3, 1, "Cy"), Track(4, 1, "ghost")]
    return TrackSet([VIDEO], tracks, anns)


@pytest.fixture
def cache(tmp_path):
    c = LayerCache.from_trackset(tmp_path / "c.sqlite", _trackset(), META)
    yield c
    c.close()


def _frames(ts: TrackSet, track: int) -> list[int]:
    return [a.frame_index for a in ts.annotations if a.track_id == track]


def _names(ts: TrackSet) -> dict[int, str | None]:
    return {t.id: t.name for t in ts.tracks}


def test_each_edit_then_undo_restores_exactly_and_redo_reapplies(cache):
    ed = TrackEditor(cache)
    states = [cache.to_trackset(VIDEO)]

    new = ed.split(1, 12)
    assert new == 5  # one more than the largest id (4, the ghost)
    ts = cache.to_trackset(VIDEO)
    assert _frames(ts, 1) == list(range(12)) and _frames(ts, 5) == list(range(12, 20))
    assert _names(ts)[5] is None
    states.append(ts)

    ed.swap(2, 3, from_frame=25)
    ts = cache.to_trackset(VIDEO)
    assert _frames(ts, 2) == list(range(10, 30)) and _frames(ts, 3) == list(range(30))
    moved = next(a for a in ts.annotations if a.track_id == 2 and a.frame_index == 27)
    assert moved.segmentation is None and moved.id == 3027  # person 3's record, now 2's
    assert _names(ts)[3] == "Cy"  # names stay with the ids
    states.append(ts)

    e = ed.merge(2, 5, keep_first=True)  # 2 and 5 share frames 12-19
    assert "shared frames dropped" in e.summary
    ts = cache.to_trackset(VIDEO)
    assert 5 not in _names(ts) and _frames(ts, 2) == list(range(10, 30))
    assert next(a for a in ts.annotations if a.track_id == 2 and a.frame_index == 12).id == 2012
    states.append(ts)

    ed.rename(1, "Anna")
    ed.delete(4)
    ed.delete(3)
    ts = cache.to_trackset(VIDEO)
    assert _names(ts) == {1: "Anna", 2: None} and not _frames(ts, 3)
    states.append(ts)

    assert [e.op for e in ed.history()] == ["split", "swap", "merge", "rename", "delete",
                                            "delete"]
    # Undo everything, checking each intermediate state exactly.
    for _ in range(3):
        ed.undo()
    assert cache.to_trackset(VIDEO) == states[3]
    ed.undo()
    assert cache.to_trackset(VIDEO) == states[2]
    ed.undo()
    assert cache.to_trackset(VIDEO) == states[1]
    assert ed.undo().op == "split"
    assert cache.to_trackset(VIDEO) == states[0]
    with pytest.raises(InputError, match="nothing to undo"):
        ed.undo()
    assert all(e.undone for e in ed.history())
    # ... and redo it all.
    for want in states[1:4]:
        ed.redo()
        assert cache.to_trackset(VIDEO) == want
    for _ in range(3):
        ed.redo()
    assert cache.to_trackset(VIDEO) == states[4]
    with pytest.raises(InputError, match="nothing to redo"):
        ed.redo()
    assert cache.integrity_check() == []


def test_history_survives_reopening_and_a_new_edit_ends_the_redo_stack(tmp_path):
    path = tmp_path / "c.sqlite"
    with LayerCache.from_trackset(path, _trackset(), META) as c:
        original = c.to_trackset(VIDEO)
        TrackEditor(c).merge(1, 2, keep_first=True)
        merged = c.to_trackset(VIDEO)
        TrackEditor(c).rename(3, None)
    with LayerCache.open(path) as ro:  # read-only: history readable, edits refused
        ed = TrackEditor(ro)
        assert [(e.id, e.op, e.undone) for e in ed.history()] == [(1, "merge", False),
                                                                   (2, "rename", False)]
        assert ed.history()[0].args == {"a": 1, "b": 2, "keep_first": True}
        assert ed.can_undo() and not ed.can_redo()
        with pytest.raises(InputError, match="read-only"):
            ed.delete(1)
    with LayerCache.open(path, readonly=False) as c:
        ed = TrackEditor(c)
        ed.undo()
        ed.undo()
        assert c.to_trackset(VIDEO) == original
        ed.redo()
        assert c.to_trackset(VIDEO) == merged
    with LayerCache.open(path, readonly=False) as c:
        ed = TrackEditor(c)
        assert [e.undone for e in ed.history()] == [False, True]
        ed.delete(4)  # a new edit: the undone rename can no longer be redone
        assert [(e.op, e.undone) for e in ed.history()] == [("merge", False), ("delete", False)]
        assert not ed.can_redo()


def test_clear_errors_and_nothing_changes(cache):
    ed = TrackEditor(cache)
    before = cache.to_trackset(VIDEO)
    with pytest.raises(InputError, match=r"person 9 is not in this layer cache \(persons: "
                                         r"1, 2, 3, 4\)"):
        ed.merge(1, 9)
    with pytest.raises(InputError, match="person 7 is not"):
        ed.rename(7, "x")
    with pytest.raises(InputError, match="cannot merge person 1 with itself"):
        ed.merge(1, 1)
    with pytest.raises(InputError, match="cannot swap person 2 with itself"):
        ed.swap(2, 2)
    with pytest.raises(InputError) as err:
        ed.merge(1, 2)
    msg = str(err.value)
    assert msg.startswith(str(cache.path))
    assert "persons 1 and 2 are both on frames 10, 11, 12, 13, 14, 15, 16, 17 and 2 more" in msg
    for frame in (0, 20, 35, -1):  # 0: nothing before; 20+: after the last frame (19)
        with pytest.raises(InputError, match=f"cannot split person 1 at frame {frame}: the "
                                             "person is on frames 0-19"):
            ed.split(1, frame)
    with pytest.raises(InputError, match="on no frame"):
        ed.split(4, 3)
    with pytest.raises(InputError, match="nothing to swap"):
        ed.swap(1, 4, from_frame=20)
    with pytest.raises(InputError, match="not a whole number"):
        ed.split(1, 2.5)
    with pytest.raises(InputError, match="printable"):
        ed.rename(1, "two\nlines")
    assert cache.to_trackset(VIDEO) == before and ed.history() == []


def test_undo_refuses_when_the_rows_were_rewritten_since(cache):
    ed = TrackEditor(cache)
    ed.split(2, 20)
    cache.write_frames([(25, [_record(25, 3)])])  # re-analysis of frame 25 drops person 6
    with pytest.raises(InputError, match="edit 1 cannot be undone: the persons it changed"):
        ed.undo()
    assert [e.undone for e in ed.history()] == [False]


def _downgrade_to_v1(path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for table in ("edits", "edit_rows", "edit_tracks"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_version_1_files_are_read_and_upgraded_when_opened_writable(tmp_path):
    path = tmp_path / "old.sqlite"
    LayerCache.from_trackset(path, _trackset(), META).close()
    _downgrade_to_v1(path)
    with LayerCache.open(path) as ro:
        assert ro.schema_version == 1
        assert ro.to_trackset(VIDEO) == _trackset()
        assert TrackEditor(ro).history() == []
    with LayerCache.open(path, readonly=False) as c:
        assert c.schema_version == SCHEMA_VERSION == 2
        ed = TrackEditor(c)
        ed.delete(3)
        assert [e.op for e in ed.history()] == ["delete"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] \
        == "2"
    conn.close()


# -- the CLI ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("edit-clip")
    assert main(["-q", "synth", str(out), "--people", "3", "--frames", "12", "--size", "96x64",
                 "--seed", "2"]) == 0
    return out / "clip.mp4", out / "clip.tracks.json"


def test_cli_tracks_commands(clip, capsys):
    video, tracks = clip
    assert main(["tracks", "history", str(video)]) == 1
    assert "no person layers" in capsys.readouterr().err
    assert main(["import", str(video), str(tracks)]) == 0
    assert main(["tracks", "split", str(video), "1", "6"]) == 0
    out = capsys.readouterr().out
    assert "edit 1: split person 1 at frame 6" in out and "new person: 4" in out
    assert main(["tracks", "rename", str(video), "4", "Dee"]) == 0
    assert main(["tracks", "swap", str(video), "2", "3", "--from", "3"]) == 0
    assert main(["tracks", "merge", str(video), "1", "4"]) == 0
    assert main(["tracks", "delete", str(video), "3"]) == 0
    assert main(["tracks", "undo", str(video)]) == 0
    assert "undid edit 5: delete person 3" in capsys.readouterr().out
    assert main(["tracks", "redo", str(video)]) == 0
    assert main(["tracks", "undo", str(video)]) == 0
    assert main(["tracks", "history", str(video)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing[-5:]] == ["1", "2", "3", "4", "5"]
    assert "(undone) delete person 3" in listing[-1]
    assert main(["persons", str(video)]) == 0
    persons = capsys.readouterr().out
    assert "Dee" not in persons  # person 4 was merged into 1
    assert main(["tracks", "merge", str(video), "1", "1"]) == 1
    assert "cannot merge person 1 with itself" in capsys.readouterr().err
    assert main(["tracks", "split", str(video), "8", "3"]) == 1
    assert "person 8 is not in this layer cache" in capsys.readouterr().err
    assert main(["tracks", "history", str(video), "--layers", "nope"]) == 1
    assert "no person layers from 'nope'" in capsys.readouterr().err
