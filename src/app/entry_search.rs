//! Entry search in the workstation: it runs off the UI thread with progress and cancel; its
//! proposals are listed in the Plan panel and marked in 3D, and the skin is painted with the
//! risk of the path from each point of it (a heat map laid just above the skin).

use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use nalgebra::{Point3, Vector3};
use parry3d::shape::TriMesh;

use super::document::Doc;
use super::frames::{world_dir_from_patient, world_from_patient};
use super::job::{Job, JobError};
use super::meshes::{ClipExt, ClipMaterial, SegmentMeshes, clip_uniform};
use super::notices::Notices;
use super::sets::Stage;
use super::tools::Tools;
use crate::core::document::PlanDocument;
use crate::core::mesh::Mesh as SurfaceMesh;
use crate::core::planning::{DistanceField, EntrySearch, PlanningScene, SearchSettings};

/// A finished search and what it was run on.
pub struct Shown {
    pub trajectory: usize,
    pub target_mm: Point3<f64>,
    /// The skin the entries were taken from (the risks follow its vertices).
    pub skin: Arc<TriMesh>,
    pub result: EntrySearch,
    /// Tells one search from the next.
    pub id: u64,
    /// The risk that maps to full red (see [`risk_scale`]), worked out once per search.
    pub risk_scale: f32,
}

impl Shown {
    /// Whether the search still answers for the plan: same trajectory, same target.
    pub fn current(&self, doc: &PlanDocument) -> bool {
        doc.trajectories.get(self.trajectory).is_some_and(|t| t.target_mm == self.target_mm)
    }
}

/// The risk that maps to full red: most of the skin's range (its 90th percentile), at least 1 mm.
fn risk_scale(vertex_risk_mm: &[f32]) -> f32 {
    let mut r: Vec<f32> = vertex_risk_mm.iter().copied().filter(|r| r.is_finite()).collect();
    if r.is_empty() {
        return 1.0;
    }
    let k = (r.len() * 9 / 10).min(r.len() - 1);
    r.select_nth_unstable_by(k, f32::total_cmp);
    r[k].max(1.0)
}

struct Pending {
    trajectory: usize,
    target_mm: Point3<f64>,
    skin: Arc<TriMesh>,
    job: Job<EntrySearch>,
}

#[derive(Resource, Default)]
pub struct EntrySearches {
    pending: Option<Pending>,
    pub shown: Option<Shown>,
    next_id: u64,
}

impl EntrySearches {
    /// The search in flight: its title and progress.
    pub fn running(&self) -> Option<(&str, &crate::core::progress::Progress)> {
        self.pending.as_ref().map(|p| (p.job.title.as_str(), &p.job.progress))
    }

    pub fn cancel(&self) {
        if let Some(p) = &self.pending {
            p.job.progress.cancel();
        }
    }

    /// Starts a search for trajectory `index`'s target on the surfaces shown now; why it cannot
    /// when it cannot.
    pub fn start(
        &mut self,
        doc: &PlanDocument,
        meshes: &SegmentMeshes,
        index: usize,
        settings: SearchSettings,
    ) -> Result<(), String> {
        self.cancel();
        let Some(template) = doc.trajectories.get(index).cloned() else { return Ok(()) };
        let seg = doc.segmentation.clone();
        let scene = PlanningScene::from_shapes(&seg, &meshes.shapes);
        let Some(skin) = scene.entry_surface().cloned() else {
            return Err(
                "No skin or bone surface to search on: segment the skin (or the skull) first, or wait for its surface to be built."
                    .into(),
            );
        };
        let job = Job::spawn(format!("Searching entries for {}", template.name), move |p| {
            let field = DistanceField::build(&seg, p)?;
            Ok(scene.search_entries(&template, &seg, field.as_ref(), &settings, p)?)
        });
        self.pending = Some(Pending { trajectory: index, target_mm: doc.trajectories[index].target_mm, skin, job });
        Ok(())
    }
}

fn poll(mut searches: ResMut<EntrySearches>, mut notices: ResMut<Notices>) {
    let Some(result) = searches.pending.as_mut().and_then(|p| p.job.poll()) else { return };
    let Some(p) = searches.pending.take() else { return };
    match result {
        Ok(result) => {
            searches.next_id += 1;
            let id = searches.next_id;
            let risk_scale = risk_scale(&result.vertex_risk_mm);
            searches.shown =
                Some(Shown { trajectory: p.trajectory, target_mm: p.target_mm, skin: p.skin, result, id, risk_scale });
        }
        Err(JobError::Cancelled) => {}
        Err(e) => notices.search = Some(e.to_string()),
    }
}

