//! Oblique reformatting: the scan, and its labels, on a plane at any angle. Rehearsing a path
//! shows the tissue around the instrument's tip on the plane perpendicular to the path.

use nalgebra::{Point3, Vector3};
use rayon::prelude::*;

use super::{Grid, Volume};

/// A square image plane in patient space (LPS mm): its centre and the unit directions of its
/// columns (right) and rows (up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    pub centre_mm: Point3<f64>,
    pub right: Vector3<f64>,
    pub up: Vector3<f64>,
}

impl Plane {
    /// The plane through `centre_mm` perpendicular to `dir`, seen looking along `dir`: up is as
    /// near the patient's superior as the plane allows (anterior for a path running head to
    /// foot), right follows. `None` for a zero direction.
    pub fn perpendicular(centre_mm: Point3<f64>, dir: &Vector3<f64>) -> Option<Plane> {
        let w = dir.try_normalize(1e-12)?;
        let superior = Vector3::z();
        let reference = if w.dot(&superior).abs() < 0.9 { superior } else { -Vector3::y() };
        let up = (reference - w * w.dot(&reference)).normalize();
        Some(Plane { centre_mm, right: w.cross(&up), up })
    }

    /// The patient point at the centre of pixel (column, row) of an `n` x `n` image `size_mm`
    /// across; row 0 is the top.
    pub fn point(&self, column: usize, row: usize, n: usize, size_mm: f64) -> Point3<f64> {
        let x = ((column as f64 + 0.5) / n as f64 - 0.5) * size_mm;
        let y = (0.5 - (row as f64 + 0.5) / n as f64) * size_mm;
        self.centre_mm + self.right * x + self.up * y
    }

    /// The scan's values on the plane (trilinear), row by row from the top; NaN outside it.
    pub fn sample(&self, volume: &Volume, n: usize, size_mm: f64) -> Vec<f32> {
        let Some(voxel_from_patient) = volume.grid.voxel_from_patient() else { return vec![f32::NAN; n * n] };
        (0..n * n)
            .into_par_iter()
            .map(|i| {
                let v = voxel_from_patient.transform_point(&self.point(i % n, i / n, n, size_mm));
                volume.sample_voxel(v).unwrap_or(f32::NAN)
            })
            .collect()
    }

    /// A label map's labels on the plane (the voxel each pixel centre falls in), 0 outside it.
    pub fn sample_labels(&self, grid: &Grid, labels: &[u16], n: usize, size_mm: f64) -> Vec<u16> {
        (0..n * n)
            .into_par_iter()
            .map(|i| grid.voxel_at(&self.point(i % n, i / n, n, size_mm)).map_or(0, |v| labels[v]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perpendicular_planes_are_orthonormal_with_up_towards_the_head() {
        for dir in [Vector3::new(1.0, 0.2, -0.3), Vector3::new(0.0, 0.0, -1.0), Vector3::new(0.1, 0.0, 1.0)] {
            let p = Plane::perpendicular(Point3::origin(), &dir).unwrap();
            let w = dir.normalize();
            assert!(p.right.dot(&w).abs() < 1e-12 && p.up.dot(&w).abs() < 1e-12 && p.right.dot(&p.up).abs() < 1e-12);
            assert!((p.right.norm() - 1.0).abs() < 1e-12 && (p.up.norm() - 1.0).abs() < 1e-12);
            // Looking along the path, right x up points back at the viewer.
            assert!((p.right.cross(&p.up) + w).norm() < 1e-12);
        }
        let lateral = Plane::perpendicular(Point3::origin(), &Vector3::x()).unwrap();
        assert_eq!(lateral.up, Vector3::z());
        let axial = Plane::perpendicular(Point3::origin(), &-Vector3::z()).unwrap();
        assert_eq!(axial.up, -Vector3::y(), "anterior is up on a path from the vertex down");
        assert!(Plane::perpendicular(Point3::origin(), &Vector3::zeros()).is_none());
    }
}
