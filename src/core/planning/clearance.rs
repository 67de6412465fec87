//! Clearance of a trajectory: the instrument is a capsule (the path with the instrument's
//! radius); each critical structure is its closed surface in a BVH (parry3d). Distances are from
//! the instrument's surface to the structure's surface, negative where they overlap.

use std::collections::BTreeMap;
use std::sync::Arc;

use nalgebra::{Point3, Vector3};
use parry3d::math::{Pose, Vector};
use parry3d::query::{PointQuery, Ray, RayCast};
use parry3d::shape::{Segment, TriMesh};
use rayon::prelude::*;
use serde::Serialize;

use super::search::path_risk;
use super::segment_mesh::{Approach, closest_approach};
use super::{PlanningError, Trajectory};
use crate::core::mesh::{Mesh, segment_surface};
use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::{Category, Segmentation};

pub(super) fn vec(p: &Point3<f64>) -> Vector {
    Vector::new(p.x as f32, p.y as f32, p.z as f32)
}

pub(super) fn point(v: Vector) -> Point3<f64> {
    Point3::new(f64::from(v.x), f64::from(v.y), f64::from(v.z))
}

/// A structure paths must keep clear of: its closed surface, with inside/outside known.
pub struct Obstacle {
    pub label: u16,
    pub name: String,
    pub category: Category,
    pub margin_mm: f64,
    surface: Arc<TriMesh>,
}

impl Obstacle {
    /// `None` for a mesh without triangles.
    pub fn new(label: u16, name: &str, category: Category, margin_mm: f64, mesh: &Mesh) -> Option<Obstacle> {
        Some(Obstacle { label, name: name.to_owned(), category, margin_mm, surface: Arc::new(mesh.trimesh()?) })
    }

    pub fn triangles(&self) -> usize {
        self.surface.indices().len()
    }

    pub fn contains(&self, p: &Point3<f64>) -> bool {
        self.surface.contains_local_point(vec(p))
    }

    /// Distance from a point to the surface, negative inside (one BVH query: the pseudo-normal
    /// at the nearest feature says which side the point is on).
    pub fn signed_distance_mm(&self, p: &Point3<f64>) -> f64 {
        self.signed_distance_within(p, f32::MAX).unwrap_or(f64::INFINITY)
    }

    /// As [`Obstacle::signed_distance_mm`], if the surface lies within `max_mm` of the point.
    fn signed_distance_within(&self, p: &Point3<f64>, max_mm: f32) -> Option<f64> {
        let proj = self.surface.project_local_point_with_max_dist(vec(p), false, max_mm)?;
        let d = f64::from((proj.point - vec(p)).length());
        Some(if proj.is_inside { -d } else { d })
    }

