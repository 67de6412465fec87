//! Reading a DICOM Segmentation (binary, or fractional taken above one half) as a label map on
//! its own grid, each segment's number its label, with what the file says of each segment:
//! twinplan's own, or one from 3D Slicer, highdicom or a PACS, to open as segments of a plan.

use std::path::Path;

use dicom::core::Tag;
use dicom::dictionary_std::tags;
use dicom::object::InMemDicomObject;
use nalgebra::{Matrix4, Vector3};

use super::error::{DicomError, Result};
use crate::core::segmentation::Category;
use crate::core::volume::Grid;

/// A segment as the file describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegInfo {
    pub number: u16,
    pub name: String,
    pub category: Category,
    pub colour: Option<[u8; 3]>,
}

/// A segmentation on the grid its frames span.
pub struct SegFile {
    pub grid: Grid,
    pub labels: Vec<u16>,
    pub segments: Vec<SegInfo>,
    /// For the user: overlaps between segments (a label map keeps one per voxel).
    pub warnings: Vec<String>,
}

const SEGMENTATION: &str = "1.2.840.10008.5.1.4.1.1.66.4";

/// Whether `path` is a DICOM Segmentation (by its header).
pub fn is_segmentation(path: &Path) -> bool {
    super::read_file_header(path)
        .is_ok_and(|p| p.object.meta().media_storage_sop_class_uid().trim_end_matches('\0') == SEGMENTATION)
}

fn text(o: &InMemDicomObject, tag: Tag) -> Option<String> {
    o.element(tag).ok()?.to_str().ok().map(|s| s.trim_end_matches('\0').trim().to_owned())
}

fn numbers(o: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    o.element(tag).ok()?.to_multi_float64().ok()
}

fn items(o: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    o.element(tag).ok().and_then(|e| e.items()).unwrap_or(&[])
}

/// A functional group's attribute: in the frame's own group, else in the shared one.
fn attribute(frame: &InMemDicomObject, shared: &InMemDicomObject, group: Tag, tag: Tag) -> Option<Vec<f64>> {
    [frame, shared].into_iter().find_map(|o| items(o, group).first().and_then(|i| numbers(i, tag)))
}

