//! Labelled anatomy on a volume's grid: one label map and a table of segments, each remembering
//! the steps that produced it so that a document can re-create it from the scan.

pub mod components;
mod labelmap;
pub mod mask;
pub mod morphology;
pub mod outlines;
pub mod step_text;

use std::path::PathBuf;

use nalgebra::Point3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use components::Connectivity;
pub use labelmap::{LabelMap, import_labels};
pub use mask::{Logic, Mask, Preset};
pub use step_text::{STEP_SYNTAX, point};

use crate::core::io::nifti::NiftiError;
use crate::core::progress::{Cancelled, Interrupted, Progress};
use crate::core::vessels::TreeSettings;
use crate::core::vessels::tree::{self, Prepared};
use crate::core::volume::Volume;

#[derive(Debug, thiserror::Error)]
pub enum SegmentationError {
    #[error(transparent)]
    Nifti(#[from] NiftiError),
    #[error("{path}: {detail}")]
    Labels { path: PathBuf, detail: String },
    #[error("no segment with label {0}")]
    NoSuchSegment(u16),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

impl Interrupted for SegmentationError {
    fn is_cancelled(&self) -> bool {
        matches!(self, SegmentationError::Cancelled(_))
    }
}

/// What a structure is, which decides its default colour and whether paths must keep clear of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Skin,
    Bone,
    Brain,
    Ventricle,
    Vessel,
    Nerve,
    Target,
    Other,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Skin,
        Category::Bone,
        Category::Brain,
        Category::Ventricle,
        Category::Vessel,
        Category::Nerve,
        Category::Target,
        Category::Other,
    ];

    /// Vessels and nerves are what a trajectory must keep clear of.
    pub fn is_critical(self) -> bool {
        matches!(self, Category::Vessel | Category::Nerve)
    }

    /// A safety margin a planner would start from, in mm (0 for non-critical structures).
    pub fn default_margin_mm(self) -> f64 {
        match self {
            Category::Vessel => 2.0,
            Category::Nerve => 2.0,
            _ => 0.0,
        }
    }

