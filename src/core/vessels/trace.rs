//! Nerves traced through clicked points: between consecutive points the cheapest path through
//! the image (Dijkstra over the 26 neighbours, lengths in mm), where a voxel costs little when
//! its value is like the nerve's at the clicked points and more the further it strays, measured
//! against the nerve's contrast with its surroundings. A nerve without contrast of its own (on
//! CT) gives near-straight paths between the points. The nerve is then a tube of the given
//! radius along the path.

use nalgebra::{Point3, Vector3};
use rayon::prelude::*;

use super::gaussian;
use super::paths::{Paths, shortest};
use crate::core::phantom::Tube;
use crate::core::progress::Progress;
use crate::core::segmentation::{Mask, SegmentationError};
use crate::core::volume::Volume;

/// The path may wander this far (mm) outside the box of the two points it joins.
const MARGIN_MM: f64 = 15.0;
/// The image is smoothed this much (mm) before costs are taken, against noise.
const SMOOTH_MM: f64 = 0.7;
/// What a voxel with exactly the nerve's value costs per mm, against 1 more for one a contrast
/// away; no voxel costs more than CEILING, so that a short gap in the nerve is crossed.
const FLOOR: f64 = 0.05;
const CEILING: f64 = 10.0;
/// The nerve's value is taken within this distance of the clicks, its surroundings' in a shell
/// out to SURROUNDINGS_MM.
const NERVE_MM: f64 = 1.0;
const SURROUNDINGS_MM: (f64, f64) = (3.0, 6.0);

/// The traced centre line through the points (LPS mm), from the first to the last.
pub fn trace(
    volume: &Volume,
    points_mm: &[Point3<f64>],
    progress: &Progress,
) -> Result<Vec<Point3<f64>>, SegmentationError> {
    let invalid = |s: String| SegmentationError::Invalid(s);
    if points_mm.len() < 2 {
        return Err(invalid("a nerve needs at least two points".into()));
    }
    let grid = &volume.grid;
    let at = |p: &Point3<f64>| format!("({:.1}, {:.1}, {:.1}) mm", p.x, p.y, p.z);
    let voxels: Vec<[usize; 3]> = points_mm
        .iter()
        .enumerate()
        .map(|(n, p)| {
            grid.voxel_at(p)
                .filter(|&v| !volume.data.get(v).is_nan())
                .map(|v| grid.ijk(v))
                .ok_or_else(|| invalid(format!("point {} at {} lies outside the scan", n + 1, at(p))))
        })
        .collect::<Result<_, _>>()?;
    let sp = grid.spacing_mm();
    let margin: [usize; 3] = std::array::from_fn(|a| (MARGIN_MM / sp[a]).ceil() as usize);
    let look = Look::at(volume, points_mm);
    let mut line = vec![points_mm[0]];
    progress.begin("Tracing", (points_mm.len() - 1) as u64);
    for (n, pair) in voxels.windows(2).enumerate() {
        progress.check()?;
        let lo: [usize; 3] = std::array::from_fn(|a| pair[0][a].min(pair[1][a]).saturating_sub(margin[a]));
        let hi: [usize; 3] = std::array::from_fn(|a| (pair[0][a].max(pair[1][a]) + margin[a]).min(grid.dims[a] - 1));
        let region = Region::new(volume, lo, hi, &look);
        let path = region.cheapest(pair[0], pair[1]).ok_or_else(|| {
            invalid(format!(
                "points {} and {} cannot be joined inside the scan (its edge or a part without values lies between them)",
                n + 1,
                n + 2
            ))
        })?;
        // The clicked points themselves, and the voxel centres between them.
        // (Two points in one voxel give a path of that voxel alone.)
        line.extend(
            path.iter()
                .skip(1)
                .take(path.len().saturating_sub(2))
                .map(|&ijk| grid.patient_point(Point3::new(ijk[0] as f64, ijk[1] as f64, ijk[2] as f64))),
        );
        line.push(points_mm[n + 1]);
        progress.advance(1);
    }
    Ok(smooth_keeping(&line, points_mm))
}

/// The voxels whose centres lie within `radius_mm` of the line: the nerve as a segment.
pub fn tube_mask(volume: &Volume, line: &[Point3<f64>], radius_mm: f64) -> Mask {
    let tubes = tubes(line, radius_mm);
    let grid = &volume.grid;
    let mut mask = Mask::empty(grid);
    if line.is_empty() {
        return mask;
    }
    // Only the voxels of the line's box, grown by the radius, are visited.
    let r = Vector3::repeat(radius_mm);
    let (min, max) = line.iter().fold((line[0] - r, line[0] + r), |(a, b), p| (a.inf(&(p - r)), b.sup(&(p + r))));
    let Some((lo, hi)) = grid.voxel_range(&min, &max) else {
        return mask;
    };
    let [nx, ny, _] = grid.dims;
    mask.voxels.par_chunks_mut(nx * ny).enumerate().for_each(|(k, slice)| {
        if k < lo[2] || k > hi[2] {
            return;
        }
        for j in lo[1]..=hi[1] {
            for i in lo[0]..=hi[0] {
                let p = grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
                if tubes.iter().any(|t| t.signed_distance(&p) <= 0.0) {
                    slice[i + nx * j] = 1;
                }
            }
        }
    });
    mask
}

