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

use super::cells::{Cells, ROUNDING_MM};
use super::search::path_risk;
use super::segment_mesh::{Approach, closest_approach};
use super::{PlanningError, Trajectory};
use crate::core::mesh::{Mesh, segment_surface};
use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::{Category, Mask, Segmentation};

/// A point's coordinates or a direction, as parry3d takes them.
pub(super) fn vec(v: &Vector3<f64>) -> Vector {
    Vector::new(v.x as f32, v.y as f32, v.z as f32)
}

pub(super) fn point(v: Vector) -> Point3<f64> {
    Point3::new(f64::from(v.x), f64::from(v.y), f64::from(v.z))
}

/// What a segment is to the planner: the smoothed surface the user sees (picking, pictures, entry
/// angles) and the labelled cells it was made from (see [`Cells`]).
#[derive(Clone)]
pub struct SegmentShape {
    pub surface: Arc<TriMesh>,
    pub cells: Arc<Cells>,
    /// Where its name is pinned when names are shown: the surface point nearest the centre of
    /// its vertices (on the structure, even for a shell such as the skull).
    pub anchor_mm: Point3<f64>,
}

impl SegmentShape {
    /// A segment's shape from its mask, with the display mesh it was made of; `None` for a mask
    /// without voxels.
    pub fn from_mask(mask: &Mask, progress: &Progress) -> Result<Option<(Mesh, SegmentShape)>, Cancelled> {
        let mesh = segment_surface(mask, progress)?;
        let (Some(surface), Some(cells)) = (mesh.trimesh(), Cells::new(mask)) else { return Ok(None) };
        let vertices: Vec<Point3<f64>> = surface.vertices().iter().map(|v| point(*v)).collect();
        let mean = Point3::from(
            vertices.iter().map(|p| p.coords).sum::<nalgebra::Vector3<f64>>() / vertices.len().max(1) as f64,
        );
        let anchor_mm =
            vertices.iter().copied().min_by(|a, b| (a - mean).norm_squared().total_cmp(&(b - mean).norm_squared()));
        let Some(anchor_mm) = anchor_mm else { return Ok(None) };
        Ok(Some((mesh, SegmentShape { surface: Arc::new(surface), cells: Arc::new(cells), anchor_mm })))
    }
}

/// A structure paths must keep clear of: its smoothed surface (inside and outside known) and its
/// labelled cells. Every figure is the smaller of the two distances less the sampling allowance
/// (see [`Cells`]), so it never exceeds the distance to the cells the label map claims, nor to the
/// surface on screen.
pub struct Obstacle {
    pub label: u16,
    pub name: String,
    pub category: Category,
    pub margin_mm: f64,
    shape: SegmentShape,
}

/// The nearer of the two distances, and where it is reached.
struct Nearest {
    /// Axis of the path to the structure; zero where the axis crosses it, negative where the
    /// whole path lies inside.
    axis_mm: f64,
    on_path: Point3<f64>,
    on_structure: Point3<f64>,
}

impl Obstacle {
    pub fn new(label: u16, name: &str, category: Category, margin_mm: f64, shape: SegmentShape) -> Obstacle {
        Obstacle { label, name: name.to_owned(), category, margin_mm, shape }
    }

    /// Triangles searched per query: the surface's and the cells' boundary.
    pub fn triangles(&self) -> usize {
        self.shape.surface.indices().len() + self.shape.cells.boundary().indices().len()
    }

    /// Whether the point lies within the bounding box of the surface or of the cells.
    fn may_contain(&self, p: &Point3<f64>) -> bool {
        let v = vec(&p.coords);
        self.shape.surface.local_aabb().contains_local_point(v)
            || self.shape.cells.boundary().local_aabb().contains_local_point(v)
    }

    pub fn contains(&self, p: &Point3<f64>) -> bool {
        self.shape.cells.contains(p) || self.shape.surface.contains_local_point(vec(&p.coords))
    }

    /// Distance from a point to the structure, negative inside (the smaller of the distances to
    /// the surface and to the cells, less the sampling allowance).
    pub fn signed_distance_mm(&self, p: &Point3<f64>) -> f64 {
        self.signed_distance_within(p, f32::MAX).unwrap_or(f64::INFINITY)
    }

    /// As [`Obstacle::signed_distance_mm`], if the structure lies within `max_mm` of the point.
    fn signed_distance_within(&self, p: &Point3<f64>, max_mm: f32) -> Option<f64> {
        let surface = self.surface_signed_distance(p, max_mm);
        let cells =
            self.shape.cells.boundary().project_local_point_with_max_dist(vec(&p.coords), false, max_mm).map(|proj| {
                let d = f64::from((proj.point - vec(&p.coords)).length());
                if self.shape.cells.contains(p) { -d } else { d - ROUNDING_MM }
            });
        let nearer = match (surface, cells) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(nearer - self.shape.cells.sampling_allowance_mm())
    }