    /// sRGB colour in the conventions of anatomy atlases.
    pub fn default_color(self) -> [u8; 3] {
        match self {
            Category::Skin => [232, 190, 160],
            Category::Bone => [241, 236, 214],
            Category::Brain => [200, 160, 170],
            Category::Ventricle => [90, 160, 220],
            Category::Vessel => [210, 40, 40],
            Category::Nerve => [245, 210, 40],
            Category::Target => [60, 200, 90],
            Category::Other => [160, 160, 200],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::Skin => "skin",
            Category::Bone => "bone",
            Category::Brain => "brain",
            Category::Ventricle => "ventricle",
            Category::Vessel => "vessel",
            Category::Nerve => "nerve",
            Category::Target => "target",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// One tool application. A segment's mask is its steps applied in order to an empty mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub enum Step {
    /// Replace with the voxels in [lo, hi], read from the plan's scan or from the fused scan
    /// named `scan` (its values, in its units, on the plan's grid).
    Threshold {
        lo: f64,
        hi: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scan: Option<String>,
    },
    /// Replace with the voxels in [lo, hi] connected to the seeds (LPS mm); values as for
    /// `Threshold`.
    Grow {
        seeds_mm: Vec<Point3<f64>>,
        lo: f64,
        hi: f64,
        connectivity: Connectivity,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scan: Option<String>,
    },
    KeepLargest {
        connectivity: Connectivity,
    },
    /// Keep the islands containing the seeds (LPS mm).
    KeepIslands {
        seeds_mm: Vec<Point3<f64>>,
        connectivity: Connectivity,
    },
    RemoveSmallIslands {
        min_mm3: f64,
        connectivity: Connectivity,
    },
    Dilate {
        mm: f64,
    },
    Erode {
        mm: f64,
    },
    Open {
        mm: f64,
    },
    Close {
        mm: f64,
    },
    FillHoles,
    /// A shell of the given thickness outside (margin) or inside (hollow) the mask.
    Shell {
        mm: f64,
        outside: bool,
    },
    /// Combine with another segment's current voxels.
    Combine {
        op: Logic,
        with: u16,
    },
    /// Paint (or erase) a ball at a point.
    Brush {
        // Plan files keep the key they were first written with.
        #[serde(rename = "center_mm")]
        centre_mm: Point3<f64>,
        radius_mm: f64,
        erase: bool,
    },
    /// Replace with one label of a NIfTI label map (resampled onto the grid if needed).
    Import {
        file: PathBuf,
        label: u32,
    },
    /// Replace with the vessel tree through the seeds (LPS mm), grown on the vesselness of the
    /// plan's scan or of the fused scan `scan` (see [`crate::core::vessels::tree`]).
    Vessels {
        seeds_mm: Vec<Point3<f64>>,
        #[serde(flatten)]
        settings: TreeSettings,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scan: Option<String>,
    },
    /// Replace with a tube of `radius_mm` along the cheapest path through the points (LPS mm),
    /// in order, on the values of the plan's scan or of the fused scan `scan` (see
    /// [`crate::core::vessels::trace`]).
    Trace {
        points_mm: Vec<Point3<f64>>,
        radius_mm: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scan: Option<String>,
    },
    /// Replace with the voxels within `radius_mm` of the streamlines of a tractography file
    /// (`.tck`, `.trk`) in the plan scan's patient space (see [`crate::core::vessels::tracts`]).
    ImportTracts {
        file: PathBuf,
        radius_mm: f64,
    },
}

impl Step {
    /// The fused scan whose values the step reads (`None`: the plan's scan, or no values).
    pub fn scan(&self) -> Option<&str> {
        match self {
            Step::Threshold { scan, .. }
            | Step::Grow { scan, .. }
            | Step::Vessels { scan, .. }
            | Step::Trace { scan, .. } => scan.as_deref(),
            _ => None,
        }
    }

    /// The same step reading its values from the fused scan `name` (steps that read no values
    /// are unchanged).
    pub fn reading(mut self, name: &str) -> Step {
        if let Step::Threshold { scan, .. }
        | Step::Grow { scan, .. }
        | Step::Vessels { scan, .. }
        | Step::Trace { scan, .. } = &mut self
        {
            *scan = Some(name.to_owned());
        }
        self
    }
}

/// Which voxels a segment may take when its mask is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Overwrite {
    /// Take every voxel of the mask (later segments win).
    #[default]
    All,
    /// Only voxels that belong to no segment.
    Background,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub label: u16,
    pub name: String,
    pub category: Category,
    /// Clearance a trajectory should keep from it (critical structures).
    pub margin_mm: f64,
    /// Checked by clearance analysis (vessels and nerves by default; any segment on request).
    pub critical: bool,
    #[serde(default)]
    pub overwrite: Overwrite,
    /// The steps that produced it, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
}

impl Segment {
    /// The first seed of its latest vessel tree step: where its centrelines start.
    pub fn vessel_seed(&self) -> Option<Point3<f64>> {
        self.steps.iter().rev().find_map(|step| match step {
            Step::Vessels { seeds_mm, .. } => seeds_mm.first().copied(),
            _ => None,
        })
    }
}

/// A label map plus its segment table. The table is saved with a plan; the label map goes to a
/// side file (it is data, not a setting).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Segmentation {
    #[serde(skip)]
    pub labels: LabelMap,
    pub segments: Vec<Segment>,
}

/// The values segmentation steps read: the plan's scan, whose grid the label map shares, and
/// the plan's fused scans placed on that grid.
pub trait Values: Sync {
    fn primary(&self) -> &Volume;
    /// The fused scan `name` on the primary grid.
    fn fused(&self, name: &str) -> Result<&Volume, SegmentationError>;