    /// The clearance of one path: closest approach of an instrument of `radius_mm` to this
    /// surface. The path must have distinct ends (see [`Trajectory::direction`]).
    pub fn clearance(&self, t: &Trajectory, radius_mm: f64) -> StructureClearance {
        let (entry, target) = (t.entry(), t.target());
        let length = t.length_mm();
        let dir = (target - entry) / length;
        let (on_path, on_structure, axis_mm) =
            match closest_approach(&self.surface, vec(&entry), vec(&target), f32::MAX) {
                // A path that never crosses the surface is either all outside or all inside.
                Some(Approach::Near { distance, on_segment, on_mesh }) => {
                    let d = f64::from(distance);
                    (point(on_segment), point(on_mesh), if self.contains(&entry) { -d } else { d })
                }
                _ => {
                    // The axis crosses the surface: report where it first does.
                    let ray = Ray::new(vec(&entry), vec(&Point3::from(dir)));
                    let toi = self.surface.cast_local_ray(&ray, length as f32, false).unwrap_or(0.0);
                    let hit = entry + dir * f64::from(toi);
                    (hit, hit, 0.0)
                }
            };
        let min_clearance_mm = axis_mm - radius_mm;
        let verdict = Verdict::for_clearance(min_clearance_mm, self.margin_mm);
        StructureClearance {
            label: self.label,
            name: self.name.clone(),
            category: self.category.name(),
            margin_mm: self.margin_mm,
            min_clearance_mm,
            depth_mm: (on_path - entry).dot(&dir).clamp(0.0, length),
            closest_on_path_mm: on_path.into(),
            closest_on_structure_mm: on_structure.into(),
            verdict,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The instrument enters the structure.
    Collision,
    /// Closer than the structure's safety margin.
    Warning,
    Clear,
}

impl Verdict {
    /// Touching or overlapping is a collision; closer than the margin, a warning.
    pub fn for_clearance(clearance_mm: f64, margin_mm: f64) -> Verdict {
        if clearance_mm <= 0.0 {
            Verdict::Collision
        } else if clearance_mm < margin_mm {
            Verdict::Warning
        } else {
            Verdict::Clear
        }
    }

    /// Traffic-light colour (sRGB), the same on screen and in reports.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Verdict::Collision => [235, 60, 50],
            Verdict::Warning => [245, 170, 40],
            Verdict::Clear => [70, 200, 90],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Collision => "collision",
            Verdict::Warning => "warning",
            Verdict::Clear => "clear",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StructureClearance {
    pub label: u16,
    pub name: String,
    pub category: &'static str,
    pub margin_mm: f64,
    /// Instrument surface to structure surface; zero or negative is a collision.
    pub min_clearance_mm: f64,
    /// Where along the path (from the entry) the closest approach is.
    pub depth_mm: f64,
    pub closest_on_path_mm: [f64; 3],
    pub closest_on_structure_mm: [f64; 3],
    pub verdict: Verdict,
}

/// A stretch of the path inside one labelled structure.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Passage {
    pub label: u16,
    pub name: String,
    pub from_depth_mm: f64,
    pub to_depth_mm: f64,
}

impl TrajectoryReport {
    /// The structures passed through, in order, with their depths: "Scalp (0-5 mm), ...".
    pub fn passes_through_text(&self) -> String {
        let parts: Vec<String> = self
            .passes_through
            .iter()
            .map(|p| format!("{} ({:.0}-{:.0} mm)", p.name, p.from_depth_mm, p.to_depth_mm))
            .collect();
        parts.join(", ")
    }
}

/// Clearance to the nearest critical structure at one depth.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSample {
    pub depth_mm: f64,
    pub clearance_mm: f64,
    /// The structure that is nearest there.
    pub label: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrajectoryReport {
    pub name: String,
    pub instrument: &'static str,
    pub diameter_mm: f64,
    pub length_mm: f64,
    /// Between the path and the normal of the skin (or skull) where the path crosses it; 0 is
    /// perpendicular to the surface.
    pub entry_angle_deg: Option<f64>,
    /// Per critical structure, nearest first.
    pub structures: Vec<StructureClearance>,
    /// The worst verdict over the structures (clear when there are none).
    pub verdict: Verdict,
    /// The structures the path runs through, in order from the entry.
    pub passes_through: Vec<Passage>,
    pub profile: Vec<ProfileSample>,
    /// The path's exposure to critical structures (see [`path_risk`]): mm of path, 0 is none.
    pub risk: f64,
    pub warnings: Vec<String>,
}

/// What paths are checked against: the critical surfaces, the entry surface and the labels.
pub struct PlanningScene {
    pub obstacles: Vec<Obstacle>,
    /// Every surface the scene was given (label -> LPS mm): the critical ones and the entry
    /// surface at least, all the workstation holds when it gives them.
    surfaces: BTreeMap<u16, Arc<TriMesh>>,
    /// The segment paths enter through (skin, else bone), for entry angles.
    entry_label: Option<u16>,
    /// Problems the user should see (a critical segment without voxels, none at all).
    pub warnings: Vec<String>,
}

impl PlanningScene {
    /// Surfaces of the segmentation's critical segments (and of its skin) from its label map,
    /// made as the workstation shows them.
    pub fn build(seg: &Segmentation, progress: &Progress) -> Result<PlanningScene, Cancelled> {
        let wanted: Vec<u16> =
            seg.segments.iter().filter(|s| s.critical).map(|s| s.label).chain(entry_label(seg)).collect();
        let mut surfaces = BTreeMap::new();
        // One at a time: each extraction is parallel already and reports its own progress.
        for label in wanted {
            if let Some(m) = segment_surface(&seg.mask(label), progress)?.trimesh() {
                surfaces.insert(label, Arc::new(m));
            }
        }
        Ok(PlanningScene::from_surfaces(seg, &surfaces))
    }

    /// A scene from surfaces already made (label -> surface in LPS mm, as the workstation holds
    /// them). Critical segments without a surface are reported as not checked.
    pub fn from_surfaces(seg: &Segmentation, surfaces: &BTreeMap<u16, Arc<TriMesh>>) -> PlanningScene {
        let mut scene = PlanningScene {
            obstacles: Vec::new(),
            surfaces: surfaces.clone(),
            entry_label: entry_label(seg),
            warnings: Vec::new(),
        };
        for s in seg.segments.iter().filter(|s| s.critical) {
            match surfaces.get(&s.label) {
                Some(surface) => scene.obstacles.push(Obstacle {
                    label: s.label,
                    name: s.name.clone(),
                    category: s.category,
                    margin_mm: s.margin_mm,
                    surface: surface.clone(),
                }),
                None => scene
                    .warnings
                    .push(format!("{} is marked critical but has no surface (no voxels): not checked", s.name)),
            }
        }
        if scene.obstacles.is_empty() && scene.warnings.is_empty() {
            scene.warnings.push(
                "no critical structures (vessels, nerves or segments marked critical): clearances cannot be checked"
                    .into(),
            );
        }
        scene
    }

    /// The outer surface paths enter through (skin, else bone), where entries are searched.
    pub fn entry_surface(&self) -> Option<&Arc<TriMesh>> {
        self.surfaces.get(&self.entry_label?)
    }

    /// The surface the scene holds for a segment, if it was given or made one.
    pub fn surface(&self, label: u16) -> Option<&Arc<TriMesh>> {
        self.surfaces.get(&label)
    }

    /// Checks one path. The segmentation gives the structures passed through and the scan's
    /// extent (both ends must lie in it).
    pub fn check(&self, t: &Trajectory, seg: &Segmentation) -> Result<TrajectoryReport, PlanningError> {
        let dir = t.direction()?;
        let grid = &seg.labels.grid;
        for (which, p) in [("entry", t.entry()), ("target", t.target())] {
            if grid.voxel_at(&p).is_none() {
                return Err(PlanningError::OutsideScan { name: t.name.clone(), which, x: p.x, y: p.y, z: p.z });
            }
        }
        if t.instrument.diameter_mm.is_nan() || t.instrument.diameter_mm <= 0.0 {
            return Err(PlanningError::Invalid {
                name: t.name.clone(),
                detail: "the instrument diameter must be above zero".into(),
            });
        }
        let radius = t.instrument.radius_mm();
        // A tenth of a millisecond per path on one thread: too little to share out.
        let mut structures: Vec<StructureClearance> = self.obstacles.iter().map(|o| o.clearance(t, radius)).collect();
        structures.sort_by(|a, b| a.min_clearance_mm.total_cmp(&b.min_clearance_mm));
        let verdict = structures.iter().map(|s| s.verdict).min().unwrap_or(Verdict::Clear);
        let mut warnings = self.warnings.clone();
        let length_mm = t.length_mm();
        if length_mm > t.instrument.length_mm {
            warnings.push(format!(
                "the path is {length_mm:.1} mm long but the {} reaches {:.1} mm",
                t.instrument.kind.name(),
                t.instrument.length_mm
            ));
        }
        let entry_angle_deg = self.entry_angle_deg(t, &dir);
        let profile = self.profile(t, PROFILE_STEP_MM);
        if entry_angle_deg.is_none() && self.entry_surface().is_some() {
            warnings.push("the path does not cross the skin: no entry angle".into());
        }
        Ok(TrajectoryReport {
            name: t.name.clone(),
            instrument: t.instrument.kind.name(),
            diameter_mm: t.instrument.diameter_mm,
            length_mm,
            entry_angle_deg,
            structures,
            verdict,
            passes_through: passes_through(t, seg),
            risk: path_risk(profile.iter().map(|p| (p.depth_mm, p.clearance_mm))),
            profile,
            warnings,
        })
    }

    /// Angle between the path and the entry surface's normal (see [`surface_normal`]) where
    /// the path, extended back from its entry, first meets it.
    fn entry_angle_deg(&self, t: &Trajectory, dir: &Vector3<f64>) -> Option<f64> {
        const BACK_MM: f64 = 300.0;
        let surface = self.entry_surface()?;
        let start = t.entry() - dir * BACK_MM;
        let ray = Ray::new(vec(&start), vec(&Point3::from(*dir)));
        let toi = surface.cast_local_ray(&ray, (BACK_MM + t.length_mm()) as f32, false)?;
        let n = surface_normal(surface, ray.point_at(toi))?;
        Some(n.dot(dir).abs().min(1.0).acos().to_degrees())
    }

    /// Clearance to the nearest critical structure every `step_mm` from entry to target.
    pub fn profile(&self, t: &Trajectory, step_mm: f64) -> Vec<ProfileSample> {
        let length = t.length_mm();
        let n = (length / step_mm).ceil().max(1.0) as usize;
        let radius = t.instrument.radius_mm();
        (0..=n)
            .into_par_iter()
            .filter_map(|i| {
                let depth_mm = length * i as f64 / n as f64;
                let (d, label) = self.nearest(&t.at_depth(depth_mm))?;
                Some(ProfileSample { depth_mm, clearance_mm: d - radius, label })
            })
            .collect()
    }

    /// The nearest critical surface to a point: (signed distance, label). Once one distance is
    /// known, the others are only searched within it.
    fn nearest(&self, p: &Point3<f64>) -> Option<(f64, u16)> {
        let mut best: Option<(f64, u16)> = None;
        for o in &self.obstacles {
            let d = match best {
                // Outside everything so far: only a closer surface, or being inside, matters.
                Some((b, _)) if b > 0.0 && !o.surface.local_aabb().contains_local_point(vec(p)) => {
                    match o.signed_distance_within(p, b as f32) {
                        Some(d) => d,
                        None => continue,
                    }
                }
                _ => o.signed_distance_mm(p),
            };
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, o.label));
            }
        }
        best
    }
}

