"""humanfx inference: the data model of per-person layers, the layer cache, models and tracking.

This is the bottom layer of the package: it imports neither ``effects`` nor ``editor_plugin``
nor ``ui``.  It works on decoded frames (NumPy arrays), never on video files.
"""
