//! RT Structure Sets, the contours a radiotherapy planning system or 3D Slicer draws. Writing:
//! each segment's outlines on each of the scan's slices, traced along the pixels' edges so that
//! any reader filling them by their centres gets the segment's voxels back. Reading, onto a
//! scan's grid: each ROI's closed planar contours filled slice by slice, a voxel inside
//! when its centre is (even-odd rule, so a contour inside another is a hole and several
//! contours on one slice are several islands) or lies on a contour (contours traced through
//! the centres of a mask's border pixels, as most tools write them, keep those pixels: the
//! structure errs on the larger side).

use std::path::Path;

use dicom::core::{PrimitiveValue, VR};
use dicom::dictionary_std::{tags, uids};
use dicom::object::InMemDicomObject;
use nalgebra::Point3;

use super::derived::{ExportedSegment, SourceStudy, category_of, code_item, codes, on_the_scans_images, write_whole};
use super::error::{DicomError, Result};
use super::series::Series;
use super::write::{ds, item, put, put_seq};
use crate::core::segmentation::outlines::outlines;
use crate::core::segmentation::{Category, LabelMap};
use crate::core::volume::Grid;

const RT_STRUCTURE_SET: &str = "1.2.840.10008.5.1.4.1.1.481.3";

/// A region of interest as the file describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    pub number: u16,
    pub name: String,
    pub category: Category,
    pub colour: Option<[u8; 3]>,
}

/// Whether `path` is an RT Structure Set (by its header).
pub fn is_rtstruct(path: &Path) -> bool {
    super::read_file_header(path)
        .is_ok_and(|p| p.object.meta().media_storage_sop_class_uid().trim_end_matches('\0') == RT_STRUCTURE_SET)
}

fn items(o: &InMemDicomObject, tag: dicom::core::Tag) -> &[InMemDicomObject] {
    o.element(tag).ok().and_then(|e| e.items()).unwrap_or(&[])
}

fn int(o: &InMemDicomObject, tag: dicom::core::Tag) -> Option<u16> {
    o.element(tag).ok()?.to_int::<u16>().ok()
}

