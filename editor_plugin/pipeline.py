"""Small threading helpers so decode, composite and encode overlap.

PyAV releases the GIL inside FFmpeg's decode and encode calls, so running them in their own
threads lets a 2-core machine keep both cores busy while the compositor works.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 4, *, name: str = "prefetch") -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Exceptions raised by the producer are re-raised in the consumer.  Closing the returned
    generator (or breaking out of the loop) stops the producer promptly.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(_Failure(exc))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


class BackgroundSink(Generic[T]):
    """Feed items to ``consume`` on a worker thread, at most ``depth`` waiting.

    ``put`` re-raises a failure of the worker; ``close`` waits for the queue to drain and
    re-raises too.  Use as a context manager: leaving on an exception stops the worker without
    draining.
    """

    def __init__(self, consume: Callable[[T], None], depth: int = 4, *, name: str = "sink"):
        self._consume = consume
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _DONE or self._abort.is_set():
                return
            try:
                self._consume(item)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the producer
                self._error = exc
                self._abort.set()
                return

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: T) -> None:
        while True:
            self._check()
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        self._check()
        self._q.put(_DONE)
        self._thread.join()
        self._check()

    def abort(self) -> None:
        self._abort.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._q.put(_DONE)
        self._thread.join()

    def __enter__(self) -> BackgroundSink[T]:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
