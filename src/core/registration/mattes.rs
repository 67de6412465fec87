//! Mattes mutual information of a rigid motion and its exact gradient (Mattes et al., IEEE TMI
//! 2003): a joint histogram of fixed and moving values over a fixed set of fixed-scan samples,
//! with a cubic B-spline Parzen window on the moving values so that the metric is smooth in the
//! motion. Mutual information asks only that one scan's values predict the other's, so CT, MR and
//! contrasts whose values are related in any (even non-monotonic) way can be aligned.

use nalgebra::{Isometry3, Matrix3, Matrix4, Point3, Vector3};
use rayon::prelude::*;

use super::pyramid::Level;
use crate::core::phantom::splitmix;

/// Histogram bins for each scan.
pub const BINS: usize = 32;
/// Empty bins at each end of the moving axis, so that the B-spline window fits inside.
const PAD: f64 = 2.0;
/// Samples summed together before their sums are added (in order, for reproducible results).
const CHUNK: usize = 4096;

/// The fixed scan's samples at one level: where they are and which fixed bin they fall in.
pub struct Samples {
    pub points: Vec<Point3<f64>>,
    bins: Vec<u8>,
    /// Their mean: the centre of rotation, so that turning and shifting stay independent.
    pub centre: Point3<f64>,
    /// Root mean square distance from the centre: how far a radian of turn moves a sample (mm).
    pub radius_mm: f64,
}

impl Samples {
    /// Up to `count` points of the fixed scan, one in each of as many evenly spread voxels, at a
    /// random place inside it (deterministic). Off the voxel centres, because at the centres the
    /// metric rewards motions that line the moving scan's voxels up with them (interpolation
    /// blurs less there): a bias of up to half a moving voxel, which is what a 3 mm slice
    /// spacing would cost. Only points for which `inside` holds are kept (a mask), out of as
    /// many more drawn as `share_inside` (the share of the scan it covers) asks.
    pub fn draw(
        fixed: &Level,
        count: usize,
        inside: &(dyn Fn(&Point3<f64>) -> bool + Sync),
        share_inside: f64,
    ) -> Samples {
        let n = fixed.values.len();
        let wanted = count as f64 / share_inside.clamp(1e-6, 1.0);
        let step = (n as f64 / wanted.max(1.0)).max(1.0);
        let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
        let hi = fixed.grid.dims.map(|d| d.saturating_sub(1) as f64);
        let (voxels, values): (Vec<Point3<f64>>, Vec<f64>) = (0..((n as f64 / step) as usize))
            .filter_map(|s| {
                let mut r = splitmix(s as u64);
                let index = (((s as f64 + unit(r)) * step) as usize).min(n - 1);
                let ijk = fixed.grid.ijk(index);
                let v = Point3::from(std::array::from_fn(|a| {
                    r = splitmix(r);
                    (ijk[a] as f64 + unit(r) - 0.5).clamp(0.0, hi[a])
                }));
                if !inside(&fixed.grid.patient_point(v)) {
                    return None;
                }
                fixed.sample(&v).map(|(value, _)| (v, value))
            })
            .unzip();
        let (lo, top) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        let width = (top - lo).max(f64::MIN_POSITIVE);
        let bins = values.iter().map(|v| (((v - lo) / width * BINS as f64) as usize).min(BINS - 1) as u8).collect();
        let points: Vec<Point3<f64>> = voxels.iter().map(|v| fixed.grid.patient_point(*v)).collect();
        let centre = Point3::from(points.iter().map(|p| p.coords).sum::<Vector3<f64>>() / points.len().max(1) as f64);
        let radius_mm = (points.iter().map(|p| (p - centre).norm_squared()).sum::<f64>() / points.len().max(1) as f64)
            .sqrt()
            .max(1.0);
        Samples { points, bins, centre, radius_mm }
    }
}

/// The moving scan at one level, ready to be sampled with its gradient.
pub struct Moving<'a> {
    level: &'a Level,
    voxel_from_patient: Matrix4<f64>,
    lo: f32,
    /// Moving value per bin.
    bin_width: f64,
}

