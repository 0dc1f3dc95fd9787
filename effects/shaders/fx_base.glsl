#version 330 core
// Effect stack: the background, unblended, either into the float canvas or (RESOLVE) straight
// into the 8-bit output, rounded exactly as fx_resolve.glsl rounds the canvas (so a pixel no
// effect touched comes out the same either way; see effects/canvas.py).
// Define SOLID_BACKGROUND for a uniform colour; otherwise a texture sampled at
// uv = gl_FragCoord.xy * u_uv_scale + u_uv_offset (see BackgroundLayer in effects/backgrounds.py;
// the original frame itself is a texture of the output size with no offset).
// A full-screen triangle (scissored to a rectangle to draw only that part).

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

#if defined SOLID_BACKGROUND
uniform vec3 u_color;        // RGB in [0, 1]
#else
uniform sampler2D u_background;
uniform vec2 u_uv_scale;
uniform vec2 u_uv_offset;
#endif

out vec4 f_color;

void main() {
#if defined SOLID_BACKGROUND
    vec3 c = u_color;
#else
    vec3 c = texture(u_background, gl_FragCoord.xy * u_uv_scale + u_uv_offset).rgb;
#endif
#if defined RESOLVE
    c = floor(clamp(c, 0.0, 1.0) * 255.0 + 0.5) * (1.0 / 255.0);
#endif
    f_color = vec4(c, 1.0);
}

#endif
