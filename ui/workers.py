"""Long jobs (export, import, analysis) on a worker thread, so the UI thread never blocks.

A :class:`Job` runs ``fn(progress, cancel)`` on its own :class:`QThread`.  ``progress(done,
total)`` is forwarded to the UI thread as the :attr:`Job.progressed` signal; ``cancel`` is a
:class:`threading.Event` the job function polls (``editor_plugin`` functions take it as their
``cancel=`` argument).  When the function returns, :attr:`Job.succeeded` carries its result;
when it raises, :attr:`Job.failed` carries the one-line message (a
:class:`~inference.errors.HumanfxError`'s own text; other exceptions are logged with their
traceback and reported by type and text) and :attr:`Job.cancelled` is True when the user
cancelled it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from inference.errors import CancelledError, HumanfxError

log = logging.getLogger(__name__)

JobFn = Callable[[Callable[[int, int], None], threading.Event], Any]


class Job(QThread):
    """One background job; see the module docstring.  Start it with :meth:`start`."""

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: JobFn, name: str = "job", parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self._fn = fn
        self.cancel_event = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self.cancelled = False
        self.done = False

    def cancel(self) -> None:
        """Ask the job to stop; it ends with :attr:`failed` once the function notices."""
        self.cancel_event.set()

    def run(self) -> None:  # worker thread
        try:
            self.result = self._fn(lambda d, t: self.progressed.emit(int(d), int(t)),
                                   self.cancel_event)
        except CancelledError as err:
            self.cancelled = True
            self.error = str(err)
        except HumanfxError as err:
            self.error = str(err)
        except Exception as err:
            log.exception("%s failed", self.objectName())
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.done = True
        if self.error is None:
            self.succeeded.emit(self.result)
        else:
            self.failed.emit(self.error)
