"""A small Python client for ``humanfx serve`` (JSON-RPC 2.0, newline-delimited JSON).

    >>> with HumanfxClient.spawn_stdio(roots=["/work"]) as c:       # doctest: +SKIP
    ...     clip = c.call("open_clip", path="/work/clip.mp4")["clip_id"]
    ...     job = c.call("export", clip_id=clip, output="/work/out.mp4")["job_id"]
    ...     c.wait_job(job)

Responses are matched to requests by id, so several threads may call at once.  Server
notifications (``progress``, ``job_finished``) go to ``on_notification(method, params)``,
called on the client's reader thread.  An error object raises :class:`ServerError`.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Self

from editor_plugin.server.protocol import CANCELLED, encode
from inference.errors import HumanfxError

NotificationFn = Callable[[str, dict[str, Any]], None]


class ServerError(HumanfxError):
    """An error object from the server: ``code`` (see ``docs/server.md``), one-line
    ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None):
        self.code = code
        self.data = data
        super().__init__(message)


class ConnectionLost(HumanfxError):
    """The server closed the connection (or exited) before answering."""


class _Pending:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: dict[str, Any] | None = None


class HumanfxClient:
    """One connection to a server.  Use :meth:`spawn_stdio` or :meth:`connect`."""

    def __init__(self, read: IO[bytes], write: IO[bytes], *,
                 on_notification: NotificationFn | None = None,
                 process: subprocess.Popen | None = None, sock: socket.socket | None = None):
        self._read, self._write = read, write
        self._process, self._sock = process, sock
        self.on_notification = on_notification
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._jobs_cv = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, name="humanfx-client",
                                        daemon=True)
        self._reader.start()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def spawn_stdio(cls, roots: Sequence[str | Path] = (), *, env: dict[str, str] | None = None,
                    cwd: str | Path | None = None, on_notification: NotificationFn | None = None,
                    extra_args: Sequence[str] = ()) -> Self:
        """Start ``python -m editor_plugin.cli serve --stdio`` and talk to it (its stderr
        is passed through)."""
        cmd = [sys.executable, "-m", "editor_plugin.cli", "serve", "--stdio"]
        for r in roots:
            cmd += ["--root", str(r)]
        cmd += list(extra_args)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=dict(os.environ) if env is None else env, cwd=cwd)
        assert proc.stdin is not None and proc.stdout is not None
        return cls(proc.stdout, proc.stdin, on_notification=on_notification, process=proc)

    @classmethod
    def connect(cls, port: int, token: str | None, *, host: str = "127.0.0.1",
                on_notification: NotificationFn | None = None, timeout: float = 10.0) -> Self:
        """Connect to a TCP server and authenticate with ``token`` (``None``: don't)."""
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)
        client = cls(sock.makefile("rb"), sock.makefile("wb"), on_notification=on_notification,
                     sock=sock)
        if token is not None:
            try:
                client.call("auth", token=token)
            except BaseException:
                client.close()
                raise
        return client

    # -- calls --------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (for tests of malformed input)."""
        with self._send_lock:
            try:
                self._write.write(data)
                self._write.flush()
            except (OSError, ValueError) as exc:
                raise ConnectionLost(f"the server connection is closed ({exc})") from None

    def request(self, method: str, params: dict[str, Any] | list[Any] | None = None,
                timeout: float | None = None) -> dict[str, Any]:
        """Send a request and return the whole response object (result or error)."""
        req_id = next(self._ids)
        pending = _Pending()
        with self._lock:
            if self._closed.is_set():
                raise ConnectionLost("the server connection is closed")
            self._pending[req_id] = pending
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        try:
            self.send_raw(encode(msg))
            if not pending.event.wait(timeout):
                raise TimeoutError(f"no answer to {method} within {timeout} s")
        finally:
            with self._lock:
                self._pending.pop(req_id, None)
        if pending.reply is None:
            raise ConnectionLost(f"the server closed the connection before answering {method}")
        return pending.reply

    def call(self, method: str, timeout: float | None = None, **params: Any) -> Any:
        """Call ``method`` with named params; its result, or :class:`ServerError`."""
        reply = self.request(method, params, timeout=timeout)
        if "error" in reply:
            err = reply["error"]
            raise ServerError(err.get("code", 0), err.get("message", "error"), err.get("data"))
        return reply.get("result")

    def notify(self, method: str, **params: Any) -> None:
        """Send a notification (no response)."""
        self.send_raw(encode({"jsonrpc": "2.0", "method": method, "params": params}))

    def wait_job(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for ``job_finished`` of ``job_id``; its result, or raise :class:`ServerError`
        (code ``CANCELLED`` when cancelled)."""
        with self._jobs_cv:
            ok = self._jobs_cv.wait_for(
                lambda: job_id in self._jobs or self._closed.is_set(), timeout)
            job = self._jobs.get(job_id)
        if job is None:
            if not ok:
                raise TimeoutError(f"job {job_id} did not finish within {timeout} s")
            raise ConnectionLost(f"the server connection closed before job {job_id} finished")
        if job["state"] != "done":
            err = job.get("error") or {"code": CANCELLED, "message": job["state"]}
            raise ServerError(err["code"], err["message"], err.get("data"))
        return job.get("result")

    # -- reading ------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        try:
            for line in self._read:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if "method" in msg and "id" not in msg:
                    self._notification(msg["method"], msg.get("params") or {})
                    continue
                with self._lock:
                    pending = self._pending.get(msg.get("id"))  # type: ignore[arg-type]
                if pending is not None:
                    pending.reply = msg
                    pending.event.set()
                elif msg.get("id") is None and "error" in msg and self.on_notification:
                    self.on_notification("error", msg["error"])  # not tied to a request
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._closed.set()
                pending_all = list(self._pending.values())
            for p in pending_all:
                p.event.set()
            with self._jobs_cv:
                self._jobs_cv.notify_all()

    def _notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "job_finished" and "job_id" in params:
            with self._jobs_cv:
                self._jobs[params["job_id"]] = params
                self._jobs_cv.notify_all()
        if self.on_notification is not None:
            self.on_notification(method, params)

    # -- closing ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self, timeout: float = 30.0) -> int | None:
        """Close the connection (a spawned server then exits); its exit code, if spawned."""
        for stream in (self._write,):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        code = None
        if self._process is not None:
            try:
                code = self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
        self._reader.join(timeout)
        try:
            self._read.close()
        except (OSError, ValueError):
            pass
        return code

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ConnectionLost", "HumanfxClient", "ServerError"]
