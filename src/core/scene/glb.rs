//! Writing a [`Scene`] as binary glTF 2.0: one JSON chunk, one binary chunk holding every
//! mesh's positions, normals and indices.

use serde_json::{Value, json};

use super::{Scene, gltf_direction, gltf_from_lps};

const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
const FLOAT: u32 = 5126;
const UNSIGNED_INT: u32 = 5125;

/// sRGB (0-255) to the linear factors glTF's materials take.
fn linear(c: u8) -> f64 {
    let s = f64::from(c) / 255.0;
    if s <= 0.04045 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
}

/// The scene as a `.glb` file's bytes.
pub fn write_glb(scene: &Scene) -> Vec<u8> {
    let mut bin: Vec<u8> = Vec::new();
    let mut views: Vec<Value> = Vec::new();
    let mut accessors: Vec<Value> = Vec::new();
    let mut meshes: Vec<Value> = Vec::new();
    let mut materials: Vec<Value> = Vec::new();
    let mut nodes: Vec<Value> = Vec::new();
    let mut view = |bin: &mut Vec<u8>, bytes: &[u8], target: u32| -> usize {
        while bin.len() % 4 != 0 {
            bin.push(0);
        }
        views.push(json!({"buffer": 0, "byteOffset": bin.len(), "byteLength": bytes.len(), "target": target}));
        bin.extend_from_slice(bytes);
        views.len() - 1
    };
    for (n, part) in scene.parts.iter().enumerate() {
        let positions: Vec<[f32; 3]> = part
            .mesh
            .positions
            .iter()
            .map(|p| gltf_from_lps(&nalgebra::Point3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2]))))
            .collect();
        let normals: Vec<[f32; 3]> = part
            .mesh
            .vertex_normals()
            .iter()
            .map(|v| {
                let d = gltf_direction(&nalgebra::Vector3::new(f64::from(v[0]), f64::from(v[1]), f64::from(v[2])));
                let length = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                // A vertex of no area (left by decimation) still needs a unit normal.
                if length > 1e-6 { d.map(|c| (c / length) as f32) } else { [0.0, 1.0, 0.0] }
            })
            .collect();
        let (lo, hi) = positions.iter().fold(([f32::MAX; 3], [f32::MIN; 3]), |(lo, hi), p| {
            (std::array::from_fn(|a| lo[a].min(p[a])), std::array::from_fn(|a| hi[a].max(p[a])))
        });
        let p_view = view(&mut bin, bytemuck::cast_slice(&positions), ARRAY_BUFFER);
        let n_view = view(&mut bin, bytemuck::cast_slice(&normals), ARRAY_BUFFER);
        let i_view = view(&mut bin, bytemuck::cast_slice(&part.mesh.triangles), ELEMENT_ARRAY_BUFFER);
        let first = accessors.len();
        accessors.push(json!({"bufferView": p_view, "componentType": FLOAT, "count": positions.len(), "type": "VEC3", "min": lo, "max": hi}));
        accessors.push(json!({"bufferView": n_view, "componentType": FLOAT, "count": normals.len(), "type": "VEC3"}));
        accessors.push(json!({"bufferView": i_view, "componentType": UNSIGNED_INT, "count": 3 * part.mesh.triangles.len(), "type": "SCALAR"}));
        let [r, g, b] = part.color.map(linear);
        let blend = part.opacity < 1.0;
        let mut material = json!({
            "name": part.name,
            "pbrMetallicRoughness": {"baseColorFactor": [r, g, b, f64::from(part.opacity)], "metallicFactor": 0.0, "roughnessFactor": 0.6},
            "alphaMode": if blend { "BLEND" } else { "OPAQUE" },
        });
        if blend {
            // Both faces of a see-through surface show.
            material["doubleSided"] = json!(true);
        }
        materials.push(material);
        meshes.push(json!({
            "name": part.name,
            "primitives": [{"attributes": {"POSITION": first, "NORMAL": first + 1}, "indices": first + 2, "material": n}]
        }));
        nodes.push(json!({"name": part.name, "mesh": n}));
    }
    for m in &scene.markers {
        nodes.push(json!({"name": m.name, "translation": gltf_from_lps(&m.point_mm), "extras": {"label": m.name}}));
    }
    let children: Vec<usize> = (0..nodes.len()).collect();
    nodes.push(json!({"name": scene.name, "children": children}));
    let root = nodes.len() - 1;
    while bin.len() % 4 != 0 {
        bin.push(0);
    }
    let gltf = json!({
        "asset": {"version": "2.0", "generator": format!("twinplan {}", env!("CARGO_PKG_VERSION")),
                  "extras": {"axes": "X = patient's left, Y = superior, Z = anterior; metres"}},
        "scene": 0,
        "scenes": [{"name": scene.name, "nodes": [root]}],
        "nodes": nodes,
        "meshes": meshes,
        "materials": materials,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": bin.len()}],
    });
    let mut text = serde_json::to_vec(&gltf).expect("plain values serialise");
    while text.len() % 4 != 0 {
        text.push(b' ');
    }
    let total = 12 + 8 + text.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&text);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}
