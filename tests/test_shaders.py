"""ShaderLibrary and create_context on a real (EGL) OpenGL context."""

from __future__ import annotations

from pathlib import Path

import pytest

from effects.gl import create_context
from effects.shaders import BUILTIN_SHADER_DIR, ShaderError, ShaderLibrary, _shader_error, _Source
from inference.errors import HumanfxError

GOOD = """\
#version 330 core
// a comment
#if defined VERTEX_SHADER
void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
out vec4 f_color;
void main() {
    f_color = vec4(VALUE);
}
#endif
"""


def _write(dir_: Path, name: str, text: str) -> Path:
    p = dir_ / f"{name}.glsl"
    p.write_text(text)
    return p


def _line_of(text: str, needle: str) -> int:
    """1-based line number of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_builtin_programs_compile_and_link(ctx):
    lib = ShaderLibrary(ctx)
    lib.program("composite")
    lib.program("composite", {"SOLID_BACKGROUND": None})
    lib.program("box_downsample", {"FACTOR": 4})
    prog = lib.program("gauss_pass", {"TAPS": 3, "OFFSETS": "float[3](0.0, 1.2, -1.2)",
                                      "WEIGHTS": "float[3](0.5, 0.25, 0.25)"})  # fmt: skip
    assert "u_src" in prog and "u_dir" in prog


def test_programs_are_cached_per_name_and_defines(ctx, tmp_path):
    _write(tmp_path, "const", GOOD)
    lib = ShaderLibrary(ctx, [tmp_path])
    a = lib.program("const", {"VALUE": 0.5})
    assert lib.program("const", {"VALUE": 0.5}) is a
    b = lib.program("const", {"VALUE": 1})
    assert b is not a


def test_defines_reach_the_shader(ctx, tmp_path):
    _write(tmp_path, "const", GOOD)
    lib = ShaderLibrary(ctx, [tmp_path])
    fbo = ctx.simple_framebuffer((3, 2), components=4)
    for value, expected in ((0.5, 128), (0.25, 64)):
        fbo.use()
        ctx.vertex_array(lib.program("const", {"VALUE": value}), []).render(vertices=3)
        data = fbo.read(components=4)
        assert set(data) == {expected}


def test_fragment_error_names_file_and_line(ctx, tmp_path):
    text = GOOD.replace("f_color = vec4(VALUE);", "f_color = vec4(undeclared_thing);")
    path = _write(tmp_path, "broken", text)
    lib = ShaderLibrary(ctx, [tmp_path])
    want = _line_of(text, "undeclared_thing")
    # Extra defines shift the compiled line numbers; the reported line must not move.
    for defines in ({}, {"A": 1, "B": 2.5, "C": None}):
        with pytest.raises(ShaderError) as info:
            lib.program("broken", defines)
        err = info.value
        assert err.glsl_path == path
        assert err.line == want
        assert err.stage == "fragment"
        assert str(err).startswith(f"{path}:{want}: ")
        assert "undeclared_thing" in str(err)
        assert "\n" not in str(err)


def test_vertex_error_names_file_and_line(ctx, tmp_path):
    text = GOOD.replace("gl_Position = vec4(p, 0.0, 1.0);", "gl_Position = vec4(p, 0.0);")
    path = _write(tmp_path, "badvert", text)
    with pytest.raises(ShaderError) as info:
        ShaderLibrary(ctx, [tmp_path]).program("badvert", {"VALUE": 1})
    assert info.value.glsl_path == path
    assert info.value.stage == "vertex"
    assert info.value.line == _line_of(text, "gl_Position = vec4(p, 0.0);")


def test_version_not_on_first_line_is_mapped_too(ctx, tmp_path):
    text = "// header comment\n\n" + GOOD.replace("vec4(VALUE)", "vec4(nope)")
    _write(tmp_path, "late", text)
    with pytest.raises(ShaderError) as info:
        ShaderLibrary(ctx, [tmp_path]).program("late")
    assert info.value.line == _line_of(text, "vec4(nope)")


def test_missing_program_and_missing_version(ctx, tmp_path):
    lib = ShaderLibrary(ctx, [tmp_path])
    with pytest.raises(ShaderError, match="no shader program nothere.glsl"):
        lib.program("nothere")
    _write(tmp_path, "noversion", GOOD.replace("#version 330 core\n", ""))
    with pytest.raises(ShaderError, match="#version"):
        lib.program("noversion")
    with pytest.raises(ShaderError, match="does not exist"):
        lib.add_directory(tmp_path / "missing")
    with pytest.raises(ValueError):
        lib.program("../escape")
    with pytest.raises(ValueError):
        lib.program("const", {"not an identifier": 1})


def test_search_path_order(ctx, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _write(first, "composite", GOOD)
    lib = ShaderLibrary(ctx)
    assert lib.find("composite") == BUILTIN_SHADER_DIR / "composite.glsl"
    lib.add_directory(first)
    assert lib.find("composite") == first / "composite.glsl"  # a plugin may shadow a built-in
    _write(second, "composite", GOOD)
    lib.add_directory(second)
    assert lib.find("composite") == second / "composite.glsl"
    assert lib.search_path == (second, first, BUILTIN_SHADER_DIR)


@pytest.mark.parametrize(
    "log_line",
    [
        "0:13(7): error: `x' undeclared",  # Mesa
        '0(13) : error C1008: undefined variable "x"',  # NVIDIA
        "ERROR: 0:13: 'x' : undeclared identifier",  # AMD / Intel / ANGLE
    ],
)
def test_driver_log_formats_are_mapped(log_line):
    # 20 file lines, #version on line 2, 3 inserted lines: compiled line 13 is file line 10.
    src = _Source(Path("fx.glsl"), ["// c", "#version 330"] + ["x"] * 18, 1)
    err = _shader_error(src, 3, f"GLSL Compiler failed\n\nfragment_shader\n=====\n{log_line}\n")
    assert err.line == 10
    assert str(err).startswith("fx.glsl:10: fragment shader compile error: ")
    # A line inside the inserted #defines is reported as such, not as a file line.
    err = _shader_error(src, 3, "GLSL Compiler failed\n\nvertex_shader\n=====\n0:3(1): error: x\n")
    assert err.line is None and "inserted #define" in str(err)


def test_create_context_reports_how_to_get_opengl():
    with pytest.raises(HumanfxError) as info:
        create_context("no-such-backend")
    assert "OpenGL" in str(info.value) and "libegl1" in str(info.value)
