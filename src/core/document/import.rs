//! A label map from another tool brought into a plan: one segment for each label found on the
//! scan, each in a colour of its own, with the import as its recipe, all as one undoable command.

use std::path::Path;

use super::{Command, PlanDocument, StepChange};
use crate::core::progress::Progress;
use crate::core::segmentation::{Category, SegmentationError, Step, import_labels};
use crate::core::volume::Volume;

/// Distinct colours for imported labels, in turn.
const PALETTE: [[u8; 3]; 8] = [
    [230, 120, 60],
    [80, 170, 230],
    [150, 210, 90],
    [200, 100, 200],
    [240, 200, 70],
    [90, 200, 180],
    [220, 80, 110],
    [170, 140, 240],
];

/// The command that adds every label of the NIfTI file at `path` (resampled onto the plan's
/// scan) as a segment named for the file and the label; or every segment of the DICOM
/// Segmentation or ROI of the RT Structure Set at `path`, with the name, category and colour the
/// file gives it.
pub fn import_label_map(
    doc: &PlanDocument,
    volume: &Volume,
    path: &Path,
    progress: &Progress,
) -> Result<Command, SegmentationError> {
    let (labels, _) = import_labels(path, &volume.grid)?;
    let present: Vec<u16> = labels.histogram().into_keys().filter(|&l| l != 0).collect();
    if present.is_empty() {
        return Err(SegmentationError::Labels {
            path: path.to_owned(),
            detail: "the label map has no labelled voxel on this scan".into(),
        });
    }
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    // What a DICOM SEG or RT Structure Set says of its segments: (number, name, category, colour).
    use crate::core::dicom::{rtstruct, seg_read};
    let described: Vec<(u16, String, Category, Option<[u8; 3]>)> = if seg_read::is_segmentation(path) {
        seg_read::read_segmentation(path)
            .map(|s| s.segments.into_iter().map(|i| (i.number, i.name, i.category, i.colour)).collect())
            .unwrap_or_default()
    } else if rtstruct::is_rtstruct(path) {
        rtstruct::rasterise(path, &volume.grid)
            .map(|r| r.0.into_iter().map(|i| (i.number, i.name, i.category, i.colour)).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut next = doc.clone();
    let mut commands = Vec::new();
    for (n, file_label) in present.into_iter().enumerate() {
        progress.check()?;
        let info = described.iter().find(|s| s.0 == file_label);
        let (name, category) =
            info.map_or((format!("{file} label {file_label}"), Category::Other), |i| (i.1.clone(), i.2));
        let Command::AddSegment { segment, mut display } = Command::add_segment(&next, &name, category) else {
            continue;
        };
        display.color = match info {
            Some(i) => i.3.unwrap_or(display.color),
            None => PALETTE[n % PALETTE.len()],
        };
        let label = segment.label;
        next.segmentation.segments.push(segment.clone());
        let step = Step::Import { file: path.to_owned(), label: u32::from(file_label) };
        let diff = next.segmentation.edit(label, &step, volume, progress)?;
        diff.apply(&mut next.segmentation.labels)?;
        commands.push(Command::AddSegment { segment, display });
        commands.push(Command::EditLabels { label, step: StepChange::Push(step), diff });
    }
    Ok(Command::Batch(commands))
}
