"""The server's frame methods: ``render_frame`` (one composited frame to a PNG or shared
memory) and ``optimize_media`` (build the clip's lossless all-intra copy, a job).

``render_frame`` reads the clip's optimized media (:mod:`editor_plugin.optimized`) when a
valid one exists, found when the first frame is rendered or installed by an
``optimize_media`` job as soon as it finishes: a random frame then costs one intra decode
instead of a decode from the keyframe before it, and the pixels are the same (the copy is
bit-exact).  Its answer names the source it read (``"source": "optimized" | "clip"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editor_plugin.server.methods import _background, _folder, _frac, method
from editor_plugin.server.state import ClipState, Params
from inference.errors import InputError

if TYPE_CHECKING:
    from editor_plugin.server.server import Connection, Server

log = logging.getLogger(__name__)


def _write_png(path: Path, image: Any) -> int:
    """Write (H, W, 3) uint8 RGB ``image`` as a PNG, atomically; returns its size in bytes."""
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError("could not encode the frame as PNG", path=path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(data)


def _write_shm(name: str, image: Any) -> int:
    """Copy ``image`` into the existing shared memory block ``name``; returns bytes written."""
    from multiprocessing import resource_tracker, shared_memory

    import numpy as np

    try:
        shm = shared_memory.SharedMemory(name=name)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise InputError(f"no shared memory block {name!r} ({exc})",
                         hint="create it in the client first (SharedMemory(create=True))") from None
    try:
        # Attaching registers the block with this process's resource tracker (Python < 3.13),
        # which would unlink the client's block when the server exits.
        with contextlib.suppress(Exception):
            resource_tracker.unregister(shm._name, "shared_memory")
        if shm.size < image.nbytes:
            raise InputError(f"shared memory block {name!r} holds {shm.size} bytes; the frame "
                             f"needs {image.nbytes}", hint="allocate height*width*3 bytes")
        np.ndarray(image.shape, np.uint8, buffer=shm.buf)[...] = image
        return int(image.nbytes)
    finally:
        shm.close()


def _install_optimized(clip: ClipState, path: Path) -> None:
    """Switch ``clip`` to reading the optimized media at ``path`` from the next frame on."""
    from editor_plugin.optimized import open_optimized

    reader = open_optimized(clip.session, path)
    with clip.lock:
        old, clip.reader, clip.reader_source = clip.reader, reader, "optimized"
    if old is not None:
        old.close()


@method("render_frame", "clip_id", "frame_index", "path", "shared_memory")
def render_frame(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    from editor_plugin.optimized import open_reader
    from effects.matte import build_alpha

    clip = server.clip(conn, p.get("clip_id", str))
    index = p.get("frame_index", int)
    out_path, shm = p.get("path", str, None), p.get("shared_memory", str, None)
    if (out_path is None) == (shm is None):
        raise p.bad("give exactly one of 'path' (a .png file) or 'shared_memory' (a name)")
    n = clip.session.info.frame_count
    if not 0 <= index < n:
        raise p.bad(f"frame_index {index} is outside the clip's {n} frames (0..{n - 1})")
    target = None
    if out_path is not None:
        target = server.roots.check(out_path, extra=_folder(clip), what="output")
        if target.suffix.lower() != ".png":
            raise p.bad(f"'path' must end in .png, got {target.name!r}")
    fx = clip.effects
    with clip.lock:
        background = _background(clip)
        if clip.reader is None:  # the optimized media when there is a valid one
            clip.reader, clip.reader_source = open_reader(clip.session)
        frame = clip.reader.read(index)
        source = clip.reader_source
    masks = []
    if fx.selected:
        with clip.session.layers(clip.layers) as cache:
            masks = [pl.mask for pl in cache.frame(index, tracks=set(fx.selected))
                     if pl.mask is not None]
    h, w = frame.image.shape[:2]
    alpha = build_alpha(masks, refine=fx.refine, shape=(h, w))

    def draw(gl: Any) -> Any:
        return gl.compositor(w, h).composite(frame.image, alpha, background,
                                             frame_index=index, time=frame.time)

    image = server.render.submit(draw).result()
    out: dict[str, Any] = {"frame_index": index, "time": _frac(frame.time), "width": w,
                           "height": h, "source": source}
    if target is not None:
        out.update(path=str(target), format="png", bytes=_write_png(target, image))
    else:
        out.update(shared_memory=shm, format="rgb24", dtype="uint8", shape=[h, w, 3],
                   bytes=_write_shm(shm, image))
    return out


@method("optimize_media", "clip_id")
def optimize_media(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    """Build (or find) the clip's optimized media as a job; ``render_frame`` uses it from the
    moment the job finishes.  The job's result: ``path``, ``bytes``."""
    from editor_plugin.optimized import build_optimized

    clip = server.clip(conn, p.get("clip_id", str))

    def work(job: Any) -> dict[str, Any]:
        path = build_optimized(clip.session, progress=job.report, cancel=job.cancel)
        _install_optimized(clip, path)
        return {"path": str(path), "bytes": path.stat().st_size}

    return {"job_id": server.start_job(conn, "optimize_media", clip, work).job_id}
