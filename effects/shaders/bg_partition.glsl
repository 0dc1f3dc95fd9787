#version 330 core
// Person backgrounds (effects/partition.py): the sum of up to 4 backgrounds times their
// weights, in one pass.  Define GROUPS (1..4), the number of backgrounds, and SOLID_<i> for
// each background i that is a uniform colour (u_color<i>); the others are textures u_bg<i>
// sampled exactly as fx_base.glsl does (BackgroundLayer in effects/backgrounds.py):
// uv = gl_FragCoord.xy * u_uv<i>.xy + u_uv<i>.zw.  No branches: a software renderer runs
// them on every pixel anyway.
//
// Weights: a coarse RGBA32F grid (one texel per FACTOR x FACTOR cell of output pixels, texel
// centre at the cell's centre; channel i = background i), sampled bilinearly at
// uv = gl_FragCoord.xy * u_weight_scale, u_weight_scale = 1 / (grid size * FACTOR).

#if defined VERTEX_SHADER

void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

#if !defined GROUPS
#define GROUPS 1
#endif

uniform sampler2D u_weight;
uniform vec2 u_weight_scale;

#if defined SOLID_0
uniform vec3 u_color0;
#define LAYER_0 u_color0
#else
uniform sampler2D u_bg0;
uniform vec4 u_uv0;
#define LAYER_0 texture(u_bg0, gl_FragCoord.xy * u_uv0.xy + u_uv0.zw).rgb
#endif

#if GROUPS > 1 && defined SOLID_1
uniform vec3 u_color1;
#define LAYER_1 u_color1
#elif GROUPS > 1
uniform sampler2D u_bg1;
uniform vec4 u_uv1;
#define LAYER_1 texture(u_bg1, gl_FragCoord.xy * u_uv1.xy + u_uv1.zw).rgb
#endif

#if GROUPS > 2 && defined SOLID_2
uniform vec3 u_color2;
#define LAYER_2 u_color2
#elif GROUPS > 2
uniform sampler2D u_bg2;
uniform vec4 u_uv2;
#define LAYER_2 texture(u_bg2, gl_FragCoord.xy * u_uv2.xy + u_uv2.zw).rgb
#endif

#if GROUPS > 3 && defined SOLID_3
uniform vec3 u_color3;
#define LAYER_3 u_color3
#elif GROUPS > 3
uniform sampler2D u_bg3;
uniform vec4 u_uv3;
#define LAYER_3 texture(u_bg3, gl_FragCoord.xy * u_uv3.xy + u_uv3.zw).rgb
#endif

out vec4 f_color;

void main() {
    vec4 w = clamp(texture(u_weight, gl_FragCoord.xy * u_weight_scale), 0.0, 1.0);
    vec3 acc = LAYER_0 * w.x;
#if GROUPS > 1
    acc += LAYER_1 * w.y;
#endif
#if GROUPS > 2
    acc += LAYER_2 * w.z;
#endif
#if GROUPS > 3
    acc += LAYER_3 * w.w;
#endif
    f_color = vec4(acc, 1.0);
}

#endif
