"""The "Everyone (default)" / "Person N: own ..." scope selector of the Background and Matte
panels."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QComboBox


class ScopeCombo(QComboBox):
    """Everyone (data ``None``) then one item per person (data: track id), labelled
    ``"Person N — name: own <what>"``."""

    def __init__(self, what: str, parent=None):
        super().__init__(parent)
        self._what = what
        self.addItem("Everyone (default)", None)

    def scope(self) -> int | None:
        """The chosen track id (None: everyone)."""
        return self.currentData()

    def set_scope(self, scope: int | None) -> None:
        """Choose ``scope``, adding its person when it is not listed."""
        i = self.findData(scope)
        if i < 0:
            self.add_person(scope)
            i = self.count() - 1
        self.setCurrentIndex(i)

    def add_person(self, tid: int | None, name: str | None = None) -> None:
        if tid is not None:
            self.addItem(f"Person {tid}" + (f" — {name}" if name else "") + f": own {self._what}",
                         tid)

    def set_persons(self, ids: Sequence[int], names: dict[int, str | None] | None = None
                    ) -> bool:
        """List ``ids`` (signals blocked); the scope stays unless its person is gone (then
        Everyone).  Returns whether the scope changed."""
        current = self.scope()
        self.blockSignals(True)
        try:
            while self.count() > 1:
                self.removeItem(1)
            for tid in sorted(ids):
                self.add_person(tid, (names or {}).get(tid))
            self.setCurrentIndex(max(self.findData(current), 0))
        finally:
            self.blockSignals(False)
        return self.scope() != current
