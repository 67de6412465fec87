//! Automatic entry search. For a target, every vertex of the skin is a candidate entry: those an
//! instrument can reach (within its length, the allowed angle to the skin, the entry region,
//! from outside) are scored on the distance map by their risk, the best of several separate
//! places are checked exactly against the surfaces, and the ones that pass every constraint
//! are proposed, safest first. The scores also colour the skin as a heat map.

use nalgebra::{Point3, Vector3};
use parry3d::query::{Ray, RayCast};
use parry3d::shape::TriMesh;
use rayon::prelude::*;
use serde::Serialize;

use super::clearance::vec;
use super::{DistanceField, PlanningError, PlanningScene, Trajectory, TrajectoryReport, Verdict};
use crate::core::mesh::Mesh;
use crate::core::progress::Progress;
use crate::core::segmentation::Segmentation;

/// Clearances beyond this add no risk.
pub const RISK_RANGE_MM: f64 = 10.0;

/// Risk per millimetre of path at a clearance: 1 where the instrument touches or enters a
/// critical structure, falling quadratically to 0 at [`RISK_RANGE_MM`].
fn risk_density(clearance_mm: f64) -> f64 {
    if clearance_mm <= 0.0 { 1.0 } else { (1.0 - clearance_mm / RISK_RANGE_MM).max(0.0).powi(2) }
}

/// The risk of a path from its clearance profile, (depth, clearance) pairs in mm in depth order:
/// the integral of [`risk_density`] along it (as EpiNav scores paths), in mm. A path that keeps
/// 10 mm from everything scores 0; one that runs 5 mm along a vessel wall scores 5.
pub fn path_risk(samples: impl Iterator<Item = (f64, f64)>) -> f64 {
    let mut total = 0.0;
    let mut last: Option<(f64, f64)> = None;
    for (depth, clearance) in samples {
        let r = risk_density(clearance);
        if let Some((d0, r0)) = last {
            total += (depth - d0) * (r + r0) / 2.0;
        }
        last = Some((depth, r));
    }
    total
}

/// Where entries may be: within `radius_mm` of `centre_mm` (LPS).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EntryRegion {
    pub centre_mm: Point3<f64>,
    pub radius_mm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSettings {
    /// Largest angle between the path and the skin's normal at the entry.
    pub max_angle_deg: f64,
    /// Longest path; the instrument's working length when not set.
    pub max_length_mm: Option<f64>,
    pub region: Option<EntryRegion>,
    /// How many entries to propose.
    pub count: usize,
    /// Proposals come from places at least this far apart.
    pub separation_mm: f64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings { max_angle_deg: 30.0, max_length_mm: None, region: None, count: 5, separation_mm: 10.0 }
    }
}

/// Why candidates were set aside before scoring, or after it on the distance map.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rejections {
    pub outside_region: usize,
    pub too_long: usize,
    pub too_steep: usize,
    /// On a part of the skin not facing out (behind a fold, or the inner side of the scalp).
    pub hidden: usize,
    /// Inside a critical structure's margin on the distance map.
    pub too_close: usize,
}

/// A proposed entry, checked exactly: its report is what `check` gives for it.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub entry_mm: Point3<f64>,
    pub report: TrajectoryReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntrySearch {
    pub target_mm: Point3<f64>,
    pub settings: SearchSettings,
    /// Vertices of the skin (or bone) surface entries are taken from.
    pub surface_vertices: usize,
    /// Paths scored on the distance map: the candidates that passed the geometric constraints.
    pub scored: usize,
    pub rejections: Rejections,
    /// Candidates checked exactly against the surfaces.
    pub checked: usize,
    /// Safest first.
    pub suggestions: Vec<Suggestion>,
    /// The map's risk of the path from each surface vertex (as the entry surface holds them),
    /// NaN where no path may start (outside the constraints, or not facing out).
    #[serde(skip)]
    pub vertex_risk_mm: Vec<f32>,
    pub warnings: Vec<String>,
}

/// Candidates of one place checked exactly (the best few by their score).
const CHECKED_PER_PLACE: usize = 8;

