//! Connectivity: seeded region growing, connected components and the island tools. All work on
//! runs (maximal stretches of set voxels along a row), which makes a 512 x 512 x 300 volume a
//! few hundred thousand items instead of eighty million.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::mask::Mask;
use crate::core::volume::Grid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Connectivity {
    /// Faces only.
    Six,
    /// Faces, edges and corners.
    #[default]
    TwentySix,
}

impl Connectivity {
    /// Neighbouring rows (dj, dk) and how far a run reaches sideways into them.
    fn neighbour_rows(self) -> &'static [(i64, i64, i64)] {
        match self {
            Connectivity::Six => &[(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0)],
            Connectivity::TwentySix => {
                &[(-1, -1, 1), (0, -1, 1), (1, -1, 1), (-1, 0, 1), (1, 0, 1), (-1, 1, 1), (0, 1, 1), (1, 1, 1)]
            }
        }
    }
}

/// A run of set voxels in row (j, k): columns x0..x1 (exclusive).
#[derive(Debug, Clone, Copy)]
struct Run {
    x0: u32,
    x1: u32,
}

/// The runs of every row, in row order (row = j + ny * k).
struct Runs {
    dims: [usize; 3],
    /// Index of each row's first run in `runs`; one extra entry at the end.
    row_start: Vec<usize>,
    runs: Vec<Run>,
}

impl Runs {
    fn of(mask: &Mask) -> Runs {
        let [nx, ny, nz] = mask.grid.dims;
        let per_row: Vec<Vec<Run>> = mask
            .voxels
            .par_chunks(nx)
            .map(|row| {
                let mut out = Vec::new();
                let mut x = 0;
                while x < nx {
                    if row[x] != 0 {
                        let start = x;
                        while x < nx && row[x] != 0 {
                            x += 1;
                        }
                        out.push(Run { x0: start as u32, x1: x as u32 });
                    } else {
                        x += 1;
                    }
                }
                out
            })
            .collect();
        let mut row_start = Vec::with_capacity(ny * nz + 1);
        let mut runs = Vec::with_capacity(per_row.iter().map(Vec::len).sum());
        for r in per_row {
            row_start.push(runs.len());
            runs.extend(r);
        }
        row_start.push(runs.len());
        Runs { dims: [nx, ny, nz], row_start, runs }
    }

    fn row(&self, j: i64, k: i64) -> Option<std::ops::Range<usize>> {
        let [_, ny, nz] = self.dims;
        if j < 0 || k < 0 || j >= ny as i64 || k >= nz as i64 {
            return None;
        }
        let r = j as usize + ny * k as usize;
        Some(self.row_start[r]..self.row_start[r + 1])
    }

    /// Row (j, k) of run `r`.
    fn row_of(&self, r: usize) -> (i64, i64) {
        let row = self.row_start.partition_point(|&s| s <= r) - 1;
        ((row % self.dims[1]) as i64, (row / self.dims[1]) as i64)
    }

    /// Runs in neighbouring rows that touch run `r` under `conn`.
    fn neighbours(&self, r: usize, conn: Connectivity, out: &mut Vec<usize>) {
        out.clear();
        let (j, k) = self.row_of(r);
        let run = self.runs[r];
        for &(dj, dk, reach) in conn.neighbour_rows() {
            let Some(range) = self.row(j + dj, k + dk) else {
                continue;
            };
            let (lo, hi) = (run.x0 as i64 - reach, run.x1 as i64 + reach);
            // Runs in a row are sorted and disjoint: find the first that may overlap.
            let slice = &self.runs[range.clone()];
            let first = slice.partition_point(|o| (o.x1 as i64) <= lo);
            for (n, o) in slice[first..].iter().enumerate() {
                if o.x0 as i64 >= hi {
                    break;
                }
                out.push(range.start + first + n);
            }
        }
    }

    fn paint(&self, keep: impl Fn(usize) -> bool + Sync, grid: &Grid) -> Mask {
        let nx = self.dims[0];
        let mut voxels = vec![0u8; grid.voxel_count()];
        voxels.par_chunks_mut(nx).enumerate().for_each(|(row, out)| {
            for r in self.row_start[row]..self.row_start[row + 1] {
                if keep(r) {
                    let run = self.runs[r];
                    out[run.x0 as usize..run.x1 as usize].fill(1);
                }
            }
        });
        Mask { grid: grid.clone(), voxels }
    }

    /// The run containing voxel (i, j, k), if any.
    fn run_at(&self, i: usize, j: usize, k: usize) -> Option<usize> {
        let range = self.row(j as i64, k as i64)?;
        let slice = &self.runs[range.clone()];
        let p = slice.partition_point(|o| (o.x1 as usize) <= i);
        (p < slice.len() && (slice[p].x0 as usize) <= i).then_some(range.start + p)
    }
}

/// Union-find over runs.
struct Forest(Vec<u32>);

impl Forest {
    fn find(&mut self, mut a: u32) -> u32 {
        while self.0[a as usize] != a {
            let up = self.0[self.0[a as usize] as usize];
            self.0[a as usize] = up;
            a = up;
        }
        a
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.0[hi as usize] = lo;
        }
    }
}

/// Connected components of a mask.
pub struct Components {
    runs: Runs,
    /// Component id (0..count) of each run.
    of_run: Vec<u32>,
    /// Voxel count of each component.
    pub sizes: Vec<usize>,
    grid: Grid,
}

impl Components {
    pub fn count(&self) -> usize {
        self.sizes.len()
    }

    /// The component containing voxel index `v`, if the voxel is set.
    pub fn at(&self, v: usize) -> Option<u32> {
        let [i, j, k] = self.grid.ijk(v);
        self.runs.run_at(i, j, k).map(|r| self.of_run[r])
    }

