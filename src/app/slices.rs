//! The axial, coronal and sagittal views: each is its own orthographic camera looking at one quad
//! whose shader samples the scan through the crosshair (window/level and the label overlay on
//! the GPU). Radiological convention: the patient's left is on the screen's right in axial and
//! coronal views; the sagittal view looks from the left with anterior on the screen's left.
//!
//! Each camera draws into a picture the panels show 1:1, and only in frames where its inputs
//! changed: sampling the scan in every pixel is the dearest part of a frame on a software
//! renderer, and orbiting the 3D view leaves the slices as they are.

use bevy::camera::visibility::RenderLayers;
use bevy::camera::{RenderTarget, ScalingMode};
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, Extent3d, ShaderType, TextureFormat};
use bevy::shader::ShaderRef;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiTextureHandle, EguiUserTextures, egui};
use nalgebra::{Point3, Vector3};

use super::document::Doc;
use super::gpu::VolumeTextures;
use super::layout::{SliceAxis, SliceFrame, ViewRects, viewport_for};
use super::redraw::RenderPending;
use super::sets::GpuResources;
use super::study::{FusionMode, FusionView, Study};
use super::tools::{Tool, Tools};
use crate::core::volume::Grid;

/// Zoom and pan of one slice view.
#[derive(Debug, Clone, Copy)]
pub struct SliceNav {
    pub zoom: f32,
    /// Centre of the view in the quad's plane (mm, x right, y up, from the quad's centre).
    pub pan: Vec2,
}

impl Default for SliceNav {
    fn default() -> Self {
        SliceNav { zoom: 1.0, pan: Vec2::ZERO }
    }
}

#[derive(Resource, Default)]
pub struct SliceViews {
    pub nav: [SliceNav; 3],
    /// The picture each view's camera draws into, for the panels to show.
    pub pictures: [Option<egui::TextureId>; 3],
}

/// Frames a slice camera keeps drawing after its inputs last changed (and while the renderer
/// compiles pipelines): a changed material or texture may be ready on the GPU only later.
const REDRAW_FRAMES: u8 = 3;

/// Maps between a slice view's pixels (logical, window coordinates) and patient space.
pub struct SliceMapping {
    pub frame: SliceFrame,
    pub rect: egui::Rect,
    pub mm_per_px: f64,
    pub pan: Vec2,
}

impl SliceMapping {
    pub fn new(frame: SliceFrame, rect: egui::Rect, nav: &SliceNav) -> SliceMapping {
        let [w, h] = frame.size_mm;
        let fit = (w / rect.width().max(1.0) as f64).max(h / rect.height().max(1.0) as f64) * 1.04;
        SliceMapping { frame, rect, mm_per_px: fit / nav.zoom.max(0.01) as f64, pan: nav.pan }
    }

    pub fn patient_from_px(&self, px: egui::Pos2) -> Point3<f64> {
        let c = self.rect.center();
        let lx = self.pan.x as f64 + (px.x - c.x) as f64 * self.mm_per_px;
        let ly = self.pan.y as f64 - (px.y - c.y) as f64 * self.mm_per_px;
        let [w, h] = self.frame.size_mm;
        self.frame.origin + self.frame.right * (lx + w / 2.0) + self.frame.down * (h / 2.0 - ly)
    }

    pub fn px_from_patient(&self, p: &Point3<f64>) -> egui::Pos2 {
        let d = p - self.frame.origin;
        let [w, h] = self.frame.size_mm;
        let lx = d.dot(&self.frame.right) - w / 2.0;
        let ly = h / 2.0 - d.dot(&self.frame.down);
        let c = self.rect.center();
        egui::pos2(
            c.x + ((lx - self.pan.x as f64) / self.mm_per_px) as f32,
            c.y - ((ly - self.pan.y as f64) / self.mm_per_px) as f32,
        )
    }
}

/// How far one slice step moves along a view's normal: one voxel of the scan along it.
pub fn slice_step_mm(grid: &Grid, axis: SliceAxis) -> f64 {
    let mut n = Vector3::zeros();
    n[axis.normal_index()] = 1.0;
    let per_mm = grid.linear_mm().try_inverse().map_or(1.0, |inv| (inv * n).norm());
    if per_mm > 0.0 { 1.0 / per_mm } else { 1.0 }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, ShaderType)]
pub struct SliceParams {
    pub patient_from_uv: Mat4,
    pub voxel_from_patient: Mat4,
    pub dims: Vec4,
    pub values: Vec4,
    pub overlay: Vec4,
    pub preview_color: Vec4,
    /// x: the fusion mode (0 none or alone, 1 blend, 2 checkerboard, 3 colour); y: the fused
    /// scan's opacity; z: the checkerboard's square (mm).
    pub fusion: Vec4,
    /// As `values`, for the plan's scan under a fused one.
    pub under_values: Vec4,
}

