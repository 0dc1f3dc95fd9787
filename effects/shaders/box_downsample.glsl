#version 330 core
// Box-filter downsample by an even integer FACTOR (a #define): output pixel (i, j) is the mean
// of the FACTOR x FACTOR source block starting at source pixel ((i - 1) * FACTOR,
// (j - 1) * FACTOR).  The output has one block of padding on every side: its first and last
// rows/columns lie (partly) outside the source and hold the replicated edge, so that bilinear
// upsampling of the result stays centred up to the frame's edges.  The source must be sampled
// with LINEAR filtering and CLAMP_TO_EDGE: each fetch sits on the corner shared by 2 x 2 texels,
// so it returns their exact mean, and blocks outside the source replicate its edge.

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

#ifndef FACTOR
#error FACTOR must be defined (an even integer >= 2)
#endif

uniform sampler2D u_src;

out vec4 f_color;

void main() {
    vec2 inv_size = 1.0 / vec2(textureSize(u_src, 0));
    // First source pixel of this block, as a texel-corner coordinate (may be negative).
    vec2 base = (floor(gl_FragCoord.xy) - 1.0) * float(FACTOR);
    vec4 acc = vec4(0.0);
    for (int j = 0; j < FACTOR / 2; ++j) {
        for (int i = 0; i < FACTOR / 2; ++i) {
            acc += texture(u_src, (base + vec2(2 * i + 1, 2 * j + 1)) * inv_size);
        }
    }
    f_color = acc * (4.0 / float(FACTOR * FACTOR));
}

#endif
