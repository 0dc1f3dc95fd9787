"""The plugin backend server, driven over its protocol in a real subprocess.

``humanfx serve --stdio`` and ``humanfx serve --port 0`` run as child processes (with this
test's isolated HUMANFX_CACHE_DIR); the tests talk JSON-RPC to them through
:class:`editor_plugin.client.HumanfxClient` and raw bytes, and check the files they write
against the headless compositor and PyAV.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from multiprocessing import shared_memory
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from editor_plugin.client import ConnectionLost, HumanfxClient, ServerError
from editor_plugin.media import VideoReader, probe
from editor_plugin.server import protocol as P
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import parse_background
from effects.compositor import Compositor
from effects.gl import create_context
from effects.matte import build_alpha
from inference.synth import SynthConfig

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 60.0


@pytest.fixture
def clip(tmp_path):
    return write_synthetic_clip(tmp_path / "media",
                                SynthConfig(people=2, frames=12, width=96, height=64, seed=1))


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """A clip whose export takes long enough (~0.5 s) to be interrupted after it started."""
    return write_synthetic_clip(tmp_path_factory.mktemp("long"),
                                SynthConfig(people=1, frames=72, width=256, height=160, seed=2))


class Events:
    """Collects notifications; ``wait_for(pred)`` blocks until one matches."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []
        self._cv = threading.Condition()

    def __call__(self, method: str, params: dict) -> None:
        with self._cv:
            self.items.append((method, params))
            self._cv.notify_all()

    def wait_for(self, pred, timeout: float = TIMEOUT) -> tuple[str, dict]:
        with self._cv:
            assert self._cv.wait_for(lambda: any(pred(m, p) for m, p in self.items), timeout)
            return next((m, p) for m, p in self.items if pred(m, p))

    def of(self, method: str) -> list[dict]:
        with self._cv:
            return [p for m, p in self.items if m == method]


def spawn(root: Path, events: Events | None = None, *extra: str) -> HumanfxClient:
    return HumanfxClient.spawn_stdio(roots=[root], env=dict(os.environ), cwd=REPO,
                                     on_notification=events, extra_args=extra)


def expect_error(code: int, fn, *args, **kw) -> ServerError:
    with pytest.raises(ServerError) as info:
        fn(*args, **kw)
    assert info.value.code == code, info.value
    assert "\n" not in str(info.value)
    return info.value


def headless_frame(clip_path: Path, index: int, selected: set[int], background: str,
                   refine: str) -> np.ndarray:
    """The same frame composited in this process, without the server."""
    with VideoReader(clip_path) as reader:
        frame = reader.read(index)
    with ClipSession(clip_path).layers() as cache:
        masks = [p.mask for p in cache.frame(index) if p.track_id in selected]
    alpha = build_alpha(masks, refine=refine, shape=frame.image.shape[:2])
    ctx = create_context()
    try:
        with Compositor(ctx, frame.image.shape[1], frame.image.shape[0]) as comp:
            return comp.composite(frame.image, alpha, parse_background(background),
                                  frame_index=index, time=frame.time)
    finally:
        ctx.release()


# -- a whole edit over stdio ----------------------------------------------------------------------