/// The heat map's colour for a risk (mm of exposure): green for none through amber to red at
/// `scale`; grey where no path may start.
pub fn risk_rgb(risk: f32, scale: f32) -> [f32; 3] {
    if !risk.is_finite() {
        return [0.42, 0.42, 0.45];
    }
    let t = (risk / scale).clamp(0.0, 1.0);
    let (green, amber, red) = ([0.20, 0.75, 0.32], [0.96, 0.70, 0.18], [0.90, 0.18, 0.14]);
    let (a, b, s) = if t < 0.5 { (green, amber, t * 2.0) } else { (amber, red, t * 2.0 - 1.0) };
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * s)
}

/// The skin painted with risks, raised a quarter millimetre along its normals so that it covers
/// the skin's own surface.
fn heat_map_mesh(shown: &Shown) -> Mesh {
    const LIFT_MM: f64 = 0.25;
    let surface = SurfaceMesh::from_trimesh(&shown.skin);
    let normals = surface.vertex_normals();
    let scale = shown.risk_scale;
    let positions: Vec<[f32; 3]> = surface
        .positions
        .iter()
        .zip(&normals)
        .map(|(p, n)| {
            let n = Vector3::new(f64::from(n[0]), f64::from(n[1]), f64::from(n[2]));
            let p = Point3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2])) + n * LIFT_MM;
            world_from_patient(&p).to_array()
        })
        .collect();
    let world_normals: Vec<[f32; 3]> = normals
        .iter()
        .map(|n| world_dir_from_patient(&Vector3::new(f64::from(n[0]), f64::from(n[1]), f64::from(n[2]))).to_array())
        .collect();
    let colors: Vec<[f32; 4]> = shown
        .result
        .vertex_risk_mm
        .iter()
        .map(|&r| {
            let [red, g, b] = risk_rgb(r, scale);
            // Vertex colours are linear; the ramp is meant in sRGB.
            let c = Color::srgb(red, g, b).to_linear();
            [c.red, c.green, c.blue, 1.0]
        })
        .collect();
    let mut mesh = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::RENDER_WORLD);
    mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, positions);
    mesh.insert_attribute(Mesh::ATTRIBUTE_NORMAL, world_normals);
    mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, colors);
    mesh.insert_indices(Indices::U32(surface.triangles.iter().flatten().copied().collect()));
    mesh
}

#[derive(Component)]
struct HeatMap;

/// Shows the heat map of the current search while the Plan panel asks for it.
#[allow(clippy::too_many_arguments)]
fn heat_map(
    mut commands: Commands,
    doc: Res<Doc>,
    tools: Res<Tools>,
    searches: Res<EntrySearches>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ClipMaterial>>,
    shown_now: Query<(Entity, &MeshMaterial3d<ClipMaterial>), With<HeatMap>>,
    mut seen: Local<(Option<u64>, u64)>,
) {
    let wanted = searches
        .shown
        .as_ref()
        .filter(|s| tools.risk_map && doc.doc.view.show_meshes && s.current(&doc.doc))
        .filter(|s| s.result.vertex_risk_mm.len() == s.skin.vertices().len());
    let id = wanted.map(|s| s.id);
    if seen.0 != id {
        for (e, _) in &shown_now {
            commands.entity(e).despawn();
        }
        if let Some(s) = wanted {
            let material = ClipMaterial {
                base: StandardMaterial { base_color: Color::WHITE, perceptual_roughness: 0.6, ..default() },
                extension: ClipExt { clip: clip_uniform(&doc.doc) },
            };
            commands.spawn((
                HeatMap,
                Mesh3d(meshes.add(heat_map_mesh(s))),
                MeshMaterial3d(materials.add(material)),
                Transform::IDENTITY,
            ));
        }
        *seen = (id, doc.view_rev);
    } else if seen.1 != doc.view_rev {
        seen.1 = doc.view_rev;
        for (_, m) in &shown_now {
            if let Some(mut m) = materials.get_mut(&m.0) {
                m.extension.clip = clip_uniform(&doc.doc);
            }
        }
    }
}

/// The proposed entries in 3D: the best one large, each with its path to the target.
fn draw_suggestions(doc: Res<Doc>, searches: Res<EntrySearches>, mut gizmos: Gizmos) {
    let Some(s) = searches.shown.as_ref().filter(|s| s.current(&doc.doc)) else { return };
    let target = world_from_patient(&s.target_mm);
    for (i, g) in s.result.suggestions.iter().enumerate() {
        let entry = world_from_patient(&g.entry_mm);
        let color = if i == 0 { Color::srgb(0.3, 0.95, 1.0) } else { Color::srgb(0.85, 0.9, 1.0) };
        gizmos.sphere(Isometry3d::from_translation(entry), if i == 0 { 2.5 } else { 1.6 }, color);
        gizmos.line(entry, target, color.with_alpha(0.45));
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<EntrySearches>().add_systems(Update, poll.in_set(Stage::Jobs));
}

/// The drawing half, only where there is a renderer.
pub(super) fn render_plugin(app: &mut App) {
    app.add_systems(Update, (heat_map, draw_suggestions).in_set(Stage::Draw));
}
