//! Volume rendering of the scan: rays marched through it on the GPU, coloured by a transfer
//! function preset (bone, vessels, skin). Drawn on the back faces of the scan's box, so it works
//! with the camera inside the box, and cut by the same clipping plane as the meshes.

use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::mesh::{Indices, MeshVertexBufferLayoutRef, PrimitiveTopology};
use bevy::pbr::{MaterialPipeline, MaterialPipelineKey};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, Face, RenderPipelineDescriptor, ShaderType, SpecializedMeshPipelineError, TextureFormat,
};
use bevy::shader::ShaderRef;

use super::document::Doc;
use super::frames::{patient_from_world, world_from_patient};
use super::gpu::VolumeTextures;
use super::meshes::clip_uniform;
use super::sets::GpuResources;
use super::study::Study;
use crate::core::document::TransferPreset;

#[derive(Debug, Clone, Copy, Default, PartialEq, ShaderType)]
pub struct VolumeParams {
    pub voxel_from_world: Mat4,
    pub dims: Vec4,
    pub values: Vec4,
    pub clip: Vec4,
    pub flags: Vec4,
}

#[derive(Asset, AsBindGroup, TypePath, Debug, Clone)]
pub struct VolumeMaterial {
    #[uniform(0)]
    pub params: VolumeParams,
    #[texture(1, dimension = "3d")]
    #[sampler(2)]
    pub volume: Handle<Image>,
    #[texture(3)]
    #[sampler(4)]
    pub transfer: Handle<Image>,
}

pub const VOLUME_SHADER: Handle<Shader> = bevy::asset::uuid_handle!("9a3c2d41-52e8-4f0b-b7a6-3e1f0d9c7b32");

impl Material for VolumeMaterial {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(VOLUME_SHADER)
    }
    fn alpha_mode(&self) -> AlphaMode {
        AlphaMode::Blend
    }
    fn enable_prepass() -> bool {
        false
    }
    fn enable_shadows() -> bool {
        false
    }
    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        _layout: &MeshVertexBufferLayoutRef,
        _key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        descriptor.primitive.cull_mode = Some(Face::Front);
        Ok(())
    }
}

/// Transfer-function control points: (value, sRGB colour, opacity per voxel).
fn points(preset: TransferPreset) -> (f32, f32, &'static [(f32, [f32; 3], f32)]) {
    match preset {
        TransferPreset::Bone => (
            -200.0,
            2000.0,
            &[
                (-200.0, [0.0; 3], 0.0),
                (180.0, [0.75, 0.55, 0.4], 0.0),
                (350.0, [0.95, 0.9, 0.8], 0.12),
                (1200.0, [1.0, 1.0, 0.97], 0.45),
                (2000.0, [1.0; 3], 0.6),
            ],
        ),
        TransferPreset::Vessels => (
            -200.0,
            1200.0,
            &[
                (-200.0, [0.0; 3], 0.0),
                (120.0, [0.6, 0.05, 0.05], 0.0),
                (200.0, [0.9, 0.15, 0.1], 0.25),
                (450.0, [1.0, 0.4, 0.3], 0.35),
                (700.0, [0.95, 0.92, 0.85], 0.04),
                (1200.0, [1.0; 3], 0.1),
            ],
        ),
        TransferPreset::Skin => (
            -1000.0,
            1500.0,
            &[
                (-1000.0, [0.0; 3], 0.0),
                (-550.0, [0.8, 0.55, 0.45], 0.0),
                (-200.0, [0.93, 0.72, 0.6], 0.12),
                (100.0, [0.9, 0.6, 0.5], 0.03),
                (300.0, [0.95, 0.9, 0.8], 0.05),
                (1500.0, [1.0; 3], 0.3),
            ],
        ),
    }
}

const TF_SIZE: usize = 256;

