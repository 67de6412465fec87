//! A vessel tree grown from clicked seeds: the voxels of strong vesselness connected to a seed
//! (its core), widened to the vessel wall where the image has come a third of the way from the
//! surroundings' value to the vessel's (half-way is where partial volume puts the true boundary;
//! a third errs toward a thicker vessel). On CT, bone is found
//! first and taken out of reach with a margin, so the tree cannot run into the skull base or the
//! vertebrae where a vessel touches them.

use nalgebra::Point3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::vesselness::{Polarity, Vesselness, vesselness};
use crate::core::progress::Progress;
use crate::core::segmentation::components::{Connectivity, flood, remove_small};
use crate::core::segmentation::mask::{Logic, threshold};
use crate::core::segmentation::morphology::{close, dilate};
use crate::core::segmentation::{Mask, SegmentationError};
use crate::core::volume::Volume;

/// How far from a click a seed is looked for, in mm.
pub const SEED_REACH_MM: f64 = 3.0;
/// The smallest piece above the bone level that counts as bone (calcified plaque and dense
/// contrast are smaller), in mm³.
const BONE_MIN_MM3: f64 = 500.0;
/// The margin around bone that vessels may not enter, in mm.
const BONE_MARGIN_MM: f64 = 1.0;
/// Cortical bone closes around marrow (a vertebral body, on an axial slice) as bright as
/// contrast; an enclosed hole of at most this area whose median is above [`MARROW_ABOVE`] is
/// bone too. Brain and the spinal canal, enclosed but dark, stay out.
const BONE_CLOSE_MM: f64 = 4.0;
const MARROW_MAX_MM2: f64 = 2500.0;
const MARROW_ABOVE: f64 = 100.0;

/// Where the wall is put between the surroundings' value (0) and the vessel's (1).
const WALL_LEVEL: f64 = 1.0 / 3.0;

/// What a vessel tree is grown with; saved in its segment's recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeSettings {
    /// Gaussian scales (standard deviations) in mm; a scale answers best to tubes of radius
    /// scale x sqrt(2).
    pub scales_mm: Vec<f64>,
    #[serde(default)]
    pub polarity: Polarity,
    /// How much brighter (or darker) than their surroundings the vessels are, in the scan's
    /// units (HU on CT): what vesselness calls a strong vessel.
    pub contrast: f64,
    /// The vesselness (0-1) a voxel needs to join the tree.
    pub threshold: f64,
    /// Thinner vessels (by their best scale) are left out.
    pub min_radius_mm: f64,
    /// On CT: values above this, in pieces of bone size, are bone and kept out with a margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bone_above: Option<f64>,
}

impl TreeSettings {
    /// Head and neck arteries on contrast CT: radii from 1 to 4 mm, bone above 700 HU.
    pub fn contrast_ct() -> TreeSettings {
        TreeSettings {
            scales_mm: vec![0.7, 1.0, 1.4, 2.0, 2.8],
            polarity: Polarity::Bright,
            contrast: 250.0,
            threshold: 0.05,
            min_radius_mm: 0.0,
            bone_above: Some(700.0),
        }
    }

    /// Whether `other` gives the same vesselness and bone (it may differ in the threshold and
    /// the minimum radius, which apply only when growing).
    pub fn same_vesselness(&self, other: &TreeSettings) -> bool {
        self.scales_mm == other.scales_mm
            && self.polarity == other.polarity
            && self.contrast == other.contrast
            && self.bone_above == other.bone_above
    }

    pub fn check(&self) -> Result<(), String> {
        if self.scales_mm.is_empty() || self.scales_mm.len() > 16 {
            return Err(format!("between 1 and 16 scales are needed, not {}", self.scales_mm.len()));
        }
        if self.scales_mm.iter().any(|s| !(s.is_finite() && *s > 0.0 && *s <= 50.0)) {
            return Err("every scale must be above 0 and at most 50 mm".into());
        }
        if !(self.contrast.is_finite() && self.contrast > 0.0) {
            return Err(format!("the vessels' contrast must be above 0, not {}", self.contrast));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(format!("the vesselness threshold must lie between 0 and 1, not {}", self.threshold));
        }
        if !(self.min_radius_mm.is_finite() && self.min_radius_mm >= 0.0) {
            return Err("the minimum radius must be 0 mm or more".into());
        }
        Ok(())
    }
}

