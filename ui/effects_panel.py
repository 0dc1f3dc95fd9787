"""The background panel: none / blur (radius) / colour / image behind the selected persons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from effects.backgrounds import Background, BlurBackground, ImageBackground, SolidColor

KINDS = ("none", "blur", "color", "image")


class BackgroundPanel(QWidget):
    """Edits one background.  :attr:`changed` carries the new :class:`Background` (or
    ``None`` for "none") whenever the user changes anything; :meth:`background` reads it."""

    changed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.kind = QComboBox()
        self.kind.addItems(["None", "Blur", "Color", "Image"])
        self.radius = QDoubleSpinBox()
        self.radius.setRange(1.0, 200.0)
        self.radius.setValue(21.0)
        self.radius.setSuffix(" px")
        self.color = QColor(0, 177, 64)
        self.color_button = QPushButton()
        self.image_path: Path | None = None
        self.image_label = QLabel("no image")
        self.image_button = QPushButton("Choose…")
        self.image_mode = QComboBox()
        self.image_mode.addItems(["fill", "fit"])

        pages = QStackedWidget()
        pages.addWidget(QWidget())
        blur = QWidget()
        QFormLayout(blur).addRow("Radius", self.radius)
        pages.addWidget(blur)
        color = QWidget()
        QFormLayout(color).addRow("Colour", self.color_button)
        pages.addWidget(color)
        image = QWidget()
        row = QHBoxLayout()
        row.addWidget(self.image_label, 1)
        row.addWidget(self.image_button)
        form = QFormLayout(image)
        form.addRow("Image", row)
        form.addRow("Mode", self.image_mode)
        pages.addWidget(image)
        self.pages = pages

        layout = QFormLayout(self)
        layout.addRow("Background", self.kind)
        layout.addRow(pages)

        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.radius.valueChanged.connect(self._emit)
        self.image_mode.currentIndexChanged.connect(self._emit)
        self.color_button.clicked.connect(self._pick_color)
        self.image_button.clicked.connect(self._pick_image)
        self._paint_color_button()

    # -- programmatic API (also used by tests and scripts) ------------------------------------
    def set_blur(self, radius: float) -> None:
        self.radius.setValue(radius)
        self.kind.setCurrentIndex(KINDS.index("blur"))
        self._emit()

    def set_color(self, rgb: tuple[int, int, int]) -> None:
        self.color = QColor(*rgb)
        self._paint_color_button()
        self.kind.setCurrentIndex(KINDS.index("color"))
        self._emit()

    def set_image(self, path: str | Path) -> None:
        self.image_path = Path(path)
        self.image_label.setText(self.image_path.name)
        self.kind.setCurrentIndex(KINDS.index("image"))
        self._emit()

    def set_none(self) -> None:
        self.kind.setCurrentIndex(KINDS.index("none"))
        self._emit()

    def set_background(self, bg: Background | None) -> bool:
        """Show ``bg`` (none, blur, solid colour or image); False (nothing changed) for a
        background the panel cannot edit."""
        if bg is None:
            self.set_none()
        elif isinstance(bg, BlurBackground):
            self.set_blur(bg.radius)
        elif isinstance(bg, SolidColor):
            self.set_color(tuple(int(c) for c in bg.rgb))
        elif isinstance(bg, ImageBackground):
            self.image_mode.blockSignals(True)
            self.image_mode.setCurrentText(bg.mode)
            self.image_mode.blockSignals(False)
            self.set_image(bg.path)
        else:
            return False
        return True

    def background(self) -> Background | None:
        """The background as set (``None``: none, or an image not chosen yet).

        Raises :class:`~inference.errors.HumanfxError` for an unreadable image.
        """
        kind = KINDS[self.kind.currentIndex()]
        if kind == "blur":
            return BlurBackground(radius=float(self.radius.value()))
        if kind == "color":
            return SolidColor((self.color.red(), self.color.green(), self.color.blue()))
        if kind == "image" and self.image_path is not None:
            return ImageBackground(path=self.image_path, mode=self.image_mode.currentText())
        return None

    # -- internals ------------------------------------------------------------------------------
    def _kind_changed(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self._emit()

    def _emit(self, *_: object) -> None:
        self.changed.emit(self.kind.currentIndex())

    def _paint_color_button(self) -> None:
        self.color_button.setText(self.color.name())
        self.color_button.setStyleSheet(f"background-color: {self.color.name()}")

    def _pick_color(self) -> None:
        c = QColorDialog.getColor(self.color, self, "Background colour")
        if c.isValid():
            self.set_color((c.red(), c.green(), c.blue()))

    def _pick_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Background image", "",
                                              "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff)")
        if path:
            self.set_image(path)
