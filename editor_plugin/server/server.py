"""The plugin backend server: JSON-RPC 2.0 over stdio or loopback TCP.

One :class:`Server` holds the open clips, the jobs and the GL render thread.  Each transport
feeds it :class:`Connection` objects: stdio has one, TCP one per client (a thread each).
Requests run on a thread pool, so a slow request on one clip does not hold up another clip;
long jobs (``analyze``, ``export``) run on their own threads and report through
notifications.  See ``docs/server.md`` for the protocol.
"""

from __future__ import annotations

import hmac
import ipaddress
import itertools
import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from editor_plugin.server.protocol import (
    CANCELLED,
    HUMANFX_ERROR,
    INTERNAL_ERROR,
    MAX_REQUEST_BYTES,
    METHOD_NOT_FOUND,
    UNAUTHORIZED,
    UNKNOWN_ID,
    Request,
    RpcError,
    encode,
    error_response,
    notification,
    parse_request,
    read_line,
    response,
)
from editor_plugin.server.state import Claims, ClipState, Job, RenderThread, Roots, new_id
from inference.errors import CancelledError, HumanfxError, InputError

log = logging.getLogger(__name__)

_MAX_FINISHED_JOBS = 200


@dataclass
class ServerConfig:
    """``roots``: folders the clients may read and write; ``token``: required on TCP;
    ``max_request_bytes``: the longest request line accepted; ``cache_root``: layer caches
    (default ``$HUMANFX_CACHE_DIR`` or the user cache)."""

    roots: list[Path] = field(default_factory=lambda: [Path.cwd()])
    token: str | None = None
    max_request_bytes: int = MAX_REQUEST_BYTES
    cache_root: Path | None = None


class Connection:
    """One client.  :meth:`send` is thread-safe; a failed send marks the client gone."""

    _ids = itertools.count(1)

    def __init__(self, write: IO[bytes], *, authenticated: bool,
                 on_close: Callable[[], None] | None = None):
        self.id = next(self._ids)
        self._write = write
        self._lock = threading.Lock()
        self.authenticated = authenticated
        self.alive = True
        self._on_close = on_close

    def send(self, message: dict[str, Any]) -> bool:
        data = encode(message)
        with self._lock:
            if not self.alive:
                return False
            try:
                self._write.write(data)
                self._write.flush()
                return True
            except (OSError, ValueError):
                self.alive = False
                return False

    def notify(self, method: str, params: dict[str, Any]) -> bool:
        return self.send(notification(method, params))

    def close(self) -> None:
        """Stop talking to this client (after an auth failure)."""
        self.alive = False
        if self._on_close is not None:
            self._on_close()


