#version 330 core
// MotionTrail (effects/joints.py): a polyline through a joint's recent positions, tapering
// and fading with age, drawn as one quad over its bounding box.  For each segment k (points k
// and k + 1, ages interpolated along it) at distance d from the pixel:
//   w   = max(1 - age / length, 0)
//   cov = clamp(0.5 * width * w - d + 0.5, 0, 1)
//   a   = opacity * max over segments of (w * cov)      (premultiplied output)
// A single point is a segment of length 0.

#if defined VERTEX_SHADER

uniform vec2 u_size;
in vec2 in_pos;

void main() {
    gl_Position = vec4(in_pos / u_size * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

#ifndef MAX_POINTS
#define MAX_POINTS 64
#endif

uniform vec2 u_points[MAX_POINTS];   // image pixels, newest first
uniform float u_ages[MAX_POINTS];    // frames
uniform int u_count;
uniform float u_length;
uniform float u_width;
uniform float u_opacity;
uniform vec3 u_color;

out vec4 f_color;

void main() {
    vec2 p = gl_FragCoord.xy;
    float best = 0.0;
    int segments = max(u_count - 1, 1);
    for (int k = 0; k < segments; ++k) {
        int k1 = min(k + 1, u_count - 1);
        vec2 a = u_points[k];
        vec2 ab = u_points[k1] - a;
        float l2 = dot(ab, ab);
        float u = l2 > 0.0 ? clamp(dot(p - a, ab) / l2, 0.0, 1.0) : 0.0;
        float d = length(p - (a + u * ab));
        float w = max(1.0 - mix(u_ages[k], u_ages[k1], u) / u_length, 0.0);
        best = max(best, w * clamp(0.5 * u_width * w - d + 0.5, 0.0, 1.0));
    }
    float alpha = u_opacity * best;
    f_color = vec4(u_color * alpha, alpha);
}

#endif
