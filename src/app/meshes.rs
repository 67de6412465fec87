//! Segment surfaces in the 3D view: each segment's mesh is extracted and smoothed in the
//! background whenever its voxels change, and replaces the old one when ready. Display settings
//! (colour, opacity, visibility) and the clipping plane only touch materials.

use std::collections::BTreeMap;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::pbr::{ExtendedMaterial, MaterialExtension};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, ShaderType};
use bevy::shader::ShaderRef;
use nalgebra::{Point3, Vector3};

use super::document::Doc;
use super::frames::{world_dir_from_patient, world_from_patient};
use super::job::{Job, JobError};
use super::presentation::Presentation;
use super::sets::Stage;
use super::study::Study;
use crate::core::document::PlanDocument;
use crate::core::mesh::lod;
use crate::core::planning::SegmentShape;
use crate::core::segmentation::{Category, Mask};
use crate::core::vessels::{Centrelines, centrelines};

/// Meshes in the 3D view: standard lighting, cut by the clipping plane.
pub type ClipMaterial = ExtendedMaterial<StandardMaterial, ClipExt>;

#[derive(Debug, Clone, Copy, Default, ShaderType, Reflect)]
pub struct ClipUniform {
    /// World-space plane: points with `dot(xyz, p) + w > 0` are cut away.
    pub plane: Vec4,
    pub enabled: u32,
}

#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct ClipExt {
    #[uniform(100)]
    pub clip: ClipUniform,
}

pub const CLIP_SHADER: Handle<Shader> = bevy::asset::uuid_handle!("5e1f3b7a-7c1e-4a0e-9a51-1c2f0c3e8d11");

impl MaterialExtension for ClipExt {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(CLIP_SHADER)
    }
    fn deferred_fragment_shader() -> ShaderRef {
        ShaderRef::Handle(CLIP_SHADER)
    }
}

/// The clipping plane of the view settings in world space, or disabled.
pub fn clip_uniform(doc: &PlanDocument) -> ClipUniform {
    let Some(plane) = doc.view.clip else { return ClipUniform::default() };
    let n = plane.normal() * if doc.view.clip_flip { -1.0 } else { 1.0 };
    let n_w = world_dir_from_patient(&n);
    let c_w = world_from_patient(&doc.view.crosshair_mm);
    ClipUniform { plane: n_w.extend(-n_w.dot(c_w)), enabled: 1 }
}

/// A segment's surface entity: its copies at each level of detail (chosen by the workstation's `lod` module).
#[derive(Component, Debug)]
pub struct SegmentMesh {
    pub label: u16,
    /// The full surface first, then coarser copies (never empty).
    pub levels: Vec<ShownLevel>,
    /// Which of `levels` is shown.
    pub shown: usize,
    /// The centre of the surface's bounding box (world).
    pub centre: Vec3,
}

impl SegmentMesh {
    /// Triangles of the copy shown.
    pub fn triangles(&self) -> usize {
        self.levels[self.shown].triangles
    }
}

/// One copy of a surface on the GPU.
#[derive(Debug, Clone)]
pub struct ShownLevel {
    pub mesh: Handle<Mesh>,
    pub triangles: usize,
    /// The edge of the grid cell it was extracted on (mm).
    pub cell_mm: f64,
}

/// A finished extraction: the Bevy meshes (world space), finest first, and the shape for picking
/// and clearances (LPS mm).
pub struct Built {
    levels: Vec<(Mesh, usize, f64)>,
    centre: Vec3,
    shape: Option<SegmentShape>,
    /// A vessel's centreline tree.
    centrelines: Option<Centrelines>,
}

/// Extractions in flight and the surfaces that can be picked.
#[derive(Resource, Default)]
pub struct SegmentMeshes {
    /// label -> (revision being built, job).
    jobs: BTreeMap<u16, (u64, Job<Built>)>,
    /// label -> revision shown.
    built: BTreeMap<u16, u64>,
    generation: u64,
    /// Shapes in LPS mm, for hover, picking and clearances.
    pub shapes: BTreeMap<u16, SegmentShape>,
    /// Each vessel segment's centreline tree (LPS mm), drawn by the Vessels tool.
    pub centrelines: BTreeMap<u16, Centrelines>,
    /// Bumped whenever `shapes` changes.
    pub version: u64,
}

impl SegmentMeshes {
    /// Extractions still running (for the status bar).
    pub fn pending(&self) -> usize {
        self.jobs.len()
    }

    /// Every segment of the plan has its current surface.
    pub fn settled(&self, doc: &Doc) -> bool {
        self.jobs.is_empty()
            && doc.doc.segmentation.segments.iter().all(|s| self.built.get(&s.label) == Some(&doc.label_rev(s.label)))
    }
}

