//! The label map: one label per voxel on the scan's grid, imported from and exported to NIfTI.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::SegmentationError;
use super::mask::Mask;
use crate::core::io::nifti;
use crate::core::volume::Grid;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelMap {
    pub grid: Grid,
    pub labels: Vec<u16>,
}

impl LabelMap {
    pub fn empty(grid: &Grid) -> LabelMap {
        LabelMap { grid: grid.clone(), labels: vec![0; grid.voxel_count()] }
    }

    pub fn mask(&self, label: u16) -> Mask {
        Mask { grid: self.grid.clone(), voxels: self.labels.par_iter().map(|&l| (l == label) as u8).collect() }
    }

    pub fn count(&self, label: u16) -> usize {
        self.labels.par_iter().filter(|&&l| l == label).count()
    }

    /// Voxel count of every non-zero label present.
    pub fn histogram(&self) -> BTreeMap<u16, usize> {
        self.labels
            .par_chunks(1 << 16)
            .map(|c| {
                let mut h = BTreeMap::new();
                for &l in c.iter().filter(|&&l| l != 0) {
                    *h.entry(l).or_insert(0) += 1;
                }
                h
            })
            .reduce(BTreeMap::new, |mut a, b| {
                for (k, v) in b {
                    *a.entry(k).or_insert(0) += v;
                }
                a
            })
    }

    /// "1, 5, 52 and 29 others" style list of the labels present, for messages.
    pub fn present_summary(&self) -> String {
        let labels: Vec<String> = self.histogram().keys().map(u16::to_string).collect();
        match labels.len() {
            0 => "none".into(),
            n if n <= 12 => labels.join(", "),
            n => format!("{} and {} others", labels[..12].join(", "), n - 12),
        }
    }

    pub fn write_nifti(&self, path: &Path, description: &str) -> Result<(), nifti::NiftiError> {
        nifti::write_labels(path, &self.grid, &self.labels, description)
    }
}

