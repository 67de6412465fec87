//! Iso-surface extraction into an indexed mesh with shared vertices, in two parallel passes over
//! rows of the grid (the structure of flying edges):
//!
//! 1. inside/outside bits for every voxel (one bit each), then per row the number of crossed
//!    edges and per row of cells the number of triangles;
//! 2. prefix sums give every row a disjoint range of the output, so rows write vertices and
//!    triangles in parallel without locks; a vertex's index is its row's base plus its rank
//!    among the crossings of that row, so no edge-to-vertex map is ever stored.
//!
//! Uniform cells are skipped 64 at a time with bit operations. Memory beyond the output is one
//! bit per voxel plus a few counters per row.

use nalgebra::Point3;
use rayon::prelude::*;

use super::Mesh;
use super::cases::{EDGE_CORNERS, table};
use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::Mask;
use crate::core::volume::{Grid, Volume, VoxelData};

/// The virtual layer that closes surfaces at the volume's edge: outside at any iso value, and
/// an edge to it is cut halfway, so the cap lies on the volume's outer boundary (the far side of
/// the edge voxels), where the scan's own extent ends.
const OUTSIDE: f32 = f32::NAN;

/// A scalar field on a grid, read row by row.
trait Field: Sync {
    /// Writes row (j, k) (of length nx) as f32.
    fn row(&self, j: usize, k: usize, out: &mut [f32]);
    /// Sets bit `offset + i` of `out` for every value i of row (j, k) at or above `iso`.
    fn row_bits(&self, j: usize, k: usize, iso: f32, offset: usize, out: &mut [u64]);
}

struct Samples<'a, T>(&'a [T], [usize; 3]);

impl<T: Copy + Sync + Into<f32>> Field for Samples<'_, T> {
    fn row(&self, j: usize, k: usize, out: &mut [f32]) {
        let nx = self.1[0];
        let start = nx * (j + self.1[1] * k);
        for (o, &v) in out.iter_mut().zip(&self.0[start..start + nx]) {
            *o = v.into();
        }
    }

    fn row_bits(&self, j: usize, k: usize, iso: f32, offset: usize, out: &mut [u64]) {
        let nx = self.1[0];
        let start = nx * (j + self.1[1] * k);
        // 64 comparisons gathered into one word at a time (this loop vectorises), then shifted
        // into place when the row starts at an offset.
        for (w, chunk) in self.0[start..start + nx].chunks(64).enumerate() {
            let mut word = 0u64;
            for (b, &v) in chunk.iter().enumerate() {
                word |= ((v.into() >= iso) as u64) << b;
            }
            let at = w * 64 + offset;
            out[at >> 6] |= word << (at & 63);
            if at & 63 != 0 {
                out[(at >> 6) + 1] |= word >> (64 - (at & 63));
            }
        }
    }
}

/// Options of an extraction.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Close surfaces cut by the volume's edge with a cap on the edge (watertight meshes).
    pub close_border: bool,
}

/// The iso-surface `value = iso` of a volume: normals point from values >= iso to lower values.
pub fn extract_iso(volume: &Volume, iso: f64, opts: ExtractOptions, progress: &Progress) -> Result<Mesh, Cancelled> {
    let dims = volume.grid.dims;
    match &volume.data {
        VoxelData::I16(v) => run(&Samples(v, dims), &volume.grid, iso as f32, opts, progress),
        VoxelData::F32(v) => run(&Samples(v, dims), &volume.grid, iso as f32, opts, progress),
    }
}

/// The surface around a binary mask (the boundary halfway between set and unset voxels).
pub fn extract_mask(mask: &Mask, opts: ExtractOptions, progress: &Progress) -> Result<Mesh, Cancelled> {
    run(&Samples(&mask.voxels, mask.grid.dims), &mask.grid, 0.5, opts, progress)
}