def test_full_edit_over_stdio(tmp_path, clip):
    clip_path, tracks_path = clip
    events = Events()
    with spawn(tmp_path, events) as c:
        opened = c.call("open_clip", path=str(clip_path))
        cid = opened["clip_id"]
        assert opened["info"]["width"] == 96 and opened["info"]["height"] == 64
        assert opened["info"]["frame_count"] == 12 and opened["info"]["fps"] == "24"

        imported = c.call("import_tracks", clip_id=cid, path=str(tracks_path))
        assert imported["tracks"] == 2
        persons = c.call("list_persons", clip_id=cid)["persons"]
        assert [p["id"] for p in persons] == [1, 2]

        edit = c.call("edit_tracks", clip_id=cid, op="rename", args={"track": 2, "name": "Bo"})
        assert edit["edit"]["op"] == "rename" and edit["can_undo"]
        names = {p["id"]: p["name"] for p in c.call("list_persons", clip_id=cid)["persons"]}
        assert names[2] == "Bo"
        c.call("undo", clip_id=cid)
        assert c.call("list_persons", clip_id=cid)["persons"][1]["name"] != "Bo"
        c.call("redo", clip_id=cid)
        assert c.call("list_persons", clip_id=cid)["persons"][1]["name"] == "Bo"
        assert [e["op"] for e in c.call("history", clip_id=cid)["edits"]] == ["rename"]

        fx = c.call("set_effects", clip_id=cid, background="color:#20c040", selected=[2])
        assert fx == {"background": "color:#20c040", "selected": [2], "refine": "feather"}

        # One frame to a PNG, and the same frame into shared memory.
        png = tmp_path / "out" / "frame7.png"
        png.parent.mkdir()
        shown = c.call("render_frame", clip_id=cid, frame_index=7, path=str(png))
        assert shown["width"] == 96 and shown["height"] == 64 and shown["format"] == "png"
        got = cv2.cvtColor(cv2.imread(str(png), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        want = headless_frame(clip_path, 7, {2}, "color:#20c040", "feather")
        assert np.array_equal(got, want)
        assert (want == (0x20, 0xC0, 0x40)).all(axis=2).any()  # the background shows ...
        assert not (want == (0x20, 0xC0, 0x40)).all(axis=2).all()  # ... and so does person 2
        shm = shared_memory.SharedMemory(create=True, size=96 * 64 * 3)
        try:
            info = c.call("render_frame", clip_id=cid, frame_index=7, shared_memory=shm.name)
            assert info["shape"] == [64, 96, 3] and info["format"] == "rgb24"
            assert np.array_equal(np.ndarray((64, 96, 3), np.uint8, buffer=shm.buf), want)
        finally:
            shm.close()
            shm.unlink()

        # Export frames 2..10 as a job with progress.
        out = tmp_path / "out" / "swap.mp4"
        job = c.call("export", clip_id=cid, output=str(out), range=[2, 10])["job_id"]
        assert c.wait_job(job, timeout=TIMEOUT) == {"output": str(out)}
        done = [p for p in events.of("progress") if p["job_id"] == job]
        assert done[-1]["done"] == done[-1]["total"] == 8
        assert [p["done"] for p in done] == sorted(p["done"] for p in done)
        info = probe(out)
        assert (info.width, info.height, info.frame_count) == (96, 64, 8)
        assert c.call("job_status", job_id=job)["state"] == "done"
        assert sorted(p.name for p in out.parent.iterdir()) == ["frame7.png", "swap.mp4"]

        assert c.call("close_clip", clip_id=cid) == {"closed": True}
        expect_error(P.UNKNOWN_ID, c.call, "list_persons", clip_id=cid)
        assert c.call("shutdown") == {"shutting_down": True}
        assert c.close() == 0


def test_optimize_media_then_random_frames_over_stdio(tmp_path, clip):
    """optimize_media runs as a job; render_frame then reads the copy, and the pixels are
    those of the clip (compared with the headless composite of the clip itself)."""
    clip_path, tracks_path = clip
    events = Events()
    with spawn(tmp_path, events) as c:
        cid = c.call("open_clip", path=str(clip_path))["clip_id"]
        c.call("import_tracks", clip_id=cid, path=str(tracks_path))
        c.call("set_effects", clip_id=cid, background="blur:6", selected=[1, 2])
        shm = shared_memory.SharedMemory(create=True, size=96 * 64 * 3)
        try:
            def show(i: int) -> tuple[str, np.ndarray]:
                info = c.call("render_frame", clip_id=cid, frame_index=i, shared_memory=shm.name)
                return info["source"], np.ndarray((64, 96, 3), np.uint8, buffer=shm.buf).copy()

            before = {i: show(i) for i in (9, 2)}
            assert {src for src, _ in before.values()} == {"clip"}
            job = c.call("optimize_media", clip_id=cid)["job_id"]
            result = c.wait_job(job, timeout=TIMEOUT)
            path = Path(result["path"])
            assert path.is_file() and result["bytes"] == path.stat().st_size
            assert path.name == "optimized.mov"
            done = [p for p in events.of("progress") if p["job_id"] == job]
            assert done[-1]["done"] == done[-1]["total"] == 12
            for i in (9, 2, 11, 0, 5):  # random order: each one intra decode
                source, image = show(i)
                assert source == "optimized"
                assert np.array_equal(image, headless_frame(clip_path, i, {1, 2}, "blur:6",
                                                            "feather")), i
                if i in before:
                    assert np.array_equal(image, before[i][1])
            # A second request finds the copy at once; a new client reads it from the start.
            again = c.wait_job(c.call("optimize_media", clip_id=cid)["job_id"], timeout=TIMEOUT)
            assert again["path"] == str(path)
        finally:
            shm.close()
            shm.unlink()
    with spawn(tmp_path) as c2:
        cid = c2.call("open_clip", path=str(clip_path))["clip_id"]
        c2.call("set_effects", clip_id=cid, background="color:#000000")
        png = tmp_path / "f3.png"
        assert c2.call("render_frame", clip_id=cid, frame_index=3, path=str(png))["source"] \
            == "optimized"


def test_analyze_after_render_frame_in_one_server(tmp_path, clip):
    """A panel previews a frame (the server's GL context loads Mesa's LLVM), then asks for
    an analysis (torch loads Triton's LLVM): the server must survive and finish the job."""
    clip_path, _ = clip
    with spawn(tmp_path) as c:
        cid = c.call("open_clip", path=str(clip_path))["clip_id"]
        c.call("set_effects", clip_id=cid, background="color:#000000")
        png = tmp_path / "preview.png"
        c.call("render_frame", clip_id=cid, frame_index=0, path=str(png))
        job = c.call("analyze", clip_id=cid, options={"model": "seed", "frames": [0, 4]})
        result = c.wait_job(job["job_id"], timeout=300)
        assert Path(result["cache_path"]).is_file() and result["source"] == "seed"
        assert result["frames_detected"] + result["frames_carried"] == 4
        assert c.call("server_info")["name"] == "humanfx"


def test_export_mattes_over_stdio(tmp_path, clip):
    clip_path, tracks_path = clip
    events = Events()
    with spawn(tmp_path, events) as c:
        cid = c.call("open_clip", path=str(clip_path))["clip_id"]
        c.call("import_tracks", clip_id=cid, path=str(tracks_path))
        out = tmp_path / "mattes"
        bad = [(P.INVALID_PARAMS, {"codec": "h264"}), (P.HUMANFX_ERROR, {"persons": [7]}),
               (P.HUMANFX_ERROR, {"range": [5, 50]}), (P.INVALID_PARAMS, {"range": [5]}),
               (P.HUMANFX_ERROR, {"codec": "ffv1", "bit_depth": 16}),
               (P.PATH_NOT_ALLOWED, {"output": "/etc/mattes"})]
        for code, params in bad:
            expect_error(code, c.call, "export_mattes", **{"clip_id": cid, "output": str(out),
                                                             **params})
        assert not out.exists()

        job = c.call("export_mattes", clip_id=cid, output=str(out), codec="ffv1",
                     range=[2, 10], id_matte=True)["job_id"]
        result = c.wait_job(job, timeout=TIMEOUT)
        assert result == {"folder": str(out), "frames": 8, "legend": str(out / "id-matte.json"),
                          "id_matte": str(out / "id-matte.mkv"),
                          "persons": {"1": str(out / "person-1.mkv"),
                                      "2": str(out / "person-2.mkv")}}
        done = [p for p in events.of("progress") if p["job_id"] == job]
        assert done[-1]["done"] == done[-1]["total"] == 8
        with ClipSession(clip_path).layers() as cache:
            masks = [{p.track_id: p.mask for p in cache.frame(i)} for i in range(2, 10)]
        for tid in (1, 2):
            with av.open(result["persons"][str(tid)]) as f:
                frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
            assert len(frames) == 8
            for i, rgb in enumerate(frames):  # FFV1 is lossless: the masks exactly
                want = masks[i].get(tid, np.zeros((64, 96), bool)).astype(np.uint8) * 255
                assert np.array_equal(rgb[..., 0], want), (tid, i)
        assert c.call("job_status", job_id=job)["kind"] == "export_mattes"


# -- bad input ------------------------------------------------------------------------------------

def raw_reply(c: HumanfxClient, events: Events, data: bytes) -> dict:
    """Send raw bytes whose answer has no usable id; it arrives as an 'error' notification."""
    before = len(events.of("error"))
    c.send_raw(data)
    events.wait_for(lambda m, p: m == "error" and len(events.of("error")) > before)
    return events.of("error")[before]


def test_bad_input_is_answered_and_the_server_keeps_serving(tmp_path, clip):
    clip_path, tracks_path = clip
    events = Events()
    with spawn(tmp_path, events, "--max-request-bytes", "4096") as c:
        assert raw_reply(c, events, b'{"jsonrpc": "2.0", "id": 1, "method": \n')["code"] \
            == P.PARSE_ERROR
        assert raw_reply(c, events, b"[1, 2]\n")["code"] == P.INVALID_REQUEST
        assert raw_reply(c, events, b'"hello"\n')["code"] == P.INVALID_REQUEST
        huge = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "server_info",
                           "params": {"pad": "x" * 10_000}}).encode() + b"\n"
        err = raw_reply(c, events, huge)
        assert err["code"] == P.REQUEST_TOO_LARGE and "4096" in err["message"]
        assert "result" in c.request("server_info", {})
        assert c.request("no_such_method")["error"]["code"] == P.METHOD_NOT_FOUND

        expect_error(P.INVALID_PARAMS, c.call, "open_clip")
        expect_error(P.INVALID_PARAMS, c.call, "open_clip", path=str(clip_path), colour="red")
        expect_error(P.INVALID_PARAMS, c.call, "open_clip", path=42)
        expect_error(P.PATH_NOT_ALLOWED, c.call, "open_clip", path="/etc/hostname")
        expect_error(P.PATH_NOT_ALLOWED, c.call, "open_clip", path=str(tmp_path / ".." / "x"))
        expect_error(P.PATH_NOT_ALLOWED, c.call, "open_clip", path="relative.mp4")
        missing = expect_error(P.HUMANFX_ERROR, c.call, "open_clip",
                               path=str(tmp_path / "missing.mp4"))
        assert "missing.mp4" in str(missing)
        expect_error(P.UNKNOWN_ID, c.call, "list_persons", clip_id="clip-999")

        cid = c.call("open_clip", path=str(clip_path))["clip_id"]
        nolayers = expect_error(P.HUMANFX_ERROR, c.call, "list_persons", clip_id=cid)
        assert "import" in str(nolayers)
        c.call("import_tracks", clip_id=cid, path=str(tracks_path))
        expect_error(P.HUMANFX_ERROR, c.call, "edit_tracks", clip_id=cid, op="rename",
                     args={"track": 99, "name": "x"})
        expect_error(P.INVALID_PARAMS, c.call, "edit_tracks", clip_id=cid, op="explode")
        expect_error(P.INVALID_PARAMS, c.call, "edit_tracks", clip_id=cid, op="merge",
                     args={"a": 1})
        expect_error(P.HUMANFX_ERROR, c.call, "set_effects", clip_id=cid, background="plaid")
        expect_error(P.HUMANFX_ERROR, c.call, "set_effects", clip_id=cid, selected=[7])
        expect_error(P.PATH_NOT_ALLOWED, c.call, "set_effects", clip_id=cid,
                     background="image:/etc/hostname")
        expect_error(P.INVALID_PARAMS, c.call, "set_effects", clip_id=cid, refine="sharp")
        # Nothing set yet: no background to render or export.
        expect_error(P.HUMANFX_ERROR, c.call, "render_frame", clip_id=cid, frame_index=0,
                     path=str(tmp_path / "f.png"))
        c.call("set_effects", clip_id=cid, background="blur:4", selected=[1])
        expect_error(P.INVALID_PARAMS, c.call, "render_frame", clip_id=cid, frame_index=12,
                     path=str(tmp_path / "f.png"))
        expect_error(P.INVALID_PARAMS, c.call, "render_frame", clip_id=cid, frame_index=0)
        expect_error(P.INVALID_PARAMS, c.call, "render_frame", clip_id=cid, frame_index=0,
                     path=str(tmp_path / "f.jpg"))
        expect_error(P.PATH_NOT_ALLOWED, c.call, "render_frame", clip_id=cid, frame_index=0,
                     path="/tmp/../etc/f.png")
        expect_error(P.HUMANFX_ERROR, c.call, "render_frame", clip_id=cid, frame_index=0,
                     shared_memory="humanfx-no-such-block")
        expect_error(P.INVALID_PARAMS, c.call, "export", clip_id=cid,
                     output=str(tmp_path / "o.mp4"), codec="divx")
        expect_error(P.HUMANFX_ERROR, c.call, "export", clip_id=cid,
                     output=str(tmp_path / "o.mp4"), range=[5, 50])
        expect_error(P.PATH_NOT_ALLOWED, c.call, "export", clip_id=cid, output="/etc/o.mp4")
        expect_error(P.INVALID_PARAMS, c.call, "analyze", clip_id=cid,
                     options={"keyframe_every": 0})
        expect_error(P.UNKNOWN_ID, c.call, "cancel", job_id="job-999")
        # A job that fails reports its one-line error in job_finished.
        job = c.call("export", clip_id=cid, output=str(tmp_path / "o.webm"))["job_id"]
        failed = expect_error(P.HUMANFX_ERROR, c.wait_job, job, TIMEOUT)
        assert "o.webm" in str(failed)
        # Still serving after all that.
        assert c.call("render_frame", clip_id=cid, frame_index=3,
                      path=str(tmp_path / "f.png"))["width"] == 96
        assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "media"]
    assert c.closed


