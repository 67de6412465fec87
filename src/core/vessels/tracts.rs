//! Tracts imported as a nerve segment: the voxels within a radius of the streamlines (their
//! envelope on the plan's grid). Streamlines are taken in the plan scan's patient space.

use std::path::Path;

use crate::core::io::tracts;
use crate::core::segmentation::morphology::dilate;
use crate::core::segmentation::{Mask, SegmentationError};
use crate::core::volume::Volume;

/// At least this share of the streamline points must lie inside the scan: fewer means the file
/// belongs to another scan or frame.
const MIN_INSIDE: f64 = 0.5;

/// The envelope of the file's streamlines, `radius_mm` wide about them.
pub fn envelope(volume: &Volume, file: &Path, radius_mm: f64) -> Result<Mask, SegmentationError> {
    let invalid = |detail: String| SegmentationError::Labels { path: file.to_owned(), detail };
    let tracts = tracts::read(file).map_err(|e| SegmentationError::Invalid(e.to_string()))?;
    let grid = &volume.grid;
    let total = tracts.points().count();
    if total == 0 {
        return Err(invalid("the file holds no streamline points".into()));
    }
    let inside = tracts.points().filter(|p| grid.voxel_at(p).is_some()).count();
    if (inside as f64) < MIN_INSIDE * total as f64 {
        let (lo, hi) = tracts
            .points()
            .fold((tracts.streamlines[0][0], tracts.streamlines[0][0]), |(a, b), p| (a.inf(p), b.sup(p)));
        return Err(invalid(format!(
            "only {inside} of its {total} streamline points lie inside the scan: the tracts belong to another scan or \
             frame (they span ({:.0}, {:.0}, {:.0}) to ({:.0}, {:.0}, {:.0}) mm LPS)",
            lo.x, lo.y, lo.z, hi.x, hi.y, hi.z
        )));
    }
    // Every voxel a streamline passes through, sampled at half the finest spacing.
    let step = 0.5 * grid.spacing_mm().into_iter().fold(f64::INFINITY, f64::min);
    let mut hit = Mask::empty(grid);
    for line in &tracts.streamlines {
        for pair in line.windows(2) {
            let n = ((pair[1] - pair[0]).norm() / step).ceil().max(1.0) as usize;
            for s in 0..=n {
                if let Some(v) = grid.voxel_at(&(pair[0] + (pair[1] - pair[0]) * (s as f64 / n as f64))) {
                    hit.voxels[v] = 1;
                }
            }
        }
        if let [single] = line.as_slice()
            && let Some(v) = grid.voxel_at(single)
        {
            hit.voxels[v] = 1;
        }
    }
    Ok(dilate(&hit, radius_mm))
}
