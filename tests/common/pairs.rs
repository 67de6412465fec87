//! Registration pairs with a known answer, made from real scans: the scan moved by a known rigid
//! motion onto another grid (other spacing, orientation and field of view), its values remapped by
//! a non-monotonic curve (another contrast) and given noise. The tests and the registration
//! benchmark use the same pairs.
#![allow(dead_code)]

use nalgebra::{Isometry3, Matrix4, Point3, Rotation3, Vector3};
use twinplan::core::volume::{Grid, Volume, VolumeMeta, VoxelData};

/// How a pair is made from a real (fixed) scan.
pub struct Recipe {
    /// The moving grid: its spacing and how far its axes turn about x.
    pub spacing_mm: [f64; 3],
    pub tilt_deg: f64,
    /// The motion, about the fixed scan's centre.
    pub shift_mm: [f64; 3],
    pub angles_deg: [f64; 3],
    /// The moving scan's contrast, from the fixed scan's values.
    pub remap: &'static [(f32, f32)],
    /// Fixed values above this are anatomy, where the target error is measured.
    pub threshold: f32,
}

impl Recipe {
    /// The true `fixed_from_moving` and the moving scan's grid (190 x 200 x 170 mm about the
    /// fixed scan's centre, moved).
    pub fn geometry(&self, fixed: &Volume) -> (Isometry3<f64>, Grid) {
        let (lo, hi) = fixed.grid.bounds_mm();
        let c = nalgebra::center(&lo, &hi);
        let truth = motion(&c, self.shift_mm, self.angles_deg);
        (truth, grid(&(truth.inverse() * c), [190.0, 200.0, 170.0], self.spacing_mm, self.tilt_deg))
    }

    /// The moving scan, with noise of 12 (in the remapped values).
    pub fn moving(&self, fixed: &Volume, truth: &Isometry3<f64>, grid: &Grid) -> Volume {
        moved_copy(fixed, truth, grid, curve(self.remap), 12.0)
    }

    /// Anatomy points every 10 mm that the moving scan covers.
    pub fn points(&self, fixed: &Volume, truth: &Isometry3<f64>, grid: &Grid) -> Vec<Point3<f64>> {
        anatomy_points(fixed, self.threshold, 10.0, grid, truth)
    }
}

/// ct-head-phantom against a pseudo-MR of itself, moved 20 mm and turned 15 degrees.
pub const CT_FAR: Recipe = Recipe {
    spacing_mm: [1.1, 1.1, 3.0],
    tilt_deg: 12.0,
    shift_mm: [20.0, 0.0, 0.0],
    angles_deg: [0.0, 0.0, 15.0],
    remap: PSEUDO_MR,
    threshold: -300.0,
};

/// ct-head-phantom against a pseudo-MR of itself, moved along and about every axis.
pub const CT_OBLIQUE: Recipe = Recipe { shift_mm: [-8.0, 12.0, -14.0], angles_deg: [9.0, -10.0, 6.0], ..CT_FAR };

/// mr-sagittal against another contrast of itself.
pub const MR_CONTRAST: Recipe = Recipe {
    spacing_mm: [1.2, 1.2, 2.5],
    tilt_deg: -10.0,
    shift_mm: [5.0, -15.0, 10.0],
    angles_deg: [-12.0, 5.0, 8.0],
    remap: OTHER_CONTRAST,
    threshold: 60.0,
};

/// A motion of `shift_mm` and turn `angles_deg` (about x, y, z) about `centre`: it maps the moving
/// scan's patient space to the fixed scan's.
pub fn motion(centre: &Point3<f64>, shift_mm: [f64; 3], angles_deg: [f64; 3]) -> Isometry3<f64> {
    let [a, b, c] = angles_deg.map(f64::to_radians);
    let turn = Isometry3::from_parts(nalgebra::Translation3::identity(), Rotation3::from_euler_angles(a, b, c).into());
    nalgebra::Translation3::from(centre.coords + Vector3::from(shift_mm))
        * turn
        * nalgebra::Translation3::from(-centre.coords)
}

/// A grid of `spacing_mm` whose axes are turned by `tilt_deg` about x, centred on `centre` and
/// `size_mm` across.
pub fn grid(centre: &Point3<f64>, size_mm: [f64; 3], spacing_mm: [f64; 3], tilt_deg: f64) -> Grid {
    let dims: [usize; 3] = std::array::from_fn(|a| (size_mm[a] / spacing_mm[a]).round() as usize);
    let turn = Rotation3::from_axis_angle(&Vector3::x_axis(), tilt_deg.to_radians()).to_homogeneous();
    let half = Vector3::from(std::array::from_fn(|a| (dims[a] - 1) as f64 * spacing_mm[a] / 2.0));
    let patient_from_voxel = Matrix4::new_translation(&centre.coords)
        * turn
        * Matrix4::new_translation(&-half)
        * Matrix4::new_nonuniform_scaling(&Vector3::from(spacing_mm));
    Grid::new(dims, patient_from_voxel)
}