    /// Vesselness already computed on the values of `scan` (the plan's scan for `None`), which
    /// a vessels step whose settings it fits grows from instead of computing it again.
    fn prepared_vessels(&self, _scan: &Option<String>) -> Option<&Prepared> {
        None
    }

    /// The values a step reads from: the primary scan, or the fused scan it names.
    fn of(&self, scan: &Option<String>) -> Result<&Volume, SegmentationError> {
        match scan {
            Some(name) => self.fused(name),
            None => Ok(self.primary()),
        }
    }
}

/// A scan alone: a step naming a fused scan is refused.
impl Values for Volume {
    fn primary(&self) -> &Volume {
        self
    }

    fn fused(&self, name: &str) -> Result<&Volume, SegmentationError> {
        Err(SegmentationError::Invalid(format!("the step reads the fused scan '{name}', and no fused scan is loaded")))
    }
}

/// A scan with some of its plan's fused scans, each already on the scan's grid (see
/// `SecondaryScan::on_grid`).
pub struct WithFused<'a> {
    pub primary: &'a Volume,
    pub fused: Vec<(String, std::sync::Arc<Volume>)>,
    /// Vesselness computed on the values of a scan (`None`: the plan's), at hand for vessels steps.
    pub vessels: Option<(Option<String>, std::sync::Arc<Prepared>)>,
}

impl Values for WithFused<'_> {
    fn primary(&self) -> &Volume {
        self.primary
    }

    fn prepared_vessels(&self, scan: &Option<String>) -> Option<&Prepared> {
        self.vessels.as_ref().filter(|(s, _)| s == scan).map(|(_, p)| p.as_ref())
    }

    fn fused(&self, name: &str) -> Result<&Volume, SegmentationError> {
        self.fused.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_ref()).ok_or_else(|| {
            let loaded: Vec<&str> = self.fused.iter().map(|(n, _)| n.as_str()).collect();
            SegmentationError::Invalid(format!(
                "the step reads the fused scan '{name}', which is not loaded (loaded: {})",
                if loaded.is_empty() { "none".to_owned() } else { loaded.join(", ") }
            ))
        })
    }
}

/// The voxels an edit changed, as runs of consecutive indices that went from one label to
/// another: small for the spatially coherent edits segmentation makes, and enough to undo and
/// redo without keeping copies of the label map.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelDiff {
    pub runs: Vec<DiffRun>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffRun {
    pub start: u32,
    pub len: u32,
    pub old: u16,
    pub new: u16,
}