/// One candidate's score on the map.
#[derive(Clone, Copy)]
struct Score {
    vertex: usize,
    risk_mm: f64,
    min_clearance_mm: f64,
}

impl PlanningScene {
    /// Proposes entries for an instrument to reach `template`'s target; its instrument and name
    /// are kept. `field` is the critical structures' distance map (`None`: there are none).
    pub fn search_entries(
        &self,
        template: &Trajectory,
        seg: &Segmentation,
        field: Option<&DistanceField>,
        settings: &SearchSettings,
        progress: &Progress,
    ) -> Result<EntrySearch, PlanningError> {
        let name = template.name.clone();
        let target = template.target_mm;
        if !template.target_mm.iter().all(|c| c.is_finite()) {
            return Err(PlanningError::Invalid { name, detail: "the target is not a number".into() });
        }
        if seg.labels.grid.voxel_at(&target).is_none() {
            let (x, y, z) = (target.x, target.y, target.z);
            return Err(PlanningError::OutsideScan { name, which: "target", x, y, z });
        }
        let Some(surface) = self.entry_surface().map(|s| s.as_ref()) else {
            return Err(PlanningError::Invalid {
                name,
                detail: "there is no skin or bone segment to search for entries on".into(),
            });
        };
        let radius = template.instrument.radius_mm();
        let max_length = settings.max_length_mm.unwrap_or(template.instrument.length_mm);
        let cos_max = settings.max_angle_deg.to_radians().cos();
        let min_margin = self.obstacles.iter().map(|o| o.margin_mm).fold(f64::INFINITY, f64::min);
        let tolerance = field.map_or(0.0, DistanceField::tolerance_mm);

        let vertices: Vec<Point3<f64>> = surface.vertices().iter().map(|v| super::clearance::point(*v)).collect();
        let normals = vertex_normals(surface);
        progress.begin("scoring entries", vertices.len() as u64);
        let step_mm = field.map_or(1.0, DistanceField::step_mm);
        let outcomes: Vec<Result<Score, Reject>> = (0..vertices.len())
            .into_par_iter()
            .map(|i| {
                if i % 4096 == 0 {
                    progress.advance(4096.min(vertices.len() - i) as u64);
                }
                if progress.is_cancelled() {
                    return Err(Reject::Cancelled);
                }
                let v = vertices[i];
                if let Some(r) = &settings.region
                    && (v - r.centre_mm).norm() > r.radius_mm
                {
                    return Err(Reject::Region);
                }
                let out = v - target;
                let length = out.norm();
                if length > max_length || length < 1e-6 {
                    return Err(Reject::Length);
                }
                let w = out / length;
                if normals[i].dot(&w) < cos_max {
                    return Err(Reject::Angle);
                }
                let outward = Ray::new(vec(&(v + w * 0.1).coords), vec(&w));
                if surface.intersects_local_ray(&outward, 1.0e4) {
                    return Err(Reject::Hidden);
                }
                let (risk_mm, min_clearance_mm) = match field {
                    Some(f) => map_risk(f, &v, &target, radius, step_mm),
                    None => (0.0, f64::INFINITY),
                };
                Ok(Score { vertex: i, risk_mm, min_clearance_mm })
            })
            .collect();
        progress.check()?;

        let (rejections, vertex_risk_mm, mut allowed, scored) =
            tally(outcomes, vertices.len(), min_margin.min(RISK_RANGE_MM) - tolerance);
        let length = |s: &Score| (vertices[s.vertex] - target).norm();
        allowed.sort_by(|a, b| {
            a.risk_mm
                .total_cmp(&b.risk_mm)
                .then(b.min_clearance_mm.total_cmp(&a.min_clearance_mm))
                .then(length(a).total_cmp(&length(b)))
        });

        // The best few of each separate place, checked exactly.
        let places = group_places(&allowed, &vertices, settings);
        let checked = places.iter().map(Vec::len).sum();
        let suggestions = self.best_of_places(template, seg, &vertices, &places, max_length, settings, progress);

        let mut warnings = self.warnings.clone();
        if suggestions.is_empty() {
            warnings.push(format!(
                "no entry meets every constraint ({} surface points: {} outside the region, {} too far, {} too steep, {} not facing out, {} too close to a critical structure; {} checked exactly)",
                vertices.len(),
                rejections.outside_region,
                rejections.too_long,
                rejections.too_steep,
                rejections.hidden,
                rejections.too_close,
                checked
            ));
        }
        Ok(EntrySearch {
            target_mm: template.target_mm,
            settings: settings.clone(),
            surface_vertices: vertices.len(),
            scored,
            rejections,
            checked,
            suggestions,
            vertex_risk_mm,
            warnings,
        })
    }

