//! A voxel grid placed in patient space (LPS, millimetres).
//!
//! Voxel `(i, j, k)` is column `i`, row `j`, slice `k`; its centre lies at
//! `patient_from_voxel * (i, j, k, 1)`. The 3x3 part may be oblique and, for a gantry-tilted
//! stack, sheared: every computation goes through the matrix, never through "spacing" alone.

use nalgebra::{Matrix3, Matrix4, Point3, Vector3};
use serde::{Deserialize, Serialize};

/// LPS <-> RAS: negate the first two axes. It is its own inverse.
pub fn ras_from_lps() -> Matrix4<f64> {
    Matrix4::from_diagonal(&nalgebra::Vector4::new(-1.0, -1.0, 1.0, 1.0))
}

/// An empty grid (no voxels) at the origin: the placeholder of things not loaded yet.
impl Default for Grid {
    fn default() -> Self {
        Grid::new([0, 0, 0], Matrix4::identity())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Voxels along i (columns), j (rows), k (slices).
    pub dims: [usize; 3],
    pub patient_from_voxel: Matrix4<f64>,
}

impl Grid {
    pub fn new(dims: [usize; 3], patient_from_voxel: Matrix4<f64>) -> Self {
        Self { dims, patient_from_voxel }
    }

    /// An axis-aligned grid (identity directions) with the given origin and spacing.
    pub fn axis_aligned(dims: [usize; 3], origin_mm: Point3<f64>, spacing_mm: [f64; 3]) -> Self {
        let mut m = Matrix4::identity();
        for a in 0..3 {
            m[(a, a)] = spacing_mm[a];
            m[(a, 3)] = origin_mm[a];
        }
        Self::new(dims, m)
    }

    pub fn voxel_count(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Linear index of voxel (i, j, k); i varies fastest.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// (i, j, k) of a linear index.
    #[inline]
    pub fn ijk(&self, index: usize) -> [usize; 3] {
        let nx = self.dims[0];
        let nxy = nx * self.dims[1];
        [index % nx, (index / nx) % self.dims[1], index / nxy]
    }

    pub fn linear_mm(&self) -> Matrix3<f64> {
        self.patient_from_voxel.fixed_view::<3, 3>(0, 0).into_owned()
    }

    pub fn origin_mm(&self) -> Point3<f64> {
        Point3::from(self.patient_from_voxel.fixed_view::<3, 1>(0, 3).into_owned())
    }

    /// Length in mm of one voxel step along each grid axis.
    pub fn spacing_mm(&self) -> [f64; 3] {
        let l = self.linear_mm();
        [l.column(0).norm(), l.column(1).norm(), l.column(2).norm()]
    }

    /// Unit direction of each grid axis in LPS (columns of the result).
    pub fn directions(&self) -> Matrix3<f64> {
        let l = self.linear_mm();
        let s = self.spacing_mm();
        Matrix3::from_columns(&[l.column(0) / s[0], l.column(1) / s[1], l.column(2) / s[2]])
    }

    /// Volume of one voxel in mm³ (exact for sheared grids too).
    pub fn voxel_volume_mm3(&self) -> f64 {
        self.linear_mm().determinant().abs()
    }

    /// Angle in degrees between the slice axis and the normal of the slice plane: non-zero for a
    /// sheared (gantry-tilted) grid.
    pub fn shear_deg(&self) -> f64 {
        let d = self.directions();
        let normal = d.column(0).cross(&d.column(1));
        let n = normal.norm();
        if n == 0.0 {
            return 90.0;
        }
        let cos = (normal / n).dot(&d.column(2)).abs().min(1.0);
        cos.acos().to_degrees()
    }

    /// The patient point at continuous voxel coordinates (`patient_from_voxel` applied).
    pub fn patient_point(&self, voxel: Point3<f64>) -> Point3<f64> {
        self.patient_from_voxel.transform_point(&voxel)
    }

    /// The inverse transform; `None` only for a degenerate (flat) grid.
    pub fn voxel_from_patient(&self) -> Option<Matrix4<f64>> {
        self.patient_from_voxel.try_inverse()
    }

    /// Continuous voxel coordinates of a patient point (`voxel_from_patient` applied).
    pub fn voxel_point(&self, p: &Point3<f64>) -> Option<Point3<f64>> {
        self.voxel_from_patient().map(|m| m.transform_point(p))
    }

    /// Index of the voxel whose cell holds a patient point; `None` outside the grid.
    pub fn voxel_at(&self, p: &Point3<f64>) -> Option<usize> {
        let v = self.voxel_point(p)?;
        let ijk: Option<Vec<usize>> =
            (0..3).map(|a| (v[a] >= -0.5 && v[a] < self.dims[a] as f64 - 0.5).then(|| v[a].round() as usize)).collect();
        ijk.map(|c| self.index(c[0], c[1], c[2]))
    }

    /// The eight corner voxel centres in patient space.
    pub fn corners_mm(&self) -> [Point3<f64>; 8] {
        let hi = self.dims.map(|d| d.saturating_sub(1) as f64);
        std::array::from_fn(|c| {
            self.patient_point(Point3::new(
                if c & 1 == 0 { 0.0 } else { hi[0] },
                if c & 2 == 0 { 0.0 } else { hi[1] },
                if c & 4 == 0 { 0.0 } else { hi[2] },
            ))
        })
    }

    /// Axis-aligned bounds (min, max) of the voxel centres in patient space.
    pub fn bounds_mm(&self) -> (Point3<f64>, Point3<f64>) {
        let corners = self.corners_mm();
        let mut lo = corners[0];
        let mut hi = corners[0];
        for c in &corners[1..] {
            lo = lo.inf(c);
            hi = hi.sup(c);
        }
        (lo, hi)
    }

    /// True when both grids have the same size and place voxels within `tol_mm` of each other.
    pub fn same_as(&self, other: &Grid, tol_mm: f64) -> bool {
        self.dims == other.dims
            && self.corners_mm().iter().zip(other.corners_mm().iter()).all(|(a, b)| (a - b).norm() <= tol_mm)
    }

    /// The voxel index range (inclusive, per axis) whose centres can lie in the patient-space box
    /// [min, max], from the voxel coordinates of its eight corners; `None` when the box misses
    /// the grid.
    pub fn voxel_range(&self, min_mm: &Point3<f64>, max_mm: &Point3<f64>) -> Option<([usize; 3], [usize; 3])> {
        let voxel_from_patient = self.voxel_from_patient()?;
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for c in 0..8 {
            let corner = Point3::new(
                if c & 1 == 0 { min_mm.x } else { max_mm.x },
                if c & 2 == 0 { min_mm.y } else { max_mm.y },
                if c & 4 == 0 { min_mm.z } else { max_mm.z },
            );
            let v = voxel_from_patient.transform_point(&corner);
            for a in 0..3 {
                lo[a] = lo[a].min(v[a]);
                hi[a] = hi[a].max(v[a]);
            }
        }
        let mut first = [0usize; 3];
        let mut last = [0usize; 3];
        for a in 0..3 {
            let top = self.dims[a] as f64 - 1.0;
            if hi[a] < 0.0 || lo[a] > top {
                return None;
            }
            first[a] = lo[a].max(0.0).floor() as usize;
            last[a] = hi[a].min(top).ceil() as usize;
        }
        Some((first, last))
    }

    /// The voxels whose centres lie within `radius_mm` of `centre`: index and centre (LPS mm).
    pub fn voxels_within(
        &self,
        centre: &Point3<f64>,
        radius_mm: f64,
    ) -> impl Iterator<Item = (usize, Point3<f64>)> + '_ {
        let r = Vector3::repeat(radius_mm);
        let range = self.voxel_range(&(centre - r), &(centre + r));
        let centre = *centre;
        range.into_iter().flat_map(move |(lo, hi)| {
            (lo[2]..=hi[2]).flat_map(move |k| {
                (lo[1]..=hi[1]).flat_map(move |j| {
                    (lo[0]..=hi[0]).filter_map(move |i| {
                        let p = self.patient_point(Point3::new(i as f64, j as f64, k as f64));
                        ((p - centre).norm_squared() <= radius_mm * radius_mm).then(|| (self.index(i, j, k), p))
                    })
                })
            })
        })
    }