/// The scan on an axis-aligned grid of `spacing_mm` over the same bounds (trilinear): a coarser
/// scan of the same anatomy.
pub fn coarser(scan: &Volume, spacing_mm: f64) -> Volume {
    let (lo, hi) = scan.grid.bounds_mm();
    let dims: [usize; 3] = std::array::from_fn(|a| ((hi[a] - lo[a]) / spacing_mm).floor() as usize + 1);
    let grid = Grid::axis_aligned(dims, lo, [spacing_mm; 3]);
    let values = scan.resampled(&grid, &Matrix4::identity(), 0.0).expect("a grid with volume");
    Volume { grid, data: VoxelData::F32(values), meta: scan.meta.clone(), warnings: Vec::new() }
}

/// Piecewise linear through `(from, to)` points sorted by `from`.
pub fn curve(points: &'static [(f32, f32)]) -> impl Fn(f32) -> f32 + Sync {
    move |v| {
        let i = points.partition_point(|p| p.0 < v);
        if i == 0 {
            return points[0].1;
        }
        if i == points.len() {
            return points[i - 1].1;
        }
        let ((x0, y0), (x1, y1)) = (points[i - 1], points[i]);
        y0 + (y1 - y0) * (v - x0) / (x1 - x0)
    }
}

/// CT numbers to a T1-like contrast: air dark, fat bright, soft tissue mid-grey, bone dark again.
pub const PSEUDO_MR: &[(f32, f32)] =
    &[(-1000.0, 10.0), (-300.0, 60.0), (-100.0, 700.0), (0.0, 420.0), (80.0, 500.0), (300.0, 260.0), (1500.0, 60.0)];

/// An MR's values to another contrast: dark and bright swapped in the middle of the range.
pub const OTHER_CONTRAST: &[(f32, f32)] = &[(0.0, 0.0), (40.0, 300.0), (200.0, 120.0), (400.0, 600.0), (5000.0, 200.0)];

/// The `fixed` scan seen as a moving scan: its values at `fixed_from_moving * p` for every voxel
/// `p` of `grid`, remapped, with noise of standard deviation `noise_sd` (deterministic).
pub fn moved_copy(
    fixed: &Volume,
    fixed_from_moving: &Isometry3<f64>,
    grid: &Grid,
    remap: impl Fn(f32) -> f32 + Sync,
    noise_sd: f32,
) -> Volume {
    let outside = fixed.data.range().map_or(0.0, |r| r.0);
    let values = fixed.resampled(grid, &fixed_from_moving.to_homogeneous(), outside).expect("a fixed grid with volume");
    let values = values
        .iter()
        .enumerate()
        .map(|(n, v)| {
            // Irwin-Hall: the sum of 12 uniforms less 6 is close to a unit normal.
            let mut s = twinplan::core::phantom::splitmix(n as u64 ^ 0x5eed);
            let mut sum = 0.0f32;
            for _ in 0..12 {
                s = twinplan::core::phantom::splitmix(s);
                sum += (s >> 40) as f32 / (1u64 << 24) as f32;
            }
            remap(*v) + noise_sd * (sum - 6.0)
        })
        .collect();
    let meta = VolumeMeta { modality: "MR".into(), patient_id: fixed.meta.patient_id.clone(), ..VolumeMeta::default() };
    Volume { grid: grid.clone(), data: VoxelData::F32(values), meta, warnings: Vec::new() }
}

/// Points spread through the anatomy: fixed-scan voxels on a lattice `step_mm` apart whose value
/// is above `threshold` and that the moving grid also covers.
pub fn anatomy_points(
    fixed: &Volume,
    threshold: f32,
    step_mm: f64,
    moving: &Grid,
    fixed_from_moving: &Isometry3<f64>,
) -> Vec<Point3<f64>> {
    let g = &fixed.grid;
    let stride: [usize; 3] = std::array::from_fn(|a| ((step_mm / g.spacing_mm()[a]).round() as usize).max(1));
    let moving_from_fixed = fixed_from_moving.inverse();
    let mut out = Vec::new();
    for k in (0..g.dims[2]).step_by(stride[2]) {
        for j in (0..g.dims[1]).step_by(stride[1]) {
            for i in (0..g.dims[0]).step_by(stride[0]) {
                let p = g.patient_point(Point3::new(i as f64, j as f64, k as f64));
                if fixed.at(i, j, k) > threshold && moving.voxel_at(&(moving_from_fixed * p)).is_some() {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Target registration error (mean, max, in mm) of `found` against `truth` (both
/// `fixed_from_moving`) over fixed-space points.
pub fn tre_mm(found: &Isometry3<f64>, truth: &Isometry3<f64>, points: &[Point3<f64>]) -> (f64, f64) {
    let moving_from_fixed = truth.inverse();
    let errors: Vec<f64> = points.iter().map(|p| (found * (moving_from_fixed * p) - p).norm()).collect();
    (errors.iter().sum::<f64>() / errors.len() as f64, errors.iter().copied().fold(0.0, f64::max))
}