#[derive(Asset, AsBindGroup, TypePath, Debug, Clone)]
pub struct SliceMaterial {
    #[uniform(0)]
    pub params: SliceParams,
    #[texture(1, dimension = "3d")]
    #[sampler(2)]
    pub volume: Handle<Image>,
    #[texture(3, dimension = "3d", sample_type = "u_int")]
    pub labels: Handle<Image>,
    #[texture(4)]
    pub lut: Handle<Image>,
    #[texture(5, dimension = "3d")]
    #[sampler(6)]
    pub under: Handle<Image>,
    #[texture(7, dimension = "3d")]
    pub vesselness: Handle<Image>,
}

pub const SLICE_SHADER: Handle<Shader> = bevy::asset::uuid_handle!("0b6f2f0e-3d7a-4b8e-8e0f-5a4c1d2b9e21");

impl Material for SliceMaterial {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(SLICE_SHADER)
    }
    fn enable_prepass() -> bool {
        false
    }
    fn enable_shadows() -> bool {
        false
    }
}

#[derive(Component)]
pub struct SliceCamera {
    pub axis: SliceAxis,
    picture: Handle<Image>,
    /// Frames left to draw (see [`REDRAW_FRAMES`]).
    redraw: u8,
}

#[derive(Component)]
struct SliceQuad(SliceAxis);

fn setup(
    mut commands: Commands,
    tex: Res<VolumeTextures>,
    mut materials: ResMut<Assets<SliceMaterial>>,
    mut images: ResMut<Assets<Image>>,
    mut textures: ResMut<EguiUserTextures>,
    mut views: ResMut<SliceViews>,
) {
    for axis in SliceAxis::ALL {
        let layer = RenderLayers::layer(1 + axis as usize);
        let picture = images.add(Image::new_target_texture(1, 1, TextureFormat::Rgba8UnormSrgb, None));
        views.pictures[axis as usize] = Some(textures.add_image(EguiTextureHandle::Strong(picture.clone())));
        commands.spawn((
            SliceCamera { axis, picture: picture.clone(), redraw: REDRAW_FRAMES },
            Camera3d::default(),
            Camera { order: 1 + axis as isize, clear_color: ClearColorConfig::Custom(Color::BLACK), ..default() },
            RenderTarget::Image(picture.into()),
            Msaa::Off,
            Tonemapping::None,
            DebandDither::Disabled,
            Projection::Orthographic(OrthographicProjection::default_3d()),
            Transform::from_xyz(0.0, 0.0, 10.0),
            layer.clone(),
        ));
        let material = SliceMaterial {
            params: SliceParams::default(),
            volume: tex.volume.clone(),
            labels: tex.labels.clone(),
            lut: tex.lut.clone(),
            under: tex.under.clone(),
            vesselness: tex.vesselness.clone(),
        };
        commands.spawn((SliceQuad(axis), MeshMaterial3d(materials.add(material)), Transform::IDENTITY, layer));
    }
}

fn to_mat4(m: &nalgebra::Matrix4<f64>) -> Mat4 {
    Mat4::from_cols_array(&std::array::from_fn(|i| m[(i % 4, i / 4)] as f32))
}

