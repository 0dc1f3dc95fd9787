"""The server's methods: each takes ``(server, connection, params)`` and returns a JSON-ready
result or raises (an :class:`RpcError`, a :class:`HumanfxError`, ...), which the server turns
into an error object.  Documented one by one in ``docs/server.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editor_plugin.server.protocol import (
    INVALID_PARAMS,
    MAX_REQUEST_BYTES,
    UNKNOWN_ID,
    Request,
    RpcError,
)
from editor_plugin.server.state import ClipState, Effects, Params, new_id
from inference.errors import InputError

if TYPE_CHECKING:
    from editor_plugin.server.server import Connection, Server

Handler = Callable[["Server", "Connection", dict[str, Any] | list[Any]], Any]

#: Every method by name.
METHODS: dict[str, Handler] = {}

PROTOCOL_VERSION = 1


def method(name: str, *names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(server, conn, params: Params)`` as method ``name`` taking ``names``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def handler(server: Server, conn: Connection, raw: dict[str, Any] | list[Any]) -> Any:
            return fn(server, conn, Params(name, raw, names))

        METHODS[name] = handler
        return fn

    return deco


def auth_token(req: Request) -> str | None:
    """The token a request carries: ``auth``'s ``token`` or any request's ``token`` param."""
    params = req.params
    if isinstance(params, list) and req.method == "auth" and params:
        params = {"token": params[0]}
    token = params.get("token") if isinstance(params, dict) else None
    return token if isinstance(token, str) else None


def _frac(value: Fraction) -> str:
    return str(Fraction(value))


def _clip_info(clip: ClipState) -> dict[str, Any]:
    info = clip.session.info
    return {"path": str(info.path), "name": info.path.name, "width": info.width,
            "height": info.height, "frame_count": info.frame_count, "fps": _frac(info.fps),
            "duration": _frac(info.duration), "codec": info.codec, "has_audio": info.has_audio}


@contextlib.contextmanager
def _claimed(server: Server, clip: ClipState, what: str) -> Iterator[None]:
    server.claims.claim(clip.key, what)
    try:
        yield
    finally:
        server.claims.release(clip.key)


def _folder(clip: ClipState) -> tuple[Path, ...]:
    return (clip.key.parent,)


# -- session ------------------------------------------------------------------------------------

@method("auth", "token")
def auth(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    return {"authenticated": True}  # the check itself happens before dispatch


@method("server_info")
def server_info(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    return {"name": "humanfx", "protocol_version": PROTOCOL_VERSION,
            "framing": "ndjson", "methods": sorted(METHODS),
            "max_request_bytes": server.config.max_request_bytes or MAX_REQUEST_BYTES,
            "roots": [str(r) for r in server.roots.roots]}


@method("open_clip", "path", "layers")
def open_clip(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    from editor_plugin.session import ClipSession

    path = server.roots.check(p.get("path", str), what="clip")
    session = ClipSession(path, cache_root=server.config.cache_root)
    clip = ClipState(clip_id=new_id("clip"), session=session, owner=conn.id,
                     layers=p.get("layers", str, None))
    with server.lock:
        server.clips[clip.clip_id] = clip
    return {"clip_id": clip.clip_id, "info": _clip_info(clip)}


@method("close_clip", "clip_id")
def close_clip(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    clip = server.clip(conn, p.get("clip_id", str))
    with server.lock:
        jobs = [j for j in server.jobs.values() if j.clip_id == clip.clip_id]
    for j in jobs:
        j.cancel.set()
    for j in jobs:
        j.finished.wait()
    server.close_clip(clip)
    return {"closed": True}


@method("shutdown")
def shutdown(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    server.stopping.set()
    if server.on_shutdown is not None:
        server.on_shutdown()
    return {"shutting_down": True}


# -- layers -------------------------------------------------------------------------------------

@method("import_tracks", "clip_id", "path")
def import_tracks(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    clip = server.clip(conn, p.get("clip_id", str))
    path = server.roots.check(p.get("path", str), extra=_folder(clip), what="tracks file")
    with _claimed(server, clip, "importing tracks"):
        r = clip.session.import_tracks(path)
    return {"tracks": r.tracks, "annotations": r.annotations,
            "frames_with_people": r.frames_with_people, "cache_path": str(r.cache_path)}


@method("list_persons", "clip_id", "layers")
def list_persons(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    clip = server.clip(conn, p.get("clip_id", str))
    layers = p.get("layers", str, clip.layers)
    return {"persons": [dataclasses.asdict(t) for t in clip.session.persons(layers)]}


_ANALYZE_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "model": str, "device": str, "keyframe_every": int, "batch_size": int,
    "process_size": int, "frames": list, "flow_preset": str, "parallel_networks": bool,
    "commit_every": int}


def analyze_options(raw: dict[str, Any]) -> Any:
    """:class:`AnalyzeOptions` from JSON (``frames`` as ``[start, stop|null]``)."""
    p = Params("analyze options", raw, tuple(_ANALYZE_OPTIONS))
    kw = {k: p.get(k, kind, None) for k, kind in _ANALYZE_OPTIONS.items()}
    kw = {k: v for k, v in kw.items() if v is not None}
    if "frames" in kw:
        f = kw["frames"]
        if not (len(f) == 2 and isinstance(f[0], int) and (f[1] is None or isinstance(f[1], int))):
            raise p.bad("'frames' must be [start, stop] (stop may be null)")
        kw["frames"] = (f[0], f[1])
    for k in ("keyframe_every", "batch_size", "process_size", "commit_every"):
        if k in kw and kw[k] < 1:
            raise p.bad(f"{k!r} must be at least 1")
    from editor_plugin.analyze import AnalyzeOptions

    return AnalyzeOptions(show_download=False, **kw)


@method("analyze", "clip_id", "options")
def analyze(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    clip = server.clip(conn, p.get("clip_id", str))
    options = analyze_options(p.get("options", dict, {}))
    from editor_plugin.analyze import analyze_clip

    def work(job: Any) -> dict[str, Any]:
        r = analyze_clip(clip.session, options, progress=job.report, cancel=job.cancel)
        out = dataclasses.asdict(r)
        out["cache_path"] = str(r.cache_path)
        out["process_size"] = list(r.process_size)
        return out

    return {"job_id": server.start_job(conn, "analyze", clip, work).job_id}


@method("cancel", "job_id")
def cancel(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    job = server.job(p.get("job_id", str))
    if job.owner != conn.id:
        raise RpcError(UNKNOWN_ID, f"job {job.job_id} belongs to another client")
    running = not job.finished.is_set()
    job.cancel.set()
    return {"job_id": job.job_id, "cancelling": running}


@method("job_status", "job_id")
def job_status(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    return server.job(p.get("job_id", str)).to_dict()


# -- identity edits -----------------------------------------------------------------------------

_EDIT_ARGS: dict[str, tuple[str, ...]] = {
    "merge": ("a", "b", "keep_first"), "split": ("track", "at_frame"),
    "swap": ("a", "b", "from_frame"), "delete": ("track",), "rename": ("track", "name"),
    "undo": (), "redo": (), "history": ()}


def _edit(clip: ClipState, op: str, args: Params, layers: str | None) -> dict[str, Any]:
    from inference.cache import LayerCache
    from inference.cache.edits import TrackEditor

    with clip.session.layers(layers) as found:
        path = found.path
    with LayerCache.open(path, readonly=False) as cache:
        ed = TrackEditor(cache)
        out: dict[str, Any] = {"layers": cache.meta.source}
        if op == "history":
            out["edits"] = [e.to_dict() for e in ed.history()]
            return out
        if op == "merge":
            edit = ed.merge(args.get("a", int), args.get("b", int),
                            keep_first=args.get("keep_first", bool, False))
        elif op == "split":
            out["new_track"] = ed.split(args.get("track", int), args.get("at_frame", int))
            edit = ed.history()[-1]
        elif op == "swap":
            edit = ed.swap(args.get("a", int), args.get("b", int),
                           args.get("from_frame", int, 0))
        elif op == "delete":
            edit = ed.delete(args.get("track", int))
        elif op == "rename":
            if "name" not in args.raw:
                raise args.bad("missing param 'name' (null clears the name)")
            edit = ed.rename(args.get("track", int), args.get("name", str, None))
        elif op == "undo":
            edit = ed.undo()
        else:
            edit = ed.redo()
        out["edit"] = edit.to_dict()
        out["can_undo"], out["can_redo"] = ed.can_undo(), ed.can_redo()
        return out


def _run_edit(server: Server, conn: Connection, clip_id: str, op: str, args: Any,
              layers: str | None) -> dict[str, Any]:
    clip = server.clip(conn, clip_id)
    if op not in _EDIT_ARGS:
        raise RpcError(INVALID_PARAMS, f"edit_tracks: unknown op {op!r} "
                       f"(ops: {', '.join(_EDIT_ARGS)})")
    params = Params(f"edit_tracks {op}", args, _EDIT_ARGS[op])
    if op == "history":
        return _edit(clip, op, params, layers if layers is not None else clip.layers)
    with _claimed(server, clip, f"editing tracks ({op})"):
        return _edit(clip, op, params, layers if layers is not None else clip.layers)


@method("edit_tracks", "clip_id", "op", "args", "layers")
def edit_tracks(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    return _run_edit(server, conn, p.get("clip_id", str), p.get("op", str),
                     p.get("args", (dict, list), {}), p.get("layers", str, None))


for _op in ("undo", "redo", "history"):
    def _make(op: str) -> Callable[..., Any]:
        def fn(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
            return _run_edit(server, conn, p.get("clip_id", str), op, {},
                             p.get("layers", str, None))
        return fn
    method(_op, "clip_id", "layers")(_make(_op))


# -- effects, preview and export ----------------------------------------------------------------

def _check_background(server: Server, clip: ClipState, spec: str) -> str:
    """Parse ``spec``; image/video paths must be files inside the roots.  The canonical spec."""
    from effects.backgrounds import ImageBackground, VideoBackgroundSpec, parse_background

    bg = parse_background(spec)
    if isinstance(bg, (ImageBackground, VideoBackgroundSpec)):
        path = server.roots.check(bg.path, extra=_folder(clip), what="background")
        if not path.is_file():
            raise InputError("background file not found", path=path,
                             hint="pass an existing image or video")
        bg = type(bg)(path, bg.mode)
    return bg.spec


@method("set_effects", "clip_id", "background", "selected", "refine")
def set_effects(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    from effects.matte import REFINE_MODES

    clip = server.clip(conn, p.get("clip_id", str))
    fx = clip.effects
    background = p.get("background", str, None)
    selected = p.int_list("selected", None)
    refine = p.get("refine", str, None)
    if refine is not None and refine not in REFINE_MODES:
        raise p.bad(f"refine must be one of {', '.join(REFINE_MODES)}, not {refine!r}")
    if background is not None:
        background = _check_background(server, clip, background)
    if selected:
        clip.session.check_persons(selected, clip.layers)
    clip.effects = Effects(background=fx.background if background is None else background,
                           selected=fx.selected if selected is None else tuple(selected),
                           refine=fx.refine if refine is None else refine)
    return clip.effects.to_dict()


def _background(clip: ClipState) -> Any:
    """The live background object of the clip's effects (a looping video decoder is kept)."""
    from editor_plugin.render import LoopingVideo
    from effects.backgrounds import VideoBackground, VideoBackgroundSpec, parse_background

    if clip.effects.background is None:
        raise InputError("no background set for this clip",
                         hint="call set_effects with a background first")
    bg = parse_background(clip.effects.background)
    if isinstance(bg, VideoBackgroundSpec):
        if clip.bg_video is None or clip.bg_video[0] != bg.path:
            if clip.bg_video is not None:
                clip.bg_video[1].close()
            clip.bg_video = (bg.path, LoopingVideo(bg.path))
        bg = VideoBackground(frames=clip.bg_video[1], mode=bg.mode, source=str(bg.path))
    return bg


