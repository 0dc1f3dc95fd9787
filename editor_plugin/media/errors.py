"""The media layer's user-facing error and the helpers that turn PyAV failures into it."""

from __future__ import annotations

from pathlib import Path

import av

from inference.errors import InputError

#: Exceptions PyAV/FFmpeg raise for unreadable or unwritable media.
AV_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, UnicodeDecodeError)


class MediaError(InputError):
    """A video or audio file that cannot be read or written.

    ``str(err)`` is one line naming the file and what to do, e.g.
    ``clip.mp4: is not a readable video (Invalid data found when processing input);
    re-export it or check the download``.
    """


def reason(exc: BaseException) -> str:
    """A short, single-line description of a PyAV/OS exception (no file name, no errno)."""
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def unreadable(path: str | Path, why: str) -> MediaError:
    """The standard error for a file that is not a usable video."""
    return MediaError(
        f"is not a readable video ({why}); re-export it or check the download", path=path
    )
