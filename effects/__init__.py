"""humanfx effects: the OpenGL compositor, GLSL programs (``effects/shaders/*.glsl``) and effects."""

from effects.anchors import PoseHistory
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
from effects.backgrounds_extra import (
    ColorKeyBackground,
    DesaturateBackground,
    DimBackground,
    PixelateBackground,
    TiledImageBackground,
    VignetteBackground,
)
from effects.compositor import Compositor
from effects.gl import create_context
from effects.keyframes import Keyframe, Keyframes
from effects.matte import build_alpha
from effects.model import Effect, OverlayEffect, Param, PersonModifier, describe
from effects.partition import PersonBackgrounds
from effects.refine import MatteRefiner, TemporalStabilizer, guided_filter
from effects.registry import EffectRegistry, get_effect, list_effects
from effects.registry import create as create_effect
from effects.shaders import ShaderError, ShaderLibrary
from effects.stack import EffectStack, StackRenderer

__all__ = [
    "Background",
    "BackgroundLayer",
    "BlurBackground",
    "ColorKeyBackground",
    "Compositor",
    "DesaturateBackground",
    "DimBackground",
    "Effect",
    "EffectRegistry",
    "EffectStack",
    "ImageBackground",
    "Keyframe",
    "Keyframes",
    "MatteRefiner",
    "OverlayEffect",
    "Param",
    "PersonBackgrounds",
    "PersonModifier",
    "PixelateBackground",
    "PoseHistory",
    "ShaderError",
    "ShaderLibrary",
    "SolidColor",
    "StackRenderer",
    "TemporalStabilizer",
    "TiledImageBackground",
    "VideoBackground",
    "VideoBackgroundSpec",
    "VignetteBackground",
    "build_alpha",
    "create_context",
    "create_effect",
    "describe",
    "get_effect",
    "guided_filter",
    "list_effects",
    "parse_background",
]  # fmt: skip