def test_closing_stdin_mid_export_cancels_it_cleanly(tmp_path, long_clip):
    clip_path, tracks_path = long_clip
    events = Events()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    c = spawn(tmp_path, events, "--root", str(clip_path.parent))
    cid = c.call("open_clip", path=str(clip_path))["clip_id"]
    c.call("import_tracks", clip_id=cid, path=str(tracks_path))
    c.call("set_effects", clip_id=cid, background="blur:15", selected=[1])
    c.call("export", clip_id=cid, output=str(out_dir / "cut.mkv"), codec="ffv1")
    _, first = events.wait_for(lambda m, p: m == "progress")
    assert first["done"] < first["total"]
    assert c.close() == 0  # the server cancels the export, waits for it, then exits
    assert list(out_dir.iterdir()) == []
    assert not events.of("job_finished") or events.of("job_finished")[0]["state"] == "cancelled"


def test_parse_request_rejects_what_is_not_a_request():
    ok = P.parse_request(b'{"jsonrpc": "2.0", "id": "a", "method": "m", "params": [1]}')
    assert (ok.method, ok.params, ok.id, ok.is_notification) == ("m", [1], "a", False)
    assert P.parse_request(b'{"jsonrpc": "2.0", "method": "m"}').is_notification
    with pytest.raises(P.RpcError) as info:  # no "jsonrpc": answered to its id
        P.parse_request(b'{"id": 77, "method": "server_info"}')
    assert info.value.code == P.INVALID_REQUEST and info.value.data == {"id": 77}
    for bad in (b'{"jsonrpc": "2.0", "id": 1.5, "method": "m"}',
                b'{"jsonrpc": "2.0", "id": 1, "method": ""}',
                b'{"jsonrpc": "2.0", "id": 1, "method": "m", "params": 3}'):
        with pytest.raises(P.RpcError) as info:
            P.parse_request(bad)
        assert info.value.code == P.INVALID_REQUEST
    with pytest.raises(P.RpcError) as info:
        P.parse_request(b"\xff\xfe")
    assert info.value.code == P.PARSE_ERROR