/// Keeps each view's camera, quad and shader parameters in step with the document, and lets a
/// camera draw only when something it shows changed.
#[allow(clippy::too_many_arguments)]
fn sync(
    study: Res<Study>,
    doc: Res<Doc>,
    views: Res<SliceViews>,
    rects: Res<ViewRects>,
    tools: Res<Tools>,
    tex: Res<VolumeTextures>,
    fusion: Res<FusionView>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<SliceMaterial>>,
    mut images: ResMut<Assets<Image>>,
    mut cameras: Query<(&mut SliceCamera, &mut Camera, &mut Projection, &mut Transform)>,
    mut quads: Query<(Entity, &SliceQuad, &MeshMaterial3d<SliceMaterial>, Option<&Mesh3d>)>,
    mut commands: Commands,
    mut quad_size: Local<[[f64; 2]; 3]>,
    pending: Res<RenderPending>,
) {
    let Some(v) = &study.volume else { return };
    let Some(voxel_from_patient) = v.grid.voxel_from_patient() else { return };
    let (lo, hi) = v.grid.bounds_mm();
    let view = &doc.doc.view;
    let mut changed = [tex.is_changed(); 3];
    // The tools read the scan on show, as the preview does: its values in the range, or its
    // vesselness above the threshold (compared as square roots, as the texture holds them).
    let (preview, plo, phi) = match tools.tool {
        Tool::Threshold | Tool::Grow => (1.0, tools.range.0, tools.range.1),
        Tool::Vessels if tex.vesselness_shown => (2.0, tools.vessels.threshold.sqrt(), 0.0),
        _ => (0.0, 0.0, 0.0),
    };
    // With a fused scan shown, the plan's scan under it keeps the window it had.
    let (fusion_params, under_window) = match &study.fused {
        Some(f) => {
            let mode = match fusion.mode {
                FusionMode::Alone => 0.0,
                FusionMode::Blend => 1.0,
                FusionMode::Checkerboard => 2.0,
                FusionMode::Colour => 3.0,
            };
            (Vec4::new(mode, fusion.opacity, fusion.checker_mm.max(1.0), 0.0), f.window_before)
        }
        None => (Vec4::ZERO, (0.0, 1.0)),
    };
    let under_values = Vec4::new(tex.under_scale, 0.0, under_window.0 as f32, under_window.1.max(1.0) as f32);
    for (entity, quad, mat, mesh) in &mut quads {
        let frame = quad.0.frame(&lo, &hi, &view.crosshair_mm);
        let i = quad.0 as usize;
        if mesh.is_none() || quad_size[i] != frame.size_mm {
            quad_size[i] = frame.size_mm;
            let rect = Rectangle::new(frame.size_mm[0] as f32, frame.size_mm[1] as f32);
            commands.entity(entity).insert(Mesh3d(meshes.add(rect)));
            changed[i] = true;
        }
        let [w, h] = frame.size_mm;
        let mut patient_from_uv = nalgebra::Matrix4::identity();
        patient_from_uv.fixed_view_mut::<3, 1>(0, 0).copy_from(&(frame.right * w));
        patient_from_uv.fixed_view_mut::<3, 1>(0, 1).copy_from(&(frame.down * h));
        patient_from_uv.fixed_view_mut::<3, 1>(0, 3).copy_from(&frame.origin.coords);
        let [nx, ny, nz] = v.grid.dims;
        let params = SliceParams {
            patient_from_uv: to_mat4(&patient_from_uv),
            voxel_from_patient: to_mat4(&voxel_from_patient),
            dims: Vec4::new(nx as f32, ny as f32, nz as f32, 0.0),
            values: Vec4::new(tex.value_scale, 0.0, view.window_centre as f32, view.window_width.max(1.0) as f32),
            overlay: Vec4::new(view.overlay_opacity, preview, plo as f32, phi as f32),
            preview_color: Vec4::new(0.2, 0.85, 1.0, 0.45),
            fusion: fusion_params,
            under_values,
        };
        // Touching the material also rebinds textures that were re-uploaded.
        if (materials.get(&mat.0).is_none_or(|m| m.params != params) || tex.is_changed())
            && let Some(mut m) = materials.get_mut(&mat.0)
        {
            m.params = params;
            m.under = tex.under.clone();
            m.vesselness = tex.vesselness.clone();
            changed[i] = true;
        }
    }
    for (mut cam, mut camera, mut projection, mut transform) in &mut cameras {
        let i = cam.axis as usize;
        let Some(rect) = rects.slices[i] else {
            camera.is_active = false;
            continue;
        };
        let size = viewport_for(rect, &window).physical_size;
        let picture_size = Extent3d { width: size.x, height: size.y, depth_or_array_layers: 1 };
        if images.get(&cam.picture).is_some_and(|p| p.texture_descriptor.size != picture_size)
            && let Some(mut picture) = images.get_mut(&cam.picture)
        {
            picture.resize(picture_size);
            changed[i] = true;
        }
        let map = SliceMapping::new(cam.axis.frame(&lo, &hi, &view.crosshair_mm), rect, &views.nav[i]);
        let (w, h) = (rect.width() as f64 * map.mm_per_px, rect.height() as f64 * map.mm_per_px);
        let scaling_mode = ScalingMode::Fixed { width: w as f32, height: h as f32 };
        if let Projection::Orthographic(o) = &mut *projection {
            let same = matches!(o.scaling_mode, ScalingMode::Fixed { width, height } if width == w as f32 && height == h as f32);
            if !same {
                o.scaling_mode = scaling_mode;
                changed[i] = true;
            }
        } else {
            *projection = Projection::Orthographic(OrthographicProjection {
                scaling_mode,
                ..OrthographicProjection::default_3d()
            });
            changed[i] = true;
        }
        let pan = views.nav[i].pan;
        if transform.translation.truncate() != pan {
            transform.translation = pan.extend(10.0);
            changed[i] = true;
        }
        if changed[i] || pending.get() {
            cam.redraw = REDRAW_FRAMES;
        }
        camera.is_active = cam.redraw > 0;
        cam.redraw = cam.redraw.saturating_sub(1);
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<SliceViews>().add_systems(Startup, setup.after(GpuResources)).add_systems(Update, sync);
}
