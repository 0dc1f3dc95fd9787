#version 330 core
// Soft discs (glow orbs, particles; effects/joints.py), one quad per disc.  in_local runs
// from -1 to 1 across the quad (the disc's radius is 1 there); in_color is (r, g, b, strength)
// and in_additive 1 to add light (alpha 0) or 0 to cover.
//   a = strength * falloff(|local|)      (premultiplied output)

#if defined VERTEX_SHADER

uniform vec2 u_size;
in vec2 in_pos;
in vec2 in_local;
in vec4 in_color;
in float in_additive;
out vec2 v_local;
flat out vec4 v_color;
flat out float v_additive;

void main() {
    v_local = in_local;
    v_color = in_color;
    v_additive = in_additive;
    gl_Position = vec4(in_pos / u_size * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

in vec2 v_local;
flat in vec4 v_color;
flat in float v_additive;

out vec4 f_color;

float falloff(float s) {
    const float E = 0.011108996538242306;  // exp(-4.5)
    return s < 1.0 ? (exp(-4.5 * s * s) - E) / (1.0 - E) : 0.0;
}

void main() {
    float a = v_color.a * falloff(length(v_local));
    f_color = vec4(v_color.rgb * a, a * (1.0 - v_additive));
}

#endif
