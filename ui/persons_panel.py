"""The person list: colour, id and name of every person of the clip, selection in sync."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

from inference.cache.layers import TrackSummary
from ui.preview import person_color


def _swatch(tid: int) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(*person_color(tid)))
    return QIcon(pm)


class PersonsPanel(QListWidget):
    """Multi-selection list of persons.  :attr:`selection_edited` carries the selected ids
    when the user changes the selection here (not when :meth:`set_selected` is called)."""

    selection_edited = Signal(object)  # set[int]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._updating = False
        self.itemSelectionChanged.connect(self._on_changed)

    def set_persons(self, persons: list[TrackSummary]) -> None:
        self._updating = True
        try:
            self.clear()
            for t in persons:
                text = f"{t.id}  {t.name or f'person {t.id}'}  ({t.frames_present} frames)"
                item = QListWidgetItem(_swatch(t.id), text)
                item.setData(Qt.ItemDataRole.UserRole, t.id)
                self.addItem(item)
        finally:
            self._updating = False

    def ids(self) -> list[int]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def selected_ids(self) -> set[int]:
        return {it.data(Qt.ItemDataRole.UserRole) for it in self.selectedItems()}

    def set_selected(self, ids: set[int]) -> None:
        """Select exactly ``ids`` without emitting :attr:`selection_edited`."""
        self._updating = True
        try:
            for i in range(self.count()):
                it = self.item(i)
                it.setSelected(it.data(Qt.ItemDataRole.UserRole) in ids)
        finally:
            self._updating = False

    def _on_changed(self) -> None:
        if not self._updating:
            self.selection_edited.emit(self.selected_ids())