# -- TCP ------------------------------------------------------------------------------------------

def start_tcp(root: Path, *extra: str) -> tuple[subprocess.Popen, int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "editor_plugin.cli", "serve", "--port", "0", "--root", str(root),
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env=dict(os.environ))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.match(r"humanfx serve: listening on 127\.0\.0\.1:(\d+) token=(\S+)", line)
    if m is None:
        proc.kill()
        raise AssertionError(f"no listening line: {line!r} {proc.communicate()[1]!r}")
    return proc, int(m.group(1)), m.group(2)


def stop_tcp(proc: subprocess.Popen, port: int, token: str) -> None:
    try:
        with HumanfxClient.connect(port, token) as c:
            c.call("shutdown")
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tcp_refuses_non_loopback_binds(tmp_path):
    done = subprocess.run([sys.executable, "-m", "editor_plugin.cli", "serve", "--port", "0",
                           "--host", "0.0.0.0"], check=False, capture_output=True, text=True, cwd=REPO,
                          timeout=TIMEOUT)
    assert done.returncode == 1
    assert "loopback" in done.stderr and "0.0.0.0" in done.stderr


def test_tcp_needs_the_token(tmp_path, clip):
    proc, port, token = start_tcp(tmp_path, "--token", "s3cret-token")
    try:
        assert token == "s3cret-token"
        with HumanfxClient.connect(port, None) as c:
            expect_error(P.UNAUTHORIZED, c.call, "server_info")
            with pytest.raises(ConnectionLost):  # the server hung up
                c.call("server_info")
        with pytest.raises(ServerError) as info:
            HumanfxClient.connect(port, "s3cret-tokeX")
        assert info.value.code == P.UNAUTHORIZED
        with HumanfxClient.connect(port, token) as c:
            cid = c.call("open_clip", path=str(clip[0]))["clip_id"]
            assert c.call("server_info")["framing"] == "ndjson"
            # Clip ids belong to the connection that opened them.
            with HumanfxClient.connect(port, None) as other:  # authenticates by param
                expect_error(P.UNKNOWN_ID, other.call, "list_persons", token=token,
                             clip_id=cid)
    finally:
        stop_tcp(proc, port, token)


