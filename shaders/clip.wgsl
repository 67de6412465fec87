// Anatomy meshes: the standard material's colour and normal, lit by a plain headlight, cut by
// the clipping plane when one is set. Physically based lighting cost ten times more per pixel
// on a software renderer, and a structure's colour is data, not a surface to render.
#import bevy_pbr::{
    pbr_fragment::pbr_input_from_standard_material,
    pbr_functions::alpha_discard,
}
#ifdef PREPASS_PIPELINE
#import bevy_pbr::{
    prepass_io::{VertexOutput, FragmentOutput},
    pbr_deferred_functions::deferred_output,
}
#else
#import bevy_pbr::{
    forward_io::{VertexOutput, FragmentOutput},
    pbr_functions::main_pass_post_lighting_processing,
    mesh_view_bindings::view,
}
#endif

struct Clip {
    // world-space plane: fragments with dot(n, p) + w > 0 are cut away
    plane: vec4<f32>,
    enabled: u32,
};
@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> clip: Clip;

@fragment
fn fragment(in: VertexOutput, @builtin(front_facing) is_front: bool) -> FragmentOutput {
    if clip.enabled != 0u && dot(clip.plane.xyz, in.world_position.xyz) + clip.plane.w > 0.0 {
        discard;
    }
    var pbr_input = pbr_input_from_standard_material(in, is_front);
    pbr_input.material.base_color = alpha_discard(pbr_input.material, pbr_input.material.base_color);
#ifdef PREPASS_PIPELINE
    let out = deferred_output(in, pbr_input);
#else
    var out: FragmentOutput;
    // The light comes from over the viewer's shoulder (up and to the left, in view space), as
    // the scene's directional light does.
    let l = normalize((view.world_from_view * vec4(-0.309, 0.435, 0.845, 0.0)).xyz);
    let n = pbr_input.N;
    let base = pbr_input.material.base_color;
    let diffuse = max(dot(n, l), 0.0);
    let specular = pow(max(dot(n, normalize(l + pbr_input.V)), 0.0), 32.0) * 0.15;
    out.color = vec4(base.rgb * (0.4 + 0.8 * diffuse) + vec3(specular), base.a);
    out.color = main_pass_post_lighting_processing(pbr_input, out.color);
#endif
    return out;
}
