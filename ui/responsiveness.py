"""Measure how long the UI thread goes without running its event loop (a developer's probe).

Used by ``tests/test_ui_responsiveness.py`` and ``benchmarks/bench_ui.py``.
"""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, Qt, QTimer


class GapMeter:
    """Ticks a 5 ms precise timer; :attr:`max_gap_ms` is the longest time between ticks."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last = 0
        self.gaps: list[float] = []

    def start(self) -> None:
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.timer.start(5)

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.gaps.append((now - self.last) / 1e6)
        self.last = now

    @property
    def max_gap_ms(self) -> float:
        return max(self.gaps, default=0.0)
