"""humanfx editor plugin backend: video I/O, sessions, render, export and the ``humanfx`` CLI.

Everything the app does goes through this package, so the same actions work headless.
"""
