#version 330 core
// Outline (u_mode 0) and Glow (u_mode 1) around a person's mask (effects/person.py), from the
// exact distance d to the mask (R32F texture over a box; texel = pixel - u_origin).  Zero
// inside the mask (d = 0).  Premultiplied output; u_additive = 1 adds the light (alpha 0).
//   outline: a = strength * clamp(width + 0.5 - d, 0, 1)
//   glow:    a = strength * falloff(d / radius)

#if defined VERTEX_SHADER

uniform vec2 u_size;
in vec2 in_pos;

void main() {
    gl_Position = vec4(in_pos / u_size * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_dist;
uniform ivec2 u_origin;
uniform int u_mode;
uniform vec3 u_color;
uniform float u_width;
uniform float u_radius;
uniform float u_strength;
uniform float u_additive;

out vec4 f_color;

// Gaussian (sigma = 1/3) shifted and rescaled to reach exactly 0 at s = 1.
float falloff(float s) {
    const float E = 0.011108996538242306;  // exp(-4.5)
    return s < 1.0 ? (exp(-4.5 * s * s) - E) / (1.0 - E) : 0.0;
}

void main() {
    float d = texelFetch(u_dist, ivec2(gl_FragCoord.xy) - u_origin, 0).r;
    float a = 0.0;
    if (d > 0.0) {
        a = u_mode == 0 ? clamp(u_width + 0.5 - d, 0.0, 1.0) : falloff(d / u_radius);
    }
    a *= u_strength;
    f_color = vec4(u_color * a, a * (1.0 - u_additive));
}

#endif
