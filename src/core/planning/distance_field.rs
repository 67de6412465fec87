//! A distance map of the critical structures: for any point of the scan, about how far the
//! nearest critical voxel is. Entry search scores tens of thousands of paths against it, a
//! few lookups per millimetre each, where exact surface queries would take seconds; the few
//! paths it proposes are then checked exactly against the surfaces.

use nalgebra::{Matrix4, Point3};
use rayon::prelude::*;

use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::Segmentation;

/// The map's cells are at least this size; larger on big scans (see [`MAX_CELLS`]).
const MIN_CELL_MM: f64 = 1.0;
/// Keeps the map near 32 MB whatever the scan.
const MAX_CELLS: f64 = 8.0e6;

pub struct DistanceField {
    /// Scan voxels per cell along i, j, k.
    block: [usize; 3],
    dims: [usize; 3],
    /// Continuous scan voxel coordinates of a patient point.
    voxel_from_patient: Matrix4<f64>,
    /// Per cell: distance (mm) from its centre to the nearest critical surface, estimated as the
    /// distance to the nearest critical cell's centre less half a cell; zero in critical cells.
    mm: Vec<f32>,
    cell_mm: [f64; 3],
}

impl DistanceField {
    /// `None` when the segmentation has no critical voxels (nothing to keep clear of).
    pub fn build(seg: &Segmentation, progress: &Progress) -> Result<Option<DistanceField>, Cancelled> {
        let grid = &seg.labels.grid;
        let Some(voxel_from_patient) = grid.voxel_from_patient() else { return Ok(None) };
        let mut critical = [false; 1 << 16];
        for s in seg.segments.iter().filter(|s| s.critical) {
            critical[s.label as usize] = true;
        }
        let spacing = grid.spacing_mm();
        let volume_mm3: f64 = (0..3).map(|a| grid.dims[a] as f64 * spacing[a]).product();
        let cell = MIN_CELL_MM.max((volume_mm3 / MAX_CELLS).cbrt());
        let block = [0, 1, 2].map(|a| ((cell / spacing[a]).floor() as usize).max(1));
        let dims = [0, 1, 2].map(|a| grid.dims[a].div_ceil(block[a]));
        let cell_mm = [0, 1, 2].map(|a| spacing[a] * block[a] as f64);
        progress.begin("distance map of the critical structures", 4);

        // A cell is critical when any voxel in it is.
        let [nx, ny, nz] = dims;
        let labels = &seg.labels.labels;
        let mut sq: Vec<f32> = vec![f32::INFINITY; nx * ny * nz];
        let any = sq
            .par_chunks_mut(nx * ny)
            .enumerate()
            .map(|(ck, slab)| {
                let mut found = false;
                for k in ck * block[2]..((ck + 1) * block[2]).min(grid.dims[2]) {
                    for j in 0..grid.dims[1] {
                        let row = grid.index(0, j, k);
                        for i in 0..grid.dims[0] {
                            if critical[labels[row + i] as usize] {
                                slab[i / block[0] + nx * (j / block[1])] = 0.0;
                                found = true;
                            }
                        }
                    }
                }
                found
            })
            .reduce(|| false, |a, b| a || b);
        if !any {
            return Ok(None);
        }
        progress.advance(1);
        progress.check()?;

        // Exact squared Euclidean distance transform, one axis at a time.
        let s2 = cell_mm.map(|c| (c * c) as f32);
        sq.par_chunks_mut(nx).for_each_init(Scratch::default, |scr, row| squared_1d(row, s2[0], scr));
        progress.advance(1);
        progress.check()?;
        sq.par_chunks_mut(nx * ny).for_each_init(Scratch::default, |scr, slab| {
            let mut line = vec![0f32; ny];
            for i in 0..nx {
                for j in 0..ny {
                    line[j] = slab[i + nx * j];
                }
                squared_1d(&mut line, s2[1], scr);
                for j in 0..ny {
                    slab[i + nx * j] = line[j];
                }
            }
        });
        progress.advance(1);
        progress.check()?;
        // Along k the lines are strided through every slab: each row j is transformed on its
        // own and written back afterwards.
        let columns: Vec<Vec<f32>> = (0..ny)
            .into_par_iter()
            .map_init(Scratch::default, |scr, j| {
                let mut out = vec![0f32; nx * nz];
                let mut line = vec![0f32; nz];
                for i in 0..nx {
                    for k in 0..nz {
                        line[k] = sq[i + nx * (j + ny * k)];
                    }
                    squared_1d(&mut line, s2[2], scr);
                    for k in 0..nz {
                        out[k + nz * i] = line[k];
                    }
                }
                out
            })
            .collect();
        let half = (cell_mm.iter().copied().fold(f64::INFINITY, f64::min) / 2.0) as f32;
        let mut mm = sq;
        mm.par_chunks_mut(nx * ny).enumerate().for_each(|(k, slab)| {
            for (j, col) in columns.iter().enumerate() {
                for i in 0..nx {
                    let d2 = col[k + nz * i];
                    slab[i + nx * j] = if d2 == 0.0 { 0.0 } else { (d2.sqrt() - half).max(0.0) };
                }
            }
        });
        progress.advance(1);
        Ok(Some(DistanceField { block, dims, voxel_from_patient, mm, cell_mm }))
    }

