"""The viewer: shows a frame image fitted to the widget and maps clicks to frame pixels."""

from __future__ import annotations

import sys

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


def to_qimage(image: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 RGB array as a QImage (a deep copy; the array may be reused).

    On little-endian machines the image is ``Format_RGB32`` (B, G, R, 0xFF bytes), which
    QPainter scales several times faster than ``Format_RGB888`` (1.2 against 4.7 ms for a
    960x540 frame drawn smoothly scaled, conversion included)."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if sys.byteorder == "little":
        bgrx = cv2.cvtColor(image, cv2.COLOR_RGB2BGRA)
        return QImage(bgrx.data, w, h, bgrx.strides[0], QImage.Format.Format_RGB32).copy()
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_RGB888).copy()


class Viewer(QWidget):
    """Paints the current frame scaled to fit the widget (aspect kept, centred, dark bars).

    :attr:`clicked` carries the frame pixel ``(x, y)`` under a left click and whether Shift
    was held; clicks on the bars are not reported.  Frame pixels are those of the clip's
    frame even while a smaller image of it (a scrubbing proxy) is shown: see
    :meth:`set_image`'s ``frame_size``.
    """

    clicked = Signal(int, int, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._frame_size: tuple[int, int] = (0, 0)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.placeholder = "File ▸ Open a clip, or drop one here"

    def set_image(self, image: np.ndarray | None,
                  frame_size: tuple[int, int] | None = None) -> None:
        """Show ``image`` ((h, w, 3) uint8 RGB), or nothing.

        ``frame_size``: ``(W, H)`` of the frame ``image`` shows, when ``image`` is a scaled
        copy of it (a proxy); clicks and :meth:`frame_to_widget` then stay in frame pixels
        and the picture keeps the frame's place.  Default: the image's own size."""
        self._image = None if image is None else to_qimage(image)
        if image is not None:
            h, w = image.shape[:2]
            self._frame_size = (w, h) if frame_size is None else (int(frame_size[0]),
                                                                   int(frame_size[1]))
        self.update()

    @property
    def image_size(self) -> tuple[int, int] | None:
        """``(w, h)`` of the image shown (smaller than the frame while a proxy is shown)."""
        return None if self._image is None else (self._image.width(), self._image.height())

    def image_rect(self) -> QRectF:
        """Where the frame is drawn, in widget coordinates (empty without an image)."""
        if self._image is None:
            return QRectF()
        iw, ih = self._frame_size
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def widget_to_frame(self, pos: QPointF) -> tuple[int, int] | None:
        """The frame pixel (x, y) under widget point ``pos``; None outside the frame."""
        r = self.image_rect()
        if r.isEmpty() or not r.contains(pos):
            return None
        fw, fh = self._frame_size
        scale = r.width() / fw
        x = int((pos.x() - r.x()) / scale)
        y = int((pos.y() - r.y()) / scale)
        if 0 <= x < fw and 0 <= y < fh:
            return x, y
        return None

    def frame_to_widget(self, x: float, y: float) -> QPointF:
        """The widget point at the centre of frame pixel (x, y)."""
        r = self.image_rect()
        assert self._image is not None
        scale = r.width() / self._frame_size[0]
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
