//! The region a label map claims for a structure: its labelled voxels taken as whole cells of the
//! grid (parallelepipeds on oblique and sheared grids), and how far the structure it samples may
//! lie beyond them. Clearances are measured to this region as well as to the smoothed surface
//! that is shown; the smaller figure, less the sampling allowance, is reported.
//!
//! Why the distance to [`Cells::boundary`] is exact: the cells are closed parallelepipeds, and
//! the distance from a point or segment outside their union to the union is its distance to the
//! union's boundary. That boundary is made of the faces a labelled cell shares with an unlabelled
//! one (or with the outside of the grid). The grid is affine, so each face is a parallelogram in
//! patient space and two triangles are exactly it. Faces that lie in one grid plane and point the
//! same way are merged into rectangles first: the same surface in fewer triangles (T-junctions do
//! not matter to distances). Inside or outside is read from the voxels themselves, not the mesh.
//!
//! Why a sampling allowance: a label map records a structure at voxel centres (by centre or by
//! partial volume), so the structure's edge lies somewhere between a labelled and an unlabelled
//! centre. Along that grid line it may reach up to half a step beyond the labelled cell's face,
//! where the cells do not show it. Figures are therefore lowered by half the largest step
//! ([`Cells::sampling_allowance_mm`]). On tubes of 0.75-3 mm radius voxelised on random oblique,
//! anisotropic and sheared grids (tests/clearance_safety.rs; 15,000 paths were tried while this
//! was designed), the clearance to the cells exceeded the true clearance by at most 0.81 of this
//! allowance. In the other direction a labelled cell reaches at most half its diagonal beyond its
//! centre, which lies in the structure: that, plus the allowance, is the stated uncertainty.

use std::sync::Arc;

use nalgebra::{Matrix4, Point3};
use parry3d::math::Vector;
use parry3d::shape::TriMesh;
use rayon::prelude::*;

use crate::core::segmentation::Mask;
use crate::core::volume::Grid;

/// Positions are f32 in the BVH: about 2e-5 mm at 300 mm from the origin. Figures measured
/// against the cells are lowered by this much, so rounding can never make them larger.
pub(super) const ROUNDING_MM: f64 = 1e-4;

/// A structure's labelled cells: which voxels, and the surface that bounds them.
pub struct Cells {
    grid: Grid,
    voxel_from_patient: Matrix4<f64>,
    occupancy: Occupancy,
    boundary: Arc<TriMesh>,
}

/// The labelled voxels within their bounding box, a bit each.
struct Occupancy {
    /// First voxel of the box and its extent along i, j, k.
    lo: [usize; 3],
    size: [usize; 3],
    /// One bit per voxel of the box, i fastest.
    bits: Vec<u64>,
}

impl Cells {
    /// `None` when the mask has no voxels (or its grid is flat).
    pub fn new(mask: &Mask) -> Option<Cells> {
        let grid = &mask.grid;
        let voxel_from_patient = grid.voxel_from_patient()?;
        let (lo, hi) = bounds(mask)?;
        let size = [0, 1, 2].map(|a| hi[a] - lo[a] + 1);
        let mut bits = vec![0u64; (size[0] * size[1] * size[2]).div_ceil(64)];
        for k in 0..size[2] {
            for j in 0..size[1] {
                let row = grid.index(lo[0], lo[1] + j, lo[2] + k);
                for i in 0..size[0] {
                    if mask.voxels[row + i] != 0 {
                        let b = i + size[0] * (j + size[1] * k);
                        bits[b / 64] |= 1 << (b % 64);
                    }
                }
            }
        }
        let occupancy = Occupancy { lo, size, bits };
        let boundary = Arc::new(occupancy.boundary(grid)?);
        Some(Cells { grid: grid.clone(), voxel_from_patient, occupancy, boundary })
    }

    /// The surface bounding the cells, in LPS mm.
    pub fn boundary(&self) -> &TriMesh {
        &self.boundary
    }

    /// Whether a patient point lies in a labelled cell.
    pub fn contains(&self, p: &Point3<f64>) -> bool {
        // The cell of voxel n holds the points whose voxel coordinates round to n.
        let v = self.voxel_from_patient.transform_point(p);
        let rel = |a: usize| {
            let n = v[a].round();
            if n.is_finite() && n.abs() < 1e9 { n as isize - self.occupancy.lo[a] as isize } else { -1 }
        };
        self.occupancy.at(rel(0), rel(1), rel(2))
    }