/// The surface paths enter through: the first skin segment, else the first bone segment.
fn entry_label(seg: &Segmentation) -> Option<u16> {
    [Category::Skin, Category::Bone]
        .iter()
        .find_map(|c| seg.segments.iter().find(|s| s.category == *c))
        .map(|s| s.label)
}

/// The unit normal of a surface at a point on it: the area-weighted mean over the triangles
/// within `NORMAL_RADIUS_MM`, since single triangles of a surface extracted from voxels tilt by
/// several degrees and the skin over a few millimetres does not. Outward on an oriented surface.
fn surface_normal(surface: &TriMesh, at: Vector) -> Option<Vector3<f64>> {
    const NORMAL_RADIUS_MM: f32 = 4.0;
    let near =
        parry3d::bounding_volume::Aabb::new(at - Vector::splat(NORMAL_RADIUS_MM), at + Vector::splat(NORMAL_RADIUS_MM));
    let mut sum = Vector::ZERO;
    for i in surface.bvh().intersect_aabb(&near) {
        let tri = surface.triangle(i);
        if ((tri.a + tri.b + tri.c) / 3.0 - at).length() <= NORMAL_RADIUS_MM {
            sum += (tri.b - tri.a).cross(tri.c - tri.a);
        }
    }
    let n = Vector3::new(f64::from(sum.x), f64::from(sum.y), f64::from(sum.z));
    (n.norm() > 0.0).then(|| n / n.norm())
}