def to_rpc_error(exc: BaseException) -> RpcError:
    """Map an exception from a handler to an error object (one-line messages)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, CancelledError):
        return RpcError(CANCELLED, str(exc))
    if isinstance(exc, HumanfxError):
        return RpcError(HUMANFX_ERROR, str(exc), {"type": type(exc).__name__})
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return RpcError(HUMANFX_ERROR, f"{where}{exc.strerror or exc}", {"type": "OSError"})
    log.exception("internal error", exc_info=exc)
    return RpcError(INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")


class Server:
    """State shared by every connection of one ``humanfx serve``."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.roots = Roots(config.roots)
        self.clips: dict[str, ClipState] = {}
        self.jobs: dict[str, Job] = {}
        self.claims = Claims()
        self.render = RenderThread()
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="humanfx-rpc")
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.on_shutdown: Callable[[], None] | None = None

    # -- dispatch -----------------------------------------------------------------------------
    def handle_line(self, conn: Connection, line: bytes) -> None:
        """Parse and run one request line; the response is sent on ``conn``."""
        try:
            req = parse_request(line)
        except RpcError as err:
            req_id = err.data.get("id") if isinstance(err.data, dict) else None
            conn.send(error_response(req_id, RpcError(err.code, err.message)))
            return
        if not conn.authenticated:
            self._authenticate(conn, req)
            return
        if req.method == "shutdown":  # inline, so that nothing is read after it
            self._run(conn, req)
            return
        self._submit(conn, req)

    def _submit(self, conn: Connection, req: Request) -> None:
        try:
            self.pool.submit(self._run, conn, req)
        except RuntimeError:  # the pool is shut down
            if not req.is_notification:
                conn.send(error_response(req.id, RpcError(INTERNAL_ERROR,
                                                          "the server is shutting down")))

    def _authenticate(self, conn: Connection, req: Request) -> None:
        from editor_plugin.server.methods import auth_token

        token = auth_token(req)
        expected = self.config.token or ""
        ok = token is not None and expected and hmac.compare_digest(
            token.encode("utf-8"), expected.encode("utf-8"))
        if not ok:
            why = "no token" if token is None else "wrong token"
            err = RpcError(UNAUTHORIZED, f"unauthorized ({why}): send auth with the server's "
                           "token first; closing the connection")
            if not req.is_notification:
                conn.send(error_response(req.id, err))
            log.warning("client %d: %s", conn.id, why)
            conn.close()
            return
        conn.authenticated = True
        if req.method == "auth":
            if not req.is_notification:
                conn.send(response(req.id, {"authenticated": True}))
            return
        self._submit(conn, req)

    def _run(self, conn: Connection, req: Request) -> None:
        from editor_plugin.server.methods import METHODS

        handler = METHODS.get(req.method)
        try:
            if handler is None:
                raise RpcError(METHOD_NOT_FOUND, f"method not found: {req.method!r} "
                               f"(methods: {', '.join(sorted(METHODS))})")
            result = handler(self, conn, req.params)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if not req.is_notification:
                conn.send(error_response(req.id, to_rpc_error(exc)))
            return
        if not req.is_notification:
            conn.send(response(req.id, result))

    # -- clips and jobs -----------------------------------------------------------------------
    def clip(self, conn: Connection, clip_id: str) -> ClipState:
        with self.lock:
            clip = self.clips.get(clip_id)
        if clip is None or clip.owner != conn.id:
            raise RpcError(UNKNOWN_ID, f"unknown clip_id {clip_id!r}; open_clip first")
        return clip

    def start_job(self, conn: Connection, kind: str, clip: ClipState,
                  work: Callable[[Job], Any]) -> Job:
        """Claim ``clip`` and run ``work(job)`` on a new thread; the claim is released and a
        ``job_finished`` notification sent when it ends.  Progress goes out as ``progress``
        notifications through ``job.report``; a client that is gone cancels the job."""
        job = Job(job_id=new_id("job"), kind=kind, clip_id=clip.clip_id, owner=conn.id)
        self.claims.claim(clip.key, f"{kind} {job.job_id} running")

        def report(done: int, total: int) -> None:
            job.done, job.total = done, total
            if not conn.notify("progress", {"job_id": job.job_id, "done": done,
                                            "total": total}):
                job.cancel.set()

        def run() -> None:
            try:
                job.result = work(job)
                job.state = "done"
            except BaseException as exc:  # noqa: BLE001 -- reported to the client
                err = to_rpc_error(exc)
                job.state = "cancelled" if err.code == CANCELLED else "failed"
                job.error = err.to_dict()
            finally:
                self.claims.release(clip.key)
                job.finished.set()
                conn.notify("job_finished", job.to_dict())

        job.report = report
        job.thread = threading.Thread(target=run, name=f"humanfx-{job.job_id}", daemon=True)
        with self.lock:
            self._prune_jobs()
            self.jobs[job.job_id] = job
        job.thread.start()
        return job

    def _prune_jobs(self) -> None:
        done = [j for j in self.jobs.values() if j.finished.is_set()]
        for j in done[: max(0, len(done) - _MAX_FINISHED_JOBS)]:
            del self.jobs[j.job_id]

    def job(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise RpcError(UNKNOWN_ID, f"unknown job_id {job_id!r}")
        return job

    def close_clip(self, clip: ClipState) -> None:
        with self.lock:
            self.clips.pop(clip.clip_id, None)
        clip.close()

    def disconnect(self, conn: Connection) -> None:
        """A client went away: cancel its jobs (waiting until they stop, so nothing is left
        half-written) and close its clips."""
        conn.alive = False
        with self.lock:
            jobs = [j for j in self.jobs.values() if j.owner == conn.id]
            clips = [c for c in self.clips.values() if c.owner == conn.id]
        running = [j for j in jobs if not j.finished.is_set()]
        for j in running:
            j.cancel.set()
        for j in running:
            j.finished.wait()
        for c in clips:
            self.close_clip(c)
        log.info("client %d disconnected (%d jobs cancelled, %d clips closed)", conn.id,
                 len(running), len(clips))

    def shutdown(self) -> None:
        """Cancel every job, wait for them, close every clip and the GL thread."""
        self.stopping.set()
        with self.lock:
            jobs = list(self.jobs.values())
            clips = list(self.clips.values())
        for j in jobs:
            j.cancel.set()
        for j in jobs:
            j.finished.wait()
        for c in clips:
            self.close_clip(c)
        self.render.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- a connection's read loop -------------------------------------------------------------
    def serve_connection(self, conn: Connection, read: IO[bytes]) -> None:
        """Read requests from ``read`` until end of stream, shutdown or an auth failure."""
        try:
            while conn.alive and not self.stopping.is_set():
                try:
                    line = read_line(read, self.config.max_request_bytes)
                except RpcError as err:
                    conn.send(error_response(None, err))
                    continue
                except (OSError, ValueError):
                    break
                if line is None:
                    break
                if line.strip():
                    self.handle_line(conn, line)
        finally:
            self.disconnect(conn)


# -- transports ---------------------------------------------------------------------------------

def serve_stdio(config: ServerConfig) -> None:
    """Serve one client on stdin/stdout until end of input or ``shutdown``.

    ``sys.stdout`` is pointed at stderr meanwhile, so a stray print cannot corrupt the stream.
    """
    server = Server(config)
    out = sys.stdout.buffer
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        conn = Connection(out, authenticated=True)
        server.serve_connection(conn, sys.stdin.buffer)
    finally:
        server.shutdown()
        sys.stdout = saved


def check_loopback(host: str) -> str:
    """``host`` if it names the loopback interface; InputError otherwise."""
    name = "127.0.0.1" if host == "localhost" else host
    try:
        ok = ipaddress.ip_address(name).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"refusing to listen on {host!r}: the server only binds to loopback",
                         hint="use 127.0.0.1 (clients on this machine only)")
    return name


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_tcp(config: ServerConfig, port: int, host: str = "127.0.0.1",
              ready: Callable[[str, int], None] | None = None) -> None:
    """Serve clients on ``host:port`` (loopback only; ``port=0`` picks one) until
    ``shutdown``.  Each client needs ``config.token``.  ``ready(host, port)`` is called once
    listening."""
    host = check_loopback(host)
    if not config.token:
        raise InputError("a TCP server needs a token", hint="pass --token or set HUMANFX_TOKEN")
    server = Server(config)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            sock = self.connection

            def hang_up() -> None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            conn = Connection(self.wfile, authenticated=False, on_close=hang_up)
            server.serve_connection(conn, self.rfile)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    _TCPServer.address_family = family
    with _TCPServer((host, port), Handler) as tcp:
        server.on_shutdown = lambda: threading.Thread(target=tcp.shutdown, daemon=True).start()
        if ready is not None:
            ready(host, tcp.server_address[1])
        try:
            tcp.serve_forever(poll_interval=0.2)
        finally:
            server.shutdown()
