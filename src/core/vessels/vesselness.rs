//! Frangi's multi-scale vesselness: at each scale the Hessian of the Gaussian-smoothed image, in
//! patient millimetres (so right on anisotropic and oblique grids), and how much its eigenvalues
//! look like a tube: two strong curvatures of the same sign across it, a weak one along it.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::gaussian;
use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::Mask;
use crate::core::volume::{Grid, Volume};

/// Bright tubes on a dark background (contrast CT, CTA, TOF MRA) or dark ones on a bright
/// background (flow voids, black-blood MR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    #[default]
    Bright,
    Dark,
}

/// Frangi's weights of the plate-versus-line (alpha) and blob-versus-line (beta) ratios.
const ALPHA: f32 = 0.5;
const BETA: f32 = 0.5;

/// The strongest vesselness over the scales at each voxel, in [0, 1), and the scale that gave it.
pub struct Vesselness {
    pub grid: Grid,
    pub values: Vec<f32>,
    /// Index into `scales_mm` of the best scale (meaningful where the value is above zero).
    pub best_scale: Vec<u8>,
    pub scales_mm: Vec<f64>,
}

impl Vesselness {
    /// The radius of the tube a scale answers best to: a solid tube of radius r gives its
    /// strongest normalised response near sigma = r / sqrt(2).
    pub fn radius_of_scale_mm(sigma_mm: f64) -> f64 {
        sigma_mm * std::f64::consts::SQRT_2
    }

    /// The scale that answers best to tubes of `radius_mm`.
    pub fn scale_of_radius_mm(radius_mm: f64) -> f64 {
        radius_mm / std::f64::consts::SQRT_2
    }

    /// The radius of the tube the voxel's best scale answers to.
    pub fn radius_mm(&self, voxel: usize) -> f64 {
        Self::radius_of_scale_mm(self.scales_mm[self.best_scale[voxel] as usize])
    }
}

/// Frangi's structureness scale `c` for vessels of the given contrast over their surroundings.
/// At its best scale (sigma = r / sqrt 2) a solid tube of contrast C has normalised cross-section
/// eigenvalues of -C/e each, a Hessian norm of about C/2; Frangi puts c at half the norm of the
/// strongest structure of interest. The structureness term is then 0.86 for vessels of the given
/// contrast, 0.39 at half of it and 0.12 at a quarter.
fn structureness_scale(contrast: f64) -> f32 {
    (contrast.abs() / 4.0) as f32
}

