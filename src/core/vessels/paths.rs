//! Shortest paths over the 26 neighbours of a box of voxels (Dijkstra), with the cost of each
//! step chosen by the caller: what centrelines and traced nerves are both made of.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The cheapest cost to every voxel reached, the voxel each was reached from, and the order in
/// which they were settled (each after the one it was reached from). Kept between searches over
/// the same box, so that many small searches cost what they touch, not the box.
pub(super) struct Paths {
    pub cost: Vec<f64>,
    pub previous: Vec<usize>,
    pub settled: Vec<usize>,
    touched: Vec<usize>,
}

impl Paths {
    pub fn new(voxels: usize) -> Paths {
        Paths {
            cost: vec![f64::INFINITY; voxels],
            previous: vec![usize::MAX; voxels],
            settled: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// The voxels from `start` to `v`, when `v` was reached.
    pub fn to(&self, v: usize) -> Option<Vec<usize>> {
        if !self.cost[v].is_finite() {
            return None;
        }
        let mut path = vec![v];
        let mut at = v;
        while self.previous[at] != usize::MAX {
            at = self.previous[at];
            path.push(at);
        }
        path.reverse();
        Some(path)
    }
}

/// Paths from `start` over a box of `dims` voxels spaced `spacing_mm`, into `paths` (made for
/// that box; the previous search's answers are cleared), stopping once `goal` is settled.
/// `step(from, to, length_mm)` is what moving between two neighbours costs (infinite: not
/// allowed).
pub(super) fn shortest(
    paths: &mut Paths,
    dims: [usize; 3],
    spacing_mm: [f64; 3],
    start: usize,
    goal: Option<usize>,
    step: impl Fn(usize, usize, f64) -> f64,
) {
    for &v in &paths.touched {
        paths.cost[v] = f64::INFINITY;
        paths.previous[v] = usize::MAX;
    }
    paths.touched.clear();
    paths.settled.clear();
    let Paths { cost, previous, settled, touched } = paths;
    let mut heap = BinaryHeap::new();
    cost[start] = 0.0;
    touched.push(start);
    heap.push(Reverse((Ordered(0.0), start)));
    while let Some(Reverse((Ordered(c), v))) = heap.pop() {
        if c > cost[v] {
            continue;
        }
        settled.push(v);
        if Some(v) == goal {
            break;
        }
        let ijk = [v % dims[0], (v / dims[0]) % dims[1], v / (dims[0] * dims[1])];
        for dk in -1isize..=1 {
            for dj in -1isize..=1 {
                for di in -1isize..=1 {
                    let d = [di, dj, dk];
                    if d == [0, 0, 0]
                        || (0..3).any(|a| (ijk[a] as isize + d[a]) < 0 || (ijk[a] as isize + d[a]) >= dims[a] as isize)
                    {
                        continue;
                    }
                    let w = (v as isize + di + dims[0] as isize * (dj + dims[1] as isize * dk)) as usize;
                    let len = (0..3).map(|a| (d[a] as f64 * spacing_mm[a]).powi(2)).sum::<f64>().sqrt();
                    let next = c + step(v, w, len);
                    if next < cost[w] {
                        if cost[w].is_infinite() {
                            touched.push(w);
                        }
                        cost[w] = next;
                        previous[w] = v;
                        heap.push(Reverse((Ordered(next), w)));
                    }
                }
            }
        }
    }
}

/// An f64 with the total order, for the heap.
#[derive(PartialEq, PartialOrd)]
struct Ordered(f64);

impl Eq for Ordered {}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
