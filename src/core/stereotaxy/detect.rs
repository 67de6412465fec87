//! The localiser's rods on each slice: small bright islands, isolated from anything else
//! bright, each reduced to its intensity-weighted centre in patient space (sub-voxel: the rods
//! are a few voxels across and their edges are partial volume).

use nalgebra::Point3;
use rayon::prelude::*;

use crate::core::volume::Volume;

/// A rod's cross-section on one slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dot {
    pub slice: usize,
    pub centre_mm: Point3<f64>,
    pub area_mm2: f64,
}

/// Islands wider than this are not a rod's cross-section (a diagonal rod at 45 degrees, thick
/// slices and partial volume included), in mm.
pub const MAX_DOT_MM: f64 = 14.0;
/// Nothing else above the level may lie within this of a dot (mm): bone and the head are kept
/// apart from the localiser's rods.
const CLEAR_MM: f64 = 3.0;

/// What a dot must pass: all its voxels are at or above `edge`, its brightest at or above `peak`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    pub edge: f64,
    pub peak: f64,
}

impl Levels {
    /// One level for both, as the user gives it.
    pub fn at(level: f64) -> Levels {
        Levels { edge: level, peak: level }
    }
}

/// The levels rods are looked for above, when none is given. On CT, edges above 400 HU (rods of
/// metal or bone-like plastic are far above it, the localiser's box and soft tissue below) and a
/// centre above 800 HU: a sharp (bone) kernel's noise and streaks cross 400 HU in small islands
/// that peak below 800 HU, where a rod's centre is far above (1900 to 3071 HU on a real Leksell
/// G box, tests/fixtures/leksell-g-phantom-ct). On other scans half the 99.9th percentile of the
/// values for both (the rods' contrast fluid is among the brightest).
pub fn default_levels(volume: &Volume) -> Levels {
    if volume.meta.modality == "CT" {
        return Levels { edge: 400.0, peak: 800.0 };
    }
    Levels::at(half_the_brightest(volume))
}

fn half_the_brightest(volume: &Volume) -> f64 {
    let mut values: Vec<f32> =
        (0..volume.data.len()).step_by(7).map(|n| volume.data.get(n)).filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return 0.0;
    }
    let at = ((values.len() - 1) as f64 * 0.999) as usize;
    let (_, v, _) = values.select_nth_unstable_by(at, f32::total_cmp);
    0.5 * f64::from(*v)
}

/// Every dot on the `slices` given (numbers along the grid's third axis).
pub fn dots(volume: &Volume, levels: Levels, slices: std::ops::RangeInclusive<usize>) -> Vec<Dot> {
    let grid = &volume.grid;
    let [nx, ny, nz] = grid.dims;
    let [sx, sy, _] = grid.spacing_mm();
    let pixel_mm2 = sx * sy;
    let max_pixels = (std::f64::consts::FRAC_PI_4 * MAX_DOT_MM * MAX_DOT_MM / pixel_mm2).ceil() as usize;
    // At least two pixels: the background ring below lies within the clear margin.
    let (clear_i, clear_j) = ((CLEAR_MM / sx).ceil().max(2.0) as isize, (CLEAR_MM / sy).ceil().max(2.0) as isize);
    slices
        .filter(|&k| k < nz)
        .collect::<Vec<_>>()
        .into_par_iter()
        .flat_map_iter(|k| {
            let value = |i: usize, j: usize| f64::from(volume.data.get(grid.index(i, j, k)));
            let above: Vec<bool> = (0..nx * ny).map(|n| value(n % nx, n / nx) >= levels.edge).collect();
            let mut island = vec![u32::MAX; nx * ny];
            let mut found = Vec::new();
            let mut stack = Vec::new();
            for start in 0..nx * ny {
                if !above[start] || island[start] != u32::MAX {
                    continue;
                }
                let id = found.len() as u32;
                let mut members = Vec::new();
                island[start] = id;
                stack.push(start);
                while let Some(n) = stack.pop() {
                    members.push(n);
                    let (i, j) = ((n % nx) as isize, (n / nx) as isize);
                    for (di, dj) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
                        let (a, b) = (i + di, j + dj);
                        if a < 0 || b < 0 || a >= nx as isize || b >= ny as isize {
                            continue;
                        }
                        let m = a as usize + nx * b as usize;
                        if above[m] && island[m] == u32::MAX {
                            island[m] = id;
                            stack.push(m);
                        }
                    }
                }
                found.push(members);
            }
            let mut dots = Vec::new();
            for (id, members) in found.iter().enumerate() {
                let peak = members.iter().map(|&n| value(n % nx, n / nx)).fold(f64::MIN, f64::max);
                if members.len() > max_pixels || peak < levels.peak {
                    continue;
                }
                let (mut lo, mut hi) = ([isize::MAX; 2], [isize::MIN; 2]);
                for &n in members {
                    let ij = [(n % nx) as isize, (n / nx) as isize];
                    for a in 0..2 {
                        lo[a] = lo[a].min(ij[a]);
                        hi[a] = hi[a].max(ij[a]);
                    }
                }
                if (hi[0] - lo[0] + 1) as f64 * sx > MAX_DOT_MM || (hi[1] - lo[1] + 1) as f64 * sy > MAX_DOT_MM {
                    continue;
                }
                // Alone: nothing else bright around it, and not cut by the slice's edge.
                let (i0, i1) = (lo[0] - clear_i, hi[0] + clear_i);
                let (j0, j1) = (lo[1] - clear_j, hi[1] + clear_j);
                if i0 < 0 || j0 < 0 || i1 >= nx as isize || j1 >= ny as isize {
                    continue;
                }
                let alone = (j0..=j1).all(|j| {
                    (i0..=i1).all(|i| {
                        let m = i as usize + nx * j as usize;
                        !above[m] || island[m] == id as u32
                    })
                });
                if !alone {
                    continue;
                }
                // Weighted by the value above the surroundings' over the island and a ring of
                // one pixel, which holds the rod's partial-volume edge.
                let mut ring: Vec<f64> = Vec::new();
                for j in lo[1] - 2..=hi[1] + 2 {
                    for i in lo[0] - 2..=hi[0] + 2 {
                        let edge = i < lo[0] - 1 || i > hi[0] + 1 || j < lo[1] - 1 || j > hi[1] + 1;
                        if edge {
                            ring.push(value(i as usize, j as usize));
                        }
                    }
                }
                ring.sort_by(f64::total_cmp);
                let background = ring[ring.len() / 2];
                // Only the upper half of the rod's profile: a sharp kernel's noise and streaks
                // that touch the island (above the edge level but far below the rod) pull the
                // centre no more than the partial-volume edge does.
                let half = background + 0.5 * (peak - background);
                let (mut sum, mut ci, mut cj) = (0.0, 0.0, 0.0);
                for j in lo[1] - 1..=hi[1] + 1 {
                    for i in lo[0] - 1..=hi[0] + 1 {
                        let w = (value(i as usize, j as usize) - half).max(0.0);
                        sum += w;
                        ci += w * i as f64;
                        cj += w * j as f64;
                    }
                }
                if sum <= 0.0 {
                    continue;
                }
                let centre_mm = grid.patient_point(Point3::new(ci / sum, cj / sum, k as f64));
                dots.push(Dot { slice: k, centre_mm, area_mm2: members.len() as f64 * pixel_mm2 });
            }
            dots
        })
        .collect()
}
