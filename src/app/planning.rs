//! Trajectories in the workstation: every path is re-checked against the critical surfaces in the
//! frame it or a surface changes (a dragged end updates its clearances at once), and drawn in 3D
//! as the instrument at its real diameter, coloured along its length by clearance.

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use nalgebra::{Point3, Vector3};

use super::document::Doc;
use super::frames::{world_dir_from_patient, world_from_patient};
use super::meshes::SegmentMeshes;
use super::sets::Stage;
use super::tools::Tools;
use crate::core::planning::{PlanningScene, TrajectoryReport};
use crate::core::volume::Plane;

/// The latest check of every trajectory in the plan (same order).
#[derive(Resource, Default)]
pub struct Planning {
    pub reports: Vec<Result<TrajectoryReport, String>>,
    /// Why some structures are not checked (surfaces still being built, none critical).
    pub warnings: Vec<String>,
    /// Bumped when the reports change.
    pub revision: u64,
    seen: (u64, u64, u64, u64),
}

fn recheck(doc: Res<Doc>, meshes: Res<SegmentMeshes>, mut planning: ResMut<Planning>) {
    let key = (doc.generation, doc.trajectories_rev, doc.display_rev, meshes.version);
    if planning.seen == key {
        return;
    }
    planning.seen = key;
    let seg = &doc.doc.segmentation;
    let scene = PlanningScene::from_shapes(seg, &meshes.shapes);
    planning.reports = doc.doc.trajectories.iter().map(|t| scene.check(t, seg).map_err(|e| e.to_string())).collect();
    planning.warnings = if meshes.settled(&doc) {
        scene.warnings
    } else {
        vec!["Surfaces are still being built: clearances will update when they are ready.".into()]
    };
    planning.revision += 1;
}

/// An instrument shown in 3D (index into the plan's trajectories).
#[derive(Component)]
struct InstrumentMesh;

/// Replaces the instrument meshes whenever the reports change, or the rehearsed tip moves (the
/// rehearsed instrument ends at its tip).
#[allow(clippy::too_many_arguments)]
fn draw_instruments(
    mut commands: Commands,
    doc: Res<Doc>,
    planning: Res<Planning>,
    tools: Res<Tools>,
    mut seen: Local<(u64, Option<(usize, u64)>)>,
    old: Query<Entity, With<InstrumentMesh>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut material: Local<Option<Handle<StandardMaterial>>>,
) {
    let rehearsal = tools.trajectory.zip(tools.rehearsal);
    let key = (planning.revision, rehearsal.map(|(i, d)| (i, d.to_bits())));
    if *seen == key {
        return;
    }
    *seen = key;
    for e in &old {
        commands.entity(e).despawn();
    }
    let material = material
        .get_or_insert_with(|| {
            materials.add(StandardMaterial { base_color: Color::WHITE, perceptual_roughness: 0.4, ..default() })
        })
        .clone();
    let seg = &doc.doc.segmentation;
    for (i, (t, report)) in doc.doc.trajectories.iter().zip(&planning.reports).enumerate() {
        let Ok(report) = report else { continue };
        let tip = rehearsal.filter(|(r, _)| *r == i).map_or(f64::INFINITY, |(_, d)| d);
        let mut colors: Vec<(f64, [u8; 3])> =
            report.profile.iter().filter(|p| p.depth_mm < tip).map(|p| (p.depth_mm, p.verdict(seg).rgb())).collect();
        if let Some(last) = report.profile.iter().find(|p| p.depth_mm >= tip) {
            colors.push((tip, last.verdict(seg).rgb()));
        }
        let Some(mesh) = instrument_mesh(t.entry_mm, t.target_mm, t.instrument.radius_mm(), &colors) else { continue };
        commands.spawn((
            InstrumentMesh,
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(material.clone()),
            Transform::IDENTITY,
        ));
    }
}

