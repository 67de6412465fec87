//! Morphology in millimetres, exact on anisotropic grids: dilation and erosion are thresholds of
//! a Euclidean distance transform weighted by the voxel spacing (Felzenszwalb & Huttenlocher's
//! lower envelope of parabolas, one axis at a time). The transform runs only on the mask's
//! bounding box grown by the radius. On a sheared (gantry-tilted) grid the axes are treated as
//! orthogonal, which overstates distances along the slice axis by at most 1/cos(tilt).

use rayon::prelude::*;

use super::components::{Connectivity, flood};
use super::mask::Mask;

/// Bounding box of the set voxels, (lo, hi) inclusive; `None` when empty.
fn bounds(mask: &Mask) -> Option<([usize; 3], [usize; 3])> {
    let [nx, ny, _] = mask.grid.dims;
    mask.voxels
        .par_chunks(nx * ny)
        .enumerate()
        .filter_map(|(k, slice)| {
            let mut lo = [usize::MAX; 3];
            let mut hi = [0usize; 3];
            for (n, _) in slice.iter().enumerate().filter(|(_, v)| **v != 0) {
                let (i, j) = (n % nx, n / nx);
                lo = [lo[0].min(i), lo[1].min(j), k];
                hi = [hi[0].max(i), hi[1].max(j), k];
            }
            (lo[0] != usize::MAX).then_some((lo, hi))
        })
        .reduce_with(|a, b| (std::array::from_fn(|x| a.0[x].min(b.0[x])), std::array::from_fn(|x| a.1[x].max(b.1[x]))))
}

/// Squared distance transform along one line: `f` holds 0 at sources and +inf elsewhere on
/// entry, the squared distance (weight = spacing²) to the nearest source on exit.
fn edt_line(f: &mut [f32], weight: f32, v: &mut Vec<usize>, z: &mut Vec<f32>, out: &mut Vec<f32>) {
    let n = f.len();
    v.clear();
    z.clear();
    out.clear();
    out.resize(n, f32::INFINITY);
    for q in 0..n {
        if !f[q].is_finite() {
            continue;
        }
        loop {
            let Some(&p) = v.last() else { break };
            // Where the parabola from q overtakes the one from p.
            let s =
                ((f[q] + weight * (q * q) as f32) - (f[p] + weight * (p * p) as f32)) / (2.0 * weight * (q - p) as f32);
            if s <= *z.last().unwrap_or(&f32::NEG_INFINITY) {
                v.pop();
                z.pop();
            } else {
                z.push(s);
                break;
            }
        }
        if v.is_empty() {
            z.push(f32::NEG_INFINITY);
        }
        v.push(q);
    }
    if v.is_empty() {
        return;
    }
    let mut k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while k + 1 < v.len() && z[k + 1] < q as f32 {
            k += 1;
        }
        let p = v[k];
        let d = q as f32 - p as f32;
        *o = weight * d * d + f[p];
    }
    f.copy_from_slice(out);
}

/// Squared distance in mm² from each voxel of a box to the nearest source voxel of the box.
fn squared_distance(sources: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let w = spacing.map(|s| (s * s) as f32);
    let mut d: Vec<f32> = sources.par_iter().map(|&s| if s { 0.0 } else { f32::INFINITY }).collect();
    // x: rows are contiguous.
    d.par_chunks_mut(nx)
        .for_each_init(|| (Vec::new(), Vec::new(), Vec::new()), |(v, z, out), row| edt_line(row, w[0], v, z, out));
    // y: within each slice.
    d.par_chunks_mut(nx * ny).for_each_init(
        || (Vec::new(), Vec::new(), Vec::new(), vec![0f32; ny]),
        |(v, z, out, line), slice| {
            for i in 0..nx {
                for j in 0..ny {
                    line[j] = slice[i + nx * j];
                }
                edt_line(line, w[1], v, z, out);
                for j in 0..ny {
                    slice[i + nx * j] = line[j];
                }
            }
        },
    );
    // z: gather each row of columns, transform, scatter back.
    let plane = nx * ny;
    let columns: Vec<Vec<f32>> = (0..ny)
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new(), Vec::new(), vec![0f32; nz]),
            |(v, z, out, line), j| {
                let mut block = vec![0f32; nx * nz];
                for i in 0..nx {
                    for k in 0..nz {
                        line[k] = d[i + nx * j + plane * k];
                    }
                    edt_line(line, w[2], v, z, out);
                    block[i * nz..(i + 1) * nz].copy_from_slice(line);
                }
                block
            },
        )
        .collect();
    for (j, block) in columns.iter().enumerate() {
        for i in 0..nx {
            for k in 0..nz {
                d[i + nx * j + plane * k] = block[i * nz + k];
            }
        }
    }
    d
}