/// The virtual grid the cells live on: the real one, or one voxel larger on every side when the
/// border is closed.
struct Layout {
    dims: [usize; 3],
    pad: usize,
    real: [usize; 3],
}

impl Layout {
    fn rows(&self) -> usize {
        self.dims[1] * self.dims[2]
    }

    fn row(&self, j: usize, k: usize) -> usize {
        j + self.dims[1] * k
    }

    /// Row (j, k) of the virtual grid as values; padding reads as outside.
    fn values<F: Field>(&self, field: &F, j: usize, k: usize, real_row: &mut Vec<f32>, out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.dims[0], OUTSIDE);
        let p = self.pad;
        if j < p || k < p || j - p >= self.real[1] || k - p >= self.real[2] {
            return;
        }
        real_row.resize(self.real[0], 0.0);
        field.row(j - p, k - p, real_row);
        out[p..p + self.real[0]].copy_from_slice(real_row);
    }

    /// Inside bits of row (j, k) of the virtual grid (padding is outside).
    fn bits<F: Field>(&self, field: &F, j: usize, k: usize, iso: f32, out: &mut [u64]) {
        out.fill(0);
        let p = self.pad;
        if j < p || k < p || j - p >= self.real[1] || k - p >= self.real[2] {
            return;
        }
        field.row_bits(j - p, k - p, iso, p, out);
    }
}

/// Bit i of the result = bit i+1 of `w` (with `next` the following word).
#[inline]
fn shifted(w: u64, next: u64) -> u64 {
    (w >> 1) | (next << 63)
}

/// Running popcount rank over a word sequence, advanced lazily as positions grow.
struct Rank {
    word: usize,
    before: u32,
}

impl Rank {
    fn new() -> Rank {
        Rank { word: 0, before: 0 }
    }

    /// Set bits of `seq` strictly below position p; p never decreases between calls.
    #[inline]
    fn at(&mut self, seq: impl Fn(usize) -> u64, p: usize) -> u32 {
        let w = p >> 6;
        while self.word < w {
            self.before += seq(self.word).count_ones();
            self.word += 1;
        }
        self.before + (seq(w) & ((1u64 << (p & 63)) - 1)).count_ones()
    }
}

