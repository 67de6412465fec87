// Volume rendering: rays marched through the scan, front to back, coloured by a transfer
// function. Drawn on the back faces of the scan's box so that it works with the camera inside.
#import bevy_pbr::forward_io::VertexOutput
#import bevy_pbr::mesh_view_bindings::view

struct VolumeParams {
    voxel_from_world: mat4x4<f32>,
    // xyz: voxels per axis; w: step length in voxels
    dims: vec4<f32>,
    // x, y: value = texel * x + y; z, w: the value range the transfer function spans
    values: vec4<f32>,
    // clip plane in world space (xyz normal, w offset); fragments with dot(n, p) + w > 0 are cut
    clip: vec4<f32>,
    // x: clipping on (1) / off (0)
    flags: vec4<f32>,
};

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> p: VolumeParams;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var volume_tex: texture_3d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var volume_smp: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(3) var tf_tex: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(4) var tf_smp: sampler;

fn value_at(voxel: vec3<f32>) -> f32 {
    let uvw = (voxel + vec3<f32>(0.5)) / p.dims.xyz;
    return textureSampleLevel(volume_tex, volume_smp, uvw, 0.0).r * p.values.x + p.values.y;
}

// Surfaces inside the volume are lit by a headlight: the value's gradient (central differences,
// one voxel apart) is the normal. Without it bone shows as a flat silhouette.
fn shade(voxel: vec3<f32>, dir_world: vec3<f32>) -> f32 {
    let g = vec3<f32>(
        value_at(voxel + vec3<f32>(1.0, 0.0, 0.0)) - value_at(voxel - vec3<f32>(1.0, 0.0, 0.0)),
        value_at(voxel + vec3<f32>(0.0, 1.0, 0.0)) - value_at(voxel - vec3<f32>(0.0, 1.0, 0.0)),
        value_at(voxel + vec3<f32>(0.0, 0.0, 1.0)) - value_at(voxel - vec3<f32>(0.0, 0.0, 1.0)),
    );
    // Voxel-space gradient to world space: the transpose of voxel_from_world's linear part.
    let m = mat3x3<f32>(p.voxel_from_world[0].xyz, p.voxel_from_world[1].xyz, p.voxel_from_world[2].xyz);
    let gw = transpose(m) * g;
    let len = length(gw);
    if len < 1e-6 {
        return 1.0;
    }
    return 0.25 + 0.75 * abs(dot(gw / len, dir_world));
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let eye = view.world_position;
    let dir = normalize(in.world_position.xyz - eye);
    let o = (p.voxel_from_world * vec4<f32>(eye, 1.0)).xyz;
    let d = (p.voxel_from_world * vec4<f32>(dir, 0.0)).xyz;
    let dims = p.dims.xyz;
    // Where the ray enters and leaves the box of voxel centres (slab test).
    let safe = select(d, vec3<f32>(1e-8), abs(d) < vec3<f32>(1e-8));
    let t0 = (vec3<f32>(-0.5) - o) / safe;
    let t1 = (dims - vec3<f32>(0.5) - o) / safe;
    let near = max(max(min(t0.x, t1.x), min(t0.y, t1.y)), min(t0.z, t1.z));
    let far = min(min(max(t0.x, t1.x), max(t0.y, t1.y)), max(t0.z, t1.z));
    var t = max(near, 0.0);
    if far <= t {
        discard;
    }
    // t counts world units (mm); a step of `dims.w` voxels is this many mm along the ray.
    let step = p.dims.w / max(length(d), 1e-6);
    // Start each pixel's ray a different fraction of a step in: a fixed start draws the steps as
    // rings on surfaces ("wood grain"); jittered, they average out to fine noise.
    t = t + step * fract(sin(dot(in.position.xy, vec2<f32>(12.9898, 78.233))) * 43758.547);
    var acc = vec4<f32>(0.0);
    for (var i = 0; i < 4096; i = i + 1) {
        if t > far || acc.a > 0.97 {
            break;
        }
        let world = eye + dir * t;
        let cut = p.flags.x > 0.5 && dot(p.clip.xyz, world) + p.clip.w > 0.0;
        if !cut {
            let voxel = o + d * t;
            let value = value_at(voxel);
            let x = clamp((value - p.values.z) / (p.values.w - p.values.z), 0.0, 1.0);
            let c = textureSampleLevel(tf_tex, tf_smp, vec2<f32>(x, 0.5), 0.0);
            // Opacities are given per voxel: correct them for the step length.
            let a = 1.0 - pow(1.0 - c.a, p.dims.w);
            if a > 0.002 {
                acc = acc + vec4<f32>(c.rgb * shade(voxel, dir) * a, a) * (1.0 - acc.a);
            }
        }
        t = t + step;
    }
    return acc;
}