impl LabelDiff {
    pub fn voxels(&self) -> usize {
        self.runs.iter().map(|r| r.len as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The same change backwards.
    pub fn reversed(&self) -> LabelDiff {
        LabelDiff { runs: self.runs.iter().map(|r| DiffRun { old: r.new, new: r.old, ..*r }).collect() }
    }

    /// Writes the new labels; fails (changing nothing) if the map is not in the old state.
    pub fn apply(&self, labels: &mut LabelMap) -> Result<(), SegmentationError> {
        let n = labels.labels.len();
        for r in &self.runs {
            let (a, b) = (r.start as usize, r.start as usize + r.len as usize);
            if b > n || labels.labels[a..b].iter().any(|&l| l != r.old) {
                return Err(SegmentationError::Invalid("the label map changed since this edit was computed".into()));
            }
        }
        for r in &self.runs {
            labels.labels[r.start as usize..(r.start + r.len) as usize].fill(r.new);
        }
        Ok(())
    }
}

impl Segmentation {
    pub fn new(volume: &Volume) -> Segmentation {
        Segmentation { labels: LabelMap::empty(&volume.grid), segments: Vec::new() }
    }

    /// Adds an empty segment with the category's defaults and returns its label.
    pub fn add(&mut self, name: &str, category: Category) -> u16 {
        let label = self.segments.iter().map(|s| s.label).max().unwrap_or(0) + 1;
        self.segments.push(Segment {
            label,
            name: name.to_owned(),
            category,
            margin_mm: category.default_margin_mm(),
            critical: category.is_critical(),
            overwrite: Overwrite::All,
            steps: Vec::new(),
        });
        label
    }

    pub fn segment(&self, label: u16) -> Option<&Segment> {
        self.segments.iter().find(|s| s.label == label)
    }

    pub fn segment_mut(&mut self, label: u16) -> Option<&mut Segment> {
        self.segments.iter_mut().find(|s| s.label == label)
    }

    pub fn mask(&self, label: u16) -> Mask {
        self.labels.mask(label)
    }

    /// What writing `mask` as the voxels of `label` (under the segment's overwrite policy)
    /// would change.
    pub fn diff_for(&self, label: u16, mask: &Mask) -> Result<LabelDiff, SegmentationError> {
        let overwrite = self.segment(label).ok_or(SegmentationError::NoSuchSegment(label))?.overwrite;
        let chunk = 1 << 16;
        let parts: Vec<Vec<DiffRun>> = self
            .labels
            .labels
            .par_chunks(chunk)
            .zip(mask.voxels.par_chunks(chunk))
            .enumerate()
            .map(|(c, (ls, ms))| {
                let mut runs: Vec<DiffRun> = Vec::new();
                for (n, (&old, &m)) in ls.iter().zip(ms).enumerate() {
                    let new = if m != 0 {
                        if overwrite == Overwrite::All || old == 0 || old == label { label } else { old }
                    } else if old == label {
                        0
                    } else {
                        old
                    };
                    if new == old {
                        continue;
                    }
                    let idx = (c * chunk + n) as u32;
                    match runs.last_mut() {
                        Some(r) if r.start + r.len == idx && r.old == old && r.new == new => r.len += 1,
                        _ => runs.push(DiffRun { start: idx, len: 1, old, new }),
                    }
                }
                runs
            })
            .collect();
        Ok(LabelDiff { runs: parts.concat() })
    }

    /// Writes `mask` as the voxels of `label` under the segment's overwrite policy.
    pub fn set_mask(&mut self, label: u16, mask: &Mask) -> Result<(), SegmentationError> {
        let diff = self.diff_for(label, mask)?;
        diff.apply(&mut self.labels)
    }

    /// What applying `step` to segment `label` would change (nothing is changed yet): the slow
    /// part of an edit, which a workstation runs in the background.
    pub fn edit(
        &self,
        label: u16,
        step: &Step,
        volume: &impl Values,
        progress: &Progress,
    ) -> Result<LabelDiff, SegmentationError> {
        let current = self.mask(label);
        let next = run_step(step, current, volume, self, progress)?;
        self.diff_for(label, &next)
    }

    /// Applies a step to a segment and records it.
    pub fn apply(
        &mut self,
        label: u16,
        step: Step,
        volume: &impl Values,
        progress: &Progress,
    ) -> Result<(), SegmentationError> {
        let diff = self.edit(label, &step, volume, progress)?;
        diff.apply(&mut self.labels)?;
        if let Some(s) = self.segment_mut(label) {
            s.steps.push(step);
        }
        Ok(())
    }

    /// Re-creates every segment from its recorded steps, in table order.
    pub fn rebuild(&mut self, volume: &impl Values, progress: &Progress) -> Result<(), SegmentationError> {
        let grid = &volume.primary().grid;
        self.labels = LabelMap::empty(grid);
        let recipes: Vec<(u16, Vec<Step>)> = self.segments.iter().map(|s| (s.label, s.steps.clone())).collect();
        for (label, steps) in recipes {
            let mut mask = Mask::empty(grid);
            for step in &steps {
                progress.check()?;
                mask = run_step(step, mask, volume, self, progress)?;
            }
            self.set_mask(label, &mask)?;
        }
        Ok(())
    }

    /// The fused scans that some step reads, by name.
    pub fn fused_scans_read(&self) -> std::collections::BTreeSet<&str> {
        self.segments.iter().flat_map(|s| &s.steps).filter_map(Step::scan).collect()
    }

    pub fn volume_mm3(&self, label: u16) -> f64 {
        self.labels.count(label) as f64 * self.labels.grid.voxel_volume_mm3()
    }
}

/// Voxel indices of points given in patient space (points outside the grid are dropped).
pub fn seed_voxels(volume: &Volume, seeds_mm: &[Point3<f64>]) -> Vec<usize> {
    seeds_mm.iter().filter_map(|s| volume.grid.voxel_at(s)).collect()
}

fn run_step(
    step: &Step,
    current: Mask,
    values: &impl Values,
    seg: &Segmentation,
    progress: &Progress,
) -> Result<Mask, SegmentationError> {
    progress.check()?;
    let volume = values.primary();
    let seeds = |s: &[Point3<f64>]| -> Result<Vec<usize>, SegmentationError> {
        let v = seed_voxels(volume, s);
        if v.is_empty() {
            return Err(SegmentationError::Invalid("every seed point lies outside the scan".into()));
        }
        Ok(v)
    };
    Ok(match step {
        Step::Threshold { lo, hi, scan } => mask::threshold(values.of(scan)?, *lo, *hi),
        Step::Grow { seeds_mm, lo, hi, connectivity, scan } => {
            components::flood(&mask::threshold(values.of(scan)?, *lo, *hi), &seeds(seeds_mm)?, *connectivity)
        }
        Step::KeepLargest { connectivity } => components::keep_largest(&current, *connectivity),
        Step::KeepIslands { seeds_mm, connectivity } => components::flood(&current, &seeds(seeds_mm)?, *connectivity),
        Step::RemoveSmallIslands { min_mm3, connectivity } => {
            components::remove_small(&current, *min_mm3, *connectivity)
        }
        Step::Dilate { mm } => morphology::dilate(&current, *mm),
        Step::Erode { mm } => morphology::erode(&current, *mm),
        Step::Open { mm } => morphology::open(&current, *mm),
        Step::Close { mm } => morphology::close(&current, *mm),
        Step::FillHoles => morphology::fill_holes(&current),
        Step::Shell { mm, outside } => morphology::shell(&current, *mm, *outside),
        Step::Combine { op, with } => {
            seg.segment(*with).ok_or(SegmentationError::NoSuchSegment(*with))?;
            current.combine(&seg.mask(*with), *op)
        }
        Step::Brush { centre_mm, radius_mm, erase } => {
            let mut m = current;
            mask::brush(&mut m, &Point3::new(centre_mm[0], centre_mm[1], centre_mm[2]), *radius_mm, *erase);
            m
        }
        Step::Import { file, label } => {
            let (map, _) = import_labels(file, &volume.grid)?;
            let label = u16::try_from(*label).map_err(|_| SegmentationError::Labels {
                path: file.clone(),
                detail: format!("label {label} is out of range"),
            })?;
            if map.count(label) == 0 {
                return Err(SegmentationError::Labels {
                    path: file.clone(),
                    detail: format!("label {label} is absent (present: {})", map.present_summary()),
                });
            }
            map.mask(label)
        }
        Step::Vessels { seeds_mm, settings, scan } => {
            let volume = values.of(scan)?;
            match values.prepared_vessels(scan).filter(|p| p.fits(settings) && p.vesselness.grid == volume.grid) {
                Some(prepared) => tree::grow(volume, prepared, seeds_mm, settings, progress)?,
                None => tree::tree(volume, seeds_mm, settings, progress)?,
            }
        }
        Step::ImportTracts { file, radius_mm } => crate::core::vessels::tracts::envelope(volume, file, *radius_mm)?,
        Step::Trace { points_mm, radius_mm, scan } => {
            let values = values.of(scan)?;
            let line = crate::core::vessels::trace::trace(values, points_mm, progress)?;
            crate::core::vessels::trace::tube_mask(values, &line, *radius_mm)
        }
    })
}
