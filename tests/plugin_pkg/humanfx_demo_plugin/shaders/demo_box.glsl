#version 330 core
// The demo plugin's program: a flat premultiplied colour over pixel-space triangles.

#if defined VERTEX_SHADER

uniform vec2 u_size;
in vec2 in_pos;

void main() {
    gl_Position = vec4(in_pos / u_size * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform vec3 u_color;
uniform float u_alpha;

out vec4 f_color;

void main() {
    f_color = vec4(u_color * u_alpha, u_alpha);
}

#endif