/// Voxels within `radius_mm` of `sources` (a mask), computed on the sources' box grown by the
/// radius.
fn within(sources: &Mask, radius_mm: f64) -> Mask {
    let Some((lo, hi)) = bounds(sources) else {
        return Mask::empty(&sources.grid);
    };
    let g = &sources.grid;
    let sp = g.spacing_mm();
    let grow: [usize; 3] = std::array::from_fn(|a| (radius_mm / sp[a]).ceil().max(0.0) as usize);
    let b0: [usize; 3] = std::array::from_fn(|a| lo[a].saturating_sub(grow[a]));
    let b1: [usize; 3] = std::array::from_fn(|a| (hi[a] + grow[a]).min(g.dims[a] - 1));
    let bd: [usize; 3] = std::array::from_fn(|a| b1[a] - b0[a] + 1);
    let mut inside = vec![false; bd[0] * bd[1] * bd[2]];
    inside.par_chunks_mut(bd[0] * bd[1]).enumerate().for_each(|(k, s)| {
        for j in 0..bd[1] {
            for i in 0..bd[0] {
                s[i + bd[0] * j] = sources.get(g.index(b0[0] + i, b0[1] + j, b0[2] + k));
            }
        }
    });
    let d = squared_distance(&inside, bd, sp);
    let r2 = (radius_mm * radius_mm) as f32 * (1.0 + 1e-6);
    let mut out = Mask::empty(g);
    let [nx, ny, _] = g.dims;
    out.voxels.par_chunks_mut(nx * ny).enumerate().for_each(|(k, slice)| {
        if k < b0[2] || k > b1[2] {
            return;
        }
        for j in b0[1]..=b1[1] {
            for i in b0[0]..=b1[0] {
                let n = (i - b0[0]) + bd[0] * ((j - b0[1]) + bd[1] * (k - b0[2]));
                slice[i + nx * j] = (d[n] <= r2) as u8;
            }
        }
    });
    out
}

/// How deep each voxel of a mask lies: its distance (mm) to the nearest voxel centre outside,
/// on the mask's bounding box grown by one voxel all round (so the box's edge is outside).
pub struct Depth {
    /// The box's first voxel on the grid (-1 where the box starts before the grid), and its size.
    pub origin: [isize; 3],
    pub dims: [usize; 3],
    /// 0 outside the mask; i-fastest over the box.
    pub values: Vec<f32>,
}

/// The mask's depth; `None` when it is empty. The grid's own edge counts as outside.
pub fn depth_mm(mask: &Mask) -> Option<Depth> {
    let (lo, hi) = bounds(mask)?;
    let g = &mask.grid;
    // The box starts one voxel before the mask (index may go below 0: the layer is virtual).
    let dims: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a] + 3);
    let mut outside = vec![true; dims[0] * dims[1] * dims[2]];
    for k in 1..dims[2] - 1 {
        for j in 1..dims[1] - 1 {
            for i in 1..dims[0] - 1 {
                outside[i + dims[0] * (j + dims[1] * k)] =
                    !mask.get(g.index(lo[0] + i - 1, lo[1] + j - 1, lo[2] + k - 1));
            }
        }
    }
    let values = squared_distance(&outside, dims, g.spacing_mm()).into_iter().map(f32::sqrt).collect();
    Some(Depth { origin: lo.map(|l| l as isize - 1), dims, values })
}

