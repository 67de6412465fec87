//! A scalar volume in patient space: voxels, their grid, and what is known about where they came
//! from.

mod grid;
mod reslice;

pub use grid::{Grid, ras_from_lps};
pub use reslice::Plane;

use nalgebra::{Matrix4, Point3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Voxel values. CT is kept as i16 Hounsfield units whenever the rescale allows it (half the
/// memory of f32); anything else is f32. There is never a second full copy.
#[derive(Debug, Clone, PartialEq)]
pub enum VoxelData {
    I16(Vec<i16>),
    F32(Vec<f32>),
}

impl VoxelData {
    pub fn len(&self) -> usize {
        match self {
            VoxelData::I16(v) => v.len(),
            VoxelData::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn get(&self, index: usize) -> f32 {
        match self {
            VoxelData::I16(v) => v[index] as f32,
            VoxelData::F32(v) => v[index],
        }
    }

    /// Bytes held by the voxel buffer.
    pub fn byte_size(&self) -> usize {
        match self {
            VoxelData::I16(v) => v.len() * 2,
            VoxelData::F32(v) => v.len() * 4,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            VoxelData::I16(_) => "int16",
            VoxelData::F32(_) => "float32",
        }
    }

    /// Minimum and maximum value (finite values only for f32); `None` when empty.
    pub fn range(&self) -> Option<(f32, f32)> {
        fn fold<T: Copy + Send + Sync>(v: &[T], f: impl Fn(T) -> f32 + Sync + Send) -> Option<(f32, f32)> {
            v.par_chunks(1 << 16)
                .map(|c| {
                    c.iter().map(|&x| f(x)).filter(|x| x.is_finite()).fold(None, |acc: Option<(f32, f32)>, x| {
                        Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
                    })
                })
                .reduce(
                    || None,
                    |a, b| match (a, b) {
                        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
                        (x, None) | (None, x) => x,
                    },
                )
        }
        match self {
            VoxelData::I16(v) if v.is_empty() => None,
            // Integers are all finite: plain min and max, which vectorise.
            VoxelData::I16(v) => {
                let (lo, hi) = v
                    .par_chunks(1 << 16)
                    .map(|c| (c.iter().copied().min().unwrap_or(i16::MAX), c.iter().copied().max().unwrap_or(i16::MIN)))
                    .reduce(|| (i16::MAX, i16::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
                Some((f32::from(lo), f32::from(hi)))
            }
            VoxelData::F32(v) => fold(v, |x| x),
        }
    }
}

/// Where a volume came from and how to show it by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub series_uid: String,
    pub study_uid: String,
    pub modality: String,
    pub description: String,
    pub patient_name: String,
    pub patient_id: String,
    pub study_date: String,
    /// Physical unit of the values: "HU" for rescaled CT, empty when unknown.
    pub unit: String,
    /// Default window (centre, width) from the file, if any.
    pub window: Option<(f64, f64)>,
    /// What anonymised output must not contain: the identifying values of the headers and the
    /// names of the files read (see [`crate::core::report::Scrubber`]).
    #[serde(skip)]
    pub identifying: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub grid: Grid,
    pub data: VoxelData,
    pub meta: VolumeMeta,
    /// Problems that did not stop loading but that the user must see.
    pub warnings: Vec<String>,
}

impl Volume {
    /// Value at voxel (i, j, k).
    #[inline]
    pub fn at(&self, i: usize, j: usize, k: usize) -> f32 {
        self.data.get(self.grid.index(i, j, k))
    }

    /// A window (centre, width) over all the values: how a scan without calibrated units (MR and
    /// others) is first shown. Header windows are not trusted for this: anonymisers and
    /// converters leave meaningless ones (mr-sagittal says centre 11, width 22 over 0-713).
    /// The values with every NaN (no value: outside a fused scan's field of view) as the
    /// lowest value, for pictures and files that need a number everywhere.
    pub fn filled(&self) -> VoxelData {
        match &self.data {
            VoxelData::F32(v) if v.iter().any(|x| x.is_nan()) => {
                let lo = self.data.range().map_or(0.0, |r| r.0);
                VoxelData::F32(v.par_iter().map(|&x| if x.is_nan() { lo } else { x }).collect())
            }
            data => data.clone(),
        }
    }

    pub fn value_window(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self.data.range()?;
        Some((f64::from(lo + hi) / 2.0, f64::from(hi - lo).max(1.0)))
    }

    /// Trilinear interpolation at continuous voxel coordinates; `None` outside the grid.
    pub fn sample_voxel(&self, p: Point3<f64>) -> Option<f32> {
        let d = self.grid.dims;
        let mut base = [0usize; 3];
        let mut frac = [0f64; 3];
        for a in 0..3 {
            let hi = (d[a] - 1) as f64;
            if !(p[a] >= 0.0 && p[a] <= hi) {
                return None;
            }
            let f = p[a].floor().min((d[a].max(2) - 2) as f64).max(0.0);
            base[a] = f as usize;
            frac[a] = if d[a] == 1 { 0.0 } else { p[a] - f };
        }
        let mut acc = 0.0f64;
        for c in 0..8 {
            let o = [c & 1, (c >> 1) & 1, (c >> 2) & 1];
            let mut w = 1.0;
            let mut idx = [0usize; 3];
            for a in 0..3 {
                w *= if o[a] == 1 { frac[a] } else { 1.0 - frac[a] };
                idx[a] = (base[a] + o[a]).min(d[a] - 1);
            }
            if w != 0.0 {
                acc += w * self.at(idx[0], idx[1], idx[2]) as f64;
            }
        }
        Some(acc as f32)
    }

    /// This scan's values on another grid (trilinear), where `self_from_grid` maps that grid's
    /// patient space into this scan's (the inverse of a registration's `fixed_from_moving` when
    /// this is the moving scan); `outside` where the grid leaves the scan.
    pub fn resampled(&self, grid: &Grid, self_from_grid: &Matrix4<f64>, outside: f32) -> Option<Vec<f32>> {
        let voxel_from_grid_voxel = self.grid.voxel_from_patient()? * self_from_grid * grid.patient_from_voxel;
        Some(
            (0..grid.voxel_count())
                .into_par_iter()
                .map(|n| {
                    let v = voxel_from_grid_voxel.transform_point(&Point3::from(grid.ijk(n).map(|c| c as f64)));
                    self.sample_voxel(v).unwrap_or(outside)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trilinear_sampling_is_exact_on_a_linear_field() {
        let grid = Grid::axis_aligned([4, 5, 6], Point3::origin(), [1.0; 3]);
        let mut v = Vec::new();
        for k in 0..6 {
            for j in 0..5 {
                for i in 0..4 {
                    v.push((2 * i + 3 * j - k) as f32);
                }
            }
        }
        let vol = Volume { grid, data: VoxelData::F32(v), meta: VolumeMeta::default(), warnings: vec![] };
        let s = vol.sample_voxel(Point3::new(1.5, 2.25, 4.0)).unwrap();
        assert!((s - (3.0 + 6.75 - 4.0)).abs() < 1e-5);
        assert!(vol.sample_voxel(Point3::new(3.0, 4.0, 5.0)).is_some());
        assert!(vol.sample_voxel(Point3::new(3.01, 0.0, 0.0)).is_none());
        assert_eq!(vol.data.range(), Some((-5.0, 18.0)));
    }

    #[test]
    fn resampling_under_a_motion_reads_the_moved_points() {
        // A linear field in patient space (exact under trilinear interpolation), read on an
        // oblique grid through a turn and a shift.
        let field = |p: &Point3<f64>| 0.5 * p.x - 2.0 * p.y + 0.25 * p.z + 3.0;
        let grid = Grid::axis_aligned([20, 18, 16], Point3::new(-10.0, -9.0, -8.0), [1.0, 1.0, 1.0]);
        let values = (0..grid.voxel_count())
            .map(|n| field(&grid.patient_point(Point3::from(grid.ijk(n).map(|c| c as f64)))) as f32)
            .collect();
        let vol = Volume { grid, data: VoxelData::F32(values), meta: VolumeMeta::default(), warnings: vec![] };
        let motion =
            nalgebra::Isometry3::new(nalgebra::Vector3::new(1.0, -0.5, 0.7), nalgebra::Vector3::new(0.1, 0.2, -0.15));
        let turned = nalgebra::Rotation3::from_euler_angles(0.3, 0.0, 0.2).to_homogeneous();
        let target = Grid::new(
            [6, 5, 4],
            Matrix4::new_translation(&nalgebra::Vector3::new(-3.0, -2.0, -2.0)) * turned * Matrix4::new_scaling(0.9),
        );
        let out = vol.resampled(&target, &motion.to_homogeneous(), f32::NAN).unwrap();
        for (n, v) in out.iter().enumerate() {
            let p = target.patient_point(Point3::from(target.ijk(n).map(|c| c as f64)));
            assert!((f64::from(*v) - field(&(motion * p))).abs() < 1e-3, "{v} at {p}");
        }
        let far = nalgebra::Isometry3::translation(100.0, 0.0, 0.0).to_homogeneous();
        assert!(vol.resampled(&target, &far, -1.0).unwrap().iter().all(|v| *v == -1.0));
    }
}