/// What the slow part of growing a tree found, kept by a workstation so that moving the
/// threshold or the seeds redraws at once.
pub struct Prepared {
    pub vesselness: Vesselness,
    /// Bone and its margin (empty when bone is not suppressed).
    pub bone: Mask,
    /// The settings it was computed with.
    pub settings: TreeSettings,
}

impl Prepared {
    /// Whether a tree grown with `settings` may start from this: the same scales, polarity,
    /// contrast and bone level (the threshold and the minimum radius apply only when growing).
    pub fn fits(&self, settings: &TreeSettings) -> bool {
        self.settings.same_vesselness(settings)
    }

    /// Whether voxel `n` passes the vesselness threshold and the minimum radius of `settings`.
    pub fn passes(&self, n: usize, settings: &TreeSettings) -> bool {
        let v = &self.vesselness;
        v.values[n] >= settings.threshold as f32 && v.radius_mm(n) >= settings.min_radius_mm
    }
}

/// Finds bone (when asked) and the vesselness outside it.
pub fn prepare(volume: &Volume, settings: &TreeSettings, progress: &Progress) -> Result<Prepared, SegmentationError> {
    settings.check().map_err(SegmentationError::Invalid)?;
    let bone = match settings.bone_above {
        Some(level) => {
            let cortex = remove_small(&threshold(volume, level, f64::INFINITY), BONE_MIN_MM3, Connectivity::TwentySix);
            // Closing first seals cortex that thin slices show broken.
            dilate(&with_marrow(&close(&cortex, BONE_CLOSE_MM), volume), BONE_MARGIN_MM)
        }
        None => Mask::empty(&volume.grid),
    };
    progress.check()?;
    let vesselness =
        vesselness(volume, &settings.scales_mm, settings.polarity, settings.contrast, Some(&bone), progress)?;
    Ok(Prepared { vesselness, bone, settings: settings.clone() })
}

/// The tree through the seeds (LPS mm), from `prepared` (which must [fit](Prepared::fits) the
/// settings; one that does not is an error rather than a tree of other settings). Each seed moves to the strongest vessel voxel within
/// [`SEED_REACH_MM`]; a seed with none is an error that names it.
pub fn grow(
    volume: &Volume,
    prepared: &Prepared,
    seeds_mm: &[Point3<f64>],
    settings: &TreeSettings,
    progress: &Progress,
) -> Result<Mask, SegmentationError> {
    if !prepared.fits(settings) || prepared.vesselness.grid != volume.grid {
        return Err(SegmentationError::Invalid(
            "the vesselness at hand was computed for other settings or another grid".into(),
        ));
    }
    let grid = &volume.grid;
    let v = &prepared.vesselness;
    let t = settings.threshold as f32;
    let mut candidate = Mask::empty(grid);
    for (n, m) in candidate.voxels.iter_mut().enumerate() {
        *m = prepared.passes(n, settings) as u8;
    }
    let starts = seeds_mm.iter().map(|s| snap(volume, &candidate, v, s, t)).collect::<Result<Vec<_>, _>>()?;
    let core = flood(&candidate, &starts, Connectivity::TwentySix);
    progress.check()?;

    // The wall: where the image has come a third of the way from the surroundings' value (a ring
    // around the core) to the vessel's. Half-way is the unbiased boundary; a third errs toward a
    // thicker vessel, the safe side for clearance.
    let spacing = grid.spacing_mm().into_iter().fold(0.0, f64::max);
    let near = dilate(&core, 1.5 * spacing);
    let ring = dilate(&near, 1.5 * spacing).combine(&near, Logic::Subtract).combine(&prepared.bone, Logic::Subtract);
    let (Some(inside), Some(outside)) = (median(volume, &core), median(volume, &ring)) else {
        return Ok(core);
    };
    let level = outside + WALL_LEVEL * (inside - outside);
    let reach = 0.5 * Vesselness::radius_of_scale_mm(settings.scales_mm.iter().copied().fold(0.0, f64::max)) + spacing;
    let within = dilate(&core, reach);
    let mut allowed = Mask::empty(grid);
    for (n, m) in allowed.voxels.iter_mut().enumerate() {
        let value = f64::from(volume.data.get(n));
        let vessel_side = match settings.polarity {
            Polarity::Bright => value >= level,
            Polarity::Dark => value <= level,
        };
        *m = (within.voxels[n] != 0 && prepared.bone.voxels[n] == 0 && vessel_side) as u8;
    }
    let from: Vec<usize> = (0..core.voxels.len()).filter(|&n| core.voxels[n] != 0 && allowed.voxels[n] != 0).collect();
    let wall = flood(&allowed, &from, Connectivity::TwentySix);
    Ok(wall.combine(&core.combine(&allowed, Logic::Intersect), Logic::Union))
}

