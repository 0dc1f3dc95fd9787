#version 330 core
// Mosaic: output texel (i, j) is the mean of the BLOCK x BLOCK source block starting at source
// pixel (i * BLOCK, j * BLOCK), clipped to the source (partial blocks at the right and bottom
// edges average only the pixels they hold).  The target is ceil(W / BLOCK) x ceil(H / BLOCK);
// the compositor samples it with NEAREST filtering, so each output pixel shows its block.

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_src;   // (W, H) RGBA, the original frame
uniform int u_block;

out vec4 f_color;

void main() {
    ivec2 size = textureSize(u_src, 0);
    ivec2 lo = ivec2(gl_FragCoord.xy) * u_block;
    ivec2 hi = min(lo + ivec2(u_block), size);
    vec3 acc = vec3(0.0);
    for (int y = lo.y; y < hi.y; ++y) {
        vec3 row = vec3(0.0);
        for (int x = lo.x; x < hi.x; ++x) {
            row += texelFetch(u_src, ivec2(x, y), 0).rgb;
        }
        acc += row;
    }
    vec2 n = vec2(hi - lo);
    f_color = vec4(acc / (n.x * n.y), 1.0);
}

#endif
