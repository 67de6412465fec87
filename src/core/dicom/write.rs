//! Writing a CT or MR volume as a DICOM series: the bundled phantom, and test series with known
//! geometry (gaps, tilt, multi-frame) that exercise the loader through real files.

use std::path::{Path, PathBuf};

use dicom::core::value::DataSetSequence;
use dicom::core::{DataElement, PrimitiveValue, Tag, VR};
use dicom::dictionary_std::{tags, uids};
use dicom::object::InMemDicomObject;
use dicom::object::meta::FileMetaTableBuilder;
use nalgebra::Point3;

use super::error::{DicomError, Result};
use crate::core::volume::{Volume, VoxelData};

/// A deterministic UID under the 2.25 (UUID-derived) root: the same name always gives the same UID.
pub fn uid_from_name(name: &str) -> String {
    // Two FNV-1a passes with different offsets give 128 bits.
    let fnv = |seed: u64| name.bytes().fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let hi = fnv(0xcbf2_9ce4_8422_2325) as u128;
    let lo = fnv(0x6c62_272e_07bb_0142) as u128;
    format!("2.25.{}", (hi << 64) | lo)
}

#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Seed for every UID in the series, so rewriting gives identical files.
    pub uid_seed: String,
    /// One Enhanced CT file with per-frame functional groups instead of one file per slice.
    pub enhanced_multiframe: bool,
    /// Write only these slice indices (to make a series with missing slices); `None` = all.
    pub slices: Option<Vec<usize>>,
    /// Value for GantryDetectorTilt, when the grid is sheared on purpose.
    pub gantry_tilt_deg: Option<f64>,
}

impl WriteOptions {
    pub fn new(uid_seed: &str) -> Self {
        WriteOptions { uid_seed: uid_seed.to_owned(), enhanced_multiframe: false, slices: None, gantry_tilt_deg: None }
    }
}

pub(super) fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) {
    obj.put(DataElement::new(tag, vr, v.into()));
}

pub(super) fn ds(values: &[f64]) -> String {
    values.iter().map(|v| format_ds(*v)).collect::<Vec<_>>().join("\\")
}

/// A decimal string of at most 16 characters, as DICOM requires.
fn format_ds(v: f64) -> String {
    for prec in (0..=10).rev() {
        let s = format!("{v:.prec$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
        if s.len() <= 16 {
            return if s == "-0" { "0".into() } else { s };
        }
    }
    format!("{v:.3e}")
}

pub(super) fn put_seq(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

pub(super) fn item(f: impl FnOnce(&mut InMemDicomObject)) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    f(&mut o);
    o
}

/// Writes a DICOM file in explicit VR little endian with its file meta information.
pub(super) fn write(obj: InMemDicomObject, sop_class: &str, sop_uid: &str, path: &Path) -> Result<()> {
    write_in(uids::EXPLICIT_VR_LITTLE_ENDIAN, obj, sop_class, sop_uid, path)
}

/// Writes a DICOM file in a native transfer syntax (explicit or implicit VR little endian)
/// with its file meta information.
pub(super) fn write_in(
    transfer_syntax: &str,
    obj: InMemDicomObject,
    sop_class: &str,
    sop_uid: &str,
    path: &Path,
) -> Result<()> {
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(transfer_syntax)
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_uid)
        .implementation_class_uid(uid_from_name("twinplan implementation"))
        .implementation_version_name("TWINPLAN_1")
        .build()
        .map_err(|e| DicomError::invalid(path, e.to_string()))?;
    obj.with_exact_meta(meta)
        .write_to_file(path)
        .map_err(|e| DicomError::Io { path: path.to_owned(), error: std::io::Error::other(e.to_string()) })
}