/// Every voxel whose centre is within `radius_mm` of the mask.
pub fn dilate(mask: &Mask, radius_mm: f64) -> Mask {
    if radius_mm <= 0.0 {
        return mask.clone();
    }
    within(mask, radius_mm)
}

/// The voxels of the mask farther than `radius_mm` from any voxel outside it. The volume's edge
/// does not erode: a structure cut by the field of view keeps its cut face.
pub fn erode(mask: &Mask, radius_mm: f64) -> Mask {
    if radius_mm <= 0.0 {
        return mask.clone();
    }
    let Some((lo, hi)) = bounds(mask) else {
        return mask.clone();
    };
    // Outside voxels that can matter lie within the radius of the mask's box.
    let g = &mask.grid;
    let sp = g.spacing_mm();
    let grow: [usize; 3] = std::array::from_fn(|a| (radius_mm / sp[a]).ceil() as usize + 1);
    let [nx, ny, _] = g.dims;
    let mut outside = Mask::empty(g);
    outside.voxels.par_chunks_mut(nx * ny).enumerate().for_each(|(k, s)| {
        if k + grow[2] < lo[2] || k > hi[2] + grow[2] {
            return;
        }
        for j in lo[1].saturating_sub(grow[1])..=(hi[1] + grow[1]).min(ny - 1) {
            for i in lo[0].saturating_sub(grow[0])..=(hi[0] + grow[0]).min(nx - 1) {
                s[i + nx * j] = (mask.voxels[g.index(i, j, k)] == 0) as u8;
            }
        }
    });
    let near_outside = within(&outside, radius_mm);
    mask.combine(&near_outside, super::mask::Logic::Subtract)
}

/// Erosion then dilation: removes parts thinner than twice the radius.
pub fn open(mask: &Mask, radius_mm: f64) -> Mask {
    dilate(&erode(mask, radius_mm), radius_mm)
}

/// Dilation then erosion: bridges gaps narrower than twice the radius.
pub fn close(mask: &Mask, radius_mm: f64) -> Mask {
    erode(&dilate(mask, radius_mm), radius_mm)
}

/// Fills cavities: background not connected (6-connected) to the volume's edge.
pub fn fill_holes(mask: &Mask) -> Mask {
    let g = &mask.grid;
    let [nx, ny, nz] = g.dims;
    let background = mask.invert();
    let mut seeds = Vec::new();
    let mut seed = |i: usize, j: usize, k: usize| {
        let idx = g.index(i, j, k);
        if !mask.get(idx) {
            seeds.push(idx);
        }
    };
    for k in 0..nz {
        for j in 0..ny {
            seed(0, j, k);
            seed(nx - 1, j, k);
        }
        for i in 0..nx {
            seed(i, 0, k);
            seed(i, ny - 1, k);
        }
    }
    for j in 0..ny {
        for i in 0..nx {
            seed(i, j, 0);
            seed(i, j, nz - 1);
        }
    }
    let outside = flood(&background, &seeds, Connectivity::Six);
    outside.invert()
}

