#version 330 core
// One direction of a separable Gaussian blur, edges replicated (CLAMP_TO_EDGE).
//
// The kernel is pre-folded on the CPU into TAPS bilinear fetches: tap k samples at OFFSETS[k]
// pixels along u_dir with weight WEIGHTS[k] (pairs of neighbouring kernel taps merged into one
// LINEAR fetch; the source must have LINEAR filtering for that to be exact).  TAPS, OFFSETS and
// WEIGHTS are #defines (OFFSETS/WEIGHTS: float[TAPS](...) constructors) so the compiler can
// unroll the loop with constant offsets; that is several times faster on Mesa's llvmpipe than
// uniform arrays.

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

#if !defined TAPS || !defined OFFSETS || !defined WEIGHTS
#error TAPS, OFFSETS and WEIGHTS must be defined
#endif

uniform sampler2D u_src;
uniform vec2 u_dir;              // (1, 0): horizontal; (0, 1): vertical
const float offsets[TAPS] = OFFSETS;  // in source pixels
const float weights[TAPS] = WEIGHTS;  // sums to 1

out vec4 f_color;

void main() {
    vec2 inv_size = 1.0 / vec2(textureSize(u_src, 0));
    vec4 acc = vec4(0.0);
    for (int k = 0; k < TAPS; ++k) {
        acc += weights[k] * texture(u_src, (gl_FragCoord.xy + u_dir * offsets[k]) * inv_size);
    }
    f_color = acc;
}

#endif
