#version 330 core
// A textured quad in pixel space (stickers, text labels; effects/joints.py).  The texture
// holds premultiplied RGBA; the output is scaled by u_opacity and blended "over".

#if defined VERTEX_SHADER

uniform vec2 u_size;
in vec2 in_pos;     // image pixels (x right, y down)
in vec2 in_uv;      // texture coordinates, (0, 0) = the image's top-left corner
out vec2 v_uv;

void main() {
    v_uv = in_uv;
    gl_Position = vec4(in_pos / u_size * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_tex;
uniform float u_opacity;
in vec2 v_uv;

out vec4 f_color;

void main() {
    f_color = texture(u_tex, v_uv) * u_opacity;
}

#endif