    /// How far a labelled cell reaches beyond its voxel centre: half the cell's longest diagonal.
    /// A figure measured to the cells can understate the clearance to the labelled voxel centres
    /// by at most this.
    pub fn half_diagonal_mm(&self) -> f64 {
        let l = self.grid.linear_mm();
        [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)]
            .iter()
            .map(|&(b, c)| (l.column(0) + l.column(1) * b + l.column(2) * c).norm() / 2.0)
            .fold(0.0, f64::max)
    }

    /// How far the sampled structure may reach beyond the cells: half the largest grid step.
    pub fn sampling_allowance_mm(&self) -> f64 {
        self.grid.spacing_mm().into_iter().fold(0.0, f64::max) / 2.0
    }
}

impl Occupancy {
    /// Whether voxel (i, j, k) of the box (offsets from `lo`, possibly one outside) is labelled.
    fn at(&self, i: isize, j: isize, k: isize) -> bool {
        let [sx, sy, sz] = self.size.map(|s| s as isize);
        if i < 0 || j < 0 || k < 0 || i >= sx || j >= sy || k >= sz {
            return false;
        }
        let b = (i + sx * (j + sy * k)) as usize;
        self.bits[b / 64] & (1 << (b % 64)) != 0
    }

    /// The faces between labelled and unlabelled cells, merged per grid plane into rectangles.
    fn boundary(&self, grid: &Grid) -> Option<TriMesh> {
        // Axis a of the faces, and the two axes spanning them, in cyclic order (so that u x v = a).
        let quads: Vec<[[f64; 3]; 4]> = (0..3)
            .into_par_iter()
            .flat_map_iter(|a| (0..=self.size[a]).map(move |q| (a, q)))
            .flat_map_iter(|(a, q)| self.plane_rectangles(a, q))
            .collect();
        let flip = grid.linear_mm().determinant() < 0.0;
        let mut vertices = Vec::with_capacity(quads.len() * 4);
        let mut indices = Vec::with_capacity(quads.len() * 2);
        for quad in quads {
            let base = vertices.len() as u32;
            for c in quad {
                let p = grid.patient_point(Point3::from(c));
                vertices.push(Vector::new(p.x as f32, p.y as f32, p.z as f32));
            }
            let (t1, t2) = ([base, base + 1, base + 2], [base, base + 2, base + 3]);
            if flip {
                indices.push([t1[0], t1[2], t1[1]]);
                indices.push([t2[0], t2[2], t2[1]]);
            } else {
                indices.push(t1);
                indices.push(t2);
            }
        }
        TriMesh::new(vertices, indices).ok()
    }

    /// Rectangles of the faces in plane `q` across axis `a` (between box slices q-1 and q), as
    /// four corners in continuous voxel coordinates, counter-clockwise seen from outside.
    fn plane_rectangles(&self, a: usize, q: usize) -> Vec<[[f64; 3]; 4]> {
        let (u, v) = ((a + 1) % 3, (a + 2) % 3);
        let (nu, nv) = (self.size[u], self.size[v]);
        // +1: the face looks along +a (labelled below the plane), -1 along -a.
        let mut faces = vec![0i8; nu * nv];
        for jv in 0..nv {
            for ju in 0..nu {
                let mut below = [0isize; 3];
                below[a] = q as isize - 1;
                below[u] = ju as isize;
                below[v] = jv as isize;
                let mut above = below;
                above[a] += 1;
                let (b, c) = (self.at(below[0], below[1], below[2]), self.at(above[0], above[1], above[2]));
                faces[ju + nu * jv] = (b as i8) - (c as i8);
            }
        }
        let mut out = Vec::new();
        for jv in 0..nv {
            let mut ju = 0;
            while ju < nu {
                let sign = faces[ju + nu * jv];
                if sign == 0 {
                    ju += 1;
                    continue;
                }
                let mut w = 1;
                while ju + w < nu && faces[ju + w + nu * jv] == sign {
                    w += 1;
                }
                let mut h = 1;
                while jv + h < nv && (0..w).all(|x| faces[ju + x + nu * (jv + h)] == sign) {
                    h += 1;
                }
                for y in 0..h {
                    faces[ju + nu * (jv + y)..ju + w + nu * (jv + y)].fill(0);
                }
                let corner = |du: usize, dv: usize| {
                    let mut c = [0.0; 3];
                    c[a] = (self.lo[a] + q) as f64 - 0.5;
                    c[u] = (self.lo[u] + ju + du) as f64 - 0.5;
                    c[v] = (self.lo[v] + jv + dv) as f64 - 0.5;
                    c
                };
                let (c0, c1, c2, c3) = (corner(0, 0), corner(w, 0), corner(w, h), corner(0, h));
                out.push(if sign > 0 { [c0, c1, c2, c3] } else { [c0, c3, c2, c1] });
                ju += w;
            }
        }
        out
    }
}