/// A cylinder from entry to target with rings at the profile's depths, coloured per ring.
fn instrument_mesh(entry: Point3<f64>, target: Point3<f64>, radius_mm: f64, rings: &[(f64, [u8; 3])]) -> Option<Mesh> {
    const SIDES: usize = 12;
    let axis = target - entry;
    let length = axis.norm();
    if length <= 0.0 || rings.len() < 2 {
        return None;
    }
    let dir = axis / length;
    let helper = if dir.x.abs() < 0.9 { Vector3::x() } else { Vector3::y() };
    let u = dir.cross(&helper).normalize();
    let v = dir.cross(&u);
    let (mut positions, mut normals, mut colors, mut indices) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (r, (depth, rgb)) in rings.iter().enumerate() {
        let c = Color::srgb_u8(rgb[0], rgb[1], rgb[2]).to_linear().to_f32_array();
        for s in 0..SIDES {
            let a = s as f64 / SIDES as f64 * std::f64::consts::TAU;
            let n = u * a.cos() + v * a.sin();
            positions.push(world_from_patient(&(entry + dir * *depth + n * radius_mm)).to_array());
            normals.push(world_dir_from_patient(&n).to_array());
            colors.push(c);
            if r > 0 {
                let (i0, i1) = (((r - 1) * SIDES + s) as u32, ((r - 1) * SIDES + (s + 1) % SIDES) as u32);
                let (j0, j1) = (i0 + SIDES as u32, i1 + SIDES as u32);
                indices.extend([i0, i1, j1, i0, j1, j0]);
            }
        }
    }
    let mut mesh = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::RENDER_WORLD);
    mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, positions);
    mesh.insert_attribute(Mesh::ATTRIBUTE_NORMAL, normals);
    mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, colors);
    mesh.insert_indices(Indices::U32(indices));
    Some(mesh)
}

/// The rehearsed tip and the square of the plane the Plan panel shows there.
fn draw_rehearsal(doc: Res<Doc>, tools: Res<Tools>, mut gizmos: Gizmos) {
    let Some((t, depth)) = tools.trajectory.and_then(|i| doc.doc.trajectories.get(i)).zip(tools.rehearsal) else {
        return;
    };
    let Ok(dir) = t.direction() else { return };
    let Some(plane) = Plane::perpendicular(t.at_depth(depth), &dir) else { return };
    let half = super::layout::REHEARSAL_SPAN_MM / 2.0;
    let corner = |x: f64, y: f64| world_from_patient(&(plane.centre_mm + plane.right * x + plane.up * y));
    let square =
        [corner(-half, -half), corner(half, -half), corner(half, half), corner(-half, half), corner(-half, -half)];
    gizmos.linestrip(square, Color::srgba(1.0, 1.0, 1.0, 0.7));
    gizmos.sphere(Isometry3d::from_translation(world_from_patient(&plane.centre_mm)), 1.2, Color::WHITE);
}

/// Ends of every path, and the closest approach to the nearest structure as a line in its
/// verdict's colour.
fn draw_markers(doc: Res<Doc>, planning: Res<Planning>, mut gizmos: Gizmos) {
    for (t, report) in doc.doc.trajectories.iter().zip(&planning.reports) {
        let [r, g, b] = t.color;
        let color = Color::srgb_u8(r, g, b);
        let iso = |p: &Point3<f64>| Isometry3d::from_translation(world_from_patient(p));
        gizmos.sphere(iso(&t.entry_mm), 1.5, color);
        gizmos.sphere(iso(&t.target_mm), 1.5, color);
        let Ok(report) = report else { continue };
        if let Some(s) = report.structures.first() {
            let [r, g, b] = s.verdict.rgb();
            let on_path = s.closest_on_path_mm;
            let on_structure = s.closest_on_structure_mm;
            gizmos.line(world_from_patient(&on_path), world_from_patient(&on_structure), Color::srgb_u8(r, g, b));
            gizmos.sphere(iso(&on_structure), 0.8, Color::srgb_u8(r, g, b));
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Planning>().add_systems(Update, recheck.in_set(Stage::Rebuild));
}

/// The drawing half, only where there is a renderer.
pub(super) fn render_plugin(app: &mut App) {
    app.add_systems(Update, (draw_instruments, draw_markers, draw_rehearsal).in_set(Stage::Draw));
}