pub fn read_segmentation(path: &Path) -> Result<SegFile> {
    let bad = |detail: String| DicomError::invalid(path, detail);
    let file = dicom::object::open_file(path).map_err(|e| DicomError::invalid(path, e.to_string()))?;
    if file.meta().media_storage_sop_class_uid().trim_end_matches('\0') != SEGMENTATION {
        return Err(bad("not a DICOM Segmentation".into()));
    }
    let ts = file.meta().transfer_syntax().trim_end_matches('\0').to_owned();
    if !["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"].contains(&ts.as_str()) {
        return Err(DicomError::Unsupported {
            path: path.to_owned(),
            what: format!("a segmentation in transfer syntax {ts} (its frames compressed)"),
        });
    }
    let o: &InMemDicomObject = &file;
    let fractional = text(o, tags::SEGMENTATION_TYPE).as_deref() == Some("FRACTIONAL");
    let rows =
        o.element(tags::ROWS).ok().and_then(|e| e.to_int::<usize>().ok()).ok_or_else(|| bad("no Rows".into()))?;
    let cols =
        o.element(tags::COLUMNS).ok().and_then(|e| e.to_int::<usize>().ok()).ok_or_else(|| bad("no Columns".into()))?;
    let frames = o.element(tags::NUMBER_OF_FRAMES).ok().and_then(|e| e.to_int::<usize>().ok()).unwrap_or(1);
    let bits = o.element(tags::BITS_ALLOCATED).ok().and_then(|e| e.to_int::<usize>().ok()).unwrap_or(1);
    if (!fractional && bits != 1) || (fractional && bits != 8) {
        return Err(bad(format!("{bits} bits allocated: expected 1 (binary) or 8 (fractional)")));
    }
    let max_fraction =
        o.element(tags::MAXIMUM_FRACTIONAL_VALUE).ok().and_then(|e| e.to_int::<u32>().ok()).unwrap_or(255);
    let pixels =
        o.element(tags::PIXEL_DATA).ok().and_then(|e| e.to_bytes().ok()).ok_or_else(|| bad("no pixel data".into()))?;
    let plane = rows * cols;
    let needed = if fractional { frames * plane } else { (frames * plane).div_ceil(8) };
    if pixels.len() < needed {
        return Err(bad(format!("{} bytes of pixel data for {frames} frames of {rows} x {cols}", pixels.len())));
    }

    let segments: Vec<SegInfo> = items(o, tags::SEGMENT_SEQUENCE)
        .iter()
        .filter_map(|s| {
            let number = s.element(tags::SEGMENT_NUMBER).ok()?.to_int::<u16>().ok()?;
            let kind =
                items(s, tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE).first().and_then(|c| text(c, tags::CODE_VALUE));
            let lab =
                s.element(tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE).ok().and_then(|e| e.to_multi_int::<u16>().ok());
            Some(SegInfo {
                number,
                name: text(s, tags::SEGMENT_LABEL)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("Segment {number}")),
                category: kind.map_or(Category::Other, |k| super::derived::category_of(&k)),
                colour: lab.filter(|l| l.len() == 3).map(|l| super::derived::srgb_of_dicom_lab([l[0], l[1], l[2]])),
            })
        })
        .collect();
    if segments.is_empty() {
        return Err(bad("no segment is described".into()));
    }

    // Each frame's plane: position, orientation and spacing, from its own functional groups or
    // the shared ones.
    let shared =
        items(o, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).first().cloned().unwrap_or_else(InMemDicomObject::new_empty);
    let per_frame = items(o, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if per_frame.len() != frames {
        return Err(bad(format!("{} per-frame functional groups for {frames} frames", per_frame.len())));
    }
    let mut placed = Vec::with_capacity(frames);
    let (mut row_dir, mut col_dir, mut spacing) = (None, None, None);
    for (f, group) in per_frame.iter().enumerate() {
        let position = attribute(group, &shared, tags::PLANE_POSITION_SEQUENCE, tags::IMAGE_POSITION_PATIENT)
            .filter(|p| p.len() == 3)
            .ok_or_else(|| bad(format!("frame {} has no position", f + 1)))?;
        let orientation = attribute(group, &shared, tags::PLANE_ORIENTATION_SEQUENCE, tags::IMAGE_ORIENTATION_PATIENT)
            .filter(|p| p.len() == 6)
            .ok_or_else(|| bad(format!("frame {} has no orientation", f + 1)))?;
        let pixel = attribute(group, &shared, tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING)
            .filter(|p| p.len() == 2)
            .ok_or_else(|| bad(format!("frame {} has no pixel spacing", f + 1)))?;
        let number = items(group, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .first()
            .and_then(|i| i.element(tags::REFERENCED_SEGMENT_NUMBER).ok()?.to_int::<u16>().ok())
            .ok_or_else(|| bad(format!("frame {} names no segment", f + 1)))?;
        let (r, c) = (
            Vector3::new(orientation[0], orientation[1], orientation[2]),
            Vector3::new(orientation[3], orientation[4], orientation[5]),
        );
        let same = |a: &Option<Vector3<f64>>, b: &Vector3<f64>| a.is_none_or(|a: Vector3<f64>| (a - b).norm() < 1e-4);
        if !same(&row_dir, &r)
            || !same(&col_dir, &c)
            || spacing.is_some_and(|s: [f64; 2]| (s[0] - pixel[0]).abs() + (s[1] - pixel[1]).abs() > 1e-4)
        {
            return Err(DicomError::Unsupported {
                path: path.to_owned(),
                what: "a segmentation whose frames differ in orientation or pixel spacing".into(),
            });
        }
        (row_dir, col_dir, spacing) = (Some(r), Some(c), Some([pixel[0], pixel[1]]));
        placed.push((Vector3::new(position[0], position[1], position[2]), number));
    }
    let (r, c, [row_mm, col_mm]) =
        (row_dir.unwrap_or_default(), col_dir.unwrap_or_default(), spacing.unwrap_or([1.0, 1.0]));
    let n = r.cross(&c);
    if n.norm() < 0.5 {
        return Err(bad("its orientation is degenerate".into()));
    }
    let along: Vec<f64> = placed.iter().map(|(p, _)| n.dot(p)).collect();
    let lowest = along.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut distinct: Vec<f64> = along.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup_by(|a, b| (*a - *b).abs() < 1e-3);
    let measured = distinct.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
    let said = shared_or_first(&shared, per_frame, tags::SPACING_BETWEEN_SLICES)
        .or_else(|| shared_or_first(&shared, per_frame, tags::SLICE_THICKNESS));
    let step = if measured.is_finite() { measured } else { said.filter(|s| *s > 0.0).unwrap_or(1.0) };
    let first = placed[along.iter().position(|&a| a == lowest).unwrap_or(0)].0;
    let mut ks = Vec::with_capacity(frames);
    for ((p, _), a) in placed.iter().zip(&along) {
        let k = (a - lowest) / step;
        // In the plane, every frame starts where the first does; across, on a whole step.
        if (k - k.round()).abs() > 0.01 || (r.dot(&(p - first))).abs() > 1e-2 || (c.dot(&(p - first))).abs() > 1e-2 {
            return Err(DicomError::Unsupported {
                path: path.to_owned(),
                what: "a segmentation whose frames do not lie on one regular grid".into(),
            });
        }
        ks.push(k.round() as usize);
    }
    let depth = ks.iter().max().map_or(1, |k| k + 1);
    let mut patient_from_voxel = Matrix4::identity();
    for a in 0..3 {
        patient_from_voxel[(a, 0)] = r[a] * col_mm;
        patient_from_voxel[(a, 1)] = c[a] * row_mm;
        patient_from_voxel[(a, 2)] = n[a] * step;
        patient_from_voxel[(a, 3)] = first[a];
    }
    let grid = Grid::new([cols, rows, depth], patient_from_voxel);
    let mut labels = vec![0u16; cols * rows * depth];
    let mut overlaps = 0usize;
    for (f, ((_, number), k)) in placed.iter().zip(&ks).enumerate() {
        for p in 0..plane {
            let on = if fractional {
                u32::from(pixels[f * plane + p]) * 2 > max_fraction
            } else {
                let bit = f * plane + p;
                pixels[bit / 8] >> (bit % 8) & 1 == 1
            };
            if on {
                let v = &mut labels[k * plane + p];
                overlaps += usize::from(*v != 0 && *v != *number);
                *v = *number;
            }
        }
    }
    let warnings = if overlaps > 0 {
        vec![format!(
            "{}: segments overlap in {overlaps} voxels; each keeps the last segment listed there",
            path.display()
        )]
    } else {
        Vec::new()
    };
    Ok(SegFile { grid, labels, segments, warnings })
}

fn shared_or_first(shared: &InMemDicomObject, per_frame: &[InMemDicomObject], tag: Tag) -> Option<f64> {
    let first = per_frame.first().cloned().unwrap_or_else(InMemDicomObject::new_empty);
    attribute(&first, shared, tags::PIXEL_MEASURES_SEQUENCE, tag).and_then(|v| v.first().copied())
}
