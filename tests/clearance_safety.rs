//! Clearances err on the safe side. Tubes of known radius at random orientations are voxelised on
//! oblique, anisotropic and sheared grids, by centre-inside and by partial volume; random paths
//! pass them. Every reported clearance must not exceed the clearance to the labelled cells (an
//! exhaustive search over the cells as parallelepipeds, in f64, written here independently of the
//! code under test), must not exceed the analytic clearance by more than 0.05 mm, and must lie
//! within its own stated uncertainty below the analytic clearance.

mod common;

use common::segment_segment;
use nalgebra::{Matrix3, Matrix4, Point3, Rotation3, Vector3};
use twinplan::core::phantom::splitmix;
use twinplan::core::planning::{Instrument, Obstacle, SegmentShape, Trajectory};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::{Category, Mask};
use twinplan::core::volume::Grid;

type P = Point3<f64>;
type V = Vector3<f64>;

struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = splitmix(self.0);
        lo + (hi - lo) * (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn unit(&mut self) -> V {
        loop {
            let v = V::new(self.uniform(-1.0, 1.0), self.uniform(-1.0, 1.0), self.uniform(-1.0, 1.0));
            if (0.01..=1.0).contains(&v.norm_squared()) {
                return v.normalize();
            }
        }
    }
}

fn point_segment(p: &P, a: &P, b: &P) -> f64 {
    let ab = b - a;
    let t = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
    (p - (a + ab * t)).norm()
}

/// A parallelepiped: corner and three edges.
struct Cell {
    corner: P,
    edges: [V; 3],
}

impl Cell {
    fn distance(&self, p: &P) -> f64 {
        let m = Matrix3::from_columns(&self.edges);
        let local = m.try_inverse().unwrap() * (p - self.corner);
        if local.iter().all(|x| (0.0..=1.0).contains(x)) {
            return 0.0;
        }
        // Outside: the nearest point is on one of the six faces (parallelograms).
        let mut best = f64::INFINITY;
        for a in 0..3 {
            let (e1, e2) = (self.edges[(a + 1) % 3], self.edges[(a + 2) % 3]);
            for shift in [V::zeros(), self.edges[a]] {
                best = best.min(parallelogram(p, &(self.corner + shift), &e1, &e2));
            }
        }
        best
    }

    /// Distance from a segment: the distance to a convex set is convex along the segment, so a
    /// golden-section search finds its minimum.
    fn segment_distance(&self, a: &P, b: &P) -> f64 {
        let f = |t: f64| self.distance(&(a + (b - a) * t));
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let (mut x1, mut x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        let (mut f1, mut f2) = (f(x1), f(x2));
        for _ in 0..90 {
            if f1 <= f2 {
                hi = x2;
                x2 = x1;
                f2 = f1;
                x1 = hi - g * (hi - lo);
                f1 = f(x1);
            } else {
                lo = x1;
                x1 = x2;
                f1 = f2;
                x2 = lo + g * (hi - lo);
                f2 = f(x2);
            }
        }
        f1.min(f2).min(f(0.0)).min(f(1.0))
    }
}

/// Distance from a point to the parallelogram o + s e1 + t e2, s, t in [0, 1].
fn parallelogram(p: &P, o: &P, e1: &V, e2: &V) -> f64 {
    let d = p - o;
    let (a, b, c) = (e1.dot(e1), e1.dot(e2), e2.dot(e2));
    let (r1, r2) = (e1.dot(&d), e2.dot(&d));
    let det = a * c - b * b;
    let (s, t) = ((c * r1 - b * r2) / det, (a * r2 - b * r1) / det);
    if (0.0..=1.0).contains(&s) && (0.0..=1.0).contains(&t) {
        return (d - e1 * s - e2 * t).norm();
    }
    let corners = [*o, o + e1, o + e1 + e2, o + e2];
    (0..4).map(|k| point_segment(p, &corners[k], &corners[(k + 1) % 4])).fold(f64::INFINITY, f64::min)
}

/// A random grid of about 44 mm a side: rotated, anisotropic (in-plane 0.5-1.0 mm, slices
/// 0.8-1.5 mm), every third one sheared as a gantry tilt of up to 20 degrees.
fn random_grid(rng: &mut Rng, n: usize) -> Grid {
    let spacing = V::new(rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0), rng.uniform(0.8, 1.5));
    let axis = rng.unit();
    let rotation = Rotation3::from_axis_angle(&nalgebra::Unit::new_normalize(axis), rng.uniform(0.0, 3.1));
    let mut l = rotation.into_inner() * Matrix3::from_diagonal(&spacing);
    if n % 3 == 2 {
        let tilt = rng.uniform(5.0, 20.0).to_radians().tan();
        let col1 = l.column(1).into_owned();
        l.set_column(2, &(l.column(2) + col1 / spacing.y * spacing.z * tilt));
    }
    let dims = [0, 1, 2].map(|a| (44.0 / spacing[a]).ceil() as usize);
    let centre = V::from_fn(|a, _| dims[a] as f64 / 2.0);
    let mut m = Matrix4::identity();
    m.fixed_view_mut::<3, 3>(0, 0).copy_from(&l);
    let origin = -(l * centre) + V::new(rng.uniform(-3.0, 3.0), rng.uniform(-3.0, 3.0), rng.uniform(-3.0, 3.0));
    m.fixed_view_mut::<3, 1>(0, 3).copy_from(&origin);
    Grid::new(dims, m)
}

