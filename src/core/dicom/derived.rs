//! DICOM objects twinplan makes from a plan for the patient's record: filed in the scan's study
//! (the patient and study attributes copied from the scan's own files, byte for byte), each in
//! a new series, so that a PACS files them beside the images they were made from.

use std::path::Path;

use dicom::core::{DataElement, PrimitiveValue, Tag, VR};
use dicom::dictionary_std::{tags, uids};
use dicom::object::InMemDicomObject;

use super::error::{DicomError, Result};
use super::series::Series;
use super::write::{ds, item, put, put_seq, uid_from_name, write_in};
use crate::core::segmentation::{Category, LabelMap};

/// What a derived object takes from the scan it was made from.
pub struct SourceStudy {
    /// The patient and study attributes (and the character set they are written in) as the
    /// scan's first file has them.
    copied: Vec<DataElement<InMemDicomObject>>,
    /// The scan's study, which a structure set refers to.
    pub(super) study_uid: String,
    /// The scan's series, for a unique seed of new UIDs.
    series_uid: String,
    /// The scan's frame of reference and SOP class, which a segmentation refers to.
    pub(super) frame_of_reference_uid: String,
    pub(super) sop_class_uid: String,
}

/// The patient and general study modules, copied as they are; the type 2 ones the scan lacks
/// are written empty.
const STUDY_TAGS: [(dicom::core::Tag, VR); 10] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_INSTANCE_UID, VR::UI),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

impl SourceStudy {
    /// Reads the study of a loaded DICOM series from its first file. A scan read from a volume
    /// file (NIfTI, NRRD) has no study to file into and is refused.
    pub fn of(series: &Series) -> Result<SourceStudy> {
        let first = &series.first().path;
        if series.volume_file {
            return Err(DicomError::Unsupported {
                path: first.clone(),
                what: "filing a DICOM object in the study of a scan that is not DICOM (a volume file has no \
                       patient or study)"
                    .into(),
            });
        }
        let object = super::read_file_header(first)?.object;
        let mut copied = Vec::new();
        if let Ok(charset) = object.element(tags::SPECIFIC_CHARACTER_SET) {
            copied.push(charset.clone());
        }
        for (tag, vr) in STUDY_TAGS {
            copied.push(match object.element(tag) {
                Ok(e) => e.clone(),
                Err(_) => DataElement::new(tag, vr, PrimitiveValue::Empty),
            });
        }
        let text = |tag| {
            object.element(tag).ok().and_then(|e| e.to_str().ok()).map(|s| s.trim_end_matches('\0').trim().to_owned())
        };
        let Some(study_uid) = text(tags::STUDY_INSTANCE_UID).filter(|s| !s.is_empty()) else {
            return Err(DicomError::invalid(first, "the scan has no Study Instance UID to file the object under"));
        };
        Ok(SourceStudy {
            copied,
            study_uid,
            series_uid: series.series_uid.clone(),
            frame_of_reference_uid: text(tags::FRAME_OF_REFERENCE_UID).unwrap_or_default(),
            sop_class_uid: text(tags::SOP_CLASS_UID).unwrap_or_default(),
        })
    }