def _frame_range(p: Params) -> Any:
    """The ``range`` param (``[start, stop|null]`` or ``"START:END"``) as a FrameRange."""
    from editor_plugin.render import FrameRange

    rng = p.get("range", (list, str), None)
    if isinstance(rng, str):
        return FrameRange.parse(rng)
    if rng is None:
        return FrameRange()
    if not (len(rng) == 2 and isinstance(rng[0], int)
            and (rng[1] is None or isinstance(rng[1], int))):
        raise p.bad("'range' must be [start, stop] (stop exclusive, may be null)")
    return FrameRange(rng[0], rng[1])


@method("export", "clip_id", "output", "codec", "range", "quality", "audio")
def export(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    from editor_plugin.media import Codec
    from editor_plugin.render import RenderSpec, render
    from effects.backgrounds import parse_background

    clip = server.clip(conn, p.get("clip_id", str))
    output = server.roots.check(p.get("output", str), extra=_folder(clip), what="output")
    codec_name = p.get("codec", str, "h264")
    try:
        codec = Codec(codec_name)
    except ValueError:
        raise p.bad(f"unknown codec {codec_name!r} (codecs: "
                    f"{', '.join(c.value for c in Codec)})") from None
    frames = _frame_range(p)
    fx = clip.effects
    if fx.background is None:
        raise InputError("no background set for this clip",
                         hint="call set_effects with a background first")
    spec = RenderSpec(persons=fx.selected, background=parse_background(fx.background),
                      codec=codec, frames=frames, refine=fx.refine,
                      audio=p.get("audio", bool, True), layers=clip.layers,
                      quality=p.get("quality", int, None))
    frames.resolve(clip.session.info.frame_count)  # a bad range fails the request itself
    if not spec.persons:
        raise InputError("no person selected", hint="call set_effects with selected ids")

    def work(job: Any) -> dict[str, Any]:
        return {"output": str(render(clip.session, spec, output, progress=job.report,
                                     cancel=job.cancel))}

    return {"job_id": server.start_job(conn, "export", clip, work).job_id}


_MATTE_CODECS = ("prores4444", "png", "ffv1")


@method("export_mattes", "clip_id", "output", "persons", "codec", "range", "refine",
        "id_matte", "bit_depth", "start_number")
def export_mattes(server: Server, conn: Connection, p: Params) -> dict[str, Any]:
    """Per-person mattes (``editor_plugin.exports.mattes``) into the folder ``output``."""
    from editor_plugin.exports.mattes import MatteSpec
    from editor_plugin.exports.mattes import export_mattes as write_mattes
    from editor_plugin.media import Codec

    clip = server.clip(conn, p.get("clip_id", str))
    output = server.roots.check(p.get("output", str), extra=_folder(clip), what="output folder")
    codec = p.get("codec", str, "prores4444")
    if codec not in _MATTE_CODECS:
        raise p.bad(f"unknown matte codec {codec!r} (codecs: {', '.join(_MATTE_CODECS)})")
    persons = p.int_list("persons", None)
    spec = MatteSpec(persons=None if persons is None else tuple(persons), codec=Codec(codec),
                     bit_depth=p.get("bit_depth", int, 8),
                     start_number=p.get("start_number", int, None),
                     id_matte=p.get("id_matte", bool, False), frames=_frame_range(p),
                     refine=p.get("refine", str, "none"), layers=clip.layers)
    spec.frames.resolve(clip.session.info.frame_count)  # a bad range fails the request itself
    if spec.persons is not None:
        clip.session.check_persons(list(spec.persons), clip.layers)

    def work(job: Any) -> dict[str, Any]:
        r = write_mattes(clip.session, spec, output, progress=job.report, cancel=job.cancel)
        return {"folder": str(r.folder), "frames": r.frames,
                "persons": {str(tid): str(path) for tid, path in r.persons.items()},
                "id_matte": None if r.id_matte is None else str(r.id_matte),
                "legend": None if r.legend is None else str(r.legend)}

    return {"job_id": server.start_job(conn, "export_mattes", clip, work).job_id}


# Methods defined in other modules register themselves on import.
from editor_plugin.server import frames as _frames  # noqa: F401  (render_frame, optimize_media)
