"""``humanfx batch``: manifests of real synthetic clips, re-runs, chunked renders, failures."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from editor_plugin.batch import chunk_bounds, load_manifest, parse_chunk
from editor_plugin.cli import main
from editor_plugin.media import Codec, VideoReader
from editor_plugin.render import RenderSpec, render
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import parse_background
from inference.errors import InputError
from inference.synth import SynthConfig


def _clip(folder: Path, seed: int) -> tuple[Path, Path]:
    return write_synthetic_clip(folder, SynthConfig(people=2, frames=12, width=96, height=64,
                                                    seed=seed))


def _job(name: str, clip: Path, tracks: Path, background: str = "color:#00ff00") -> dict:
    return {"name": name, "clip": str(clip), "tracks": str(tracks),
            "renders": [{"name": "swap", "person": [1], "background": background,
                         "codec": "ffv1"}],
            "mattes": {"person": "all", "codec": "ffv1"},
            "tracks_exports": [{"format": "cocovideo"}, {"format": "csv"}],
            "otio": True}


def _write(path: Path, jobs: list[dict]) -> Path:
    path.write_text(json.dumps({"format": "humanfx-batch", "version": 1, "output": "out",
                                "jobs": jobs}), encoding="utf-8")
    return path


def _summary(root: Path, name: str = "batch-summary.json") -> dict[str, dict]:
    data = json.loads((root / "out" / name).read_text(encoding="utf-8"))
    return {j["name"]: j for j in data["jobs"]}


def _frames_and_pts(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        pts = sorted(p.pts for p in c.demux(video=0) if p.size)
    return frames, pts


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return [_clip(folder / "a", 1), _clip(folder / "b", 2)]


def test_batch_runs_skips_and_redoes_only_what_changed(tmp_path, clips, capsys):
    (a, ta), (b, tb) = clips
    manifest = _write(tmp_path / "jobs.json", [_job("a", a, ta), _job("b", b, tb)])
    assert main(["batch", str(manifest)]) == 0
    out = tmp_path / "out"
    for name in ("a", "b"):
        d = out / name
        assert (d / "swap.mkv").is_file()
        assert {p.name for p in (d / "mattes").iterdir()} == {"person-1.mkv", "person-2.mkv"}
        assert (d / "tracks-cocovideo.json").is_file() and (d / "tracks-csv.csv").is_file()
        assert (d / f"{name}.otio").is_file()
        with VideoReader(d / "swap.mkv") as r:
            assert len(r) == 12
    first = _summary(tmp_path)
    assert set(first) == {"a", "b"}
    assert all(j["status"] == "done" for j in first.values())
    assert "render:swap" in first["a"]["steps_run"] and "layers" in first["a"]["steps_run"]
    printed = capsys.readouterr().out
    assert "a " in printed and "b " in printed and "done" in printed

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()
              and ".humanfx-done" not in p.parts and p.name not in ("batch.log",
                                                                    "batch-summary.json")}
    assert main(["batch", str(manifest)]) == 0
    second = _summary(tmp_path)
    assert [j["status"] for j in second.values()] == ["skipped", "skipped"]
    assert all(not j["steps_run"] for j in second.values())
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    log_a = (out / "a" / "batch.log").read_text(encoding="utf-8")
    assert log_a.count("step render:swap: done") == 1
    assert log_a.count("step render:swap: skipped") == 1

    # change job b's render: only b's render (and the timeline that shows it) run again
    _write(manifest, [_job("a", a, ta), _job("b", b, tb, background="color:#ff0000")])
    assert main(["batch", str(manifest)]) == 0
    third = _summary(tmp_path)
    assert third["a"]["status"] == "skipped"
    assert third["b"]["status"] == "done"
    assert set(third["b"]["steps_run"]) == {"render:swap", "otio"}
    changed = {p for p in mtimes if p.stat().st_mtime_ns != mtimes[p]}
    assert changed == {out / "b" / "swap.mkv", out / "b" / "b.otio"}
    with VideoReader(out / "b" / "swap.mkv") as r:
        img = r.read(0).image
    assert img[0, 0, 0] > 200 and img[0, 0, 1] < 50  # red background now


def test_chunked_render_equals_full_render(tmp_path, clips):
    (a, ta), _ = clips
    job = _job("a", a, ta)
    job.update(mattes=None, tracks_exports=[], otio=False)
    manifest = _write(tmp_path / "jobs.json", [job])
    chunked = tmp_path / "out" / "a" / "swap.mkv"
    parts = tmp_path / "out" / "a" / ".parts"
    for i in (1, 2, 3):
        code = main(["batch", str(manifest), "--chunk", f"{i}/3"])
        assert code == 0
        status = _summary(tmp_path, f"batch-summary.chunk-{i}-of-3.json")["a"]["status"]
        assert status == ("partial" if i < 3 else "done")
        assert chunked.exists() == (i == 3)  # the last chunk joins automatically
    assert not list(parts.iterdir())  # the parts are removed once joined
    # a part rendered again would be logged; the join run does nothing twice
    assert main(["batch", str(manifest), "--join"]) == 0
    log = (tmp_path / "out" / "a" / "batch.log").read_text(encoding="utf-8")
    assert log.count("rendered part") == 3 and log.count("joined 3 parts") == 1
    joined = _summary(tmp_path)["a"]
    assert joined["steps_skipped"] == ["render:swap"] and not joined["steps_run"]

    full = render(ClipSession(a), RenderSpec(persons=(1,), codec=Codec.FFV1,
                                             background=parse_background("color:#00ff00")),
                  tmp_path / "full.mkv")
    got, got_pts = _frames_and_pts(chunked)
    want, want_pts = _frames_and_pts(full)
    assert len(got) == len(want) == 12
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    assert got_pts == want_pts
    with VideoReader(chunked) as r, VideoReader(a) as src:
        times, source = r.timestamps, src.timestamps
    # continuous: each frame at the source frame's time (Matroska stores milliseconds)
    assert len(times) == 12 and times[0] == 0
    assert all(abs(t - (s - source[0])) <= Fraction(1, 2000) for t, s in zip(times, source))
    # the audio is written once over the whole range: the same packets as the full render
    def audio(path: Path) -> list[tuple[int, bytes]]:
        with av.open(str(path)) as c:
            return [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]
    assert audio(chunked) == audio(full) and audio(full)


def test_failing_job_is_logged_and_others_run(tmp_path, clips):
    (a, ta), _ = clips
    missing = tmp_path / "gone.mp4"
    manifest = _write(tmp_path / "jobs.json",
                      [_job("bad", missing, ta), {"name": "a", "clip": str(a),
                                                  "tracks": str(ta), "tracks_exports":
                                                  [{"format": "cocovideo"}]}])
    assert main(["batch", str(manifest)]) == 1
    s = _summary(tmp_path)
    assert s["bad"]["status"] == "failed" and "gone.mp4" in s["bad"]["error"]
    assert s["a"]["status"] == "done"
    assert (tmp_path / "out" / "a" / "tracks-cocovideo.json").is_file()
    assert "FAILED" in (tmp_path / "out" / "bad" / "batch.log").read_text(encoding="utf-8")


def test_manifest_and_chunk_validation(tmp_path):
    assert chunk_bounds(0, 12, 3) == [(0, 4), (4, 8), (8, 12)]
    assert chunk_bounds(2, 9, 2) == [(2, 5), (5, 9)]
    assert parse_chunk("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x"):
        with pytest.raises(ValueError):
            parse_chunk(bad)
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"format": "humanfx-batch", "version": 1,
                             "jobs": [{"clip": "c.mp4", "renders": [{"name": "r"}]}]}))
    with pytest.raises(InputError, match=r"renders\[0\]"):
        load_manifest(p)
    assert main(["batch", str(p)]) == 1