def test_tcp_client_vanishing_mid_export(tmp_path, long_clip):
    clip_path, tracks_path = long_clip
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc, port, token = start_tcp(tmp_path, "--token", "tok", "--root", str(clip_path.parent))
    try:
        events = Events()
        a = HumanfxClient.connect(port, token, on_notification=events)
        b = HumanfxClient.connect(port, token)
        a_clip = a.call("open_clip", path=str(clip_path))["clip_id"]
        b_clip = b.call("open_clip", path=str(clip_path))["clip_id"]
        a.call("import_tracks", clip_id=a_clip, path=str(tracks_path))
        a.call("set_effects", clip_id=a_clip, background="blur:15", selected=[1])
        job = a.call("export", clip_id=a_clip, output=str(out_dir / "cut.mkv"),
                     codec="ffv1")["job_id"]
        events.wait_for(lambda m, p: m == "progress")
        # The clip is busy for everyone else while A exports.
        busy = expect_error(P.BUSY, b.call, "edit_tracks", clip_id=b_clip, op="rename",
                            args={"track": 1, "name": "Ann"})
        assert "clip.mp4" in str(busy)
        a.close()  # vanishes mid-export
        deadline = time.monotonic() + TIMEOUT
        while (status := b.call("job_status", job_id=job))["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status["state"] == "cancelled"
        assert status["done"] < status["total"]
        assert list(out_dir.iterdir()) == []  # nothing half-written, no temp file left
        # The server still serves: B edits and exports the same clip.
        b.call("edit_tracks", clip_id=b_clip, op="rename", args={"track": 1, "name": "Ann"})
        b.call("set_effects", clip_id=b_clip, background="color:#000000", selected=[1])
        job_b = b.call("export", clip_id=b_clip, output=str(out_dir / "b.mp4"),
                       range=[0, 6])["job_id"]
        assert b.wait_job(job_b, timeout=TIMEOUT)["output"] == str(out_dir / "b.mp4")
        assert probe(out_dir / "b.mp4").frame_count == 6
        b.close()
    finally:
        stop_tcp(proc, port, token)


def test_the_documented_example_drives_an_edit(tmp_path, clip):
    clip_path, tracks_path = clip
    done = subprocess.run([sys.executable, str(REPO / "examples" / "drive_edit.py"),
                           str(tmp_path / "work"), "--clip", str(clip_path), "--tracks",
                           str(tracks_path)], check=False, capture_output=True, text=True,
                          cwd=tmp_path, env=dict(os.environ), timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "rename person 2: 'person 2' -> 'lead'" in done.stdout
    assert probe(tmp_path / "work" / "background-swap.mp4").frame_count == 12
    assert cv2.imread(str(tmp_path / "work" / "preview.png")).shape == (64, 96, 3)