/// Vesselness of `volume` at every scale (standard deviations in mm), for vessels of about
/// `contrast` over their surroundings (in the scan's units). Voxels of `exclude` (bone, for
/// example) get none. Values that are not numbers (outside a fused scan) count as the scan's
/// lowest value.
pub fn vesselness(
    volume: &Volume,
    scales_mm: &[f64],
    polarity: Polarity,
    contrast: f64,
    exclude: Option<&Mask>,
    progress: &Progress,
) -> Result<Vesselness, Cancelled> {
    let grid = volume.grid.clone();
    let dims = grid.dims;
    let n = grid.voxel_count();
    let input: Vec<f32> = match volume.filled() {
        crate::core::volume::VoxelData::I16(v) => v.par_iter().map(|&x| f32::from(x)).collect(),
        crate::core::volume::VoxelData::F32(v) => v,
    };
    // Derivatives along voxel axes become derivatives in patient mm: H_mm = M^T H_vox M.
    let m = grid.linear_mm().try_inverse().unwrap_or_else(nalgebra::Matrix3::identity).cast::<f32>();
    let spacing = grid.spacing_mm();
    let mut best = vec![0f32; n];
    let mut best_scale = vec![0u8; n];
    let plane = dims[0] * dims[1];
    progress.begin("Vesselness", (scales_mm.len() * dims[2]) as u64);
    let excluded = |v: usize| exclude.is_some_and(|e| e.voxels[v] != 0);
    let c = structureness_scale(contrast);
    let diagonal = (0..3).all(|r| (0..3).all(|col| r == col || m[(r, col)] == 0.0));
    // Below this Hessian norm (squared) a voxel's vesselness is under 0.001: it is left at 0.
    let faint = 2.0 * c * c * 1e-3;
    let mut s = vec![0f32; n];
    for (scale_index, &sigma_mm) in scales_mm.iter().enumerate() {
        s.copy_from_slice(&input);
        gaussian::smooth(&mut s, dims, std::array::from_fn(|a| sigma_mm / spacing[a]));
        progress.check()?;
        let norm = (sigma_mm * sigma_mm) as f32;
        let s = &s;
        best.par_chunks_mut(plane).zip(best_scale.par_chunks_mut(plane)).enumerate().for_each(|(k, (out, scale))| {
            if progress.is_cancelled() || c <= 0.0 {
                return;
            }
            let (k0, k1) = (k.saturating_sub(1), (k + 1).min(dims[2] - 1));
            for j in 0..dims[1] {
                let (j0, j1) = (j.saturating_sub(1), (j + 1).min(dims[1] - 1));
                let row = |jj: usize, kk: usize| &s[dims[0] * (jj + dims[1] * kk)..][..dims[0]];
                let rows = [row(j, k), row(j0, k), row(j1, k), row(j, k0), row(j, k1)];
                let corners = [row(j1, k1), row(j1, k0), row(j0, k1), row(j0, k0)];
                for i in 0..dims[0] {
                    let at = i + dims[0] * j;
                    if excluded(at + plane * k) {
                        continue;
                    }
                    let (i0, i1) = (i.saturating_sub(1), (i + 1).min(dims[0] - 1));
                    let h = index_hessian(&rows, &corners, i, i0, i1);
                    let h = if diagonal { scaled(h, &m, norm) } else { transformed(h, &m, norm) };
                    let trace = h[0] + h[1] + h[2];
                    // Two strong curvatures of the tube's sign outweigh the weak one: the trace has
                    // that sign.
                    let sign_fits = match polarity {
                        Polarity::Bright => trace < 0.0,
                        Polarity::Dark => trace > 0.0,
                    };
                    if !sign_fits || frobenius2(&h) < faint {
                        continue;
                    }
                    let v = frangi(eigenvalues(&h), c, polarity);
                    if v > out[at] {
                        out[at] = v;
                        scale[at] = scale_index as u8;
                    }
                }
            }
            progress.advance(1);
        });
        progress.check()?;
    }
    Ok(Vesselness { grid, values: best, best_scale, scales_mm: scales_mm.to_vec() })
}

/// The Hessian (xx, yy, zz, xy, xz, yz) along the voxel axes at voxel `i` of a row, by central
/// differences on the smoothed image (edges repeat the border). `rows`: the voxel's row, then
/// j-1, j+1, k-1, k+1; `corners`: (j+1, k+1), (j+1, k-1), (j-1, k+1), (j-1, k-1).
#[inline]
fn index_hessian(rows: &[&[f32]; 5], corners: &[&[f32]; 4], i: usize, i0: usize, i1: usize) -> [f32; 6] {
    let [r, rj0, rj1, rk0, rk1] = rows;
    let c = r[i];
    [
        r[i1] - 2.0 * c + r[i0],
        rj1[i] - 2.0 * c + rj0[i],
        rk1[i] - 2.0 * c + rk0[i],
        0.25 * (rj1[i1] - rj0[i1] - rj1[i0] + rj0[i0]),
        0.25 * (rk1[i1] - rk0[i1] - rk1[i0] + rk0[i0]),
        0.25 * (corners[0][i] - corners[1][i] - corners[2][i] + corners[3][i]),
    ]
}

/// The voxel-axis Hessian in patient mm, H_mm = M^T H M (M = voxel_from_patient's linear part),
/// times `norm`; for an axis-aligned grid M is diagonal and this is a scaling.
#[inline]
fn scaled(h: [f32; 6], m: &nalgebra::Matrix3<f32>, norm: f32) -> [f32; 6] {
    let d = [m[(0, 0)], m[(1, 1)], m[(2, 2)]];
    [
        h[0] * d[0] * d[0] * norm,
        h[1] * d[1] * d[1] * norm,
        h[2] * d[2] * d[2] * norm,
        h[3] * d[0] * d[1] * norm,
        h[4] * d[0] * d[2] * norm,
        h[5] * d[1] * d[2] * norm,
    ]
}

