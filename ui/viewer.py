"""The viewer: shows a frame image fitted to the widget and maps clicks to frame pixels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


def to_qimage(image: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 RGB array as a QImage (a deep copy; the array may be reused)."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_RGB888).copy()


class Viewer(QWidget):
    """Paints the current frame scaled to fit the widget (aspect kept, centred, dark bars).

    :attr:`clicked` carries the frame pixel ``(x, y)`` under a left click and whether Shift
    was held; clicks on the bars are not reported.
    """

    clicked = Signal(int, int, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._image: QImage | None = None
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.placeholder = "File ▸ Open a clip, or drop one here"

    def set_image(self, image: np.ndarray | None) -> None:
        """Show ``image`` ((H, W, 3) uint8 RGB), or nothing."""
        self._image = None if image is None else to_qimage(image)
        self.update()

    def image_rect(self) -> QRectF:
        """Where the frame is drawn, in widget coordinates (empty without an image)."""
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def widget_to_frame(self, pos: QPointF) -> tuple[int, int] | None:
        """The frame pixel (x, y) under widget point ``pos``; None outside the frame."""
        r = self.image_rect()
        if r.isEmpty() or not r.contains(pos):
            return None
        assert self._image is not None
        scale = r.width() / self._image.width()
        x = int((pos.x() - r.x()) / scale)
        y = int((pos.y() - r.y()) / scale)
        if 0 <= x < self._image.width() and 0 <= y < self._image.height():
            return x, y
        return None

    def frame_to_widget(self, x: float, y: float) -> QPointF:
        """The widget point at the centre of frame pixel (x, y)."""
        r = self.image_rect()
        assert self._image is not None
        scale = r.width() / self._image.width()
        return QPointF(r.x() + (x + 0.5) * scale, r.y() + (y + 0.5) * scale)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 24))
        if self._image is None:
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        else:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(self.image_rect(), self._image)
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        hit = self.widget_to_frame(event.position())
        if hit is not None:
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.clicked.emit(hit[0], hit[1], shift)
        event.accept()