/// Writes `volume` (i16: HU for a CT, the signal for an MR, by its modality) under `dir` and
/// returns the files written.
pub fn write_series(volume: &Volume, dir: &Path, opts: &WriteOptions) -> Result<Vec<PathBuf>> {
    let VoxelData::I16(data) = &volume.data else {
        return Err(DicomError::Unsupported { path: dir.to_owned(), what: "writing a float volume as DICOM".into() });
    };
    let mr = volume.meta.modality == "MR";
    if mr && opts.enhanced_multiframe {
        return Err(DicomError::Unsupported { path: dir.to_owned(), what: "writing an Enhanced MR file".into() });
    }
    std::fs::create_dir_all(dir).map_err(|e| DicomError::Io { path: dir.to_owned(), error: e })?;
    let g = &volume.grid;
    let [nx, ny, nz] = g.dims;
    let plane = nx * ny;
    let dirs = g.directions();
    let sp = g.spacing_mm();
    let (lo, hi) = volume.data.range().unwrap_or((0.0, 0.0));
    // Unsigned 12-bit (with intercept -1024 on CT, like most CT scanners) when the values allow
    // it; an MR has no rescale.
    let (bits_stored, signed, intercept) = match mr {
        false if lo >= -1024.0 && hi <= 3071.0 => (12u16, false, -1024i32),
        true if lo >= 0.0 && hi <= 4095.0 => (12, false, 0),
        _ => (16, true, 0),
    };
    let slices: Vec<usize> = opts.slices.clone().unwrap_or_else(|| (0..nz).collect());

    let study_uid = uid_from_name(&format!("{}/study", opts.uid_seed));
    let series_uid = if volume.meta.series_uid.is_empty() {
        uid_from_name(&format!("{}/series", opts.uid_seed))
    } else {
        volume.meta.series_uid.clone()
    };
    let frame_uid = uid_from_name(&format!("{}/frame-of-reference", opts.uid_seed));

    let encode = |k: usize| -> Vec<u16> {
        data[k * plane..(k + 1) * plane].iter().map(|&v| (v as i32 - intercept) as i16 as u16).collect()
    };
    let iop = ds(&[dirs[(0, 0)], dirs[(1, 0)], dirs[(2, 0)], dirs[(0, 1)], dirs[(1, 1)], dirs[(2, 1)]]);
    let position = |k: usize| {
        let p = g.patient_point(Point3::new(0.0, 0.0, k as f64));
        [p.x, p.y, p.z]
    };
    let normal = g.slice_normal();

    let common = |obj: &mut InMemDicomObject, sop_class: &str, sop_uid: &str| {
        put(obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        put(obj, tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY\\AXIAL");
        put(obj, tags::SOP_CLASS_UID, VR::UI, sop_class);
        put(obj, tags::SOP_INSTANCE_UID, VR::UI, sop_uid);
        put(obj, tags::STUDY_DATE, VR::DA, volume.meta.study_date.as_str());
        put(obj, tags::SERIES_DATE, VR::DA, volume.meta.study_date.as_str());
        put(obj, tags::STUDY_TIME, VR::TM, "120000");
        put(
            obj,
            tags::MODALITY,
            VR::CS,
            if volume.meta.modality.is_empty() { "CT" } else { volume.meta.modality.as_str() },
        );
        put(obj, tags::MANUFACTURER, VR::LO, "twinplan");
        put(obj, tags::STUDY_DESCRIPTION, VR::LO, "twinplan synthetic data");
        put(obj, tags::SERIES_DESCRIPTION, VR::LO, volume.meta.description.as_str());
        put(obj, tags::PATIENT_NAME, VR::PN, volume.meta.patient_name.replace(' ', "^").as_str());
        put(obj, tags::PATIENT_ID, VR::LO, volume.meta.patient_id.as_str());
        put(obj, tags::STUDY_INSTANCE_UID, VR::UI, study_uid.as_str());
        put(obj, tags::SERIES_INSTANCE_UID, VR::UI, series_uid.as_str());
        put(obj, tags::STUDY_ID, VR::SH, "1");
        put(obj, tags::SERIES_NUMBER, VR::IS, "1");
        put(obj, tags::FRAME_OF_REFERENCE_UID, VR::UI, frame_uid.as_str());
        put(obj, tags::SAMPLES_PER_PIXEL, VR::US, 1u16);
        put(obj, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
        put(obj, tags::ROWS, VR::US, ny as u16);
        put(obj, tags::COLUMNS, VR::US, nx as u16);
        put(obj, tags::BITS_ALLOCATED, VR::US, 16u16);
        put(obj, tags::BITS_STORED, VR::US, bits_stored);
        put(obj, tags::HIGH_BIT, VR::US, bits_stored - 1);
        put(obj, tags::PIXEL_REPRESENTATION, VR::US, signed as u16);
        if let Some(t) = opts.gantry_tilt_deg {
            put(obj, tags::GANTRY_DETECTOR_TILT, VR::DS, format_ds(t).as_str());
        }
    };
    let pixel_spacing = ds(&[sp[1], sp[0]]);
    let thickness = format_ds(normal.dot(&g.linear_mm().column(2)).abs());
    let rescale_intercept = format_ds(intercept as f64);
    let window = volume.meta.window.unwrap_or((40.0, 400.0));

    let mut written = Vec::new();
    if opts.enhanced_multiframe {
        let sop_class = uids::ENHANCED_CT_IMAGE_STORAGE;
        let sop_uid = uid_from_name(&format!("{}/multiframe", opts.uid_seed));
        let mut obj = InMemDicomObject::new_empty();
        common(&mut obj, sop_class, &sop_uid);
        put(&mut obj, tags::INSTANCE_NUMBER, VR::IS, "1");
        put(&mut obj, tags::NUMBER_OF_FRAMES, VR::IS, slices.len().to_string().as_str());
        let shared = item(|o| {
            put_seq(
                o,
                tags::PIXEL_MEASURES_SEQUENCE,
                vec![item(|m| {
                    put(m, tags::PIXEL_SPACING, VR::DS, pixel_spacing.as_str());
                    put(m, tags::SLICE_THICKNESS, VR::DS, thickness.as_str());
                })],
            );
            put_seq(
                o,
                tags::PLANE_ORIENTATION_SEQUENCE,
                vec![item(|m| put(m, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, iop.as_str()))],
            );
            put_seq(
                o,
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                vec![item(|m| {
                    put(m, tags::RESCALE_INTERCEPT, VR::DS, rescale_intercept.as_str());
                    put(m, tags::RESCALE_SLOPE, VR::DS, "1");
                    put(m, tags::RESCALE_TYPE, VR::LO, "HU");
                })],
            );
            put_seq(
                o,
                tags::FRAME_VOILUT_SEQUENCE,
                vec![item(|m| {
                    put(m, tags::WINDOW_CENTER, VR::DS, format_ds(window.0).as_str());
                    put(m, tags::WINDOW_WIDTH, VR::DS, format_ds(window.1).as_str());
                })],
            );
        });
        put_seq(&mut obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]);
        // Frames in reverse order: the loader must sort by position, not by frame number.
        let order: Vec<usize> = slices.iter().rev().copied().collect();
        let per_frame = order
            .iter()
            .map(|&k| {
                item(|o| {
                    put_seq(
                        o,
                        tags::PLANE_POSITION_SEQUENCE,
                        vec![item(|m| put(m, tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&position(k)).as_str()))],
                    );
                })
            })
            .collect();
        put_seq(&mut obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame);
        let pixels: Vec<u16> = order.iter().flat_map(|&k| encode(k)).collect();
        put(&mut obj, tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into()));
        let path = dir.join("enhanced-ct.dcm");
        write(obj, sop_class, &sop_uid, &path)?;
        written.push(path);
        return Ok(written);
    }

    for (n, &k) in slices.iter().enumerate() {
        let sop_class = if mr { uids::MR_IMAGE_STORAGE } else { uids::CT_IMAGE_STORAGE };
        let sop_uid = uid_from_name(&format!("{}/slice/{k}", opts.uid_seed));
        let mut obj = InMemDicomObject::new_empty();
        common(&mut obj, sop_class, &sop_uid);
        let pos = position(k);
        put(&mut obj, tags::INSTANCE_NUMBER, VR::IS, (n + 1).to_string().as_str());
        put(&mut obj, tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&pos).as_str());
        put(&mut obj, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, iop.as_str());
        put(&mut obj, tags::SLICE_LOCATION, VR::DS, format_ds(normal.dot(&nalgebra::Vector3::from(pos))).as_str());
        put(&mut obj, tags::PIXEL_SPACING, VR::DS, pixel_spacing.as_str());
        put(&mut obj, tags::SLICE_THICKNESS, VR::DS, thickness.as_str());
        put(&mut obj, tags::WINDOW_CENTER, VR::DS, format_ds(window.0).as_str());
        put(&mut obj, tags::WINDOW_WIDTH, VR::DS, format_ds(window.1).as_str());
        if mr {
            // The MR Image module's acquisition attributes: a T1-weighted 3D spoiled gradient echo.
            for (tag, vr, v) in [
                (tags::SCANNING_SEQUENCE, VR::CS, "GR"),
                (tags::SEQUENCE_VARIANT, VR::CS, "SP"),
                (tags::SCAN_OPTIONS, VR::CS, ""),
                (tags::MR_ACQUISITION_TYPE, VR::CS, "3D"),
                (tags::REPETITION_TIME, VR::DS, "8"),
                (tags::ECHO_TIME, VR::DS, "3"),
                (tags::ECHO_TRAIN_LENGTH, VR::IS, "1"),
                (tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "3"),
            ] {
                put(&mut obj, tag, vr, v);
            }
        } else {
            put(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, rescale_intercept.as_str());
            put(&mut obj, tags::RESCALE_SLOPE, VR::DS, "1");
            put(&mut obj, tags::RESCALE_TYPE, VR::LO, "HU");
        }
        put(&mut obj, tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(encode(k).into()));
        let path = dir.join(format!("{}{:04}.dcm", if mr { "MR" } else { "CT" }, n + 1));
        write(obj, sop_class, &sop_uid, &path)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(format_ds(-1024.0), "-1024");
        assert_eq!(format_ds(0.5), "0.5");
        assert_eq!(format_ds(-0.0), "0");
        assert!(format_ds(-123.456_789_012_345_67).len() <= 16);
        let x: f64 = format_ds(-123.456_789_012_345_67).parse().unwrap();
        assert!((x + 123.456_789_012_345_67).abs() < 1e-9);
    }

    #[test]
    fn uids_are_deterministic_and_valid() {
        let a = uid_from_name("x");
        assert_eq!(a, uid_from_name("x"));
        assert_ne!(a, uid_from_name("y"));
        assert!(a.len() <= 64 && a.starts_with("2.25.") && a[5..].chars().all(|c| c.is_ascii_digit()));
    }
}