    /// The number (from 0, as the frame fit names them) of the scan's own slice through `p`, for
    /// a view across LPS axis `axis` that lies along the slices; `None` for other views and
    /// outside the scan.
    pub fn slice_number(&self, p: &Point3<f64>, axis: usize) -> Option<usize> {
        if self.slice_normal()[axis].abs() < 0.999 {
            return None;
        }
        let k = self.voxel_point(p)?.z;
        (k >= -0.5 && k < self.dims[2] as f64 - 0.5).then(|| k.round() as usize)
    }

    /// The unit normal of the slice planes (i × j), in LPS.
    pub fn slice_normal(&self) -> Vector3<f64> {
        let d = self.directions();
        d.column(0).cross(&d.column(1)).normalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oblique_grid_round_trips_points() {
        let rot = nalgebra::Rotation3::from_euler_angles(0.3, -0.2, 0.9);
        let mut m = Matrix4::identity();
        let lin = rot.matrix() * Matrix3::from_diagonal(&Vector3::new(0.5, 0.7, 2.0));
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
        m[(0, 3)] = 10.0;
        m[(1, 3)] = -20.0;
        m[(2, 3)] = 5.0;
        let g = Grid::new([10, 11, 12], m);
        let s = g.spacing_mm();
        assert!((s[0] - 0.5).abs() < 1e-12 && (s[1] - 0.7).abs() < 1e-12 && (s[2] - 2.0).abs() < 1e-12);
        assert!((g.voxel_volume_mm3() - 0.7).abs() < 1e-12);
        assert!(g.shear_deg() < 1e-6);
        let p = g.patient_point(Point3::new(3.0, 4.5, 7.0));
        let back = g.voxel_point(&p).unwrap();
        assert!((back - Point3::new(3.0, 4.5, 7.0)).norm() < 1e-9);
        assert_eq!(g.ijk(g.index(3, 4, 7)), [3, 4, 7]);
    }

    #[test]
    fn sheared_grid_reports_its_tilt() {
        let mut m = Matrix4::identity();
        // slices step 1 mm up and tan(20°) mm posterior: a 20° gantry tilt
        m[(1, 2)] = 20f64.to_radians().tan();
        let g = Grid::new([4, 4, 4], m);
        assert!((g.shear_deg() - 20.0).abs() < 1e-9);
        assert!((g.voxel_volume_mm3() - 1.0).abs() < 1e-12);
    }

    /// Axial slices 2.5 mm apart from z = -10: the axial view through z = -5.1 is slice 2; the
    /// coronal and sagittal views cross every slice, and z = 0 lies past the last.
    #[test]
    fn slice_numbers_on_the_scan_axis_only() {
        let mut m = Matrix4::identity();
        m[(2, 2)] = 2.5;
        m[(2, 3)] = -10.0;
        let g = Grid::new([8, 8, 4], m);
        let p = Point3::new(3.0, 2.0, -5.1);
        assert_eq!(g.slice_number(&p, 2), Some(2));
        assert_eq!(g.slice_number(&p, 0), None);
        assert_eq!(g.slice_number(&p, 1), None);
        assert_eq!(g.slice_number(&Point3::new(3.0, 2.0, 0.0), 2), None);
    }
}