/// The ROIs of the file and a label map on `grid` (each ROI's number its label; where ROIs
/// overlap the one listed last is kept), with warnings for contours off the grid's planes.
pub fn rasterise(path: &Path, grid: &Grid) -> Result<(Vec<Roi>, Vec<u16>, Vec<String>)> {
    let bad = |detail: String| DicomError::invalid(path, detail);
    let file = dicom::object::open_file(path).map_err(|e| bad(e.to_string()))?;
    let o: &InMemDicomObject = &file;
    // Each ROI's category: from its SNOMED CT code where the file gives one (twinplan does),
    // else targets are the treated volumes and everything else is drawn as it is.
    let kinds: Vec<(u16, Category)> = items(o, tags::RTROI_OBSERVATIONS_SEQUENCE)
        .iter()
        .filter_map(|i| {
            let text = |o: &InMemDicomObject, tag| {
                o.element(tag).ok().and_then(|e| e.to_str().ok()).map(|s| s.trim().to_owned()).unwrap_or_default()
            };
            let code = items(i, tags::RTROI_IDENTIFICATION_CODE_SEQUENCE).first().map(|c| text(c, tags::CODE_VALUE));
            let category = match code {
                Some(code) => category_of(&code),
                None if ["GTV", "CTV", "PTV"].contains(&text(i, tags::RTROI_INTERPRETED_TYPE).as_str()) => {
                    Category::Target
                }
                None => Category::Other,
            };
            Some((int(i, tags::REFERENCED_ROI_NUMBER)?, category))
        })
        .collect();
    let mut rois: Vec<Roi> = items(o, tags::STRUCTURE_SET_ROI_SEQUENCE)
        .iter()
        .filter_map(|i| {
            let number = int(i, tags::ROI_NUMBER)?;
            let name = i.element(tags::ROI_NAME).ok().and_then(|e| e.to_str().ok()).map(|s| s.trim().to_owned());
            Some(Roi {
                number,
                name: name.filter(|n| !n.is_empty()).unwrap_or_else(|| format!("ROI {number}")),
                category: kinds.iter().find(|k| k.0 == number).map_or(Category::Other, |k| k.1),
                colour: None,
            })
        })
        .collect();
    if rois.is_empty() {
        return Err(bad("no ROI in its structure set".into()));
    }
    let voxel_from_patient = grid.voxel_from_patient().ok_or_else(|| bad("the scan's grid is degenerate".into()))?;
    let [nx, ny, nz] = grid.dims;
    let mut labels = vec![0u16; nx * ny * nz];
    let mut off_planes = 0usize;
    for roi_contours in items(o, tags::ROI_CONTOUR_SEQUENCE) {
        let Some(number) = int(roi_contours, tags::REFERENCED_ROI_NUMBER) else { continue };
        let colour = roi_contours.element(tags::ROI_DISPLAY_COLOR).ok().and_then(|e| e.to_multi_int::<u8>().ok());
        if let Some(roi) = rois.iter_mut().find(|r| r.number == number) {
            roi.colour = colour.filter(|c| c.len() == 3).map(|c| [c[0], c[1], c[2]]);
        }
        // The ROI's contours by slice, in voxel coordinates (i, j).
        let mut slices: std::collections::BTreeMap<usize, Vec<Vec<(f64, f64)>>> = Default::default();
        for contour in items(roi_contours, tags::CONTOUR_SEQUENCE) {
            let kind = contour.element(tags::CONTOUR_GEOMETRIC_TYPE).ok().and_then(|e| e.to_str().ok());
            if kind.is_some_and(|k| k.trim() != "CLOSED_PLANAR") {
                continue;
            }
            let Some(xyz) = contour.element(tags::CONTOUR_DATA).ok().and_then(|e| e.to_multi_float64().ok()) else {
                continue;
            };
            let points: Vec<Point3<f64>> = xyz
                .chunks_exact(3)
                .map(|p| voxel_from_patient.transform_point(&Point3::new(p[0], p[1], p[2])))
                .collect();
            let Some(first) = points.first() else { continue };
            let k = first.z.round();
            if points.iter().any(|p| (p.z - k).abs() > 0.1) || k < 0.0 || k >= nz as f64 {
                off_planes += 1;
                continue;
            }
            slices.entry(k as usize).or_default().push(points.iter().map(|p| (p.x, p.y)).collect());
        }
        for (k, contours) in slices {
            fill(&contours, nx, ny, |i, j| labels[k * nx * ny + j * nx + i] = number);
        }
    }
    let warnings = if off_planes > 0 {
        vec![format!("{}: {off_planes} contours do not lie on the scan's slices and were left out", path.display())]
    } else {
        Vec::new()
    };
    Ok((rois, labels, warnings))
}

/// Calls `set` for every pixel (i, j) of an nx x ny slice whose centre lies inside the
/// contours by the even-odd rule (along each row, crossings of all contours' edges are sorted
/// and the spans between odd and even crossings filled), or on one of their edges.
fn fill(contours: &[Vec<(f64, f64)>], nx: usize, ny: usize, mut set: impl FnMut(usize, usize)) {
    let mut set_at = |x: f64, y: f64| {
        let (i, j) = (x.round(), y.round());
        if (x - i).abs() < 1e-3 && (y - j).abs() < 1e-3 && i >= 0.0 && j >= 0.0 && i < nx as f64 && j < ny as f64 {
            set(i as usize, j as usize);
        }
    };
    // Pixel centres on the edges: walked in steps of the longer side, where they can be whole.
    for contour in contours {
        let n = contour.len();
        for e in 0..n {
            let (a, b) = (contour[e], contour[(e + 1) % n]);
            let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).round().max(1.0) as usize;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                set_at(a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
            }
        }
    }
    let mut crossings = Vec::new();
    for j in 0..ny {
        let y = j as f64;
        crossings.clear();
        for contour in contours {
            let n = contour.len();
            for e in 0..n {
                let (a, b) = (contour[e], contour[(e + 1) % n]);
                // Half-open in y, so a vertex on the row counts once.
                if (a.1 <= y) != (b.1 <= y) {
                    crossings.push(a.0 + (y - a.1) / (b.1 - a.1) * (b.0 - a.0));
                }
            }
        }
        crossings.sort_by(f64::total_cmp);
        for span in crossings.chunks_exact(2) {
            let from = span[0].ceil().max(0.0) as usize;
            let to = span[1].floor().min(nx as f64 - 1.0);
            if to < 0.0 {
                continue;
            }
            for i in from..=(to as usize) {
                if (i as f64) >= span[0] && (i as f64) <= span[1] {
                    set_at(i as f64, y);
                }
            }
        }
    }
}