/// Profile resolution: finer than any scan's voxels.
const PROFILE_STEP_MM: f64 = 0.5;

/// The labelled structures along the path, sampled at a quarter of the finest voxel spacing.
fn passes_through(t: &Trajectory, seg: &Segmentation) -> Vec<Passage> {
    let grid = &seg.labels.grid;
    let step = grid.spacing_mm().into_iter().fold(f64::INFINITY, f64::min) / 4.0;
    let length = t.length_mm();
    let n = (length / step).ceil().max(1.0) as usize;
    let mut out: Vec<Passage> = Vec::new();
    let mut current: Option<(u16, f64)> = None;
    for i in 0..=n {
        let depth = length * i as f64 / n as f64;
        let label = grid.voxel_at(&t.at_depth(depth)).map_or(0, |v| seg.labels.labels[v]);
        match current {
            Some((l, _)) if l == label => {}
            _ => {
                if let Some((l, from)) = current.take()
                    && l != 0
                {
                    out.push(passage(seg, l, from, depth));
                }
                current = Some((label, depth));
            }
        }
    }
    if let Some((l, from)) = current
        && l != 0
    {
        out.push(passage(seg, l, from, length));
    }
    out
}

fn passage(seg: &Segmentation, label: u16, from: f64, to: f64) -> Passage {
    let name = seg.segment(label).map_or_else(|| format!("label {label}"), |s| s.name.clone());
    Passage { label, name, from_depth_mm: from, to_depth_mm: to }
}

/// Instruments closer than this (surface to surface) are a conflict, in `check` and in reports.
pub const CONFLICT_MM: f64 = 3.0;

/// Pairs of paths whose instruments come closer than `min_distance_mm` (surface to surface):
/// (first index, second index, distance in mm).
pub fn conflicts(paths: &[Trajectory], min_distance_mm: f64) -> Vec<(usize, usize, f64)> {
    let mut out = Vec::new();
    for (i, a) in paths.iter().enumerate() {
        for (j, b) in paths.iter().enumerate().skip(i + 1) {
            let sa = Segment::new(vec(&a.entry()), vec(&a.target()));
            let sb = Segment::new(vec(&b.entry()), vec(&b.target()));
            let Ok(d) = parry3d::query::distance(&Pose::IDENTITY, &sa, &Pose::IDENTITY, &sb) else { continue };
            let gap = f64::from(d.distance) - a.instrument.radius_mm() - b.instrument.radius_mm();
            if gap < min_distance_mm {
                out.push((i, j, gap));
            }
        }
    }
    out
}