#[inline]
fn transformed(h: [f32; 6], m: &nalgebra::Matrix3<f32>, norm: f32) -> [f32; 6] {
    let full = nalgebra::Matrix3::new(h[0], h[3], h[4], h[3], h[1], h[5], h[4], h[5], h[2]);
    let p = m.transpose() * full * m * norm;
    [p[(0, 0)], p[(1, 1)], p[(2, 2)], p[(0, 1)], p[(0, 2)], p[(1, 2)]]
}

#[inline]
fn frobenius2(h: &[f32; 6]) -> f32 {
    h[0] * h[0] + h[1] * h[1] + h[2] * h[2] + 2.0 * (h[3] * h[3] + h[4] * h[4] + h[5] * h[5])
}

/// Eigenvalues of a symmetric 3x3 matrix (xx, yy, zz, xy, xz, yz), by the trigonometric solution
/// of the characteristic cubic.
#[inline]
pub(super) fn eigenvalues(h: &[f32; 6]) -> [f32; 3] {
    let [a, b, c, d, e, f] = *h;
    let off = d * d + e * e + f * f;
    let q = (a + b + c) / 3.0;
    let p2 = (a - q).powi(2) + (b - q).powi(2) + (c - q).powi(2) + 2.0 * off;
    if p2 <= f32::MIN_POSITIVE {
        return [q, q, q];
    }
    let p = (p2 / 6.0).sqrt();
    let (ba, bb, bc) = ((a - q) / p, (b - q) / p, (c - q) / p);
    let (bd, be, bf) = (d / p, e / p, f / p);
    let det = ba * (bb * bc - bf * bf) - bd * (bd * bc - bf * be) + be * (bd * bf - bb * be);
    let phi = (det / 2.0).clamp(-1.0, 1.0).acos() / 3.0;
    let e1 = q + 2.0 * p * phi.cos();
    let e3 = q + 2.0 * p * (phi + 2.0 * std::f32::consts::FRAC_PI_3).cos();
    [e1, 3.0 * q - e1 - e3, e3]
}

/// Frangi's measure from the eigenvalues; `c` scales the structureness term.
#[inline]
fn frangi(mut l: [f32; 3], c: f32, polarity: Polarity) -> f32 {
    l.sort_unstable_by(|x, y| x.abs().total_cmp(&y.abs()));
    let [l1, l2, l3] = l;
    let tube = match polarity {
        Polarity::Bright => l2 < 0.0 && l3 < 0.0,
        Polarity::Dark => l2 > 0.0 && l3 > 0.0,
    };
    if !tube {
        return 0.0;
    }
    let ra2 = (l2 / l3).powi(2);
    let rb2 = l1 * l1 / (l2 * l3).abs();
    let s2 = l1 * l1 + l2 * l2 + l3 * l3;
    (1.0 - (-ra2 / (2.0 * ALPHA * ALPHA)).exp())
        * (-rb2 / (2.0 * BETA * BETA)).exp()
        * (1.0 - (-s2 / (2.0 * c * c)).exp())
}

#[cfg(test)]
mod tests {
    use nalgebra::{Matrix3, Matrix4, Point3, Rotation3, Vector3};

    use super::*;
    use crate::core::volume::{VolumeMeta, VoxelData};

    #[test]
    fn eigenvalues_match_a_known_rotation() {
        let r = Rotation3::from_euler_angles(0.3, -0.7, 1.1);
        let d = Matrix3::from_diagonal(&Vector3::new(-5.0, 2.0, 0.5));
        let h = r.matrix() * d * r.matrix().transpose();
        let mut e = eigenvalues(&[h[(0, 0)], h[(1, 1)], h[(2, 2)], h[(0, 1)], h[(0, 2)], h[(1, 2)]].map(|x| x as f32));
        e.sort_by(f32::total_cmp);
        for (got, want) in e.iter().zip([-5.0, 0.5, 2.0]) {
            assert!((got - want).abs() < 1e-4, "{e:?}");
        }
    }