/// The line as capsules of the radius: the nerve's exact shape, for distances.
pub fn tubes(line: &[Point3<f64>], radius_mm: f64) -> Vec<Tube> {
    match line {
        [single] => vec![Tube { from: *single, to: *single, radius_mm }],
        _ => line.windows(2).map(|w| Tube { from: w[0], to: w[1], radius_mm }).collect(),
    }
}

/// What the nerve looks like at the clicks: its value, and its contrast with the surroundings
/// (at least three times the spread of its own values, so a nerve without contrast is not
/// followed into noise).
struct Look {
    value: f64,
    contrast: f64,
}

impl Look {
    fn at(volume: &Volume, points_mm: &[Point3<f64>]) -> Look {
        let (mut nerve, mut around) = (Vec::new(), Vec::new());
        for p in points_mm {
            for (n, q) in volume.grid.voxels_within(p, SURROUNDINGS_MM.1) {
                let value = f64::from(volume.data.get(n));
                let d = (q - p).norm();
                if value.is_nan() {
                    continue;
                }
                if d <= NERVE_MM {
                    nerve.push(value);
                } else if d >= SURROUNDINGS_MM.0 {
                    around.push(value);
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let value = mean(&nerve);
        let spread = (nerve.iter().map(|x| (x - value).powi(2)).sum::<f64>() / nerve.len().max(1) as f64).sqrt();
        around.sort_by(f64::total_cmp);
        let surroundings = around.get(around.len() / 2).copied().unwrap_or(value);
        Look { value, contrast: (value - surroundings).abs().max(3.0 * spread).max(f64::EPSILON) }
    }
}

/// A box of the scan with each voxel's cost per mm.
struct Region {
    lo: [usize; 3],
    dims: [usize; 3],
    cost: Vec<f64>,
    spacing: [f64; 3],
}

impl Region {
    fn new(volume: &Volume, lo: [usize; 3], hi: [usize; 3], look: &Look) -> Region {
        let dims: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a] + 1);
        let mut values: Vec<f32> = Vec::with_capacity(dims[0] * dims[1] * dims[2]);
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    values.push(volume.at(lo[0] + i, lo[1] + j, lo[2] + k));
                }
            }
        }
        let spacing = volume.grid.spacing_mm();
        // Voxels without a value (outside a fused scan) cannot be crossed.
        let missing: Vec<bool> = values.iter().map(|v| v.is_nan()).collect();
        values.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = look.value as f32);
        gaussian::smooth(&mut values, dims, std::array::from_fn(|a| SMOOTH_MM / spacing[a]));
        let cost = values
            .iter()
            .zip(&missing)
            .map(|(&v, &gone)| {
                if gone {
                    f64::INFINITY
                } else {
                    (FLOOR + ((f64::from(v) - look.value) / look.contrast).powi(2)).min(CEILING)
                }
            })
            .collect();
        Region { lo, dims, cost, spacing }
    }

    fn index(&self, ijk: [usize; 3]) -> usize {
        (ijk[0] - self.lo[0]) + self.dims[0] * ((ijk[1] - self.lo[1]) + self.dims[1] * (ijk[2] - self.lo[2]))
    }

    /// The cheapest voxel path between two grid voxels inside the region.
    fn cheapest(&self, from: [usize; 3], to: [usize; 3]) -> Option<Vec<[usize; 3]>> {
        let goal = self.index(to);
        let mut paths = Paths::new(self.cost.len());
        shortest(&mut paths, self.dims, self.spacing, self.index(from), Some(goal), |v, w, len| {
            len * 0.5 * (self.cost[v] + self.cost[w])
        });
        let d = self.dims;
        Some(
            paths
                .to(goal)?
                .into_iter()
                .map(|v| [self.lo[0] + v % d[0], self.lo[1] + (v / d[0]) % d[1], self.lo[2] + v / (d[0] * d[1])])
                .collect(),
        )
    }
}

/// A moving average over the line that leaves the clicked points where they were placed.
fn smooth_keeping(line: &[Point3<f64>], fixed: &[Point3<f64>]) -> Vec<Point3<f64>> {
    let n = line.len();
    (0..n)
        .map(|i| {
            if fixed.contains(&line[i]) || i < 2 || i + 2 >= n {
                return line[i];
            }
            let sum = line[i - 2..=i + 2].iter().fold(Vector3::zeros(), |s, p| s + p.coords);
            Point3::from(sum / 5.0)
        })
        .collect()
}