    /// A new UID for something made now from this scan (`what`: "series", "instance").
    pub(super) fn new_uid(&self, what: &str) -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        uid_from_name(&format!("{}/{what}/{nanos}/{}", self.series_uid, std::process::id()))
    }

    /// A reference to the scan's image that slice `k` of `series` is (with its frame number in
    /// a multi-frame file).
    pub(super) fn image(&self, series: &Series, k: usize) -> InMemDicomObject {
        let s = &series.slices[k];
        item(|o| {
            put(o, tags::REFERENCED_SOP_CLASS_UID, VR::UI, self.sop_class_uid.as_str());
            put(o, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, s.sop_instance_uid.as_str());
            if s.frames_in_file > 1 {
                put(o, tags::REFERENCED_FRAME_NUMBER, VR::IS, (s.frame + 1).to_string().as_str());
            }
        })
    }

    /// References to every image of `series`, each file once.
    pub(super) fn images(&self, series: &Series) -> Vec<InMemDicomObject> {
        let mut first: Vec<usize> = (0..series.slices.len()).collect();
        first.dedup_by_key(|k| &series.slices[*k].sop_instance_uid);
        first
            .into_iter()
            .map(|k| {
                item(|o| {
                    put(o, tags::REFERENCED_SOP_CLASS_UID, VR::UI, self.sop_class_uid.as_str());
                    put(o, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, series.slices[k].sop_instance_uid.as_str());
                })
            })
            .collect()
    }

    /// The copied attributes, the SOP common module and a new series of `modality` made now.
    pub(super) fn start(
        &self,
        sop_class: &str,
        modality: &str,
        series_description: &str,
    ) -> (InMemDicomObject, String) {
        let mut obj = InMemDicomObject::new_empty();
        for e in &self.copied {
            obj.put(e.clone());
        }
        let sop_uid = self.new_uid("instance");
        let [y, m, d, hh, mm, ss] = crate::core::report::utc_civil_now();
        let (date, time) = (format!("{y:04}{m:02}{d:02}"), format!("{hh:02}{mm:02}{ss:02}"));
        put(&mut obj, tags::SOP_CLASS_UID, VR::UI, sop_class);
        put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, sop_uid.as_str());
        put(&mut obj, tags::INSTANCE_CREATION_DATE, VR::DA, date.as_str());
        put(&mut obj, tags::INSTANCE_CREATION_TIME, VR::TM, time.as_str());
        put(&mut obj, tags::CONTENT_DATE, VR::DA, date.as_str());
        put(&mut obj, tags::CONTENT_TIME, VR::TM, time.as_str());
        put(&mut obj, tags::MODALITY, VR::CS, modality);
        put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, self.new_uid("series").as_str());
        put(&mut obj, tags::SERIES_NUMBER, VR::IS, "901");
        put(&mut obj, tags::SERIES_DESCRIPTION, VR::LO, series_description);
        put(&mut obj, tags::INSTANCE_NUMBER, VR::IS, "1");
        put(&mut obj, tags::MANUFACTURER, VR::LO, "twinplan");
        put(&mut obj, tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION"));
        (obj, sop_uid)
    }
}

