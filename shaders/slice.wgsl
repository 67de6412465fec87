// Slice views: one plane through the scan, with window/level and the label overlay applied here
// on the GPU (nothing is re-rendered on the CPU when the window or the overlay changes).
#import bevy_pbr::forward_io::VertexOutput

struct SliceParams {
    // uv (0..1, x right, y down) -> patient LPS mm
    patient_from_uv: mat4x4<f32>,
    voxel_from_patient: mat4x4<f32>,
    // xyz: voxels per axis
    dims: vec4<f32>,
    // x, y: value = texel * x + y; z: window centre; w: window width
    values: vec4<f32>,
    // x: overlay opacity; y: preview off (0), of the values in the range z..w (1), or of the
    // vesselness whose square root is at least z, with bone kept out tinted (2)
    overlay: vec4<f32>,
    preview_color: vec4<f32>,
    // x: fusion mode (0 none or the fused scan alone, 1 blend, 2 checkerboard, 3 colour);
    // y: the fused scan's opacity; z: checkerboard square (mm)
    fusion: vec4<f32>,
    // as `values`, for the plan's scan under a fused one (`volume_tex` then holds the fused scan)
    under_values: vec4<f32>,
};

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> p: SliceParams;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var volume_tex: texture_3d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var volume_smp: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(3) var labels_tex: texture_3d<u32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(4) var lut_tex: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(5) var under_tex: texture_3d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(6) var under_smp: sampler;
// The Vessels tool's preview: r, the square root of the vesselness; g, bone kept out.
@group(#{MATERIAL_BIND_GROUP}) @binding(7) var vesselness_tex: texture_3d<f32>;

// Hot colour map: black through red and yellow to white.
fn hot(t: f32) -> vec3<f32> {
    return clamp(vec3(3.0 * t, 3.0 * t - 1.0, 3.0 * t - 2.0), vec3(0.0), vec3(1.0));
}

// Display values are sRGB; the render target expects linear light.
fn to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + vec3(0.055)) / 1.055, vec3(2.4));
    return select(hi, lo, c <= vec3(0.04045));
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let patient = p.patient_from_uv * vec4<f32>(in.uv.x, in.uv.y, 0.0, 1.0);
    let voxel = (p.voxel_from_patient * patient).xyz;
    let dims = p.dims.xyz;
    if any(voxel < vec3(-0.5)) || any(voxel > dims - vec3(0.5)) {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    let texel = (voxel + vec3(0.5)) / dims;
    let value = textureSampleLevel(volume_tex, volume_smp, texel, 0.0).r * p.values.x + p.values.y;
    let low = p.values.z - 0.5 * p.values.w;
    let level = clamp((value - low) / p.values.w, 0.0, 1.0);
    var color = vec3<f32>(level);
    let mode = i32(round(p.fusion.x));
    if mode > 0 {
        let under = textureSampleLevel(under_tex, under_smp, texel, 0.0).r * p.under_values.x + p.under_values.y;
        let under_low = p.under_values.z - 0.5 * p.under_values.w;
        let base = vec3<f32>(clamp((under - under_low) / p.under_values.w, 0.0, 1.0));
        if mode == 1 {
            color = mix(base, color, p.fusion.y);
        } else if mode == 2 {
            // Squares fixed on the view's plane (its mm from the plane's corner), so they stay
            // put while paging through slices.
            let along = in.uv * vec2(length(p.patient_from_uv[0].xyz), length(p.patient_from_uv[1].xyz));
            let cell = floor(along / p.fusion.z);
            let odd = (i32(cell.x) + i32(cell.y)) % 2 != 0;
            color = select(base, color, odd);
        } else {
            color = mix(base, hot(level), p.fusion.y * level);
        }
    }

    let nearest = clamp(vec3<i32>(round(voxel)), vec3<i32>(0), vec3<i32>(dims) - vec3<i32>(1));
    let label = textureLoad(labels_tex, nearest, 0).r;
    if label > 0u {
        let entry = textureLoad(lut_tex, vec2<i32>(i32(min(label, 1023u)), 0), 0);
        color = mix(color, entry.rgb, entry.a * p.overlay.x);
    }
    let preview = i32(round(p.overlay.y));
    if preview == 1 {
        // The preview tests the voxel's own value, as the threshold tool will.
        let v = textureLoad(volume_tex, nearest, 0).r * p.values.x + p.values.y;
        if v >= p.overlay.z && v <= p.overlay.w {
            color = mix(color, p.preview_color.rgb, p.preview_color.a);
        }
    } else if preview == 2 {
        let t = textureLoad(vesselness_tex, nearest, 0);
        // Half a step of the texture's 8 bits either way counts as passing.
        if t.r > 0.0 && t.r >= p.overlay.z - 0.5 / 255.0 {
            color = mix(color, p.preview_color.rgb, p.preview_color.a);
        } else if t.g > 0.5 {
            color = mix(color, vec3(1.0, 0.55, 0.1), 0.3);
        }
    }
    return vec4<f32>(to_linear(color), 1.0);
}
