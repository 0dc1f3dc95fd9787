#version 330 core
// ColorGrade (effects/person.py): brightness / contrast / saturation / tint of the person's
// pixels, written unblended into a target the size of the person's box.  Target pixel p reads
// source texel p + u_offset.

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_src;
uniform ivec2 u_offset;
uniform float u_brightness;
uniform float u_contrast;
uniform float u_saturation;
uniform vec3 u_tint;          // RGB in [0, 1]
uniform float u_tint_amount;

const vec3 LUMA = vec3(0.2126, 0.7152, 0.0722);

out vec4 f_color;

void main() {
    vec3 c = texelFetch(u_src, ivec2(gl_FragCoord.xy) + u_offset, 0).rgb;
    c = (c - 0.5) * u_contrast + 0.5 + u_brightness;
    c = mix(vec3(dot(c, LUMA)), c, u_saturation);
    c = mix(c, dot(c, LUMA) * u_tint, u_tint_amount);
    f_color = vec4(clamp(c, 0.0, 1.0), 1.0);
}

#endif
