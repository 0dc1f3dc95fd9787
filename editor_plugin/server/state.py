"""Server-side state: parameter checking, allowed roots, open clips, jobs and the GL thread."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editor_plugin.server.protocol import (
    BUSY,
    INVALID_PARAMS,
    PATH_NOT_ALLOWED,
    RpcError,
)

if TYPE_CHECKING:
    from editor_plugin.session import ClipSession

log = logging.getLogger(__name__)

_MISSING = object()


class Params:
    """Typed access to a request's named params; unknown names are an INVALID_PARAMS error.

    Positional params (a JSON array) are mapped onto ``names`` in order.
    """

    def __init__(self, method: str, raw: dict[str, Any] | list[Any], names: tuple[str, ...]):
        self.method = method
        if isinstance(raw, list):
            if len(raw) > len(names):
                raise self.bad(f"takes at most {len(names)} positional params")
            raw = dict(zip(names, raw))
        unknown = sorted(set(raw) - set(names) - {"token"})
        if unknown:
            raise self.bad(f"unknown param {', '.join(map(repr, unknown))} "
                           f"(accepted: {', '.join(names) or 'none'})")
        self.raw = raw

    def bad(self, why: str) -> RpcError:
        return RpcError(INVALID_PARAMS, f"{self.method}: {why}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        """Param ``name`` checked against ``kind`` (bools are not ints); ``default`` when
        absent or null, an error when absent without a default."""
        value = self.raw.get(name)
        if value is None:
            if default is _MISSING:
                raise self.bad(f"missing param {name!r}")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.bad(f"param {name!r} must be {_kind_name(kinds)}, not a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise self.bad(f"param {name!r} must be {_kind_name(kinds)}, "
                           f"not {type(value).__name__}")
        return value

    def int_list(self, name: str, default: Any = _MISSING) -> Any:
        value = self.get(name, list, default)
        if value is default:
            return value
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.bad(f"param {name!r} must be a list of integers")
        return value


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             list: "an array", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


class Roots:
    """The folders whose files the server may read and write (symlinks resolved)."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r).resolve() for r in roots]

    def check(self, path: str | Path, *, extra: tuple[Path, ...] = (), what: str = "path"
              ) -> Path:
        """``path`` resolved, if it lies inside a root (or one of ``extra``); else an error."""
        p = Path(path).expanduser()
        if not p.is_absolute():
            raise RpcError(PATH_NOT_ALLOWED, f"{what} {str(path)!r} must be an absolute path")
        resolved = p.resolve()
        for root in [*self.roots, *extra]:
            if resolved == root or resolved.is_relative_to(root):
                return resolved
        raise RpcError(PATH_NOT_ALLOWED,
                       f"{what} {str(path)!r} is outside the server's allowed folders "
                       f"({', '.join(map(str, self.roots))}); start the server with "
                       "--root FOLDER to allow it",
                       {"path": str(path), "roots": [str(r) for r in self.roots]})


@dataclass
class Effects:
    """A clip's compositing settings: ``background`` spec string, ``selected`` person ids,
    matte ``refine`` mode."""

    background: str | None = None
    selected: tuple[int, ...] = ()
    refine: str = "feather"

    def to_dict(self) -> dict[str, Any]:
        return {"background": self.background, "selected": list(self.selected),
                "refine": self.refine}


@dataclass
class ClipState:
    """One open clip of one connection."""

    clip_id: str
    session: ClipSession
    owner: int  # connection id
    effects: Effects = field(default_factory=Effects)
    layers: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    reader: Any = None  # VideoReader, opened on the first render_frame
    reader_source: str = "clip"  # "clip", or "optimized" when reading optimized media
    bg_video: Any = None  # (path, LoopingVideo) for a video background

    @property
    def key(self) -> Path:
        return self.session.path

    def close(self) -> None:
        with self.lock:
            for obj in (self.reader, self.bg_video and self.bg_video[1]):
                if obj is not None:
                    try:
                        obj.close()
                    except Exception:
                        log.debug("closing %r failed", obj, exc_info=True)
            self.reader = self.bg_video = None


@dataclass
class Job:
    """A long job (``analyze`` or ``export``) running on its own thread."""

    job_id: str
    kind: str
    clip_id: str
    owner: int
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "running"  # running | done | cancelled | failed
    done: int = 0
    total: int = 0
    result: Any = None
    error: dict[str, Any] | None = None
    thread: threading.Thread | None = None
    report: Callable[[int, int], None] | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict[str, Any]:
        out = {"job_id": self.job_id, "kind": self.kind, "clip_id": self.clip_id,
               "state": self.state, "done": self.done, "total": self.total}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


class Claims:
    """Which clip files are busy with an exclusive operation (edit, import, analyze, export).

    Keyed by the resolved clip path, so two connections that open the same file share it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[Path, str] = {}

    def claim(self, key: Path, what: str) -> None:
        with self._lock:
            if key in self._busy:
                raise RpcError(BUSY, f"{key.name} is busy ({self._busy[key]}); wait for it to "
                               "finish or cancel it, then retry", {"clip": str(key)})
            self._busy[key] = what

    def release(self, key: Path) -> None:
        with self._lock:
            self._busy.pop(key, None)


class RenderThread:
    """The one thread that owns the server's OpenGL context (contexts are bound to the thread
    that made them).  Work is a callable ``fn(gl)`` taking a :class:`GLState`; :meth:`submit`
    returns a Future with its result.  The context is created on the first job."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[[GLState], Any], Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="humanfx-gl", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[GLState], Any]) -> Future:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True
        fut: Future = Future()
        self._queue.put((fn, fut))
        return fut

    def stop(self) -> None:
        with self._lock:
            if self._started:
                self._queue.put(None)
        if self._started:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        gl = GLState()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                fn, fut = item
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    fut.set_result(fn(gl))
                except BaseException as exc:  # noqa: BLE001 -- handed to the caller
                    fut.set_exception(exc)
        finally:
            gl.release()


class GLState:
    """The render thread's context and compositor (made lazily, on that thread)."""

    def __init__(self) -> None:
        self.ctx: Any = None
        self._compositor: Any = None

    def compositor(self, width: int, height: int) -> Any:
        from effects.compositor import Compositor
        from effects.gl import create_context

        if self.ctx is None:
            self.ctx = create_context()
        if self._compositor is None:
            self._compositor = Compositor(self.ctx, width, height)
        else:
            self._compositor.resize(width, height)
        return self._compositor

    def release(self) -> None:
        if self._compositor is not None:
            self._compositor.release()
        if self.ctx is not None:
            self.ctx.release()


_counter = itertools.count(1)


def new_id(prefix: str) -> str:
    """``prefix`` + a serial number, unique in this process (``clip-3``, ``job-7``)."""
    return f"{prefix}-{next(_counter)}"