/// Writes the segments as an RT Structure Set in the scan's study: each segment with voxels an
/// ROI with its name, colour, interpreted type and SNOMED CT code, and on each of the scan's
/// slices that holds it, its outlines along the pixels' edges as closed planar contours (a hole
/// is a contour inside another), each referring to the image it lies on. Written in implicit VR
/// (a long contour's coordinates do not fit explicit VR's 64 kB value length). Returns the
/// number of contours.
pub fn write_structure_set(
    labels: &LabelMap,
    segments: &[ExportedSegment],
    series: &Series,
    source: &SourceStudy,
    path: &Path,
) -> Result<usize> {
    on_the_scans_images(labels, series, path)?;
    let g = &series.grid;
    let [nx, ny, nz] = g.dims;
    let plane = nx * ny;
    let mut rois: Vec<(&ExportedSegment, Vec<InMemDicomObject>)> = Vec::new();
    for seg in segments {
        let mut contours = Vec::new();
        for k in 0..nz {
            let slice = &labels.labels[k * plane..(k + 1) * plane];
            if !slice.contains(&seg.label) {
                continue;
            }
            for outline in outlines(nx, ny, |i, j| slice[j * nx + i] == seg.label) {
                let xyz: Vec<f64> = outline
                    .iter()
                    .flat_map(|&(a, b)| {
                        let p = g.patient_point(Point3::new(a as f64 - 0.5, b as f64 - 0.5, k as f64));
                        [p.x, p.y, p.z]
                    })
                    .collect();
                contours.push(item(|c| {
                    put_seq(c, tags::CONTOUR_IMAGE_SEQUENCE, vec![source.image(series, k)]);
                    put(c, tags::CONTOUR_GEOMETRIC_TYPE, VR::CS, "CLOSED_PLANAR");
                    put(c, tags::NUMBER_OF_CONTOUR_POINTS, VR::IS, outline.len().to_string().as_str());
                    put(c, tags::CONTOUR_DATA, VR::DS, ds(&xyz).as_str());
                }));
            }
        }
        if !contours.is_empty() {
            rois.push((seg, contours));
        }
    }
    if rois.is_empty() {
        return Err(DicomError::Unsupported {
            path: path.to_owned(),
            what: "a structure set of a plan whose segments are all empty".into(),
        });
    }
    let count = rois.iter().map(|r| r.1.len()).sum();

    let (mut obj, sop_uid) = source.start(uids::RT_STRUCTURE_SET_STORAGE, "RTSTRUCT", "twinplan structures");
    put(&mut obj, tags::OPERATORS_NAME, VR::PN, PrimitiveValue::Empty);
    put(&mut obj, tags::STRUCTURE_SET_LABEL, VR::SH, "twinplan");
    put(&mut obj, tags::STRUCTURE_SET_NAME, VR::LO, "Segments of a twinplan surgical plan");
    // Made now: the content date and time, which this IOD names the structure set's.
    for (from, to, vr) in
        [(tags::CONTENT_DATE, tags::STRUCTURE_SET_DATE, VR::DA), (tags::CONTENT_TIME, tags::STRUCTURE_SET_TIME, VR::TM)]
    {
        if let Ok(e) = obj.take_element(from) {
            obj.put(dicom::core::DataElement::new(to, vr, e.into_value()));
        }
    }
    put(&mut obj, tags::FRAME_OF_REFERENCE_UID, VR::UI, source.frame_of_reference_uid.as_str());
    put(&mut obj, tags::POSITION_REFERENCE_INDICATOR, VR::LO, PrimitiveValue::Empty);
    let frame_of_reference = source.frame_of_reference_uid.as_str();
    // Every image of the scan, under its series, study and frame of reference.
    let series_item = item(|o| {
        put(o, tags::SERIES_INSTANCE_UID, VR::UI, series.series_uid.as_str());
        put_seq(o, tags::CONTOUR_IMAGE_SEQUENCE, source.images(series));
    });
    let study_item = item(|o| {
        // The Study Component Management SOP class, as structure sets conventionally name it.
        put(o, tags::REFERENCED_SOP_CLASS_UID, VR::UI, "1.2.840.10008.3.1.2.3.1");
        put(o, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, source.study_uid.as_str());
        put_seq(o, tags::RT_REFERENCED_SERIES_SEQUENCE, vec![series_item]);
    });
    put_seq(
        &mut obj,
        tags::REFERENCED_FRAME_OF_REFERENCE_SEQUENCE,
        vec![item(|o| {
            put(o, tags::FRAME_OF_REFERENCE_UID, VR::UI, frame_of_reference);
            put_seq(o, tags::RT_REFERENCED_STUDY_SEQUENCE, vec![study_item]);
        })],
    );
    let number = |n: usize| (n as u16 + 1).to_string();
    put_seq(
        &mut obj,
        tags::STRUCTURE_SET_ROI_SEQUENCE,
        rois.iter()
            .enumerate()
            .map(|(n, (seg, _))| {
                item(|o| {
                    put(o, tags::ROI_NUMBER, VR::IS, number(n).as_str());
                    put(o, tags::REFERENCED_FRAME_OF_REFERENCE_UID, VR::UI, frame_of_reference);
                    put(o, tags::ROI_NAME, VR::LO, seg.name.as_str());
                    put(o, tags::ROI_GENERATION_ALGORITHM, VR::CS, "SEMIAUTOMATIC");
                })
            })
            .collect(),
    );
    let written: Vec<&ExportedSegment> = rois.iter().map(|r| r.0).collect();
    let mut contour_items = Vec::new();
    for (n, (seg, contours)) in rois.into_iter().enumerate() {
        let [r, g, b] = seg.colour;
        contour_items.push(item(|o| {
            put(o, tags::ROI_DISPLAY_COLOR, VR::IS, format!("{r}\\{g}\\{b}").as_str());
            put_seq(o, tags::CONTOUR_SEQUENCE, contours);
            put(o, tags::REFERENCED_ROI_NUMBER, VR::IS, number(n).as_str());
        }));
    }
    let observations = written
        .iter()
        .enumerate()
        .map(|(n, seg)| {
            item(|o| {
                put(o, tags::OBSERVATION_NUMBER, VR::IS, number(n).as_str());
                put(o, tags::REFERENCED_ROI_NUMBER, VR::IS, number(n).as_str());
                // A target is the volume to be treated; the rest is anatomy.
                let kind = match seg.category {
                    Category::Target => "GTV",
                    Category::Other => "",
                    _ => "ORGAN",
                };
                put(o, tags::RTROI_INTERPRETED_TYPE, VR::CS, kind);
                put(o, tags::ROI_INTERPRETER, VR::PN, PrimitiveValue::Empty);
                put_seq(o, tags::RTROI_IDENTIFICATION_CODE_SEQUENCE, vec![code_item(codes(seg.category).1)]);
            })
        })
        .collect();
    put_seq(&mut obj, tags::ROI_CONTOUR_SEQUENCE, contour_items);
    put_seq(&mut obj, tags::RTROI_OBSERVATIONS_SEQUENCE, observations);
    write_whole(uids::IMPLICIT_VR_LITTLE_ENDIAN, obj, uids::RT_STRUCTURE_SET_STORAGE, &sop_uid, path)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10 x 10 square with a 4 x 4 hole, and an island beside it: 100 - 16 + 4 pixels (the
    /// contours between pixel centres); a square through pixel centres keeps its border.
    #[test]
    fn holes_and_islands_by_the_even_odd_rule() {
        let square = |x0: f64, y0: f64, s: f64| vec![(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s)];
        let contours = vec![square(-0.5, -0.5, 10.0), square(2.5, 2.5, 4.0), square(14.5, 0.5, 2.0)];
        let mut on = vec![false; 20 * 12];
        fill(&contours, 20, 12, |i, j| on[j * 20 + i] = true);
        assert_eq!(on.iter().filter(|&&b| b).count(), 100 - 16 + 4);
        assert!(on[0] && !on[4 * 20 + 4] && on[20 + 15] && !on[11 * 20]);
        let mut on = vec![false; 10 * 10];
        fill(&[square(2.0, 2.0, 4.0)], 10, 10, |i, j| on[j * 10 + i] = true);
        assert_eq!(on.iter().filter(|&&b| b).count(), 25, "5 x 5 pixels, the border included");
    }
}
