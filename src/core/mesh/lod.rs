//! Coarser copies of a segment's surface for display, where the full one would cost more than
//! it shows: a structure small on screen, or a view that moves on a software renderer. Each
//! level is extracted from the mask reduced by a power of two in every axis, a coarse cell
//! being inside when any of its voxels is: a structure may look up to a coarse cell fuller
//! than it is, never thinner, and a thin vessel never vanishes. Clearances always use the full
//! surface.

use rayon::prelude::*;

use super::{Mesh, segment_surface};
use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::Mask;
use crate::core::volume::Grid;

/// Reduction factors of the coarser levels (the full surface is level 0, factor 1).
pub const FACTORS: [usize; 3] = [2, 4, 8];

/// One displayable copy of a surface and the size of the cell it was extracted on.
pub struct Level {
    pub mesh: Mesh,
    /// The largest edge of its grid cell (mm): what it may add to the structure's outline.
    pub cell_mm: f64,
}

/// The mask on a grid `factor` times coarser in every axis: a coarse cell is set when any voxel
/// of its block is. Its centre is the centre of the block.
pub fn coarsened(mask: &Mask, factor: usize) -> Mask {
    let f = factor.max(1);
    let [nx, ny, nz] = mask.grid.dims;
    let dims = [nx.div_ceil(f), ny.div_ceil(f), nz.div_ceil(f)];
    let mut coarse_from_fine = nalgebra::Matrix4::identity();
    for a in 0..3 {
        coarse_from_fine[(a, a)] = f as f64;
        coarse_from_fine[(a, 3)] = (f as f64 - 1.0) / 2.0;
    }
    let grid = Grid::new(dims, mask.grid.patient_from_voxel * coarse_from_fine);
    let mut voxels = vec![0u8; dims[0] * dims[1] * dims[2]];
    voxels.par_chunks_mut(dims[0] * dims[1]).enumerate().for_each(|(kc, slab)| {
        for k in kc * f..((kc + 1) * f).min(nz) {
            for j in 0..ny {
                let row = &mask.voxels[(k * ny + j) * nx..][..nx];
                let out = &mut slab[(j / f) * dims[0]..][..dims[0]];
                for (i, &v) in row.iter().enumerate() {
                    out[i / f] |= (v != 0) as u8;
                }
            }
        }
    });
    Mask { grid, voxels }
}

/// The coarser levels of a segment's surface, finest first, each with the recipe of the full one.
pub fn coarse_levels(mask: &Mask, progress: &Progress) -> Result<Vec<Level>, Cancelled> {
    let spacing = mask.grid.spacing_mm().into_iter().fold(0.0, f64::max);
    FACTORS
        .iter()
        .map(|&f| Ok(Level { mesh: segment_surface(&coarsened(mask, f), progress)?, cell_mm: spacing * f as f64 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    fn sphere(grid: &Grid, centre: Point3<f64>, r_mm: f64) -> Mask {
        let mut m = Mask::empty(grid);
        for (idx, v) in m.voxels.iter_mut().enumerate() {
            let p = grid.patient_point(Point3::from(grid.ijk(idx).map(|x| x as f64)));
            *v = ((p - centre).norm() <= r_mm) as u8;
        }
        m
    }

    #[test]
    fn a_coarse_cell_is_set_when_any_of_its_voxels_is() {
        let grid = Grid::axis_aligned([5, 4, 3], Point3::new(10.0, -3.0, 2.0), [0.5, 0.7, 1.2]);
        let mut m = Mask::empty(&grid);
        m.voxels[grid.index(4, 3, 2)] = 1;
        m.voxels[grid.index(1, 0, 0)] = 1;
        let c = coarsened(&m, 2);
        assert_eq!(c.grid.dims, [3, 2, 2]);
        let set: Vec<usize> = (0..c.voxels.len()).filter(|&i| c.voxels[i] != 0).collect();
        assert_eq!(set, vec![c.grid.index(0, 0, 0), c.grid.index(2, 1, 1)]);
        // A coarse centre is the centre of its block of fine voxels.
        let centre = c.grid.patient_point(Point3::new(1.0, 0.0, 1.0));
        let block: Point3<f64> = grid.patient_point(Point3::new(2.5, 0.5, 2.5));
        assert!((centre - block).norm() < 1e-12);
    }

    /// A sphere's coarse surfaces: never inside the true sphere by more than a fraction of a fine
    /// voxel (corners the extraction cuts), never outside it by more than one coarse cell.
    #[test]
    fn coarse_levels_enclose_the_structure_and_stay_within_a_cell_of_it() {
        let h = 0.8;
        let grid = Grid::axis_aligned([64, 64, 64], Point3::origin(), [h, h, h]);
        let centre = Point3::new(25.3, 25.1, 24.9);
        let r = 15.0;
        let levels = coarse_levels(&sphere(&grid, centre, r), &Progress::new()).unwrap();
        let mut counts = Vec::new();
        for level in &levels {
            let radii: Vec<f64> = level
                .mesh
                .positions
                .iter()
                .map(|p| (Point3::new(p[0] as f64, p[1] as f64, p[2] as f64) - centre).norm())
                .collect();
            let (lo, hi) = radii.iter().fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
            eprintln!(
                "cell {:.1} mm: radius {lo:.2}..{hi:.2} mm, {} triangles",
                level.cell_mm,
                level.mesh.triangles.len()
            );
            assert!(lo >= r - 0.5 * h, "cell {}: inside the sphere at {lo:.2} mm", level.cell_mm);
            assert!(hi <= r + level.cell_mm, "cell {}: {hi:.2} mm out", level.cell_mm);
            assert!(level.mesh.is_watertight());
            counts.push(level.mesh.triangles.len());
        }
        assert!(counts.windows(2).all(|w| w[1] * 2 < w[0]), "each level under half the last: {counts:?}");
    }

    /// A vessel one voxel thin stays whole at every level.
    #[test]
    fn a_thin_vessel_never_vanishes() {
        let grid = Grid::axis_aligned([80, 12, 12], Point3::origin(), [0.5, 0.5, 0.5]);
        let mut m = Mask::empty(&grid);
        for i in 3..77 {
            m.voxels[grid.index(i, 6, 5)] = 1;
        }
        for level in coarse_levels(&m, &Progress::new()).unwrap() {
            let (lo, hi) = level.mesh.bounds().expect("a surface");
            assert!(lo[0] <= 1.5 && hi[0] >= 38.0, "cell {}: {lo:?}..{hi:?}", level.cell_mm);
            assert_eq!(level.mesh.components().1, 1, "cell {}: one piece", level.cell_mm);
        }
    }
}
