"""The timeline: a scrubber over the clip's frames with a lane per person.

Each lane shows where its person is present (from the layer cache), in the person's colour;
selected persons' lanes are highlighted.  Clicking or dragging anywhere sets the frame.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui.preview import person_color

RULER_H = 18
LANE_H = 12
LABEL_W = 36


class Timeline(QWidget):
    """Scrubber + person lanes.  :attr:`frame_changed` is emitted on user scrubbing only."""

    frame_changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frame_count = 0
        self.current = 0
        self.presence: dict[int, np.ndarray] = {}
        self.selected: set[int] = set()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._relayout()

    def set_clip(self, frame_count: int, presence: dict[int, np.ndarray]) -> None:
        """A clip of ``frame_count`` frames; ``presence``: per track id an (N,) bool array."""
        self.frame_count = frame_count
        self.presence = dict(sorted(presence.items()))
        self.current = min(self.current, max(0, frame_count - 1))
        self._relayout()
        self.update()

    def set_current(self, index: int) -> None:
        self.current = index
        self.update()

    def set_selected(self, ids: set[int]) -> None:
        self.selected = set(ids)
        self.update()

    def _relayout(self) -> None:
        self.setFixedHeight(RULER_H + LANE_H * max(1, len(self.presence)) + 6)

    def _x_of(self, index: float) -> float:
        w = max(1.0, self.width() - LABEL_W - 4)
        return LABEL_W + (index / max(1, self.frame_count)) * w

    def frame_at(self, x: float) -> int:
        """The frame under widget x (clamped to the clip)."""
        w = max(1.0, self.width() - LABEL_W - 4)
        i = int((x - LABEL_W) / w * self.frame_count)
        return min(max(i, 0), max(0, self.frame_count - 1))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(36, 36, 36))
        if self.frame_count <= 0:
            p.end()
            return
        p.setPen(QColor(120, 120, 120))
        step = max(1, _nice_step(self.frame_count, self.width() // 60))
        for i in range(0, self.frame_count + 1, step):
            x = self._x_of(i)
            p.drawLine(int(x), RULER_H - 5, int(x), RULER_H)
            p.drawText(int(x) + 2, RULER_H - 6, str(i))
        for row, (tid, present) in enumerate(self.presence.items()):
            y = RULER_H + row * LANE_H + 2
            color = QColor(*person_color(tid))
            if tid in self.selected:
                p.fillRect(QRectF(0, y - 1, self.width(), LANE_H), QColor(70, 70, 90))
            p.setPen(color)
            p.drawText(QRectF(2, y - 2, LABEL_W - 4, LANE_H),
                       Qt.AlignmentFlag.AlignVCenter, str(tid))
            for a, b in _runs(present):
                x0, x1 = self._x_of(a), self._x_of(b)
                p.fillRect(QRectF(x0, y + 1, max(1.0, x1 - x0), LANE_H - 4), color)
        x = self._x_of(self.current + 0.5)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(int(x), 0, int(x), self.height())
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._scrub(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._scrub(event)

    def _scrub(self, event: QMouseEvent) -> None:
        if self.frame_count > 0:
            i = self.frame_at(event.position().x())
            if i != self.current:
                self.current = i
                self.update()
                self.frame_changed.emit(i)
        event.accept()


def _runs(present: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a bool array as ``(start, stop)`` pairs (``stop`` exclusive)."""
    d = np.diff(np.concatenate([[0], present.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _nice_step(n: int, ticks: int) -> int:
    """A 1/2/5 x 10^k step giving at most about ``ticks`` ticks over ``n`` frames."""
    raw = n / max(1, ticks)
    k = 1
    while True:
        for m in (1, 2, 5):
            if k * m >= raw:
                return k * m
        k *= 10
