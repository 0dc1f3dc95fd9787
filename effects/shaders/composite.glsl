#version 330 core
// Composite: out = alpha * frame + (1 - alpha) * background, per pixel, in float.
// Define SOLID_BACKGROUND for a uniform colour background (no texture fetch).
//
// Image space (see effects/gl.py): gl_FragCoord.xy = (col + 0.5, row + 0.5), texture row r is
// image row r, so nothing is flipped.  The colour is rounded to the nearest 1/255 here so that
// the 8-bit target stores exactly round(255 * value) whatever rounding the driver uses.

#if defined VERTEX_SHADER

void main() {
    // One triangle covering the viewport: vertex ids 0, 1, 2 -> (-1,-1), (3,-1), (-1,3).
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_frame;       // (W, H) RGB, the original frame
uniform sampler2D u_alpha;       // (W, H) R: 1 keeps the frame pixel, 0 shows the background
#if defined SOLID_BACKGROUND
uniform vec3 u_bg_color;         // RGB in [0, 1]
#else
uniform sampler2D u_background;  // RGB(A), any size, sampled at the uv below
uniform vec2 u_bg_uv_scale;      // uv = gl_FragCoord.xy * u_bg_uv_scale + u_bg_uv_offset
uniform vec2 u_bg_uv_offset;     // (see BackgroundLayer in effects/backgrounds.py)
#endif

out vec4 f_color;

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    vec3 fg = texelFetch(u_frame, p, 0).rgb;
    float a = clamp(texelFetch(u_alpha, p, 0).r, 0.0, 1.0);
#if defined SOLID_BACKGROUND
    vec3 bg = u_bg_color;
#else
    vec3 bg = texture(u_background, gl_FragCoord.xy * u_bg_uv_scale + u_bg_uv_offset).rgb;
#endif
    vec3 c = mix(bg, fg, a);
    f_color = vec4(floor(c * 255.0 + 0.5) * (1.0 / 255.0), 1.0);
}

#endif
