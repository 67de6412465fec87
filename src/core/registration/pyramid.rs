//! Coarser copies of a scan for multi-resolution registration: block means, so that the coarse
//! levels see the anatomy's large shapes and not the noise, with the grid moved to the blocks'
//! centres so that a coarse voxel sits where the fine voxels it averages are.

use nalgebra::{Matrix4, Point3, Vector3};
use rayon::prelude::*;

use crate::core::volume::Grid;

/// A scan's values as `f32` on its grid: what the metric reads.
#[derive(Debug, Clone)]
pub struct Level {
    pub grid: Grid,
    pub values: Vec<f32>,
}

impl Level {
    pub fn new(grid: Grid, values: Vec<f32>) -> Level {
        Level { grid, values }
    }

    /// Trilinear value and its gradient in voxel units at continuous voxel coordinates; `None`
    /// outside the grid.
    #[inline]
    pub fn sample(&self, v: &Point3<f64>) -> Option<(f64, Vector3<f64>)> {
        let d = self.grid.dims;
        let mut base = [0usize; 3];
        let mut f = [0f64; 3];
        for a in 0..3 {
            if !(v[a] >= 0.0 && v[a] <= (d[a] - 1) as f64) || d[a] < 2 {
                return None;
            }
            let b = v[a].floor().min((d[a] - 2) as f64);
            base[a] = b as usize;
            f[a] = v[a] - b;
        }
        let (nx, nxy) = (d[0], d[0] * d[1]);
        let i0 = base[0] + nx * base[1] + nxy * base[2];
        let c = |o: usize| f64::from(self.values[i0 + o]);
        let (c000, c100, c010, c110) = (c(0), c(1), c(nx), c(nx + 1));
        let (c001, c101, c011, c111) = (c(nxy), c(nxy + 1), c(nxy + nx), c(nxy + nx + 1));
        let [fx, fy, fz] = f;
        let (x00, x10) = (c000 + fx * (c100 - c000), c010 + fx * (c110 - c010));
        let (x01, x11) = (c001 + fx * (c101 - c001), c011 + fx * (c111 - c011));
        let (y0, y1) = (x00 + fy * (x10 - x00), x01 + fy * (x11 - x01));
        let value = y0 + fz * (y1 - y0);
        let dx = (1.0 - fz) * ((1.0 - fy) * (c100 - c000) + fy * (c110 - c010))
            + fz * ((1.0 - fy) * (c101 - c001) + fy * (c111 - c011));
        let dy = (1.0 - fz) * (x10 - x00) + fz * (x11 - x01);
        let dz = y1 - y0;
        Some((value, Vector3::new(dx, dy, dz)))
    }

    /// The lowest and highest value.
    pub fn range(&self) -> (f32, f32) {
        self.values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)))
    }

    /// Averages blocks of voxels so that each axis' spacing comes near `spacing_mm` (never finer
    /// than it was).
    pub fn shrunk(&self, spacing_mm: f64) -> Level {
        let spacing = self.grid.spacing_mm();
        let factor: [usize; 3] = std::array::from_fn(|a| ((spacing_mm / spacing[a]).round() as usize).max(1));
        if factor == [1, 1, 1] {
            return self.clone();
        }
        let d = self.grid.dims;
        let dims: [usize; 3] = std::array::from_fn(|a| (d[a] / factor[a]).max(1));
        let [fx, fy, fz] = factor;
        let values: Vec<f32> = (0..dims[2])
            .into_par_iter()
            .flat_map_iter(|k| {
                let values = &self.values;
                let grid = &self.grid;
                (0..dims[1]).flat_map(move |j| {
                    (0..dims[0]).map(move |i| {
                        let mut sum = 0.0f64;
                        let mut n = 0u32;
                        for z in k * fz..((k + 1) * fz).min(d[2]) {
                            for y in j * fy..((j + 1) * fy).min(d[1]) {
                                for x in i * fx..((i + 1) * fx).min(d[0]) {
                                    sum += f64::from(values[grid.index(x, y, z)]);
                                    n += 1;
                                }
                            }
                        }
                        (sum / f64::from(n.max(1))) as f32
                    })
                })
            })
            .collect();
        let scale = Vector3::from(factor.map(|f| f as f64));
        let shift = scale.map(|f| (f - 1.0) / 2.0);
        let coarse_from_fine = Matrix4::new_translation(&shift) * Matrix4::new_nonuniform_scaling(&scale);
        Level { grid: Grid::new(dims, self.grid.patient_from_voxel * coarse_from_fine), values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    #[test]
    fn a_block_mean_keeps_the_mean_and_the_place_of_the_values() {
        let grid = Grid::axis_aligned([8, 6, 4], Point3::new(10.0, -3.0, 2.0), [0.5, 0.5, 1.0]);
        // A linear ramp along x: the block mean of a ramp is the ramp at the block's centre.
        let values: Vec<f32> = (0..grid.voxel_count())
            .map(|i| grid.patient_point(Point3::from(grid.ijk(i).map(|c| c as f64))).x as f32)
            .collect();
        let coarse = Level::new(grid, values).shrunk(1.0);
        assert_eq!(coarse.grid.dims, [4, 3, 4]);
        assert_eq!(coarse.grid.spacing_mm(), [1.0, 1.0, 1.0]);
        for (n, v) in coarse.values.iter().enumerate() {
            let x = coarse.grid.patient_point(Point3::from(coarse.grid.ijk(n).map(|c| c as f64))).x;
            assert!((f64::from(*v) - x).abs() < 1e-5, "{v} at {x}");
        }
    }
}
