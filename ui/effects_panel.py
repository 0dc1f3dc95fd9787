"""The Background panel: none / blur (radius) / colour / image, for everyone or one person.

*Scope* picks what is edited: **Everyone** -- the default background, behind the selected
persons -- or **Person N** -- that person's own background (:mod:`effects.partition`: each
background pixel shows the background of the nearest selected person, with a soft seam).  In
a person's scope, *Use the default background* (ticked: no background of their own) removes
theirs; editing the background there gives them one (``None`` there: the original frame).
*Seam* (blend width between persons' backgrounds, px) and *Reach* (how far a person's own
background extends, px; 0: unlimited) apply to all persons' own backgrounds.

The panel only proposes: the owner (:class:`~ui.backgrounds_edit.BackgroundsController`)
listens to :attr:`BackgroundPanel.changed`, :attr:`~BackgroundPanel.scope_changed`,
:attr:`~BackgroundPanel.default_toggled` and :attr:`~BackgroundPanel.spacing_changed`, makes
the edit and shows the result back with :meth:`~BackgroundPanel.show_background`,
:meth:`~BackgroundPanel.show_own` and :meth:`~BackgroundPanel.show_spacing` (which emit
nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
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
from effects.partition import DEFAULT_SEAM_PX, MAX_REACH_PX, MAX_SEAM_PX
from ui.scope_combo import ScopeCombo

KINDS = ("none", "blur", "color", "image")


class BackgroundPanel(QWidget):
    """Edits one background at a time (see the module docstring).

    :attr:`changed` (the kind's index) whenever the user changes the background shown;
    :meth:`background` reads it.  :attr:`scope_changed` carries the new scope (None:
    everyone, else a track id); :attr:`default_toggled` whether *Use the default background*
    is now ticked; :attr:`spacing_changed` that the seam or the reach changed
    (:meth:`seam_px`, :meth:`reach_px`)."""

    changed = Signal(object)
    scope_changed = Signal(object)
    default_toggled = Signal(bool)
    spacing_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._quiet = False
        self.scope_combo = ScopeCombo("background")
        self.default_box = QCheckBox("Use the default background")
        self.default_box.setChecked(True)
        self.default_box.setToolTip("untick (or edit the background below) to give this "
                                    "person a background of their own")
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
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        self.seam = QDoubleSpinBox()
        self.seam.setRange(0.0, MAX_SEAM_PX)
        self.seam.setValue(DEFAULT_SEAM_PX)
        self.seam.setSuffix(" px")
        self.seam.setKeyboardTracking(False)
        self.seam.setToolTip("blend width between neighbouring persons' backgrounds (0: hard)")
        self.reach = QDoubleSpinBox()
        self.reach.setRange(0.0, MAX_REACH_PX)
        self.reach.setSpecialValueText("unlimited")
        self.reach.setSuffix(" px")
        self.reach.setKeyboardTracking(False)
        self.reach.setToolTip("how far a person's own background extends from them")

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
        layout.addRow("Scope", self.scope_combo)
        layout.addRow(self.default_box)
        layout.addRow("Background", self.kind)
        layout.addRow(pages)
        layout.addRow(self.note)
        layout.addRow("Seam", self.seam)
        layout.addRow("Reach", self.reach)
        self.default_box.hide()

        self.scope_combo.currentIndexChanged.connect(self._scope_changed)
        self.default_box.toggled.connect(self._default_toggled)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.radius.valueChanged.connect(self._emit)
        self.image_mode.currentIndexChanged.connect(self._emit)
        self.color_button.clicked.connect(self._pick_color)
        self.image_button.clicked.connect(self._pick_image)
        self.seam.valueChanged.connect(self._spacing)
        self.reach.valueChanged.connect(self._spacing)
        self._paint_color_button()

    # -- programmatic API (also used by tests and scripts): as if the user did it ---------------
    def set_blur(self, radius: float) -> None:
        self._quiet = True
        try:
            self.radius.setValue(radius)  # clamped to the spin box's range
            self.kind.setCurrentIndex(KINDS.index("blur"))
        finally:
            self._quiet = False
        self._emit()

    def set_color(self, rgb: tuple[int, int, int]) -> None:
        self.show_background(SolidColor(tuple(int(c) for c in rgb)))
        self._emit()

    def set_image(self, path: str | Path) -> None:
        self._quiet = True
        try:
            self.image_path = Path(path)
            self.image_label.setText(self.image_path.name)
            self.kind.setCurrentIndex(KINDS.index("image"))
        finally:
            self._quiet = False
        self._emit()

    def set_none(self) -> None:
        self.show_background(None)
        self._emit()

    def set_background(self, bg: Background | None) -> bool:
        """Show ``bg`` (none, blur, solid colour or image) as a user edit; False (nothing
        changed) for a background the panel cannot edit."""
        if not self.show_background(bg):
            return False
        self._emit()
        return True

    def set_scope(self, scope: int | None) -> None:
        """Edit everyone's background (None) or person ``scope``'s own."""
        self.scope_combo.set_scope(scope)

    def use_default(self, on: bool = True) -> None:
        """In a person's scope: tick (remove their own background) or untick *Use the
        default background*."""
        self.default_box.setChecked(on)

    # -- reading --------------------------------------------------------------------------------
    def scope(self) -> int | None:
        """The track id whose own background is edited (None: everyone's)."""
        return self.scope_combo.currentData()

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

    @property
    def incomplete(self) -> bool:
        """Whether the kind is *Image* with no image chosen yet."""
        return KINDS[self.kind.currentIndex()] == "image" and self.image_path is None

    def seam_px(self) -> float:
        return float(self.seam.value())

    def reach_px(self) -> float | None:
        """The reach in pixels, None for unlimited."""
        return float(self.reach.value()) or None

    # -- showing the owner's state (emits nothing) ------------------------------------------------
    def show_background(self, bg: Background | None) -> bool:
        """Put ``bg`` in the controls without emitting; False (controls unchanged) for a
        background the panel cannot edit (a video, an effect-like background)."""
        if bg is not None and type(bg) not in (BlurBackground, SolidColor, ImageBackground):
            return False
        self._quiet = True
        try:
            if isinstance(bg, BlurBackground):
                self.radius.setValue(bg.radius)
            elif isinstance(bg, SolidColor):
                self.color = QColor(*(int(c) for c in bg.rgb))
                self._paint_color_button()
            elif isinstance(bg, ImageBackground):
                self.image_path = Path(bg.path)
                self.image_label.setText(self.image_path.name)
                self.image_mode.setCurrentText(bg.mode)
            kind = "none" if bg is None else {BlurBackground: "blur", SolidColor: "color",
                                              ImageBackground: "image"}[type(bg)]
            self.kind.setCurrentIndex(KINDS.index(kind))
        finally:
            self._quiet = False
        return True

    def show_own(self, own: bool, note: str = "") -> None:
        """In a person's scope: whether they have a background of their own; ``note`` is
        shown under the controls ("" hides it)."""
        self.default_box.blockSignals(True)
        self.default_box.setChecked(not own)
        self.default_box.blockSignals(False)
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def show_spacing(self, seam_px: float, reach_px: float | None) -> None:
        for box, value in ((self.seam, seam_px), (self.reach, reach_px or 0.0)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def set_persons(self, ids: Sequence[int], names: dict[int, str | None] | None = None) -> None:
        """The persons one can give a background of their own; the scope stays unless its
        person is gone (then: Everyone, with :attr:`scope_changed`)."""
        if self.scope_combo.set_persons(ids, names):
            self._scope_changed()

    # -- internals ------------------------------------------------------------------------------
    def _scope_changed(self, *_: object) -> None:
        self.default_box.setVisible(self.scope() is not None)
        if self.scope() is None:
            self.note.hide()
        self.scope_changed.emit(self.scope())

    def _default_toggled(self, on: bool) -> None:
        self.default_toggled.emit(on)

    def _spacing(self, *_: object) -> None:
        self.spacing_changed.emit()

    def _kind_changed(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self._emit()

    def _emit(self, *_: object) -> None:
        if not self._quiet:
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