/// Writes `pdf` (the plan's report) as an Encapsulated PDF in the scan's study, titled `title`,
/// under another name first so that nothing is left half-written.
pub fn write_encapsulated_pdf(pdf: &[u8], source: &SourceStudy, title: &str, path: &Path) -> Result<()> {
    let (mut obj, sop_uid) = source.start(uids::ENCAPSULATED_PDF_STORAGE, "DOC", "twinplan plan report");
    // Made on a workstation; the report names the patient on its pages.
    put(&mut obj, tags::CONVERSION_TYPE, VR::CS, "WSD");
    put(&mut obj, tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
    put(&mut obj, tags::ACQUISITION_DATE_TIME, VR::DT, PrimitiveValue::Empty);
    put(&mut obj, tags::DOCUMENT_TITLE, VR::ST, title);
    put_seq(&mut obj, tags::CONCEPT_NAME_CODE_SEQUENCE, Vec::new());
    put(&mut obj, tags::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT, VR::LO, "application/pdf");
    // An odd length is padded with a zero byte; the length says where the PDF ends.
    put(&mut obj, tags::ENCAPSULATED_DOCUMENT_LENGTH, VR::UL, pdf.len() as u32);
    let mut bytes = pdf.to_vec();
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    put(&mut obj, tags::ENCAPSULATED_DOCUMENT, VR::OB, PrimitiveValue::U8(bytes.into()));
    write_whole(uids::EXPLICIT_VR_LITTLE_ENDIAN, obj, uids::ENCAPSULATED_PDF_STORAGE, &sop_uid, path)
}

/// Writes the object in a native transfer syntax beside `path` and renames it there once
/// complete.
pub(super) fn write_whole(
    transfer_syntax: &str,
    obj: InMemDicomObject,
    sop_class: &str,
    sop_uid: &str,
    path: &Path,
) -> Result<()> {
    crate::core::io::written_whole(
        path,
        |partial| write_in(transfer_syntax, obj, sop_class, sop_uid, partial),
        |e| DicomError::Io { path: path.to_owned(), error: e },
    )
}

/// A segment as a DICOM Segmentation or RT Structure Set lists it.
pub struct ExportedSegment {
    pub label: u16,
    pub name: String,
    pub category: Category,
    /// sRGB, shown by viewers as the recommended CIELab colour.
    pub colour: [u8; 3],
}

/// A coded concept: (code value, scheme, meaning).
type Code = (&'static str, &'static str, &'static str);

/// The SNOMED CT codes of a category: segmented property category (DICOM CID 7150) and type
/// (CID 7151), as pydicom's code dictionary names them.
pub(super) fn codes(category: Category) -> (Code, Code) {
    const ANATOMY: Code = ("91723000", "SCT", "Anatomical Structure");
    const TISSUE: Code = ("85756007", "SCT", "Tissue");
    match category {
        Category::Skin => (ANATOMY, ("39937001", "SCT", "Skin")),
        Category::Bone => (TISSUE, ("272673000", "SCT", "Bone")),
        Category::Brain => (ANATOMY, ("12738006", "SCT", "Brain")),
        Category::Ventricle => (ANATOMY, ("35764002", "SCT", "Brain ventricle")),
        Category::Vessel => (ANATOMY, ("59820001", "SCT", "Blood vessel")),
        Category::Nerve => (ANATOMY, ("91728009", "SCT", "Nerve")),
        Category::Target => {
            (("49755003", "SCT", "Morphologically Altered Structure"), ("108369006", "SCT", "Neoplasm"))
        }
        Category::Other => (TISSUE, TISSUE),
    }
}

/// The category whose segmented property type has this SNOMED CT code (`Other` for codes
/// twinplan does not use; reading a SEG made elsewhere).
pub(crate) fn category_of(type_code: &str) -> Category {
    Category::ALL.into_iter().find(|c| *c != Category::Other && codes(*c).1.0 == type_code).unwrap_or(Category::Other)
}

pub(super) fn code_item((value, scheme, meaning): Code) -> InMemDicomObject {
    item(|o| {
        put(o, tags::CODE_VALUE, VR::SH, value);
        put(o, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
        put(o, tags::CODE_MEANING, VR::LO, meaning);
    })
}

/// sRGB to DICOM's CIELab (D65): L* 0-100 and a*, b* -128-127 scaled to 0-65535.
fn dicom_lab(rgb: [u8; 3]) -> [u16; 3] {
    let linear = rgb.map(|c| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    });
    let [r, g, b] = linear;
    let xyz = [
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    ];
    let f =
        |t: f64| if t > (6.0f64 / 29.0).powi(3) { t.cbrt() } else { t / (3.0 * (6.0f64 / 29.0).powi(2)) + 4.0 / 29.0 };
    let [fx, fy, fz] = xyz.map(f);
    let (l, a, bb) = (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz));
    let scale = |v: f64, lo: f64, hi: f64| ((v - lo) / (hi - lo) * 65535.0).round().clamp(0.0, 65535.0) as u16;
    [scale(l, 0.0, 100.0), scale(a, -128.0, 127.0), scale(bb, -128.0, 127.0)]
}

/// DICOM's CIELab (as [`dicom_lab`] writes it) back to sRGB.
pub(crate) fn srgb_of_dicom_lab(lab: [u16; 3]) -> [u8; 3] {
    let l = f64::from(lab[0]) / 65535.0 * 100.0;
    let a = f64::from(lab[1]) / 65535.0 * 255.0 - 128.0;
    let b = f64::from(lab[2]) / 65535.0 * 255.0 - 128.0;
    let fy = (l + 16.0) / 116.0;
    let (fx, fz) = (fy + a / 500.0, fy - b / 200.0);
    let delta = 6.0f64 / 29.0;
    let inv = |f: f64| if f > delta { f.powi(3) } else { 3.0 * delta * delta * (f - 4.0 / 29.0) };
    let [x, y, z] = [inv(fx) * 0.95047, inv(fy), inv(fz) * 1.08883];
    let linear = [
        3.2406 * x - 1.5372 * y - 0.4986 * z,
        -0.9689 * x + 1.8758 * y + 0.0415 * z,
        0.0557 * x - 0.2040 * y + 1.0570 * z,
    ];
    linear.map(|c| {
        let c = c.clamp(0.0, 1.0);
        let v = if c <= 0.0031308 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
        (v * 255.0).round() as u8
    })
}

/// Refuses a label map that does not lie on the scan's own images: one on another grid, or on a
/// scan resampled on loading (whose slices are not the images an object must refer to).
pub(super) fn on_the_scans_images(labels: &LabelMap, series: &Series, path: &Path) -> Result<()> {
    let refuse = |what: &str| DicomError::Unsupported { path: path.to_owned(), what: what.to_owned() };
    if series.resample.is_some() {
        return Err(refuse(
            "segments of a scan resampled on loading (missing or unevenly spaced slices): they would not lie on the \
             scan's images",
        ));
    }
    let g = &series.grid;
    if labels.grid.dims != g.dims || (labels.grid.patient_from_voxel - g.patient_from_voxel).abs().max() > 1e-3 {
        return Err(refuse("segments whose label map is not on the scan's grid"));
    }
    Ok(())
}

/// Writes the segments' voxels as a binary DICOM Segmentation in the scan's study: one frame per
/// segment and slice that holds any of it, on the scan's own slices (each frame referring to
/// the image it was made from), each segment with its SNOMED CT category and type and its
/// colour. Empty segments are left out; returns how many frames were written. The label map
/// must lie on the series' grid, and the series must have been loaded without resampling (its
/// slices are the images the frames refer to).
pub fn write_segmentation(
    labels: &LabelMap,
    segments: &[ExportedSegment],
    series: &Series,
    source: &SourceStudy,
    path: &Path,
) -> Result<usize> {
    let refuse = |what: &str| DicomError::Unsupported { path: path.to_owned(), what: what.to_owned() };
    on_the_scans_images(labels, series, path)?;
    let g = &series.grid;
    let [nx, ny, nz] = g.dims;
    let plane = nx * ny;
    // (segment number, slice) of every frame, and the frames' bits, packed across frames.
    let mut frames: Vec<(u16, usize)> = Vec::new();
    let mut bits: Vec<u8> = Vec::new();
    let mut written: Vec<&ExportedSegment> = Vec::new();
    let mut nbits = 0usize;
    for seg in segments {
        let number = written.len() as u16 + 1;
        let mut any = false;
        for k in 0..nz {
            let slice = &labels.labels[k * plane..(k + 1) * plane];
            if !slice.contains(&seg.label) {
                continue;
            }
            any = true;
            frames.push((number, k));
            bits.resize((nbits + plane).div_ceil(8), 0);
            for (p, l) in slice.iter().enumerate() {
                if *l == seg.label {
                    bits[(nbits + p) / 8] |= 1 << ((nbits + p) % 8);
                }
            }
            nbits += plane;
        }
        if any {
            written.push(seg);
        }
    }
    if frames.is_empty() {
        return Err(refuse("a segmentation of a plan whose segments are all empty"));
    }
    if bits.len() % 2 == 1 {
        bits.push(0);
    }

    let (mut obj, sop_uid) = source.start(uids::SEGMENTATION_STORAGE, "SEG", "twinplan segments");
    put(&mut obj, tags::FRAME_OF_REFERENCE_UID, VR::UI, source.frame_of_reference_uid.as_str());
    put(&mut obj, tags::POSITION_REFERENCE_INDICATOR, VR::LO, PrimitiveValue::Empty);
    put(&mut obj, tags::MANUFACTURER_MODEL_NAME, VR::LO, "twinplan");
    put(&mut obj, tags::DEVICE_SERIAL_NUMBER, VR::LO, "1");
    put(&mut obj, tags::IMAGE_TYPE, VR::CS, "DERIVED\\PRIMARY");
    put(&mut obj, tags::CONTENT_LABEL, VR::CS, "TWINPLAN");
    put(&mut obj, tags::CONTENT_DESCRIPTION, VR::LO, "Segments of a twinplan surgical plan");
    put(&mut obj, tags::CONTENT_CREATOR_NAME, VR::PN, PrimitiveValue::Empty);
    put(&mut obj, tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    put(&mut obj, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put(&mut obj, tags::SAMPLES_PER_PIXEL, VR::US, 1u16);
    put(&mut obj, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    put(&mut obj, tags::ROWS, VR::US, ny as u16);
    put(&mut obj, tags::COLUMNS, VR::US, nx as u16);
    put(&mut obj, tags::BITS_ALLOCATED, VR::US, 1u16);
    put(&mut obj, tags::BITS_STORED, VR::US, 1u16);
    put(&mut obj, tags::HIGH_BIT, VR::US, 0u16);
    put(&mut obj, tags::PIXEL_REPRESENTATION, VR::US, 0u16);
    put(&mut obj, tags::NUMBER_OF_FRAMES, VR::IS, frames.len().to_string().as_str());
    let segment_items = written
        .iter()
        .enumerate()
        .map(|(n, seg)| {
            let (category, kind) = codes(seg.category);
            item(|o| {
                put(o, tags::SEGMENT_NUMBER, VR::US, n as u16 + 1);
                put(o, tags::SEGMENT_LABEL, VR::LO, seg.name.as_str());
                put(o, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "SEMIAUTOMATIC");
                put(o, tags::SEGMENT_ALGORITHM_NAME, VR::LO, "twinplan");
                put_seq(o, tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE, vec![code_item(category)]);
                put_seq(o, tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE, vec![code_item(kind)]);
                put(
                    o,
                    tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
                    VR::US,
                    PrimitiveValue::U16(dicom_lab(seg.colour)[..].into()),
                );
            })
        })
        .collect();
    put_seq(&mut obj, tags::SEGMENT_SEQUENCE, segment_items);

    // The frames share the scan's plane orientation and pixel spacing; each has its position.
    let dirs = g.directions();
    let sp = g.spacing_mm();
    let thickness = g.slice_normal().dot(&g.linear_mm().column(2)).abs();
    let iop = ds(&[dirs[(0, 0)], dirs[(1, 0)], dirs[(2, 0)], dirs[(0, 1)], dirs[(1, 1)], dirs[(2, 1)]]);
    let shared = item(|o| {
        put_seq(
            o,
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(|m| {
                put(m, tags::PIXEL_SPACING, VR::DS, ds(&[sp[1], sp[0]]).as_str());
                put(m, tags::SLICE_THICKNESS, VR::DS, ds(&[thickness]).as_str());
                put(m, tags::SPACING_BETWEEN_SLICES, VR::DS, ds(&[thickness]).as_str());
            })],
        );
        put_seq(
            o,
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(|m| put(m, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, iop.as_str()))],
        );
    });
    put_seq(&mut obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]);
    let per_frame = frames
        .iter()
        .map(|&(number, k)| {
            let p = g.patient_point(nalgebra::Point3::new(0.0, 0.0, k as f64));
            item(|o| {
                put_seq(
                    o,
                    tags::FRAME_CONTENT_SEQUENCE,
                    vec![item(|f| {
                        put(
                            f,
                            tags::DIMENSION_INDEX_VALUES,
                            VR::UL,
                            PrimitiveValue::U32([u32::from(number), k as u32 + 1][..].into()),
                        )
                    })],
                );
                put_seq(
                    o,
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item(|f| put(f, tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&[p.x, p.y, p.z]).as_str()))],
                );
                put_seq(
                    o,
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    vec![item(|f| put(f, tags::REFERENCED_SEGMENT_NUMBER, VR::US, number))],
                );
                put_seq(
                    o,
                    tags::DERIVATION_IMAGE_SEQUENCE,
                    vec![item(|d| {
                        put_seq(d, tags::DERIVATION_CODE_SEQUENCE, vec![code_item(("113076", "DCM", "Segmentation"))]);
                        put_seq(
                            d,
                            tags::SOURCE_IMAGE_SEQUENCE,
                            vec![{
                                let mut s = source.image(series, k);
                                put_seq(
                                    &mut s,
                                    tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                                    vec![code_item(("121322", "DCM", "Source image for image processing operation"))],
                                );
                                s
                            }],
                        );
                    })],
                );
            })
        })
        .collect();
    put_seq(&mut obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame);

    // Dimensions: the segment, then the position of the plane.
    let organisation = source.new_uid("dimensions");
    put_seq(
        &mut obj,
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![item(|o| put(o, tags::DIMENSION_ORGANIZATION_UID, VR::UI, organisation.as_str()))],
    );
    let dimension = |pointer: Tag, group: Tag| {
        item(|o| {
            put(o, tags::DIMENSION_ORGANIZATION_UID, VR::UI, organisation.as_str());
            put(o, tags::DIMENSION_INDEX_POINTER, VR::AT, PrimitiveValue::Tags([pointer][..].into()));
            put(o, tags::FUNCTIONAL_GROUP_POINTER, VR::AT, PrimitiveValue::Tags([group][..].into()));
        })
    };
    put_seq(
        &mut obj,
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            dimension(tags::REFERENCED_SEGMENT_NUMBER, tags::SEGMENT_IDENTIFICATION_SEQUENCE),
            dimension(tags::IMAGE_POSITION_PATIENT, tags::PLANE_POSITION_SEQUENCE),
        ],
    );
    // Every image of the scan, as the common instance reference module lists them.
    put_seq(
        &mut obj,
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![item(|o| {
            put(o, tags::SERIES_INSTANCE_UID, VR::UI, series.series_uid.as_str());
            put_seq(o, tags::REFERENCED_INSTANCE_SEQUENCE, source.images(series));
        })],
    );
    put(&mut obj, tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(bits.into()));
    write_whole(uids::EXPLICIT_VR_LITTLE_ENDIAN, obj, uids::SEGMENTATION_STORAGE, &sop_uid, path)?;
    Ok(frames.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_categories_come_back_as_written() {
        for rgb in [[220, 60, 60], [240, 220, 180], [60, 200, 80], [0, 0, 0], [255, 255, 255]] {
            let back = srgb_of_dicom_lab(dicom_lab(rgb));
            assert!((0..3).all(|c| back[c].abs_diff(rgb[c]) <= 1), "{rgb:?} came back as {back:?}");
        }
        for c in Category::ALL {
            assert_eq!(category_of(codes(c).1.0), c);
        }
        assert_eq!(category_of("12345"), Category::Other);
    }
}
