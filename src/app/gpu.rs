//! The scan and its label map as GPU textures, shared by the slice views and volume rendering.
//! They are uploaded when the scan or the voxels change; window/level, the overlay and the
//! transfer functions are applied in the shaders.

use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use rayon::prelude::*;

use super::document::Doc;
use super::sets::GpuResources;
use super::study::Study;
use crate::core::volume::{Grid, Volume, VoxelData};

/// Entries of the label colour table (labels above it share its last entry).
pub const LUT_SIZE: usize = 1024;

#[derive(Resource, Default, Clone)]
pub struct VolumeTextures {
    /// Scan values as 16-bit floats; the value is `texel * value_scale`.
    pub volume: Handle<Image>,
    pub value_scale: f32,
    /// The plan's scan while a fused scan is shown (`volume` holds the fused one), for the
    /// slice views to draw one with the other; 1 voxel otherwise.
    pub under: Handle<Image>,
    pub under_scale: f32,
    pub labels: Handle<Image>,
    /// sRGB colour and visibility per label.
    pub lut: Handle<Image>,
    /// The Vessels tool's preview (see `vessel_preview`): the square root of the vesselness, and
    /// bone; 1 voxel while there is none.
    pub vesselness: Handle<Image>,
    pub vesselness_shown: bool,
    /// Bumped on every upload, so that materials rebind.
    pub revision: u64,
}

fn extent(grid: &Grid) -> Extent3d {
    let [x, y, z] = grid.dims;
    Extent3d { width: x as u32, height: y as u32, depth_or_array_layers: z as u32 }
}

/// Values as f16 (exact for integers up to 2048, within 0.05% above); scaled down when they would
/// overflow f16's range.
fn volume_image(v: &Volume) -> (Image, f32) {
    let max_abs = v.data.range().map_or(1.0, |(lo, hi)| lo.abs().max(hi.abs()));
    let scale = if max_abs > 60000.0 { max_abs / 60000.0 } else { 1.0 };
    let bits: Vec<u16> = match &v.filled() {
        VoxelData::I16(d) => d.par_iter().map(|&x| half::f16::from_f32(x as f32 / scale).to_bits()).collect(),
        VoxelData::F32(d) => d.par_iter().map(|&x| half::f16::from_f32(x / scale).to_bits()).collect(),
    };
    let mut img = Image::new(
        extent(&v.grid),
        TextureDimension::D3,
        bytemuck::cast_slice(&bits).to_vec(),
        TextureFormat::R16Float,
        RenderAssetUsages::RENDER_WORLD,
    );
    img.sampler = ImageSampler::linear();
    (img, scale)
}

fn labels_image(grid: &Grid, labels: &[u16]) -> Image {
    let mut img = Image::new(
        extent(grid),
        TextureDimension::D3,
        bytemuck::cast_slice(labels).to_vec(),
        TextureFormat::R16Uint,
        RenderAssetUsages::RENDER_WORLD,
    );
    img.sampler = ImageSampler::nearest();
    img
}

fn lut_image(doc: &crate::core::document::PlanDocument) -> Image {
    let mut data = vec![0u8; LUT_SIZE * 4];
    for s in &doc.segmentation.segments {
        let d = doc.display_of(s.label);
        let i = usize::from(s.label).min(LUT_SIZE - 1) * 4;
        data[i..i + 3].copy_from_slice(&d.color);
        data[i + 3] = if d.visible { 255 } else { 0 };
    }
    lookup_table(data, TextureFormat::Rgba8Unorm, ImageSampler::nearest())
}

/// A one-row RGBA texture for looking colours up in a shader (labels, transfer functions).
pub fn lookup_table(rgba: Vec<u8>, format: TextureFormat, sampler: ImageSampler) -> Image {
    let width = (rgba.len() / 4) as u32;
    let mut img = Image::new(
        Extent3d { width, height: 1, depth_or_array_layers: 1 },
        TextureDimension::D2,
        rgba,
        format,
        RenderAssetUsages::RENDER_WORLD,
    );
    img.sampler = sampler;
    img
}

fn empty_3d(format: TextureFormat) -> Image {
    let one = Extent3d { width: 1, height: 1, depth_or_array_layers: 1 };
    Image::new(one, TextureDimension::D3, vec![0; 2], format, RenderAssetUsages::RENDER_WORLD)
}

/// Two bytes per voxel (see [`VolumeTextures::vesselness`]), or one empty voxel.
pub fn preview_image(texels: Option<(Grid, Vec<u8>)>) -> Image {
    let Some((grid, texels)) = texels else { return empty_3d(TextureFormat::Rg8Unorm) };
    let mut img = Image::new(
        extent(&grid),
        TextureDimension::D3,
        texels,
        TextureFormat::Rg8Unorm,
        RenderAssetUsages::RENDER_WORLD,
    );
    img.sampler = ImageSampler::nearest();
    img
}

pub(super) fn setup(mut commands: Commands, mut images: ResMut<Assets<Image>>) {
    let doc = crate::core::document::PlanDocument::default();
    commands.insert_resource(VolumeTextures {
        volume: images.add(empty_3d(TextureFormat::R16Float)),
        value_scale: 1.0,
        under: images.add(empty_3d(TextureFormat::R16Float)),
        under_scale: 1.0,
        labels: images.add(empty_3d(TextureFormat::R16Uint)),
        lut: images.add(lut_image(&doc)),
        vesselness: images.add(preview_image(None)),
        vesselness_shown: false,
        revision: 0,
    });
}

/// Uploads what changed: the scan on a new study, the labels on an edit, the colour table on a
/// display change.
fn upload(
    study: Res<Study>,
    doc: Res<Doc>,
    mut tex: ResMut<VolumeTextures>,
    mut images: ResMut<Assets<Image>>,
    mut seen: Local<(u64, u64, u64)>,
    // The plan's scan now under a fused one (by its address), so that placing the fused scan
    // anew, at every step of a drag, does not upload the plan's scan again.
    mut under_seen: Local<Option<usize>>,
) {
    let Some(v) = study.shown() else { return };
    let mut changed = false;
    if seen.0 != study.revision {
        let (img, scale) = volume_image(v);
        let _ = images.insert(&tex.volume, img);
        tex.value_scale = scale;
        seen.0 = study.revision;
        changed = true;
    }
    let under_now = study.fused.as_ref().and(study.volume.as_ref());
    if *under_seen != under_now.map(|p| Arc::as_ptr(p) as usize) {
        let (under, under_scale) = match under_now {
            Some(plan_scan) => volume_image(plan_scan),
            None => (empty_3d(TextureFormat::R16Float), 1.0),
        };
        let _ = images.insert(&tex.under, under);
        tex.under_scale = under_scale;
        *under_seen = under_now.map(|p| Arc::as_ptr(p) as usize);
        changed = true;
    }
    let labels = &doc.doc.segmentation.labels;
    if seen.1 != doc.labels_rev && labels.grid.dims == v.grid.dims {
        let _ = images.insert(&tex.labels, labels_image(&labels.grid, &labels.labels));
        seen.1 = doc.labels_rev;
        changed = true;
    }
    if seen.2 != doc.display_rev {
        let _ = images.insert(&tex.lut, lut_image(&doc.doc));
        seen.2 = doc.display_rev;
        changed = true;
    }
    if changed {
        tex.revision += 1;
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, setup.in_set(GpuResources)).add_systems(Update, upload);
}