/// A surface in world space for the GPU.
fn to_bevy(mesh: &crate::core::mesh::Mesh) -> Mesh {
    let normals: Vec<[f32; 3]> = mesh
        .vertex_normals()
        .iter()
        .map(|n| world_dir_from_patient(&Vector3::new(n[0] as f64, n[1] as f64, n[2] as f64)).to_array())
        .collect();
    let positions: Vec<[f32; 3]> = mesh
        .positions
        .iter()
        .map(|p| world_from_patient(&Point3::new(p[0] as f64, p[1] as f64, p[2] as f64)).to_array())
        .collect();
    let indices: Vec<u32> = mesh.triangles.iter().flatten().copied().collect();
    let mut out = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::RENDER_WORLD);
    out.insert_attribute(Mesh::ATTRIBUTE_POSITION, positions);
    out.insert_attribute(Mesh::ATTRIBUTE_NORMAL, normals);
    out.insert_indices(Indices::U32(indices));
    out
}

/// `vessel`: the segment is a vessel, whose centrelines start from this point when it has one.
fn build(
    mask: Mask,
    vessel: Option<Option<Point3<f64>>>,
    progress: &crate::core::progress::Progress,
) -> Result<Built, JobError> {
    let made = SegmentShape::from_mask(&mask, progress)?;
    // A segment without voxels has an empty mesh and no shape.
    let (mesh, shape) = made.map_or_else(|| (Default::default(), None), |(m, s)| (m, Some(s)));
    let coarse = if mesh.is_empty() { Vec::new() } else { lod::coarse_levels(&mask, progress)? };
    let full_cell_mm = mask.grid.spacing_mm().into_iter().fold(0.0, f64::max);
    let centrelines = match vessel {
        Some(root) if !mesh.is_empty() => Some(centrelines(&mask, root, progress)?),
        _ => None,
    };
    drop(mask);
    let centre = mesh.bounds().map_or(Vec3::ZERO, |(lo, hi)| {
        let c = |a: usize| (lo[a] as f64 + hi[a] as f64) / 2.0;
        world_from_patient(&Point3::new(c(0), c(1), c(2)))
    });
    let mut levels = vec![(to_bevy(&mesh), mesh.triangles.len(), full_cell_mm)];
    levels.extend(coarse.iter().map(|l| (to_bevy(&l.mesh), l.mesh.triangles.len(), l.cell_mm)));
    Ok(Built { levels, centre, shape, centrelines })
}

/// Starts an extraction for every segment whose voxels changed since its mesh was built.
fn start_builds(doc: Res<Doc>, study: Res<Study>, mut meshes: ResMut<SegmentMeshes>) {
    if study.volume.is_none() {
        return;
    }
    if meshes.generation != doc.generation {
        for (_, (_, job)) in std::mem::take(&mut meshes.jobs) {
            job.progress.cancel();
        }
        meshes.built.clear();
        meshes.shapes.clear();
        meshes.centrelines.clear();
        meshes.version += 1;
        meshes.generation = doc.generation;
    }
    let gone: Vec<u16> = meshes.jobs.keys().copied().filter(|l| doc.doc.segmentation.segment(*l).is_none()).collect();
    for label in gone {
        if let Some((_, job)) = meshes.jobs.remove(&label) {
            job.progress.cancel();
        }
    }
    for s in &doc.doc.segmentation.segments {
        let rev = doc.label_rev(s.label);
        if meshes.built.get(&s.label) == Some(&rev) || meshes.jobs.get(&s.label).is_some_and(|(r, _)| *r == rev) {
            continue;
        }
        if let Some((_, old)) = meshes.jobs.remove(&s.label) {
            old.progress.cancel();
        }
        let mask = doc.doc.segmentation.mask(s.label);
        let vessel = (s.category == Category::Vessel).then(|| s.vessel_seed());
        let job = Job::spawn(format!("Meshing {}", s.name), move |p| build(mask, vessel, p));
        meshes.jobs.insert(s.label, (rev, job));
    }
}

/// The segment's opacity as shown: the presentation's slide while presenting, else the plan's
/// (0 when hidden).
pub(crate) fn shown_opacity(doc: &PlanDocument, presentation: &Presentation, label: u16) -> f32 {
    presentation.opacity(label).unwrap_or_else(|| doc.shown_opacity(label))
}

fn material_for(doc: &PlanDocument, label: u16, opacity: f32) -> ClipMaterial {
    let [r, g, b] = doc.display_of(label).color;
    let translucent = opacity < 0.999;
    ClipMaterial {
        base: StandardMaterial {
            base_color: Color::srgba_u8(r, g, b, (opacity.clamp(0.0, 1.0) * 255.0) as u8),
            alpha_mode: if translucent { AlphaMode::Blend } else { AlphaMode::Opaque },
            perceptual_roughness: 0.55,
            reflectance: 0.3,
            // The clipping plane opens opaque surfaces: their inside must show. Translucent ones
            // show their front only, so that layers behind them stay readable.
            double_sided: !translucent,
            cull_mode: if translucent { Some(bevy::render::render_resource::Face::Back) } else { None },
            ..default()
        },
        extension: ClipExt { clip: clip_uniform(doc) },
    }
}