/// The preset sampled into a 256-entry table spanning its value range.
fn transfer_image(preset: TransferPreset) -> (Image, f32, f32) {
    let (lo, hi, pts) = points(preset);
    let mut data = Vec::with_capacity(TF_SIZE * 4);
    for i in 0..TF_SIZE {
        let v = lo + (hi - lo) * i as f32 / (TF_SIZE - 1) as f32;
        let k = pts.iter().rposition(|p| p.0 <= v).unwrap_or(0).min(pts.len() - 2);
        let (a, b) = (pts[k], pts[k + 1]);
        let t = ((v - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
        for c in 0..3 {
            data.push(((a.1[c] + (b.1[c] - a.1[c]) * t) * 255.0) as u8);
        }
        data.push(((a.2 + (b.2 - a.2) * t) * 255.0) as u8);
    }
    (super::gpu::lookup_table(data, TextureFormat::Rgba8UnormSrgb, ImageSampler::linear()), lo, hi)
}

#[derive(Component)]
struct VolumeBox;

fn setup(
    mut commands: Commands,
    tex: Res<VolumeTextures>,
    mut images: ResMut<Assets<Image>>,
    mut materials: ResMut<Assets<VolumeMaterial>>,
) {
    let (tf, _, _) = transfer_image(TransferPreset::Bone);
    let material =
        VolumeMaterial { params: VolumeParams::default(), volume: tex.volume.clone(), transfer: images.add(tf) };
    commands.spawn((VolumeBox, MeshMaterial3d(materials.add(material)), Transform::IDENTITY, Visibility::Hidden));
}

/// The scan's box (its eight corners in world space), exact for oblique and sheared grids.
fn box_mesh(grid: &crate::core::volume::Grid) -> Mesh {
    let c: Vec<[f32; 3]> = grid.corners_mm().iter().map(|p| world_from_patient(p).to_array()).collect();
    // Corner n has i = n & 1, j = n & 2, k = n & 4; outward winding is fixed by culling, not here.
    let faces = [[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]];
    let indices: Vec<u32> = faces.iter().flat_map(|f| [f[0], f[1], f[2], f[0], f[2], f[3]]).collect();
    let mut mesh = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::RENDER_WORLD);
    mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, c);
    mesh.insert_indices(Indices::U32(indices));
    mesh
}

#[allow(clippy::too_many_arguments)]
fn sync(
    mut commands: Commands,
    study: Res<Study>,
    doc: Res<Doc>,
    tex: Res<VolumeTextures>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut images: ResMut<Assets<Image>>,
    mut materials: ResMut<Assets<VolumeMaterial>>,
    mut boxes: Query<(Entity, &MeshMaterial3d<VolumeMaterial>, &mut Visibility), With<VolumeBox>>,
    mut seen: Local<(u64, Option<TransferPreset>)>,
) {
    let Some(v) = study.shown() else { return };
    let Ok((entity, mat, mut vis)) = boxes.single_mut() else { return };
    let preset = doc.doc.view.volume_rendering;
    vis.set_if_neq(if preset.is_some() { Visibility::Inherited } else { Visibility::Hidden });
    let Some(preset) = preset else { return };
    if seen.0 != study.revision {
        seen.0 = study.revision;
        commands.entity(entity).insert(Mesh3d(meshes.add(box_mesh(&v.grid))));
    }
    let (lo, hi, _) = points(preset);
    if seen.1 != Some(preset)
        && let Some(mut m) = materials.get_mut(&mat.0)
    {
        let (img, _, _) = transfer_image(preset);
        m.transfer = images.add(img);
        seen.1 = Some(preset);
    }
    let Some(voxel_from_patient) = v.grid.voxel_from_patient() else { return };
    // voxel_from_world = voxel_from_patient * patient_from_world (a fixed axis permutation).
    let o = patient_from_world(Vec3::ZERO);
    let cols = [Vec3::X, Vec3::Y, Vec3::Z].map(|a| patient_from_world(a) - o);
    let mut patient_from_world = nalgebra::Matrix4::identity();
    for (c, col) in cols.iter().enumerate() {
        patient_from_world.fixed_view_mut::<3, 1>(0, c).copy_from(col);
    }
    let m = voxel_from_patient * patient_from_world;
    let voxel_from_world = Mat4::from_cols_array(&std::array::from_fn(|i| m[(i % 4, i / 4)] as f32));
    let [nx, ny, nz] = v.grid.dims;
    let clip = clip_uniform(&doc.doc);
    let params = VolumeParams {
        voxel_from_world,
        dims: Vec4::new(nx as f32, ny as f32, nz as f32, 0.5),
        values: Vec4::new(tex.value_scale, 0.0, lo, hi),
        clip: clip.plane,
        flags: Vec4::new(clip.enabled as f32, 0.0, 0.0, 0.0),
    };
    if (materials.get(&mat.0).is_none_or(|m| m.params != params || m.volume != tex.volume) || tex.is_changed())
        && let Some(mut m) = materials.get_mut(&mat.0)
    {
        m.params = params;
        m.volume = tex.volume.clone();
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, setup.after(GpuResources)).add_systems(Update, sync);
}
