#version 330 core
// Per-pixel background looks of the original frame (effects/backgrounds_extra.py), one of:
//   LOOK_DESATURATE: c = mix(c, luma(c), u_amount)
//   LOOK_DIM:        c = c * (1 - u_amount)
//   LOOK_VIGNETTE:   c = c * clamp(1 - u_amount * d^2, 0, 1), d = |p - centre| / |centre|
//                    (0 in the centre, 1 in the corners; p = gl_FragCoord.xy)
//   LOOK_COLORKEY:   c = mix(luma(c), c, keep), keep = hue gate * saturation gate (see
//                    ColorKeyBackground; u_key_hue in radians, u_tolerance/u_softness too)
// luma: Rec. 709 weights.  Image space, one output pixel per frame pixel (texelFetch).

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_src;   // (W, H) RGBA, the original frame
uniform float u_amount;
#if defined LOOK_COLORKEY
uniform float u_key_hue;
uniform float u_tolerance;
uniform float u_softness;
#endif

out vec4 f_color;

const vec3 LUMA = vec3(0.2126, 0.7152, 0.0722);

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    vec3 c = texelFetch(u_src, p, 0).rgb;
    float y = dot(c, LUMA);
#if defined LOOK_DESATURATE
    c = mix(c, vec3(y), u_amount);
#elif defined LOOK_DIM
    c = c * (1.0 - u_amount);
#elif defined LOOK_VIGNETTE
    vec2 centre = 0.5 * vec2(textureSize(u_src, 0));
    vec2 d = (gl_FragCoord.xy - centre) / max(length(centre), 1e-6);
    c = c * clamp(1.0 - u_amount * dot(d, d), 0.0, 1.0);
#elif defined LOOK_COLORKEY
    float a = c.r - 0.5 * (c.g + c.b);
    float b = 0.8660254037844386 * (c.g - c.b);
    float sat = sqrt(a * a + b * b);
    float hue = atan(b, a);
    float dh = abs(hue - u_key_hue);
    dh = min(dh, 6.283185307179586 - dh);
    float keep = (1.0 - smoothstep(u_tolerance, u_tolerance + u_softness, dh))
               * smoothstep(0.04, 0.12, sat);
    c = mix(vec3(y), c, keep);
#else
#error define one LOOK_*
#endif
    f_color = vec4(c, 1.0);
}

#endif
