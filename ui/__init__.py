"""humanfx desktop app (PySide6).  The only package that may import Qt; nothing imports it."""
