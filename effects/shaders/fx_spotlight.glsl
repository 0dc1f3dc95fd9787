#version 330 core
// Spotlight (effects/person.py): covers everything outside a soft ellipse with u_color.
//   r = |(p - centre) / axes|,  t = clamp((r - (1 - feather)) / feather, 0, 1)
//   alpha = darkness * t^2 (3 - 2t)          (premultiplied output)

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform vec2 u_center;
uniform vec2 u_axes;
uniform float u_feather;
uniform float u_darkness;
uniform vec3 u_color;

out vec4 f_color;

void main() {
    float r = length((gl_FragCoord.xy - u_center) / u_axes);
    float t = u_feather > 0.0 ? clamp((r - (1.0 - u_feather)) / u_feather, 0.0, 1.0)
                              : (r >= 1.0 ? 1.0 : 0.0);
    float a = u_darkness * t * t * (3.0 - 2.0 * t);
    f_color = vec4(u_color * a, a);
}

#endif