impl<'a> Moving<'a> {
    pub fn new(level: &'a Level) -> Option<Moving<'a>> {
        let voxel_from_patient = level.grid.voxel_from_patient()?;
        let (lo, hi) = level.range();
        let bin_width = f64::from(hi - lo).max(f64::MIN_POSITIVE) / (BINS as f64 - 2.0 * PAD - 1.0);
        Some(Moving { level, voxel_from_patient, lo, bin_width })
    }
}

/// Cubic B-spline and its derivative.
#[inline]
fn bspline(u: f64) -> (f64, f64) {
    let a = u.abs();
    if a < 1.0 {
        (2.0 / 3.0 - a * a + 0.5 * a * a * a, -2.0 * u + 1.5 * u * a)
    } else if a < 2.0 {
        let t = 2.0 - a;
        (t * t * t / 6.0, -0.5 * t * t * u.signum())
    } else {
        (0.0, 0.0)
    }
}

/// The metric at one motion.
pub struct Evaluation {
    pub mutual_information: f64,
    /// Of the mutual information, with respect to a small turn `ω` (radians, about the samples'
    /// moved centre) and shift `t` (mm) applied after the motion, in moving patient space.
    pub d_rotation: Vector3<f64>,
    pub d_translation: Vector3<f64>,
    /// Samples that fell inside the moving scan.
    pub overlap: usize,
}

struct Hit {
    bin: u8,
    /// Moving value in bin units (B-spline centre).
    position: f64,
    /// Moving patient point and the value's gradient there (per mm).
    at: Point3<f64>,
    gradient: Vector3<f64>,
}

/// Mutual information between the fixed samples and the moving scan under `moving_from_fixed`,
/// with its gradient; `None` when fewer than `min_overlap` samples land in the moving scan.
pub fn evaluate(
    samples: &Samples,
    moving: &Moving,
    moving_from_fixed: &Isometry3<f64>,
    min_overlap: usize,
) -> Option<Evaluation> {
    let to_voxel = moving.voxel_from_patient * moving_from_fixed.to_homogeneous();
    let linear: Matrix3<f64> = moving.voxel_from_patient.fixed_view::<3, 3>(0, 0).into_owned();
    let patient_from_voxel_t = linear.transpose();
    let hits: Vec<Hit> = samples
        .points
        .par_iter()
        .zip(samples.bins.par_iter())
        .filter_map(|(p, &bin)| {
            let (value, grad_voxel) = moving.level.sample(&to_voxel.transform_point(p))?;
            let position = PAD + (value - f64::from(moving.lo)) / moving.bin_width;
            Some(Hit { bin, position, at: moving_from_fixed * p, gradient: patient_from_voxel_t * grad_voxel })
        })
        .collect();
    if hits.len() < min_overlap.max(1) {
        return None;
    }
    // Sums over fixed chunks added in order: the same result on any number of threads.
    let joint = hits
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut h = vec![0f64; BINS * BINS];
            for hit in chunk {
                let k0 = hit.position.floor() as isize - 1;
                for k in k0..k0 + 4 {
                    let (w, _) = bspline(k as f64 - hit.position);
                    if w > 0.0 {
                        h[usize::from(hit.bin) * BINS + k as usize] += w;
                    }
                }
            }
            h
        })
        .collect::<Vec<_>>()
        .into_iter()
        .reduce(|a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect())
        .unwrap_or_default();
    let n = hits.len() as f64;
    let p: Vec<f64> = joint.iter().map(|c| c / n).collect();
    let fixed_p: Vec<f64> = (0..BINS).map(|i| p[i * BINS..(i + 1) * BINS].iter().sum()).collect();
    let moving_p: Vec<f64> = (0..BINS).map(|k| (0..BINS).map(|i| p[i * BINS + k]).sum()).collect();
    let mut mutual_information = 0.0;
    // log(p(i, k) / p_moving(k)): what each joint bin adds to the gradient.
    let mut log_ratio = vec![0f64; BINS * BINS];
    for i in 0..BINS {
        for k in 0..BINS {
            let pik = p[i * BINS + k];
            if pik > 0.0 {
                mutual_information += pik * (pik / (fixed_p[i] * moving_p[k])).ln();
                log_ratio[i * BINS + k] = (pik / moving_p[k]).ln();
            }
        }
    }
    let centre = moving_from_fixed * samples.centre;
    let scale = -1.0 / (n * moving.bin_width);
    let (d_rotation, d_translation) = hits
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut sum = (Vector3::zeros(), Vector3::zeros());
            for hit in chunk {
                let k0 = hit.position.floor() as isize - 1;
                let row = &log_ratio[usize::from(hit.bin) * BINS..];
                let c: f64 = (k0..k0 + 4).map(|k| bspline(k as f64 - hit.position).1 * row[k as usize]).sum();
                let g = hit.gradient * (c * scale);
                sum.0 += (hit.at - centre).cross(&g);
                sum.1 += g;
            }
            sum
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((Vector3::zeros(), Vector3::zeros()), |a, b| (a.0 + b.0, a.1 + b.1));
    Some(Evaluation { mutual_information, d_rotation, d_translation, overlap: hits.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::volume::Grid;
    use nalgebra::Translation3;

    /// A smooth blob on a small grid.
    fn blob(grid: &Grid, centre: Point3<f64>) -> Level {
        let values = (0..grid.voxel_count())
            .map(|i| {
                let p = grid.patient_point(Point3::from(grid.ijk(i).map(|c| c as f64)));
                (100.0 * (-(p - centre).norm_squared() / 50.0).exp()) as f32
            })
            .collect();
        Level::new(grid.clone(), values)
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        // The fixed samples stay well inside the moving grid, so that none leaves it as the
        // motion changes (a sample leaving is a jump, not a slope).
        let inner = Grid::axis_aligned([16, 16, 16], Point3::new(-8.0, -8.0, -8.0), [1.0; 3]);
        let outer = Grid::axis_aligned([28, 28, 28], Point3::new(-14.0, -14.0, -14.0), [1.0; 3]);
        let fixed = blob(&inner, Point3::new(1.0, 0.0, -1.0));
        let moving_level = blob(&outer, Point3::new(0.0, 1.5, 0.0));
        let samples = Samples::draw(&fixed, 6000, &|_| true, 1.0);
        let moving = Moving::new(&moving_level).unwrap();
        let at = Isometry3::new(Vector3::new(0.3, 0.2, -0.4), Vector3::new(0.02, -0.03, 0.01));
        let e = evaluate(&samples, &moving, &at, 100).unwrap();
        let mi = |m: &Isometry3<f64>| evaluate(&samples, &moving, m, 100).unwrap().mutual_information;
        // Small, so that few samples cross a voxel face (where trilinear slopes jump) in the step.
        let h = 1e-6;
        let centre = at * samples.centre;
        for a in 0..3 {
            let mut dt = Vector3::zeros();
            dt[a] = h;
            let numeric = (mi(&(Translation3::from(dt) * at)) - mi(&(Translation3::from(-dt) * at))) / (2.0 * h);
            assert!(
                (numeric - e.d_translation[a]).abs() < 1e-3 * numeric.abs().max(1e-3),
                "t{a}: {numeric} vs {}",
                e.d_translation[a]
            );
            let turn = |s: f64| {
                let mut w = Vector3::zeros();
                w[a] = s;
                Translation3::from(centre.coords) * Isometry3::rotation(w) * Translation3::from(-centre.coords) * at
            };
            let numeric = (mi(&turn(h)) - mi(&turn(-h))) / (2.0 * h);
            assert!(
                (numeric - e.d_rotation[a]).abs() < 1e-3 * numeric.abs().max(1e-2),
                "w{a}: {numeric} vs {}",
                e.d_rotation[a]
            );
        }
    }
}