/// The tube: a capsule (axis segment and radius) near the grid's centre.
struct Tube {
    a: P,
    b: P,
    radius_mm: f64,
}

impl Tube {
    fn inside(&self, p: &P) -> bool {
        point_segment(p, &self.a, &self.b) <= self.radius_mm
    }
}

/// Labels by voxel centre, or by partial volume (at least half of 4 x 4 x 4 samples per cell).
fn voxelise(grid: &Grid, tube: &Tube, partial_volume: bool) -> Mask {
    let mut mask = Mask::empty(grid);
    for k in 0..grid.dims[2] {
        for j in 0..grid.dims[1] {
            for i in 0..grid.dims[0] {
                let c = grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
                // Only cells that can reach the tube are worth sampling.
                let near = point_segment(&c, &tube.a, &tube.b) - tube.radius_mm;
                if near > 1.2 {
                    continue;
                }
                let labelled = if partial_volume {
                    let mut n = 0;
                    for s in 0..64 {
                        let sub = [s % 4, (s / 4) % 4, s / 16].map(|x| (x as f64 + 0.5) / 4.0 - 0.5);
                        let p =
                            grid.patient_point(Point3::new(i as f64 + sub[0], j as f64 + sub[1], k as f64 + sub[2]));
                        n += tube.inside(&p) as usize;
                    }
                    n >= 32
                } else {
                    tube.inside(&c)
                };
                mask.voxels[grid.index(i, j, k)] = labelled as u8;
            }
        }
    }
    mask
}

