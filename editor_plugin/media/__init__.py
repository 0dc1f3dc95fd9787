"""Video I/O on PyAV: probe clips, read frames exactly, write video (and audio) atomically.

Public API::

    from editor_plugin.media import (probe, ClipInfo, VideoReader, VideoFrame, VideoWriter,
                                     Codec, AudioSpec, MediaError)
"""

from editor_plugin.media.audio import AudioSpec
from editor_plugin.media.errors import MediaError
from editor_plugin.media.probe import ClipInfo, probe
from editor_plugin.media.reader import VideoFrame, VideoReader
from editor_plugin.media.writer import Codec, VideoWriter

__all__ = ["AudioSpec", "ClipInfo", "Codec", "MediaError", "VideoFrame", "VideoReader",
           "VideoWriter", "probe"]
