#version 330 core
// Effect stack: one person over the canvas through their mask, drawn as a quad over the mask's
// box with premultiplied "over" blending: out = m * colour + (1 - m) * canvas.
// Pixel-space geometry: in_pos is an image pixel position (x right, y down, see effects/gl.py).

#if defined VERTEX_SHADER

uniform vec2 u_size;   // output (W, H)
in vec2 in_pos;

void main() {
    gl_Position = vec4(in_pos / u_size * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_color;      // the person's colour: texel = pixel - u_color_offset
uniform ivec2 u_color_offset;
uniform sampler2D u_mask;       // R: 0..1 matte over the box: texel = pixel - u_mask_origin
uniform ivec2 u_mask_origin;

out vec4 f_color;

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    vec3 c = texelFetch(u_color, p - u_color_offset, 0).rgb;
    float m = clamp(texelFetch(u_mask, p - u_mask_origin, 0).r, 0.0, 1.0);
    f_color = vec4(c * m, m);
}

#endif