    /// A mask of the components for which `keep(id)` is true.
    pub fn select(&self, keep: impl Fn(u32) -> bool + Sync) -> Mask {
        self.runs.paint(|r| keep(self.of_run[r]), &self.grid)
    }

    pub fn largest(&self) -> Option<u32> {
        (0..self.sizes.len() as u32).max_by_key(|&c| self.sizes[c as usize])
    }
}

/// Labels the connected components of `mask`.
pub fn components(mask: &Mask, conn: Connectivity) -> Components {
    let runs = Runs::of(mask);
    let n = runs.runs.len();
    let mut forest = Forest((0..n as u32).collect());
    // Only look "forward" (rows later in memory order): each touching pair is seen once.
    let mut scratch = Vec::new();
    for r in 0..n {
        runs.neighbours(r, conn, &mut scratch);
        for &o in &scratch {
            if o > r {
                forest.union(r as u32, o as u32);
            }
        }
    }
    let mut id_of_root = vec![u32::MAX; n];
    let mut of_run = vec![0u32; n];
    let mut sizes = Vec::new();
    for r in 0..n {
        let root = forest.find(r as u32) as usize;
        if id_of_root[root] == u32::MAX {
            id_of_root[root] = sizes.len() as u32;
            sizes.push(0);
        }
        let id = id_of_root[root];
        of_run[r] = id;
        sizes[id as usize] += (runs.runs[r].x1 - runs.runs[r].x0) as usize;
    }
    Components { runs, of_run, sizes, grid: mask.grid.clone() }
}

/// The set voxels of `allowed` connected to any of `seeds` (voxel indices). Seeds outside
/// `allowed` are ignored.
pub fn flood(allowed: &Mask, seeds: &[usize], conn: Connectivity) -> Mask {
    let runs = Runs::of(allowed);
    let mut reached = vec![false; runs.runs.len()];
    let mut stack: Vec<usize> = Vec::new();
    for &s in seeds {
        if s >= allowed.voxels.len() {
            continue;
        }
        let [i, j, k] = allowed.grid.ijk(s);
        if let Some(r) = runs.run_at(i, j, k)
            && !reached[r]
        {
            reached[r] = true;
            stack.push(r);
        }
    }
    let mut scratch = Vec::new();
    while let Some(r) = stack.pop() {
        runs.neighbours(r, conn, &mut scratch);
        for &o in &scratch {
            if !reached[o] {
                reached[o] = true;
                stack.push(o);
            }
        }
    }
    runs.paint(|r| reached[r], &allowed.grid)
}

/// Keeps only the largest connected component.
pub fn keep_largest(mask: &Mask, conn: Connectivity) -> Mask {
    let c = components(mask, conn);
    match c.largest() {
        Some(big) => c.select(|id| id == big),
        None => mask.clone(),
    }
}

/// Removes components smaller than `min_mm3`.
pub fn remove_small(mask: &Mask, min_mm3: f64, conn: Connectivity) -> Mask {
    let c = components(mask, conn);
    let min_voxels = (min_mm3 / mask.grid.voxel_volume_mm3()).ceil() as usize;
    c.select(|id| c.sizes[id as usize] >= min_voxels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    fn mask_from(dims: [usize; 3], set: &[[usize; 3]]) -> Mask {
        let grid = Grid::axis_aligned(dims, Point3::origin(), [1.0; 3]);
        let mut m = Mask::empty(&grid);
        for &[i, j, k] in set {
            m.voxels[grid.index(i, j, k)] = 1;
        }
        m
    }

    #[test]
    fn diagonal_neighbours_join_only_with_26_connectivity() {
        let m = mask_from([4, 4, 4], &[[0, 0, 0], [1, 1, 1], [3, 3, 3]]);
        assert_eq!(components(&m, Connectivity::Six).count(), 3);
        let c = components(&m, Connectivity::TwentySix);
        assert_eq!(c.count(), 2);
        assert_eq!(c.sizes.iter().max(), Some(&2));
        assert_eq!(c.at(m.grid.index(0, 0, 0)), c.at(m.grid.index(1, 1, 1)));
        assert_eq!(c.at(m.grid.index(2, 2, 2)), None);
    }

    #[test]
    fn flood_follows_a_winding_path_and_stays_inside() {
        // A U-shaped tube: along x at j=0, up j at x=5, back along x at j=4.
        let mut set = Vec::new();
        for x in 0..6 {
            set.push([x, 0, 0]);
            set.push([x, 4, 0]);
        }
        for y in 0..5 {
            set.push([5, y, 0]);
        }
        set.push([0, 2, 0]); // an island beside the path
        let m = mask_from([6, 5, 1], &set);
        let grown = flood(&m, &[m.grid.index(0, 0, 0)], Connectivity::Six);
        assert_eq!(grown.count(), 6 + 6 + 3);
        assert!(grown.get(m.grid.index(0, 4, 0)));
        assert!(!grown.get(m.grid.index(0, 2, 0)));
        // A seed outside the mask grows nothing.
        assert_eq!(flood(&m, &[m.grid.index(1, 1, 0)], Connectivity::Six).count(), 0);
    }

    #[test]
    fn largest_and_small_islands() {
        let mut set: Vec<[usize; 3]> = (0..5).map(|x| [x, 0, 0]).collect();
        set.push([0, 3, 3]);
        let m = mask_from([5, 5, 5], &set);
        assert_eq!(keep_largest(&m, Connectivity::TwentySix).count(), 5);
        assert_eq!(remove_small(&m, 2.0, Connectivity::TwentySix).count(), 5);
        assert_eq!(remove_small(&m, 1.0, Connectivity::TwentySix).count(), 6);
    }
}
