//! The plan's segments as one DICOM object in its scan's study, a Segmentation or an RT
//! Structure Set: the one way the command line and the workstation write them.

use std::path::Path;

use super::PlanDocument;
use crate::core::dicom::derived::{ExportedSegment, SourceStudy, write_segmentation};
use crate::core::dicom::rtstruct::write_structure_set;
use crate::core::dicom::{DicomError, Series};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentsAs {
    /// A binary DICOM Segmentation, a frame per segment and slice.
    Segmentation,
    /// An RT Structure Set, each segment's outlines on the scan's slices.
    StructureSet,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub kind: SegmentsAs,
    /// Frames (Segmentation) or contours (RT Structure Set).
    pub items: usize,
    /// The segments left out: they have no voxels.
    pub empty: Vec<String>,
}

impl Written {
    /// "DICOM Segmentation, 1200 frames" or "RT Structure Set, 1277 contours".
    pub fn describe(&self) -> String {
        match self.kind {
            SegmentsAs::Segmentation => format!("DICOM Segmentation, {} frames", self.items),
            SegmentsAs::StructureSet => format!("RT Structure Set, {} contours", self.items),
        }
    }
}

/// A DICOM file's name ends in `.dcm`: checked before any work is done.
pub fn check_name(path: &Path) -> Result<(), DicomError> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("dcm")) {
        return Ok(());
    }
    Err(DicomError::Invalid { path: path.to_owned(), detail: "expected a name ending in .dcm".into() })
}

/// Writes the plan's segments as `kind` to `path` (a name ending in `.dcm`), in the study of
/// `series`, the plan's scan as loaded.
pub fn write_segments(
    doc: &PlanDocument,
    series: &Series,
    kind: SegmentsAs,
    path: &Path,
) -> Result<Written, DicomError> {
    check_name(path)?;
    let segmentation = &doc.segmentation;
    let segments: Vec<ExportedSegment> = segmentation
        .segments
        .iter()
        .map(|s| ExportedSegment {
            label: s.label,
            name: s.name.clone(),
            category: s.category,
            colour: doc.display_of(s.label).color,
        })
        .collect();
    let empty = segmentation
        .segments
        .iter()
        .filter(|s| segmentation.volume_mm3(s.label) == 0.0)
        .map(|s| s.name.clone())
        .collect();
    let source = SourceStudy::of(series)?;
    let items = match kind {
        SegmentsAs::Segmentation => write_segmentation(&segmentation.labels, &segments, series, &source, path)?,
        SegmentsAs::StructureSet => write_structure_set(&segmentation.labels, &segments, series, &source, path)?,
    };
    Ok(Written { kind, items, empty })
}