/// The tree in one call: what a plan's recipe runs.
pub fn tree(
    volume: &Volume,
    seeds_mm: &[Point3<f64>],
    settings: &TreeSettings,
    progress: &Progress,
) -> Result<Mask, SegmentationError> {
    let prepared = prepare(volume, settings, progress)?;
    grow(volume, &prepared, seeds_mm, settings, progress)
}

/// The strongest candidate voxel within reach of a click.
fn snap(
    volume: &Volume,
    candidate: &Mask,
    v: &Vesselness,
    seed: &Point3<f64>,
    t: f32,
) -> Result<usize, SegmentationError> {
    let grid = &volume.grid;
    let at = |p: &Point3<f64>| format!("({:.1}, {:.1}, {:.1}) mm", p.x, p.y, p.z);
    if grid.voxel_at(seed).is_none() {
        return Err(SegmentationError::Invalid(format!("the seed at {} lies outside the scan", at(seed))));
    }
    let mut best: Option<(f32, usize)> = None;
    let mut strongest = 0f32;
    for (n, _) in grid.voxels_within(seed, SEED_REACH_MM) {
        strongest = strongest.max(v.values[n]);
        if candidate.voxels[n] != 0 && best.is_none_or(|(b, _)| v.values[n] > b) {
            best = Some((v.values[n], n));
        }
    }
    best.map(|(_, n)| n).ok_or_else(|| {
        SegmentationError::Invalid(format!(
            "the seed at {} is not on a vessel: the vesselness within {SEED_REACH_MM} mm is at most {strongest:.3}, \
             below the threshold {t} (or the vessel is thinner than the minimum radius)",
            at(seed)
        ))
    })
}

/// Bone with the marrow it encloses, slice by slice.
fn with_marrow(cortex: &Mask, volume: &Volume) -> Mask {
    let grid = &cortex.grid;
    let [nx, ny, _] = grid.dims;
    let sp = grid.spacing_mm();
    let max_pixels = (MARROW_MAX_MM2 / (sp[0] * sp[1])) as usize;
    let mut out = cortex.clone();
    out.voxels.par_chunks_mut(nx * ny).enumerate().for_each(|(k, slice)| {
        let mut seen = vec![false; nx * ny];
        let mut stack = Vec::new();
        let mut hole = Vec::new();
        for start in 0..nx * ny {
            if slice[start] != 0 || seen[start] {
                continue;
            }
            // One 4-connected hole of the slice's background.
            hole.clear();
            let mut touches_edge = false;
            seen[start] = true;
            stack.push(start);
            while let Some(p) = stack.pop() {
                hole.push(p);
                let (i, j) = (p % nx, p / nx);
                touches_edge |= i == 0 || j == 0 || i == nx - 1 || j == ny - 1;
                let mut visit = |q: usize| {
                    if slice[q] == 0 && !seen[q] {
                        seen[q] = true;
                        stack.push(q);
                    }
                };
                if i > 0 {
                    visit(p - 1);
                }
                if i + 1 < nx {
                    visit(p + 1);
                }
                if j > 0 {
                    visit(p - nx);
                }
                if j + 1 < ny {
                    visit(p + nx);
                }
            }
            if touches_edge || hole.len() > max_pixels {
                continue;
            }
            let mut values: Vec<f32> = hole.iter().map(|&p| volume.data.get(p + k * nx * ny)).collect();
            let mid = values.len() / 2;
            let (_, median, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
            if f64::from(*median) > MARROW_ABOVE {
                hole.iter().for_each(|&p| slice[p] = 1);
            }
        }
    });
    out
}

/// The median value over a mask (`None` when it is empty).
fn median(volume: &Volume, mask: &Mask) -> Option<f64> {
    let mut values: Vec<f32> = (0..mask.voxels.len())
        .filter(|&n| mask.voxels[n] != 0)
        .map(|n| volume.data.get(n))
        .filter(|x| x.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    Some(*m as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_range_are_refused() {
        let good = TreeSettings::contrast_ct();
        assert!(good.check().is_ok());
        for bad in [
            TreeSettings { scales_mm: vec![], ..good.clone() },
            TreeSettings { scales_mm: vec![-1.0], ..good.clone() },
            TreeSettings { threshold: 1.5, ..good.clone() },
            TreeSettings { contrast: 0.0, ..good.clone() },
            TreeSettings { min_radius_mm: f64::NAN, ..good.clone() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