    /// Signed distance to the smoothed surface alone (the pseudo-normal at the nearest feature
    /// says which side the point is on).
    fn surface_signed_distance(&self, p: &Point3<f64>, max_mm: f32) -> Option<f64> {
        let proj = self.shape.surface.project_local_point_with_max_dist(vec(&p.coords), false, max_mm)?;
        let d = f64::from((proj.point - vec(&p.coords)).length());
        Some(if proj.is_inside { -d } else { d })
    }

    /// Closest approach of the path's axis to one mesh; `inside` says whether the entry lies
    /// inside what the mesh bounds.
    fn nearest_on(mesh: &TriMesh, t: &Trajectory, inside: bool) -> Nearest {
        let (entry, target) = (t.entry_mm, t.target_mm);
        match closest_approach(mesh, vec(&entry.coords), vec(&target.coords), f32::MAX) {
            // A path that never crosses the surface is either all outside or all inside.
            Some(Approach::Near { distance, on_segment, on_mesh }) => {
                let d = f64::from(distance);
                Nearest {
                    axis_mm: if inside { -d } else { d },
                    on_path: point(on_segment),
                    on_structure: point(on_mesh),
                }
            }
            _ => {
                // The axis crosses the surface: report where it first does.
                let length = t.length_mm();
                let dir = (target - entry) / length;
                let ray = Ray::new(vec(&entry.coords), vec(&dir));
                let toi = mesh.cast_local_ray(&ray, length as f32, false).unwrap_or(0.0);
                let hit = entry + dir * f64::from(toi);
                Nearest { axis_mm: 0.0, on_path: hit, on_structure: hit }
            }
        }
    }

    /// The clearance of one path: closest approach of an instrument of `radius_mm` to this
    /// structure. The path must have distinct ends (see [`Trajectory::direction`]).
    pub fn clearance(&self, t: &Trajectory, radius_mm: f64) -> StructureClearance {
        let entry = t.entry_mm;
        let surface =
            Self::nearest_on(&self.shape.surface, t, self.shape.surface.contains_local_point(vec(&entry.coords)));
        let mut cells = Self::nearest_on(self.shape.cells.boundary(), t, self.shape.cells.contains(&entry));
        if cells.axis_mm > 0.0 {
            cells.axis_mm = (cells.axis_mm - ROUNDING_MM).max(0.0);
        }
        let surface_clearance_mm = surface.axis_mm - radius_mm;
        let cells_clearance_mm = cells.axis_mm - radius_mm;
        let nearest = if surface.axis_mm < cells.axis_mm { surface } else { cells };
        let allowance = self.shape.cells.sampling_allowance_mm();
        let min_clearance_mm = nearest.axis_mm - radius_mm - allowance;
        let length = t.length_mm();
        let dir = (t.target_mm - entry) / length;
        StructureClearance {
            label: self.label,
            name: self.name.clone(),
            category: self.category.name(),
            margin_mm: self.margin_mm,
            min_clearance_mm,
            // The labelled voxel centres lie within half a cell diagonal of the cells' faces.
            uncertainty_mm: (cells_clearance_mm - min_clearance_mm) + self.shape.cells.half_diagonal_mm(),
            cells_clearance_mm,
            surface_clearance_mm,
            depth_mm: (nearest.on_path - entry).dot(&dir).clamp(0.0, length),
            closest_on_path_mm: nearest.on_path.into(),
            closest_on_structure_mm: nearest.on_structure.into(),
            verdict: Verdict::for_clearance(min_clearance_mm, self.margin_mm),
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

    /// Traffic-light colour (sRGB) on screen and in the report's pictures.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Verdict::Collision => [235, 60, 50],
            Verdict::Warning => [245, 170, 40],
            Verdict::Clear => [70, 200, 90],
        }
    }