    /// Each place's best candidate that an exact check finds clear (and within the length and
    /// angle), best first, at most `settings.count` of them.
    #[allow(clippy::too_many_arguments)]
    fn best_of_places(
        &self,
        template: &Trajectory,
        seg: &Segmentation,
        vertices: &[Point3<f64>],
        places: &[Vec<usize>],
        max_length: f64,
        settings: &SearchSettings,
        progress: &Progress,
    ) -> Vec<Suggestion> {
        let to_check: Vec<usize> = places.iter().flatten().copied().collect();
        progress.begin("checking the best entries exactly", to_check.len() as u64);
        let checked: Vec<Option<TrajectoryReport>> = to_check
            .par_iter()
            .map(|&v| {
                progress.advance(1);
                let mut t = template.clone();
                t.entry_mm = vertices[v].into();
                let r = self.check(&t, seg).ok()?;
                let acceptable = r.verdict == Verdict::Clear
                    && r.length_mm <= max_length
                    && r.entry_angle_deg.is_some_and(|a| a <= settings.max_angle_deg);
                acceptable.then_some(r)
            })
            .collect();
        let mut suggestions: Vec<Suggestion> = Vec::new();
        let mut at = 0;
        for place in places {
            let best = checked[at..at + place.len()]
                .iter()
                .zip(place)
                .filter_map(|(r, &v)| r.as_ref().map(|r| (r, v)))
                .min_by(|(a, _), (b, _)| rank(a).partial_cmp(&rank(b)).unwrap_or(std::cmp::Ordering::Equal));
            if let Some((r, v)) = best {
                suggestions.push(Suggestion { entry_mm: vertices[v].into(), report: r.clone() });
            }
            at += place.len();
        }
        suggestions.sort_by(|a, b| rank(&a.report).partial_cmp(&rank(&b.report)).unwrap_or(std::cmp::Ordering::Equal));
        suggestions.truncate(settings.count);
        suggestions
    }
}

/// What scoring found: each vertex's risk (NaN where no path may start), why the others were
/// turned away, the candidates that keep `least_clearance_mm` from every structure, and how many
/// were scored.
fn tally(
    outcomes: Vec<Result<Score, Reject>>,
    vertices: usize,
    least_clearance_mm: f64,
) -> (Rejections, Vec<f32>, Vec<Score>, usize) {
    let mut rejections = Rejections::default();
    let mut vertex_risk_mm = vec![f32::NAN; vertices];
    let mut allowed: Vec<Score> = Vec::new();
    let mut scored = 0;
    for o in outcomes {
        match o {
            Ok(s) => {
                scored += 1;
                vertex_risk_mm[s.vertex] = s.risk_mm as f32;
                if s.min_clearance_mm >= least_clearance_mm {
                    allowed.push(s);
                } else {
                    rejections.too_close += 1;
                }
            }
            Err(Reject::Region) => rejections.outside_region += 1,
            Err(Reject::Length) => rejections.too_long += 1,
            Err(Reject::Angle) => rejections.too_steep += 1,
            Err(Reject::Hidden) => rejections.hidden += 1,
            Err(Reject::Cancelled) => {}
        }
    }
    (rejections, vertex_risk_mm, allowed, scored)
}

enum Reject {
    Region,
    Length,
    Angle,
    Hidden,
    Cancelled,
}

/// Safest first: least risk, then the most clearance (up to the risk range, beyond which it
/// makes no difference), then the shortest path.
fn rank(r: &TrajectoryReport) -> (f64, f64, f64) {
    let clearance = r.structures.first().map_or(RISK_RANGE_MM, |s| s.min_clearance_mm.min(RISK_RANGE_MM));
    (r.risk_mm, -clearance, r.length_mm)
}

