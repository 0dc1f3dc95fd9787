"""humanfx effects: the OpenGL compositor, GLSL programs (``effects/shaders/*.glsl``) and effects."""

from effects.backgrounds import (
    Background,
    BackgroundLayer,
    BlurBackground,
    ImageBackground,
    SolidColor,
    VideoBackground,
    VideoBackgroundSpec,
    parse_background,
)
from effects.compositor import Compositor
from effects.gl import create_context
from effects.matte import build_alpha
from effects.shaders import ShaderError, ShaderLibrary

__all__ = [
    "Background",
    "BackgroundLayer",
    "BlurBackground",
    "Compositor",
    "ImageBackground",
    "ShaderError",
    "ShaderLibrary",
    "SolidColor",
    "VideoBackground",
    "VideoBackgroundSpec",
    "build_alpha",
    "create_context",
    "parse_background",
]  # fmt: skip