    /// The same colours darkened for text on white paper (the report's verdicts).
    pub fn print_rgb(self) -> [u8; 3] {
        match self {
            Verdict::Collision => [192, 38, 28],
            Verdict::Warning => [176, 109, 0],
            Verdict::Clear => [40, 122, 60],
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
    /// Instrument surface to the structure; zero or negative is a collision. The smaller of the
    /// clearances to the surface shown and to the labelled cells, less the sampling allowance:
    /// never more than either (see [`Cells`]).
    pub min_clearance_mm: f64,
    /// How much `min_clearance_mm` may understate the clearance to the structure the label map
    /// samples: the allowance, half a cell diagonal for the cells' reach beyond the voxel centres,
    /// and any lead the surface has over the cells. The band lies above the figure.
    pub uncertainty_mm: f64,
    /// To the smoothed surface shown, and to the labelled cells, for comparison.
    pub surface_clearance_mm: f64,
    pub cells_clearance_mm: f64,
    /// Where along the path (from the entry) the closest approach is.
    pub depth_mm: f64,
    pub closest_on_path_mm: Point3<f64>,
    pub closest_on_structure_mm: Point3<f64>,
    pub verdict: Verdict,
}

impl StructureClearance {
    /// The figure with its band, as every view shows it: "1.70 mm, -0/+1.35 mm".
    pub fn clearance_text(&self) -> String {
        format!("{:.2} mm, -0/+{:.2} mm", self.min_clearance_mm, self.uncertainty_mm)
    }
}

/// What the band beside a clearance means, for reports and hover texts.
pub const CLEARANCE_NOTE: &str = "Clearances are measured to the labelled voxels taken as whole cells and to the \
    surface shown, whichever is nearer, less half the largest voxel step (where a structure may reach beyond the \
    voxels that record it). The true clearance may be larger by up to the + figure; it is not expected to be smaller.";

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

impl ProfileSample {
    /// The verdict at this depth, against the margin of the structure nearest there: how the
    /// path is coloured along its length.
    pub fn verdict(&self, seg: &Segmentation) -> Verdict {
        Verdict::for_clearance(self.clearance_mm, seg.segment(self.label).map_or(0.0, |s| s.margin_mm))
    }
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
    /// (Written as `risk` in the command line's JSON, its key since the first release.)
    #[serde(rename = "risk")]
    pub risk_mm: f64,
    pub warnings: Vec<String>,
}

/// What paths are checked against: the critical surfaces, the entry surface and the labels.
pub struct PlanningScene {
    pub obstacles: Vec<Obstacle>,
    /// Every shape the scene was given (label -> LPS mm): the critical ones and the entry
    /// surface at least, all the workstation holds when it gives them.
    shapes: BTreeMap<u16, SegmentShape>,
    /// The segment paths enter through (skin, else bone), for entry angles.
    entry_label: Option<u16>,
    /// Problems the user should see (a critical segment without voxels, none at all).
    pub warnings: Vec<String>,
}

impl PlanningScene {
    /// Shapes of the segmentation's critical segments (and of its skin) from its label map,
    /// made as the workstation shows them.
    pub fn build(seg: &Segmentation, progress: &Progress) -> Result<PlanningScene, Cancelled> {
        let wanted: Vec<u16> =
            seg.segments.iter().filter(|s| s.critical).map(|s| s.label).chain(entry_label(seg)).collect();
        let mut shapes = BTreeMap::new();
        // One at a time: each extraction is parallel already and reports its own progress.
        for label in wanted {
            if let Some((_, shape)) = SegmentShape::from_mask(&seg.mask(label), progress)? {
                shapes.insert(label, shape);
            }
        }
        Ok(PlanningScene::from_shapes(seg, &shapes))
    }

    /// A scene from shapes already made (label -> shape in LPS mm, as the workstation holds
    /// them). Critical segments without a shape are reported as not checked.
    pub fn from_shapes(seg: &Segmentation, shapes: &BTreeMap<u16, SegmentShape>) -> PlanningScene {
        let mut scene = PlanningScene {
            obstacles: Vec::new(),
            shapes: shapes.clone(),
            entry_label: entry_label(seg),
            warnings: Vec::new(),
        };
        for s in seg.segments.iter().filter(|s| s.critical) {
            match shapes.get(&s.label) {
                Some(shape) => {
                    scene.obstacles.push(Obstacle::new(s.label, &s.name, s.category, s.margin_mm, shape.clone()))
                }
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
        self.surface(self.entry_label?)
    }

    /// The surface the scene holds for a segment, if it was given or made one.
    pub fn surface(&self, label: u16) -> Option<&Arc<TriMesh>> {
        self.shapes.get(&label).map(|s| &s.surface)
    }

    /// Checks one path. The segmentation gives the structures passed through and the scan's
    /// extent (both ends must lie in it).
    pub fn check(&self, t: &Trajectory, seg: &Segmentation) -> Result<TrajectoryReport, PlanningError> {
        let dir = t.direction()?;
        let grid = &seg.labels.grid;
        for (which, p) in [("entry", t.entry_mm), ("target", t.target_mm)] {
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
            risk_mm: path_risk(profile.iter().map(|p| (p.depth_mm, p.clearance_mm))),
            profile,
            warnings,
        })
    }

    /// Angle between the path and the entry surface's normal (see [`surface_normal`]) where
    /// the path, extended back from its entry, first meets it.
    fn entry_angle_deg(&self, t: &Trajectory, dir: &Vector3<f64>) -> Option<f64> {
        const BACK_MM: f64 = 300.0;
        let surface = self.entry_surface()?;
        let start = t.entry_mm - dir * BACK_MM;
        let ray = Ray::new(vec(&start.coords), vec(dir));
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
                Some((b, _)) if b > 0.0 && !o.may_contain(p) => match o.signed_distance_within(p, b as f32) {
                    Some(d) => d,
                    None => continue,
                },
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
            let sa = Segment::new(vec(&a.entry_mm.coords), vec(&a.target_mm.coords));
            let sb = Segment::new(vec(&b.entry_mm.coords), vec(&b.target_mm.coords));
            let Ok(d) = parry3d::query::distance(&Pose::IDENTITY, &sa, &Pose::IDENTITY, &sb) else { continue };
            let gap = f64::from(d.distance) - a.instrument.radius_mm() - b.instrument.radius_mm();
            if gap < min_distance_mm {
                out.push((i, j, gap));
            }
        }
    }
    out
}