/// Swaps finished meshes in, and removes entities of segments that no longer exist.
#[allow(clippy::too_many_arguments)]
fn finish_builds(
    mut commands: Commands,
    doc: Res<Doc>,
    presentation: Res<Presentation>,
    mut state: ResMut<SegmentMeshes>,
    mut mesh_assets: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ClipMaterial>>,
    mut entities: Query<(Entity, &mut SegmentMesh, &mut Mesh3d, &MeshMaterial3d<ClipMaterial>)>,
) {
    let finished: Vec<u16> = state.jobs.iter_mut().filter_map(|(l, (_, j))| j.is_finished().then_some(*l)).collect();
    for label in finished {
        let Some((rev, mut job)) = state.jobs.remove(&label) else { continue };
        let Some(Ok(built)) = job.poll() else { continue };
        // The segment was removed while its surface was being built.
        if doc.doc.segmentation.segment(label).is_none() {
            continue;
        }
        state.built.insert(label, rev);
        match built.shape {
            Some(p) => state.shapes.insert(label, p),
            None => state.shapes.remove(&label),
        };
        match built.centrelines {
            Some(c) => state.centrelines.insert(label, c),
            None => state.centrelines.remove(&label),
        };
        state.version += 1;
        let levels: Vec<ShownLevel> = built
            .levels
            .into_iter()
            .map(|(mesh, triangles, cell_mm)| ShownLevel { mesh: mesh_assets.add(mesh), triangles, cell_mm })
            .collect();
        let full = levels[0].mesh.clone();
        if let Some((_, mut seg, mut mesh3d, _)) = entities.iter_mut().find(|(_, s, _, _)| s.label == label) {
            mesh3d.0 = full;
            *seg = SegmentMesh { label, levels, shown: 0, centre: built.centre };
        } else {
            let opacity = shown_opacity(&doc.doc, &presentation, label);
            let visible = opacity > 0.0 && doc.doc.view.show_meshes;
            commands.spawn((
                SegmentMesh { label, levels, shown: 0, centre: built.centre },
                Mesh3d(full),
                MeshMaterial3d(materials.add(material_for(&doc.doc, label, opacity))),
                Transform::IDENTITY,
                if visible { Visibility::Inherited } else { Visibility::Hidden },
            ));
        }
    }
    for (e, seg, _, _) in &entities {
        if doc.doc.segmentation.segment(seg.label).is_none() {
            commands.entity(e).despawn();
            state.built.remove(&seg.label);
            state.shapes.remove(&seg.label);
            state.centrelines.remove(&seg.label);
            state.version += 1;
        }
    }
}

/// Colours, opacity, visibility and the clipping plane follow the document (and a
/// presentation's fading).
fn sync_display(
    doc: Res<Doc>,
    presentation: Res<Presentation>,
    mut seen: Local<(u64, u64, u64)>,
    mut materials: ResMut<Assets<ClipMaterial>>,
    mut entities: Query<(&SegmentMesh, &MeshMaterial3d<ClipMaterial>, &mut Visibility)>,
) {
    if *seen == (doc.display_rev, doc.view_rev, presentation.rev) {
        return;
    }
    *seen = (doc.display_rev, doc.view_rev, presentation.rev);
    for (seg, mat, mut vis) in &mut entities {
        let opacity = shown_opacity(&doc.doc, &presentation, seg.label);
        let visible = opacity > 0.0 && doc.doc.view.show_meshes;
        vis.set_if_neq(if visible { Visibility::Inherited } else { Visibility::Hidden });
        let wanted = material_for(&doc.doc, seg.label, opacity);
        if materials.get(&mat.0).is_some_and(|m| {
            m.base.base_color != wanted.base.base_color
                || m.base.alpha_mode != wanted.base.alpha_mode
                || m.base.cull_mode != wanted.base.cull_mode
                || m.extension.clip.plane != wanted.extension.clip.plane
                || m.extension.clip.enabled != wanted.extension.clip.enabled
        }) && let Some(mut m) = materials.get_mut(&mat.0)
        {
            *m = wanted;
        }
    }
}

/// Whether a point (LPS mm) is on the kept side of the clipping plane.
pub fn unclipped(doc: &PlanDocument, p_mm: &Point3<f64>) -> bool {
    let Some(plane) = doc.view.clip else { return true };
    let n = plane.normal() * if doc.view.clip_flip { -1.0 } else { 1.0 };
    n.dot(&(p_mm - doc.view.crosshair_mm)) <= 0.0
}

pub(super) fn plugin(app: &mut App) {
    // A presentation's fading is read here; the resource exists without the presentation
    // plugin too (the headless app).
    app.init_resource::<SegmentMeshes>()
        .init_resource::<Presentation>()
        .add_systems(Update, (start_builds, finish_builds, sync_display).chain().in_set(Stage::Rebuild));
}