/// A shell of `thickness_mm`: outside the mask (a margin around it) or inside it (a hollow wall).
pub fn shell(mask: &Mask, thickness_mm: f64, outside: bool) -> Mask {
    use super::mask::Logic;
    if outside {
        dilate(mask, thickness_mm).combine(mask, Logic::Subtract)
    } else {
        mask.combine(&erode(mask, thickness_mm), Logic::Subtract)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::volume::Grid;
    use nalgebra::Point3;

    fn point_mask(grid: &Grid, at: [usize; 3]) -> Mask {
        let mut m = Mask::empty(grid);
        m.voxels[grid.index(at[0], at[1], at[2])] = 1;
        m
    }

    #[test]
    fn dilating_a_point_gives_a_ball_in_millimetres() {
        let grid = Grid::axis_aligned([41, 41, 41], Point3::origin(), [0.5, 0.7, 1.3]);
        let m = point_mask(&grid, [20, 20, 20]);
        let ball = dilate(&m, 6.0);
        // Brute force: every voxel centre within 6 mm of the point's centre.
        let c = grid.patient_point(Point3::new(20.0, 20.0, 20.0));
        for idx in 0..grid.voxel_count() {
            let [i, j, k] = grid.ijk(idx);
            let d = (grid.patient_point(Point3::new(i as f64, j as f64, k as f64)) - c).norm();
            if (d - 6.0).abs() > 1e-6 {
                assert_eq!(ball.get(idx), d < 6.0, "voxel {i},{j},{k} at {d} mm");
            }
        }
    }

    #[test]
    fn erosion_matches_brute_force_and_keeps_edges() {
        let grid = Grid::axis_aligned([20, 20, 14], Point3::origin(), [1.0, 1.0, 2.0]);
        let big = dilate(&point_mask(&grid, [10, 10, 7]), 7.0);
        let small = erode(&big, 3.0);
        let centre = |idx: usize| {
            let [i, j, k] = grid.ijk(idx);
            grid.patient_point(Point3::new(i as f64, j as f64, k as f64))
        };
        let outside: Vec<_> = (0..grid.voxel_count()).filter(|&i| !big.get(i)).map(centre).collect();
        for idx in (0..grid.voxel_count()).filter(|&i| big.get(i)) {
            let nearest = outside.iter().map(|o| (o - centre(idx)).norm()).fold(f64::INFINITY, f64::min);
            if (nearest - 3.0).abs() > 1e-6 {
                assert_eq!(small.get(idx), nearest > 3.0, "voxel {:?}: nearest outside at {nearest} mm", grid.ijk(idx));
            }
        }
        assert!(small.count() > 0 && small.count() < big.count());
        // A block touching the edge of the volume is not eroded from the edge.
        let grid = Grid::axis_aligned([30, 30, 20], Point3::origin(), [1.0, 1.0, 2.0]);
        let mut block = Mask::empty(&grid);
        for k in 0..20 {
            for j in 0..30 {
                for i in 0..10 {
                    block.voxels[grid.index(i, j, k)] = 1;
                }
            }
        }
        let e = erode(&block, 2.0);
        assert!(e.get(grid.index(0, 0, 0)));
        assert!(e.get(grid.index(7, 15, 10)));
        assert!(!e.get(grid.index(8, 15, 10)));
    }

    #[test]
    fn holes_fill_and_shells_have_their_thickness() {
        let grid = Grid::axis_aligned([20, 20, 20], Point3::origin(), [1.0; 3]);
        let ball = dilate(&point_mask(&grid, [10, 10, 10]), 7.0);
        let hollow = shell(&ball, 2.0, false);
        assert!(!hollow.get(grid.index(10, 10, 10)));
        let filled = fill_holes(&hollow);
        assert_eq!(filled, ball);
        let margin = shell(&ball, 2.0, true);
        assert!(margin.get(grid.index(10, 10, 18)) && !margin.get(grid.index(10, 10, 10)));
        assert_eq!(close(&ball, 1.0), ball);
        // Opening removes only the one-voxel caps at the poles, thinner than its 2 mm.
        let opened = open(&ball, 1.0);
        assert_eq!(opened.combine(&ball, crate::core::segmentation::mask::Logic::Subtract).count(), 0);
        assert!(ball.count() - opened.count() <= 12, "{} removed", ball.count() - opened.count());
    }
}
