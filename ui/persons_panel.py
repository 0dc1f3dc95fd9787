"""The person list: colour, id and name of every person of the clip, selection in sync.

Names are edited in place (double-click or F2 on a row): the editor shows the name alone and
committing it emits :attr:`PersonsPanel.rename_requested` instead of changing the row; the
window renames the person in the cache and reloads the list.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from inference.cache.layers import TrackSummary
from ui.preview import person_color

ID_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1


def _swatch(tid: int) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(*person_color(tid)))
    return QIcon(pm)


def person_label(t: TrackSummary) -> str:
    return f"{t.id}  {t.name or f'person {t.id}'}  ({t.frames_present} frames)"


class _NameDelegate(QStyledItemDelegate):
    """Edits a row's name (not its label) and hands the result to the panel."""

    def __init__(self, panel: PersonsPanel):
        super().__init__(panel)
        self.panel = panel

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: QModelIndex) -> QWidget:
        editor = QLineEdit(parent)
        editor.setPlaceholderText("name")
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        assert isinstance(editor, QLineEdit)
        editor.setText(index.data(NAME_ROLE) or "")
        editor.selectAll()

    def setModelData(self, editor: QWidget, model: QAbstractItemModel,
                     index: QModelIndex) -> None:
        assert isinstance(editor, QLineEdit)
        old = index.data(NAME_ROLE) or ""
        new = editor.text().strip()
        if new != old:
            self.panel.rename_requested.emit(int(index.data(ID_ROLE)), new)


class PersonsPanel(QListWidget):
    """Multi-selection list of persons.  :attr:`selection_edited` carries the selected ids
    when the user changes the selection here (not when :meth:`set_selected` is called);
    :attr:`rename_requested` carries ``(track_id, new_name)`` ("" clears the name)."""

    selection_edited = Signal(object)  # set[int]
    rename_requested = Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setItemDelegate(_NameDelegate(self))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._updating = False
        self.itemSelectionChanged.connect(self._on_changed)

    def set_persons(self, persons: list[TrackSummary]) -> None:
        self._updating = True
        try:
            self.clear()
            for t in persons:
                item = QListWidgetItem(_swatch(t.id), person_label(t))
                item.setData(ID_ROLE, t.id)
                item.setData(NAME_ROLE, t.name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.addItem(item)
        finally:
            self._updating = False

    def ids(self) -> list[int]:
        return [self.item(i).data(ID_ROLE) for i in range(self.count())]

    def names(self) -> dict[int, str | None]:
        """Per track id, its name (None: unnamed)."""
        return {self.item(i).data(ID_ROLE): self.item(i).data(NAME_ROLE)
                for i in range(self.count())}

    def labels(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]

    def item_of(self, track_id: int) -> QListWidgetItem | None:
        for i in range(self.count()):
            if self.item(i).data(ID_ROLE) == track_id:
                return self.item(i)
        return None

    def start_rename(self, track_id: int) -> QWidget | None:
        """Open the inline name editor on ``track_id``'s row; the editor (None: no row)."""
        item = self.item_of(track_id)
        if item is None:
            return None
        self.setCurrentItem(item)
        self.editItem(item)
        return self.indexWidget(self.indexFromItem(item)) or self.focusWidget()

    def selected_ids(self) -> set[int]:
        return {it.data(ID_ROLE) for it in self.selectedItems()}

    def set_selected(self, ids: set[int]) -> None:
        """Select exactly ``ids`` without emitting :attr:`selection_edited`."""
        self._updating = True
        try:
            for i in range(self.count()):
                it = self.item(i)
                it.setSelected(it.data(ID_ROLE) in ids)
        finally:
            self._updating = False

    def _on_changed(self) -> None:
        if not self._updating:
            self.selection_edited.emit(self.selected_ids())
