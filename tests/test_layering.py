"""The package layering is a contract: ui > editor_plugin > effects > inference, PySide6 only in ui.

Checked with import-linter (contracts in pyproject.toml) on the real source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    return subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)


def test_import_contracts_hold():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken" in result.stdout


def test_pyside6_is_not_imported_outside_ui():
    """A direct text scan too, so a lazy import inside a function is caught as well."""
    offenders = []
    for pkg in ("editor_plugin", "effects", "inference"):
        for path in (ROOT / pkg).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "import PySide6" in text or "from PySide6" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
