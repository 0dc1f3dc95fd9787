"""Shared test set-up: every test gets its own layer-cache folder, never the user's."""

from __future__ import annotations

import os

import pytest

# Qt tests run without a display (pytest-qt creates the QApplication on first use).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("humanfx-cache")
    monkeypatch.setenv("HUMANFX_CACHE_DIR", str(root))
    return root