fn run<F: Field>(
    field: &F,
    grid: &Grid,
    iso: f32,
    opts: ExtractOptions,
    progress: &Progress,
) -> Result<Mesh, Cancelled> {
    let pad = opts.close_border as usize;
    let real = grid.dims;
    let dims = real.map(|d| d + 2 * pad);
    if dims.iter().any(|&d| d < 2) {
        return Ok(Mesh::default());
    }
    let layout = Layout { dims, pad, real };
    let bits = Bits::classify(field, layout, iso, progress)?;
    let counts = count_rows(&bits, progress)?;
    let (vbase, tbase) = row_ranges(&counts);
    let mut positions = vec![[0f32; 3]; vbase[vbase.len() - 1]];
    let mut triangles = vec![[0u32; 3]; tbase[tbase.len() - 1]];
    let vslices = split_by(&mut positions, &vbase);
    let tslices = split_by(&mut triangles, &tbase);
    let rows = RowOutput { bits: &bits, counts: &counts, vbase: &vbase, grid, iso };
    progress.begin("Surface: building the mesh", bits.layout.rows() as u64);
    vslices.into_par_iter().zip(tslices).enumerate().try_for_each_init(
        || (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
        |(real_row, here, up, ahead), (r, (vout, tout))| {
            if r % 256 == 0 {
                progress.check()?;
            }
            rows.vertices(field, r, [real_row, here, up, ahead], vout);
            rows.triangles(r, tout);
            progress.advance(1);
            Ok(())
        },
    )?;
    Ok(Mesh { positions, triangles })
}

/// Inside bits of every voxel of the virtual grid, a row of words per grid row, and the bit
/// sequences derived from them: the edges the surface crosses and the cells it passes through.
struct Bits {
    bits: Vec<u64>,
    /// Words per row, one spare so that reading the next word stays in range.
    words: usize,
    layout: Layout,
}

impl Bits {
    /// Pass 0: inside bits.
    fn classify<F: Field>(field: &F, layout: Layout, iso: f32, progress: &Progress) -> Result<Bits, Cancelled> {
        let words = layout.dims[0].div_ceil(64) + 1;
        let ny = layout.dims[1];
        progress.begin("Surface: classifying voxels", layout.rows() as u64);
        let mut bits = vec![0u64; layout.rows() * words];
        bits.par_chunks_mut(words).enumerate().try_for_each(|(r, out)| {
            if r % 256 == 0 {
                progress.check()?;
            }
            layout.bits(field, r % ny, r / ny, iso, out);
            progress.advance(1);
            Ok(())
        })?;
        Ok(Bits { bits, words, layout })
    }

    #[inline]
    fn at(&self, r: usize, w: usize) -> u64 {
        self.bits[r * self.words + w]
    }

    /// Cells exist at positions 0..nx-1 (a cell spans i and i+1).
    #[inline]
    fn cell_mask(&self, w: usize) -> u64 {
        low_bits(w, self.layout.dims[0] - 1)
    }

    #[inline]
    fn edge_mask(&self, w: usize) -> u64 {
        low_bits(w, self.layout.dims[0])
    }

    /// Crossed edges along x in row r (word w).
    #[inline]
    fn x(&self, r: usize, w: usize) -> u64 {
        (self.at(r, w) ^ shifted(self.at(r, w), self.at(r, w + 1))) & self.cell_mask(w)
    }

    /// Crossed edges along y from row r to the next row up.
    #[inline]
    fn y(&self, r: usize, w: usize) -> u64 {
        (self.at(r, w) ^ self.at(r + 1, w)) & self.edge_mask(w)
    }

    /// Crossed edges along z from row r to the row ahead.
    #[inline]
    fn z(&self, r: usize, w: usize) -> u64 {
        (self.at(r, w) ^ self.at(r + self.layout.dims[1], w)) & self.edge_mask(w)
    }

    /// Non-uniform cells of cell row (j, k), as a bit word per word position.
    fn mixed(&self, j: usize, k: usize, w: usize) -> u64 {
        let l = &self.layout;
        let (r00, r10, r01, r11) = (l.row(j, k), l.row(j + 1, k), l.row(j, k + 1), l.row(j + 1, k + 1));
        let a = self.at(r00, w);
        let s = |r: usize| shifted(self.at(r, w), self.at(r, w + 1));
        let m = (a ^ s(r00))
            | (a ^ self.at(r10, w))
            | (a ^ self.at(r01, w))
            | (a ^ self.at(r11, w))
            | (a ^ s(r10))
            | (a ^ s(r01))
            | (a ^ s(r11));
        m & self.cell_mask(w)
    }

    /// The marching-cubes case of cell (i, j, k): bit c set when corner c is inside.
    fn case_at(&self, j: usize, k: usize, i: usize) -> usize {
        let bit = |r: usize, i: usize| ((self.at(r, i >> 6) >> (i & 63)) & 1) as usize;
        let mut c = 0;
        for corner in 0..8 {
            let (dx, dy, dz) = (corner & 1, (corner >> 1) & 1, (corner >> 2) & 1);
            c |= bit(self.layout.row(j + dy, k + dz), i + dx) << corner;
        }
        c
    }

    /// Calls `f` with every set position of `seq` over the row's words, in order.
    #[inline]
    fn each(&self, seq: impl Fn(usize) -> u64, mut f: impl FnMut(usize)) {
        for w in 0..self.words - 1 {
            let mut m = seq(w);
            while m != 0 {
                f(w * 64 + m.trailing_zeros() as usize);
                m &= m - 1;
            }
        }
    }
}

/// The low bits of word w that fall below position `end` of a row.
#[inline]
fn low_bits(w: usize, end: usize) -> u64 {
    let first = w * 64;
    if first >= end {
        0
    } else if end - first >= 64 {
        u64::MAX
    } else {
        (1u64 << (end - first)) - 1
    }
}

/// Pass 1: per row, the crossed edges along x, y and z and the triangles of its cell row.
fn count_rows(bits: &Bits, progress: &Progress) -> Result<Vec<[u32; 4]>, Cancelled> {
    let [_, ny, nz] = bits.layout.dims;
    let cases = table();
    progress.begin("Surface: counting", bits.layout.rows() as u64);
    let counts = (0..bits.layout.rows())
        .into_par_iter()
        .map(|r| {
            let (j, k) = (r % ny, r / ny);
            let pop = |seq: &dyn Fn(usize) -> u64| (0..bits.words - 1).map(|w| seq(w).count_ones()).sum::<u32>();
            let cx = pop(&|w| bits.x(r, w));
            let cy = if j + 1 < ny { pop(&|w| bits.y(r, w)) } else { 0 };
            let cz = if k + 1 < nz { pop(&|w| bits.z(r, w)) } else { 0 };
            let mut tris = 0u32;
            if j + 1 < ny && k + 1 < nz {
                bits.each(|w| bits.mixed(j, k, w), |i| tris += cases[bits.case_at(j, k, i)].len() as u32);
            }
            progress.advance(1);
            [cx, cy, cz, tris]
        })
        .collect();
    progress.check()?;
    Ok(counts)
}

/// Where each row's vertices and triangles start in the output (prefix sums, one past the end
/// last).
fn row_ranges(counts: &[[u32; 4]]) -> (Vec<usize>, Vec<usize>) {
    let mut vbase = Vec::with_capacity(counts.len() + 1);
    let mut tbase = Vec::with_capacity(counts.len() + 1);
    let (mut v, mut t) = (0usize, 0usize);
    for c in counts {
        vbase.push(v);
        tbase.push(t);
        v += (c[0] + c[1] + c[2]) as usize;
        t += c[3] as usize;
    }
    vbase.push(v);
    tbase.push(t);
    (vbase, tbase)
}

/// The output cut into each row's own range.
fn split_by<'a, T>(out: &'a mut [T], base: &[usize]) -> Vec<&'a mut [T]> {
    let mut slices = Vec::with_capacity(base.len() - 1);
    let mut rest = out;
    for r in 0..base.len() - 1 {
        let (head, tail) = rest.split_at_mut(base[r + 1] - base[r]);
        slices.push(head);
        rest = tail;
    }
    slices
}