    /// How far the map's distances may be from the exact ones: the diagonal of a cell.
    pub fn tolerance_mm(&self) -> f64 {
        self.cell_mm.iter().map(|c| c * c).sum::<f64>().sqrt()
    }

    /// The smallest cell side: a sampling step that misses little the map can show.
    pub fn step_mm(&self) -> f64 {
        self.cell_mm.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The distance at a point, interpolated between cell centres; outside the scan, the value
    /// at its nearest edge.
    pub fn distance_mm(&self, p: &Point3<f64>) -> f64 {
        self.at_cell(&self.cell_from_patient(p))
    }

    /// Continuous cell coordinates of a patient point (an affine map: straight lines stay
    /// straight, so a path can be stepped through in cell coordinates).
    pub(super) fn cell_from_patient(&self, p: &Point3<f64>) -> Point3<f64> {
        let v = self.voxel_from_patient.transform_point(p);
        // Cell c's centre lies at scan voxel c * block + (block - 1) / 2.
        Point3::from(std::array::from_fn(|a| {
            let b = self.block[a] as f64;
            (v[a] - (b - 1.0) / 2.0) / b
        }))
    }

    /// The distance at continuous cell coordinates (trilinear).
    pub(super) fn at_cell(&self, c: &Point3<f64>) -> f64 {
        let mut base = [0usize; 3];
        let mut frac = [0f64; 3];
        for a in 0..3 {
            let c = c[a].clamp(0.0, (self.dims[a] - 1) as f64);
            base[a] = (c.floor() as usize).min(self.dims[a].saturating_sub(2));
            frac[a] = (c - base[a] as f64).min(1.0);
        }
        let [nx, ny, _] = self.dims;
        let mut sum = 0.0;
        for corner in 0..8 {
            let mut w = 1.0;
            let mut idx = [0usize; 3];
            for a in 0..3 {
                let up = (corner >> a) & 1 == 1;
                idx[a] = (base[a] + usize::from(up)).min(self.dims[a] - 1);
                w *= if up { frac[a] } else { 1.0 - frac[a] };
            }
            if w > 0.0 {
                sum += w * f64::from(self.mm[idx[0] + nx * (idx[1] + ny * idx[2])]);
            }
        }
        sum
    }
}

/// Reused buffers of the lower-envelope algorithm.
#[derive(Default)]
struct Scratch {
    v: Vec<usize>,
    z: Vec<f32>,
    f: Vec<f32>,
}

/// One line of the squared distance transform (Felzenszwalb and Huttenlocher, 2012): in
/// place, `f[q] = min over p of f[p] + (q - p)^2 * s2`, with cells `s2.sqrt()` mm apart.
fn squared_1d(f: &mut [f32], s2: f32, scr: &mut Scratch) {
    let n = f.len();
    scr.f.clear();
    scr.f.extend_from_slice(f);
    let g = &scr.f;
    scr.v.clear();
    scr.z.clear();
    // Parabolas with finite apex only; a line without any keeps its infinities.
    let Some(first) = (0..n).find(|&q| g[q].is_finite()) else { return };
    scr.v.push(first);
    scr.z.push(f32::NEG_INFINITY);
    for q in first + 1..n {
        if !g[q].is_finite() {
            continue;
        }
        loop {
            let p = *scr.v.last().expect("the envelope is never empty");
            let s = ((g[q] / s2 + (q * q) as f32) - (g[p] / s2 + (p * p) as f32)) / (2.0 * (q - p) as f32);
            if s <= *scr.z.last().expect("one boundary per parabola") && scr.v.len() > 1 {
                scr.v.pop();
                scr.z.pop();
            } else {
                scr.v.push(q);
                scr.z.push(s);
                break;
            }
        }
    }
    let mut k = 0;
    for (q, out) in f.iter_mut().enumerate() {
        while k + 1 < scr.v.len() && scr.z[k + 1] < q as f32 {
            k += 1;
        }
        let p = scr.v[k];
        let d = q as f32 - p as f32;
        *out = g[p] + d * d * s2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_matches_brute_force() {
        let mut scr = Scratch::default();
        let inf = f32::INFINITY;
        let input = [inf, inf, 0.0, inf, inf, inf, inf, 0.0, inf, 4.0, inf];
        let mut f = input;
        squared_1d(&mut f, 0.25, &mut scr);
        for q in 0..input.len() {
            let want = (0..input.len())
                .map(|p| input[p] + ((q as f32 - p as f32) * 0.5).powi(2))
                .fold(f32::INFINITY, f32::min);
            assert!((f[q] - want).abs() < 1e-5, "cell {q}: {} != {want}", f[q]);
        }
        let mut empty = [inf; 4];
        squared_1d(&mut empty, 1.0, &mut scr);
        assert!(empty.iter().all(|v| v.is_infinite()));
    }
}