/// Exact clearance from the instrument to the labelled cells: the nearest cells first, stopping
/// once a cell's centre is farther than the best found plus the cell's reach.
fn cells_clearance(grid: &Grid, mask: &Mask, entry: &P, target: &P, radius_mm: f64) -> f64 {
    let l = grid.linear_mm();
    let edges = [l.column(0).into_owned(), l.column(1).into_owned(), l.column(2).into_owned()];
    let reach = (edges[0] + edges[1] + edges[2])
        .norm()
        .max((edges[0] - edges[1] + edges[2]).norm())
        .max((edges[0] + edges[1] - edges[2]).norm())
        .max((edges[0] - edges[1] - edges[2]).norm())
        / 2.0;
    let mut near: Vec<(f64, P)> = (0..mask.voxels.len())
        .filter(|&v| mask.voxels[v] != 0)
        .map(|v| {
            let [i, j, k] = grid.ijk(v);
            let c = grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
            (point_segment(&c, entry, target), c)
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = f64::INFINITY;
    for (centre_distance, c) in near {
        if centre_distance - reach > best {
            break;
        }
        let corner = c - (edges[0] + edges[1] + edges[2]) / 2.0;
        best = best.min(Cell { corner, edges }.segment_distance(entry, target));
    }
    best - radius_mm
}

struct Tally {
    paths: usize,
    over_cells: f64,
    over_analytic: f64,
    /// Largest (analytic - reported) / half the largest spacing, and / the stated uncertainty.
    under_half_spacing: f64,
    beyond_uncertainty: f64,
    below_half_spacing: usize,
    /// Paths where the labelled cells themselves come closer than half the largest spacing
    /// inside the analytic clearance: no figure at most the cells' can stay within that.
    cells_below_half_spacing: usize,
    uncertainty_sum: f64,
}

#[test]
fn reported_clearances_never_exceed_the_labelled_cells_nor_the_analytic_truth() {
    let mut rng = Rng(20261129);
    let fresh = || Tally {
        paths: 0,
        over_cells: f64::NEG_INFINITY,
        over_analytic: f64::NEG_INFINITY,
        under_half_spacing: f64::NEG_INFINITY,
        beyond_uncertainty: f64::NEG_INFINITY,
        below_half_spacing: 0,
        cells_below_half_spacing: 0,
        uncertainty_sum: 0.0,
    };
    let mut tallies = [fresh(), fresh()];
    for n in 0..48 {
        let grid = random_grid(&mut rng, n);
        let centre = grid.patient_point(Point3::from(grid.dims.map(|d| d as f64 / 2.0)));
        let axis = rng.unit();
        let tube = Tube { a: centre - axis * 10.0, b: centre + axis * 10.0, radius_mm: rng.uniform(0.75, 3.0) };
        let s = grid.spacing_mm();
        let half_spacing = s.iter().cloned().fold(0.0, f64::max) / 2.0;
        for (partial, tally) in [false, true].into_iter().zip(tallies.iter_mut()) {
            let mask = voxelise(&grid, &tube, partial);
            let (_, shape) = SegmentShape::from_mask(&mask, &Progress::new()).unwrap().expect("the tube has voxels");
            let obstacle = Obstacle::new(1, "tube", Category::Vessel, 2.0, shape);
            for _ in 0..25 {
                // A target beside the tube's middle part, 0.2-5 mm clear of it, reached from any
                // direction by a 30 mm path.
                let side = {
                    let r = rng.unit();
                    (r - axis * r.dot(&axis)).normalize()
                };
                let along = tube.a + (tube.b - tube.a) * rng.uniform(0.3, 0.7);
                let radius = rng.uniform(0.4, 1.25);
                let target = along + side * (tube.radius_mm + radius + rng.uniform(0.2, 5.0));
                let mut dir = rng.unit();
                if dir.dot(&side) < 0.0 {
                    dir = -dir;
                }
                let entry = target + dir * 30.0;
                let t = Trajectory::new("p", entry.into(), target.into(), Instrument::custom(2.0 * radius, 300.0));
                let reported = obstacle.clearance(&t, radius);
                let analytic = segment_segment(&entry, &target, &tube.a, &tube.b) - tube.radius_mm - radius;
                let cells = cells_clearance(&grid, &mask, &entry, &target, radius);
                let r = reported.min_clearance_mm;
                assert!(r <= cells, "grid {n} (partial {partial}): reported {r:.5} > cells {cells:.5} mm");
                assert!(
                    r <= analytic + 0.05,
                    "grid {n} (partial {partial}): reported {r:.4} > analytic {analytic:.4} + 0.05"
                );
                assert!(
                    r >= analytic - reported.uncertainty_mm,
                    "grid {n} (partial {partial}): reported {r:.4} < analytic {analytic:.4} - {:.4}",
                    reported.uncertainty_mm
                );
                tally.paths += 1;
                tally.over_cells = tally.over_cells.max(r - cells);
                tally.over_analytic = tally.over_analytic.max(r - analytic);
                tally.under_half_spacing = tally.under_half_spacing.max((analytic - r) / half_spacing);
                tally.beyond_uncertainty = tally.beyond_uncertainty.max((analytic - r) / reported.uncertainty_mm);
                tally.below_half_spacing += (r < analytic - half_spacing) as usize;
                tally.cells_below_half_spacing += (cells < analytic - half_spacing) as usize;
                tally.uncertainty_sum += reported.uncertainty_mm;
            }
        }
    }
    for (name, t) in ["centre-inside", "partial volume"].iter().zip(&tallies) {
        eprintln!(
            "{name}: {} paths; reported - cells at most {:.5} mm; reported - analytic at most {:.4} mm; \
             analytic - reported at most {:.2} x half the largest spacing ({} paths beyond it) and {:.2} x the stated \
             uncertainty (mean {:.3} mm); the cells alone are more than half the largest spacing inside the \
             analytic clearance on {} paths",
            t.paths,
            t.over_cells,
            t.over_analytic,
            t.under_half_spacing,
            t.below_half_spacing,
            t.beyond_uncertainty,
            t.uncertainty_sum / t.paths as f64,
            t.cells_below_half_spacing
        );
        // Half the largest spacing cannot bound the understatement: the cells exceed it often.
        assert!(t.cells_below_half_spacing * 20 > t.paths, "{name}");
    }
    assert!(tallies.iter().map(|t| t.paths).sum::<usize>() >= 2000);
}