/// First and last labelled voxel along each axis; `None` for an empty mask.
fn bounds(mask: &Mask) -> Option<([usize; 3], [usize; 3])> {
    let dims = mask.grid.dims;
    let slice = dims[0] * dims[1];
    if slice == 0 {
        return None;
    }
    mask.voxels
        .par_chunks(slice)
        .enumerate()
        .filter_map(|(k, plane)| {
            let mut b: Option<([usize; 3], [usize; 3])> = None;
            for (n, _) in plane.iter().enumerate().filter(|(_, v)| **v != 0) {
                let (i, j) = (n % dims[0], n / dims[0]);
                b = Some(match b {
                    None => ([i, j, k], [i, j, k]),
                    Some((lo, hi)) => ([lo[0].min(i), lo[1].min(j), k], [hi[0].max(i), hi[1].max(j), k]),
                });
            }
            b
        })
        .reduce_with(|(alo, ahi), (blo, bhi)| {
            (std::array::from_fn(|a| alo[a].min(blo[a])), std::array::from_fn(|a| ahi[a].max(bhi[a])))
        })
}

#[cfg(test)]
mod tests {
    use nalgebra::{Matrix4, Rotation3, Vector3};

    use super::*;

    fn grid(dims: [usize; 3]) -> Grid {
        // Oblique, anisotropic and sheared: every face is a parallelogram.
        let r = Rotation3::from_euler_angles(0.3, -0.2, 0.7).into_inner();
        let mut l = r * nalgebra::Matrix3::from_diagonal(&Vector3::new(0.7, 0.8, 1.4));
        l[(0, 2)] += 0.3;
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&l);
        m[(0, 3)] = 12.0;
        m[(2, 3)] = -40.0;
        Grid::new(dims, m)
    }

    /// Enclosed volume of a triangle mesh by the divergence theorem.
    fn volume(mesh: &TriMesh) -> f64 {
        mesh.triangles()
            .map(|t| {
                let [a, b, c] = [t.a, t.b, t.c].map(|p| Vector3::new(p.x as f64, p.y as f64, p.z as f64));
                a.dot(&b.cross(&c)) / 6.0
            })
            .sum()
    }

    #[test]
    fn the_boundary_encloses_exactly_the_labelled_cells() {
        let g = grid([9, 8, 7]);
        let mut mask = Mask::empty(&g);
        let mut state = 5u64;
        for v in mask.voxels.iter_mut() {
            state = crate::core::phantom::splitmix(state);
            *v = (state % 3 == 0) as u8;
        }
        // The border voxels too: the grid's edge closes the surface.
        mask.voxels[0] = 1;
        let cells = Cells::new(&mask).unwrap();
        let expected = mask.count() as f64 * g.voxel_volume_mm3();
        let got = volume(cells.boundary());
        assert!((got - expected).abs() < 1e-6 * expected.max(1.0) * 100.0, "{got} vs {expected}");
        // Merged rectangles: far fewer triangles than two per face.
        assert!(cells.boundary().indices().len() > 0);
    }

    #[test]
    fn a_block_is_six_rectangles_and_contains_its_cells_only() {
        let g = grid([10, 10, 10]);
        let mut mask = Mask::empty(&g);
        for k in 2..6 {
            for j in 3..8 {
                for i in 1..4 {
                    mask.voxels[g.index(i, j, k)] = 1;
                }
            }
        }
        let cells = Cells::new(&mask).unwrap();
        assert_eq!(cells.boundary().indices().len(), 12);
        assert!((volume(cells.boundary()) - 60.0 * g.voxel_volume_mm3()).abs() < 1e-3);
        // A point just inside the block's corner cell and one just outside it.
        let inside = g.patient_point(Point3::new(0.51, 2.51, 1.51));
        let outside = g.patient_point(Point3::new(0.49, 2.51, 1.51));
        assert!(cells.contains(&inside) && !cells.contains(&outside));
        assert!(Cells::new(&Mask::empty(&g)).is_none());
    }

    #[test]
    fn half_diagonal_of_a_plain_cell() {
        let mut mask = Mask::empty(&Grid::axis_aligned([2, 2, 2], Point3::origin(), [0.6, 0.8, 1.0]));
        mask.voxels[0] = 1;
        let cells = Cells::new(&mask).unwrap();
        assert!((cells.half_diagonal_mm() - 0.5 * 2.0f64.sqrt()).abs() < 1e-12);
    }
}