/// Pass 2: what one row writes into its ranges.
struct RowOutput<'a> {
    bits: &'a Bits,
    counts: &'a [[u32; 4]],
    vbase: &'a [usize],
    grid: &'a Grid,
    iso: f32,
}

impl RowOutput<'_> {
    /// The row's vertices, on its crossed x, then y, then z edges (in patient space).
    fn vertices<F: Field>(&self, field: &F, r: usize, rows: [&mut Vec<f32>; 4], out: &mut [[f32; 3]]) {
        let [real_row, here, up, ahead] = rows;
        let layout = &self.bits.layout;
        let (j, k) = (r % layout.dims[1], r / layout.dims[1]);
        let [cx, cy, cz, _] = self.counts[r];
        // Most rows cross nothing: read values only where vertices are made.
        if cx + cy + cz > 0 {
            layout.values(field, j, k, real_row, here);
        }
        if cy > 0 {
            layout.values(field, j + 1, k, real_row, up);
        }
        if cz > 0 {
            layout.values(field, j, k + 1, real_row, ahead);
        }
        let pad = layout.pad as f64;
        let place = |x: f64, y: f64, z: f64| -> [f32; 3] {
            let p = self.grid.patient_from_voxel.transform_point(&Point3::new(x - pad, y - pad, z - pad));
            [p.x as f32, p.y as f32, p.z as f32]
        };
        let mut n = 0;
        let mut emit = |seq: &dyn Fn(usize) -> u64, other: Option<&[f32]>, axis: usize| {
            self.bits.each(seq, |i| {
                let (a, b) = match other {
                    None => (here[i], here[i + 1]),
                    Some(o) => (here[i], o[i]),
                };
                let t = if a.is_nan() || b.is_nan() { 0.5 } else { ((self.iso - a) / (b - a)).clamp(0.0, 1.0) as f64 };
                let mut p = [i as f64, j as f64, k as f64];
                p[axis] += t;
                out[n] = place(p[0], p[1], p[2]);
                n += 1;
            });
        };
        if cx > 0 {
            emit(&|w| self.bits.x(r, w), None, 0);
        }
        if cy > 0 {
            emit(&|w| self.bits.y(r, w), Some(up.as_slice()), 1);
        }
        if cz > 0 {
            emit(&|w| self.bits.z(r, w), Some(ahead.as_slice()), 2);
        }
    }

    /// The triangles of the row's cells, their vertices found by rank among each edge row's
    /// crossings (no edge-to-vertex map).
    fn triangles(&self, r: usize, out: &mut [[u32; 3]]) {
        let bits = self.bits;
        let layout = &bits.layout;
        let [_, ny, nz] = layout.dims;
        let (j, k) = (r % ny, r / ny);
        if j + 1 >= ny || k + 1 >= nz || out.is_empty() {
            return;
        }
        let cases = table();
        let flip = self.grid.patient_from_voxel.fixed_view::<3, 3>(0, 0).determinant() < 0.0;
        let row_of = |dy: usize, dz: usize| layout.row(j + dy, k + dz);
        let mut xr: [Rank; 4] = std::array::from_fn(|_| Rank::new());
        let mut yr: [Rank; 2] = std::array::from_fn(|_| Rank::new());
        let mut zr: [Rank; 2] = std::array::from_fn(|_| Rank::new());
        let mut yr1: [Rank; 2] = std::array::from_fn(|_| Rank::new());
        let mut zr1: [Rank; 2] = std::array::from_fn(|_| Rank::new());
        let mut n = 0;
        bits.each(
            |w| bits.mixed(j, k, w),
            |i| {
                let case = bits.case_at(j, k, i);
                let mut ids = [0u32; 12];
                for (e, id) in ids.iter_mut().enumerate() {
                    let (c0, c1) = EDGE_CORNERS[e];
                    if ((case >> c0) ^ (case >> c1)) & 1 == 0 {
                        continue;
                    }
                    let s = e % 4;
                    let (lo, hi) = (s & 1, s >> 1);
                    *id = match e / 4 {
                        0 => {
                            let row = row_of(lo, hi);
                            self.vbase[row] as u32 + xr[s].at(|w| bits.x(row, w), i)
                        }
                        1 => {
                            // y-edge at x offset `lo`, z offset `hi`.
                            let row = row_of(0, hi);
                            let seq = |w| bits.y(row, w);
                            let rank = if lo == 0 { yr[hi].at(seq, i) } else { yr1[hi].at(seq, i + 1) };
                            (self.vbase[row] + self.counts[row][0] as usize) as u32 + rank
                        }
                        _ => {
                            // z-edge at x offset `lo`, y offset `hi`.
                            let row = row_of(hi, 0);
                            let seq = |w| bits.z(row, w);
                            let rank = if lo == 0 { zr[hi].at(seq, i) } else { zr1[hi].at(seq, i + 1) };
                            (self.vbase[row] + (self.counts[row][0] + self.counts[row][1]) as usize) as u32 + rank
                        }
                    };
                }
                for tri in &cases[case] {
                    let mut f = tri.map(|e| ids[e as usize]);
                    if flip {
                        f.swap(1, 2);
                    }
                    out[n] = f;
                    n += 1;
                }
            },
        );
    }
}
