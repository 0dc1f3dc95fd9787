#version 330 core
// Effect stack, first pass: the background into the float canvas (no blending).
// Define SOLID_BACKGROUND for a uniform colour; otherwise a texture sampled at
// uv = gl_FragCoord.xy * u_uv_scale + u_uv_offset (see BackgroundLayer in effects/backgrounds.py;
// the original frame itself is a texture of the output size with no offset).

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
    f_color = vec4(u_color, 1.0);
#else
    f_color = vec4(texture(u_background, gl_FragCoord.xy * u_uv_scale + u_uv_offset).rgb, 1.0);
#endif
}

#endif
