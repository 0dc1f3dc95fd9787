#version 330 core
// Effect stack, last pass: the float canvas to 8 bits, each channel clamped to [0, 1] and
// rounded to the nearest 1/255 (so the RGBA8 target stores exactly round(255 * value)).
// A full-screen triangle (scissored to each live rectangle of the canvas when only part of it
// is live, see effects/canvas.py).

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_canvas;

out vec4 f_color;

void main() {
    vec3 c = clamp(texelFetch(u_canvas, ivec2(gl_FragCoord.xy), 0).rgb, 0.0, 1.0);
    f_color = vec4(floor(c * 255.0 + 0.5) * (1.0 / 255.0), 1.0);
}

#endif