/// Where `src`'s voxels fall on `target`'s when its axes and spacing are the same and its origin
/// is a whole number of voxels away: that offset.
fn whole_voxel_offset(src: &Grid, target: &Grid) -> Option<[i64; 3]> {
    let m = target.voxel_from_patient()? * src.patient_from_voxel;
    let linear_same = (0..3).all(|i| (0..3).all(|j| (m[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-3));
    let t = [m[(0, 3)], m[(1, 3)], m[(2, 3)]];
    (linear_same && t.iter().all(|v| (v - v.round()).abs() < 1e-2)).then(|| t.map(|v| v.round() as i64))
}

/// Reads a NIfTI label map, a DICOM Segmentation (each segment's number its label) or an RT
/// Structure Set (each ROI's contours filled on the grid's slices, its number its label) onto
/// `target`'s grid. Identical grids are copied; a grid that differs only in placement (flipped
/// or permuted axes, another resolution or origin) is resampled with nearest neighbour and said
/// so; a map that does not overlap the scan is refused.
pub fn import_labels(path: &Path, target: &Grid) -> Result<(LabelMap, Vec<String>), SegmentationError> {
    if crate::core::dicom::rtstruct::is_rtstruct(path) {
        let (_, labels, warnings) = crate::core::dicom::rtstruct::rasterise(path, target)
            .map_err(|e| SegmentationError::Labels { path: path.to_owned(), detail: e.to_string() })?;
        return Ok((LabelMap { grid: target.clone(), labels }, warnings));
    }
    let src = if crate::core::dicom::seg_read::is_segmentation(path) {
        let seg = crate::core::dicom::seg_read::read_segmentation(path)
            .map_err(|e| SegmentationError::Labels { path: path.to_owned(), detail: e.to_string() })?;
        // Frames on the scan's own planes (a SEG made on this scan): placed voxel for voxel.
        if let Some(offset) = whole_voxel_offset(&seg.grid, target) {
            let mut labels = vec![0u16; target.voxel_count()];
            let [sx, sy, _] = seg.grid.dims;
            let [nx, ny, nz] = target.dims;
            for (s, &l) in seg.labels.iter().enumerate().filter(|(_, l)| **l != 0) {
                let at =
                    [(s % sx) as i64 + offset[0], (s / sx % sy) as i64 + offset[1], (s / (sx * sy)) as i64 + offset[2]];
                if at.iter().zip([nx, ny, nz]).all(|(&a, n)| (0..n as i64).contains(&a)) {
                    labels[at[0] as usize + nx * (at[1] as usize + ny * at[2] as usize)] = l;
                }
            }
            return Ok((LabelMap { grid: target.clone(), labels }, seg.warnings));
        }
        nifti::NiftiVolume {
            grid: seg.grid,
            values: seg.labels.iter().map(|&l| f32::from(l)).collect(),
            integer: true,
            description: String::new(),
            warnings: seg.warnings,
        }
    } else {
        nifti::read(path)?
    };
    let bad = |detail: String| SegmentationError::Labels { path: path.to_owned(), detail };
    if !src.integer {
        return Err(bad("holds non-integer values (scaled or floating point): expected a label map".into()));
    }
    if let Some(v) = src.values.iter().find(|&&v| !(0.0..=u16::MAX as f32).contains(&v)) {
        return Err(bad(format!("holds the value {v}: labels must be 0..=65535")));
    }
    let tol = target.spacing_mm().iter().cloned().fold(f64::INFINITY, f64::min) * 1e-3;
    if src.grid.same_as(target, tol) {
        let labels = src.values.par_iter().map(|&v| v as u16).collect();
        return Ok((LabelMap { grid: target.clone(), labels }, Vec::new()));
    }
    let src_from_patient =
        src.grid.voxel_from_patient().ok_or_else(|| bad("its voxel-to-world transform is degenerate".into()))?;
    let src_from_target = src_from_patient * target.patient_from_voxel;
    let [sx, sy, sz] = src.grid.dims;
    let [nx, ny, _] = target.dims;
    let mut labels = vec![0u16; target.voxel_count()];
    let inside_count: usize = labels
        .par_chunks_mut(nx * ny)
        .enumerate()
        .map(|(k, slice)| {
            let mut inside = 0;
            for j in 0..ny {
                for i in 0..nx {
                    let p = src_from_target.transform_point(&nalgebra::Point3::new(i as f64, j as f64, k as f64));
                    let r = [p.x.round(), p.y.round(), p.z.round()];
                    if r[0] >= 0.0
                        && r[1] >= 0.0
                        && r[2] >= 0.0
                        && r[0] < sx as f64
                        && r[1] < sy as f64
                        && r[2] < sz as f64
                    {
                        inside += 1;
                        let s = r[0] as usize + sx * (r[1] as usize + sy * r[2] as usize);
                        slice[i + nx * j] = src.values[s] as u16;
                    }
                }
            }
            inside
        })
        .sum();
    if inside_count == 0 {
        let (a0, a1) = src.grid.bounds_mm();
        let (b0, b1) = target.bounds_mm();
        return Err(bad(format!(
            "does not overlap the scan: the label map spans LPS ({:.1}, {:.1}, {:.1})..({:.1}, {:.1}, {:.1}) mm, the scan ({:.1}, {:.1}, {:.1})..({:.1}, {:.1}, {:.1}) mm",
            a0.x, a0.y, a0.z, a1.x, a1.y, a1.z, b0.x, b0.y, b0.z, b1.x, b1.y, b1.z
        )));
    }
    let mut warnings = src.warnings.clone();
    warnings.push(format!(
        "{}: its grid ({} x {} x {}) is placed differently from the scan's; it was resampled onto the scan with nearest neighbour",
        path.display(),
        sx,
        sy,
        sz
    ));
    let covered = inside_count as f64 / target.voxel_count() as f64;
    if covered < 0.999 {
        warnings.push(format!("{}: covers {:.1}% of the scan; the rest has no label", path.display(), 100.0 * covered));
    }
    Ok((LabelMap { grid: target.clone(), labels }, warnings))
}