/// Risk and least clearance (up to [`RISK_RANGE_MM`]) of the path from `entry` to `target` on
/// the distance map, sampled every `step_mm`. Where the map is far beyond the risk range the
/// samples jump ahead: the interpolated map changes by at most sqrt(3) mm per mm.
fn map_risk(
    field: &DistanceField,
    entry: &Point3<f64>,
    target: &Point3<f64>,
    radius_mm: f64,
    step_mm: f64,
) -> (f64, f64) {
    let length = (target - entry).norm();
    let (from, to) = (field.cell_from_patient(entry), field.cell_from_patient(target));
    let mut min = f64::INFINITY;
    let mut samples = Vec::with_capacity((length / step_mm) as usize + 2);
    let mut s = 0.0;
    loop {
        let c = field.at_cell(&(from + (to - from) * (s / length))) - radius_mm;
        min = min.min(c);
        samples.push((s, c));
        if s >= length {
            break;
        }
        let jump = ((c - RISK_RANGE_MM) / 1.75).max(step_mm);
        s = (s + jump).min(length);
    }
    (path_risk(samples.into_iter()), min.min(RISK_RANGE_MM))
}

/// Groups candidates (sorted best first) into places: each place starts at the best candidate
/// farther than the separation from every earlier place and gathers the best few near it.
fn group_places(sorted: &[Score], vertices: &[Point3<f64>], settings: &SearchSettings) -> Vec<Vec<usize>> {
    // More places than proposals, in case the exact check turns some down.
    let wanted = settings.count.max(1) * 3;
    let mut seeds: Vec<Point3<f64>> = Vec::new();
    let mut places: Vec<Vec<usize>> = Vec::new();
    for s in sorted {
        let p = vertices[s.vertex];
        match seeds.iter().position(|q| (q - p).norm() < settings.separation_mm) {
            Some(k) if places[k].len() < CHECKED_PER_PLACE => places[k].push(s.vertex),
            Some(_) => {}
            None if places.len() < wanted => {
                seeds.push(p);
                places.push(vec![s.vertex]);
            }
            None => {}
        }
        if places.len() == wanted && places.iter().all(|p| p.len() == CHECKED_PER_PLACE) {
            break;
        }
    }
    places
}

/// Vertex normals, outward on an oriented surface, smoothed over a few millimetres as `check`
/// measures entry angles (see `surface_normal`): area-weighted over each vertex's triangles,
/// then averaged with the neighbours' a few times.
fn vertex_normals(surface: &TriMesh) -> Vec<Vector3<f64>> {
    const SMOOTHING_ROUNDS: usize = 6;
    let mesh = Mesh::from_trimesh(surface);
    let mut n: Vec<Vector3<f64>> =
        mesh.vertex_normals().iter().map(|v| Vector3::new(f64::from(v[0]), f64::from(v[1]), f64::from(v[2]))).collect();
    for _ in 0..SMOOTHING_ROUNDS {
        let mut next = vec![Vector3::zeros(); n.len()];
        for tri in &mesh.triangles {
            let sum = n[tri[0] as usize] + n[tri[1] as usize] + n[tri[2] as usize];
            for &v in tri {
                next[v as usize] += sum;
            }
        }
        n = next;
        for v in &mut n {
            let len = v.norm();
            if len > 0.0 {
                *v /= len;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_is_the_integral_of_the_density() {
        // 10 mm at contact (density 1) and 10 mm at 5 mm (density 0.25), linear in between.
        let flat = path_risk([(0.0, 0.0), (10.0, 0.0)].into_iter());
        assert!((flat - 10.0).abs() < 1e-12);
        let far = path_risk([(0.0, 12.0), (50.0, 30.0)].into_iter());
        assert_eq!(far, 0.0);
        let half = path_risk([(0.0, 5.0), (10.0, 5.0)].into_iter());
        assert!((half - 2.5).abs() < 1e-12);
        assert_eq!(path_risk(std::iter::empty()), 0.0);
    }
}