    /// A bright tube of radius `r` along `axis` (patient mm) on a grid with the given spacing and
    /// orientation, through the grid's centre.
    fn tube_volume(spacing: [f64; 3], rotation: Rotation3<f64>, axis: Vector3<f64>, r: f64) -> (Volume, Point3<f64>) {
        let dims = [48, 48, 40];
        let linear = rotation.matrix() * Matrix3::from_diagonal(&Vector3::from(spacing));
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&linear);
        let grid = Grid::new(dims, m);
        let centre = grid.patient_point(Point3::new(23.5, 23.5, 19.5));
        let axis = axis.normalize();
        let mut data = Vec::with_capacity(grid.voxel_count());
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let p = grid.patient_point(Point3::new(i as f64, j as f64, k as f64)) - centre;
                    let across = (p - axis * p.dot(&axis)).norm();
                    // Partial volume over a 4x4x4 supersampling of the voxel is overkill here:
                    // a soft edge one voxel wide is what a scanner gives.
                    let inside = (0.5 - (across - r) / spacing[0]).clamp(0.0, 1.0);
                    data.push((300.0 * inside) as f32);
                }
            }
        }
        (Volume { grid, data: VoxelData::F32(data), meta: VolumeMeta::default(), warnings: vec![] }, centre)
    }

    fn response_on_axis(volume: &Volume, centre: Point3<f64>, scales: &[f64], polarity: Polarity) -> (f32, f64) {
        let v = vesselness(volume, scales, polarity, 300.0, None, &Progress::new()).unwrap();
        let at = volume.grid.voxel_at(&centre).unwrap();
        (v.values[at], v.radius_mm(at))
    }

    #[test]
    fn a_tube_answers_at_its_own_radius_on_any_grid() {
        let scales = [0.7, 1.0, 1.4, 2.0, 2.8];
        for (spacing, rotation) in [
            ([0.8, 0.8, 0.8], Rotation3::identity()),
            ([0.6, 0.6, 1.5], Rotation3::identity()),
            ([0.7, 0.7, 1.2], Rotation3::from_euler_angles(0.4, 0.2, -0.5)),
        ] {
            for r in [1.6, 2.4] {
                let (volume, centre) = tube_volume(spacing, rotation, Vector3::new(0.3, 0.4, 1.0), r);
                let (value, radius) = response_on_axis(&volume, centre, &scales, Polarity::Bright);
                assert!(value > 0.3, "spacing {spacing:?}: weak response {value} for r {r}");
                assert!((radius - r).abs() <= 0.5 * r, "spacing {spacing:?}: radius {radius} for {r}");
                // The same tube, dark on bright, is found only when asked for dark vessels.
                let mut dark = volume.clone();
                if let VoxelData::F32(d) = &mut dark.data {
                    d.iter_mut().for_each(|x| *x = 300.0 - *x);
                }
                assert_eq!(response_on_axis(&dark, centre, &scales, Polarity::Bright).0, 0.0);
                assert!((response_on_axis(&dark, centre, &scales, Polarity::Dark).0 - value).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn plates_and_blobs_are_not_vessels() {
        let grid = Grid::axis_aligned([40, 40, 40], Point3::origin(), [1.0; 3]);
        let mut data = Vec::new();
        for k in 0..40 {
            for j in 0..40 {
                for i in 0..40 {
                    let plate = (k as f64 - 20.0).abs() < 1.5;
                    let ball = (Vector3::new(i as f64 - 10.0, j as f64 - 10.0, k as f64 - 30.0)).norm() < 4.0;
                    data.push(if plate || ball { 300.0 } else { 0.0 });
                }
            }
        }
        let volume = Volume { grid, data: VoxelData::F32(data), meta: VolumeMeta::default(), warnings: vec![] };
        let v = vesselness(&volume, &[1.0, 2.0, 3.0], Polarity::Bright, 300.0, None, &Progress::new()).unwrap();
        let at = |i, j, k| v.values[volume.grid.index(i, j, k)];
        assert!(at(30, 30, 20) < 0.05, "plate {}", at(30, 30, 20));
        // Frangi's blob term leaves a ball's centre exp(-2) of a tube's response at most.
        assert!(at(10, 10, 30) < 0.15, "ball {}", at(10, 10, 30));
    }
}
