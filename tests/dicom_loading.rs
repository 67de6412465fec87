//! Loading real folders: sizes and values, bad input, mixed folders, and the loader's warnings
//! on series with known defects written to disk.

mod common;

use std::path::{Path, PathBuf};

use common::{data, data_dir};
use twinplan::core::dicom::{self, DicomError};
use twinplan::core::progress::Progress;

fn open(path: &Path) -> Result<(dicom::Scan, dicom::Loaded), DicomError> {
    dicom::open_volume(path, None, &Progress::new())
}

#[test]
fn ct_head_phantom_has_the_documented_geometry_and_hu() {
    let (scan, loaded) = open(&data("ct-head-phantom")).unwrap();
    let v = &loaded.volume;
    assert_eq!(v.grid.dims, [512, 512, 140]);
    let sp = v.grid.spacing_mm();
    assert!((sp[0] - 0.451).abs() < 1e-3 && (sp[1] - 0.451).abs() < 1e-3, "{sp:?}");
    assert!((sp[2] - 1.0).abs() < 1e-6, "{sp:?}");
    assert_eq!(v.meta.unit, "HU");
    assert!(matches!(v.data, twinplan::core::volume::VoxelData::I16(_)), "CT is kept as i16");
    let (lo, hi) = v.data.range().unwrap();
    assert_eq!(lo, -1024.0, "air outside the reconstruction circle");
    assert!((800.0..=3071.0).contains(&hi), "max {hi}");
    // Room air at the corner of the field of view, and plastic (about soft tissue) in the middle.
    let air = v.at(5, 5, 70);
    assert!(air < -900.0, "air {air}");
    let centre = v.at(256, 256, 70);
    assert!((-200.0..400.0).contains(&centre), "centre {centre}");
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    // The DIRFILE beside the images is listed with its reason.
    let dirfile = scan.skipped.iter().find(|s| s.path.ends_with("DIRFILE")).expect("DIRFILE skipped");
    assert!(dirfile.reason.contains("DICOMDIR"), "{}", dirfile.reason);
}

#[test]
fn every_series_in_the_shared_data_loads() {
    for folder in ["ct-head-phantom", "mr-sagittal", "ct-body-j2k/dicom", "transfer-syntaxes", "bit-depth", "pydicom"] {
        let found = dicom::scan(&data(folder), &Progress::new()).unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert!(!found.series.is_empty(), "{folder}");
        for s in &found.series {
            let loaded = dicom::load(s, &Progress::new());
            // The pydicom folder mixes good and deliberately broken files: only a series made
            // entirely of broken files may fail, and then with a message naming the file.
            match loaded {
                Ok(l) => assert_eq!(l.volume.data.len(), l.volume.grid.voxel_count(), "{folder} {}", s.id),
                Err(e) => {
                    assert_eq!(folder, "pydicom", "{folder}: {e}");
                    assert!(e.to_string().contains("MR_truncated.dcm"), "{e}");
                }
            }
        }
    }
}

#[test]
fn the_oblique_mr_is_sagittal_and_loads_192_slices() {
    let (_, loaded) = open(&data("mr-sagittal")).unwrap();
    let g = &loaded.volume.grid;
    assert_eq!(g.dims, [256, 256, 192]);
    let n = g.slice_normal();
    assert!(n.x.abs() > 0.95, "slice normal {n} should be close to left-right");
    assert!(g.shear_deg() < 1e-3);
}

/// The reason recorded for a file of the pydicom folder.
fn reason_for(dir: &Path, name: &str) -> String {
    match open(&dir.join(name)) {
        Ok(_) => panic!("{name} should not load"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(name), "the message names the file: {msg}");
            msg
        }
    }
}

#[test]
fn broken_files_give_clear_errors_naming_the_file() {
    let dir = data("pydicom");
    let truncated = reason_for(&dir, "MR_truncated.dcm");
    assert!(truncated.contains("truncated") && truncated.contains("7FE0,0010"), "{truncated}");
    let bad_vr = reason_for(&dir, "badVR.dcm");
    assert!(bad_vr.contains("NumberOfFrames") && bad_vr.contains("'1A'"), "{bad_vr}");
    let no_ts = reason_for(&dir, "meta_missing_tsyntax.dcm");
    assert!(no_ts.contains("TransferSyntax"), "{no_ts}");
    let rt = reason_for(&dir, "rtstruct.dcm");
    assert!(rt.contains("no pixel data") && rt.contains("RT Structure Set"), "{rt}");
    // A binary segmentation (1 bit a pixel) is no longer refused: it loads as 0 and 1.
    let (_, seg) = open(&dir.join("liver_1frame.dcm")).unwrap();
    let v = &seg.volume;
    let ones = (0..v.data.len()).filter(|&i| v.data.get(i) == 1.0).count();
    assert!(ones > 0 && (0..v.data.len()).all(|i| [0.0, 1.0].contains(&v.data.get(i))), "{ones}");
    let rgb = reason_for(&dir, "ExplVR_BigEnd.dcm");
    assert!(rgb.contains("colour"), "{rgb}");
    let dicomdir = reason_for(&dir.join("dicomdirtests"), "DICOMDIR-empty.dcm");
    assert!(dicomdir.contains("DICOMDIR"), "{dicomdir}");
}

#[test]
fn a_data_set_without_file_meta_is_read_as_little_endian() {
    // no_meta.dcm starts one byte into an element: not a data set, and said so.
    let e = reason_for(&data("pydicom"), "no_meta.dcm");
    assert!(e.contains("not a DICOM file"), "{e}");
    // A clean data set without preamble and meta group (old ACR-NEMA style) is read.
    let original = ::dicom::object::open_file(data("pydicom/MR_small.dcm")).unwrap();
    for ts in [
        ::dicom::dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN,
        ::dicom::dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN,
    ] {
        use ::dicom::encoding::transfer_syntax::TransferSyntaxIndex;
        let syntax = ::dicom::transfer_syntax::TransferSyntaxRegistry.get(ts).unwrap();
        let mut bytes = Vec::new();
        original.write_dataset_with_ts(&mut bytes, syntax).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bare");
        std::fs::write(&path, bytes).unwrap();
        let (_, bare) = open(&path).unwrap();
        let (_, good) = open(&data("pydicom/MR_small.dcm")).unwrap();
        assert_eq!(bare.volume.data, good.volume.data, "{ts}");
        assert_eq!(bare.volume.grid, good.volume.grid, "{ts}");
    }
}

fn copy(from: &Path, to_dir: &Path) -> PathBuf {
    let to = to_dir.join(from.file_name().unwrap());
    std::fs::copy(from, &to).unwrap();
    to
}

#[test]
fn a_folder_mixing_broken_and_good_files_loads_the_good_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let nested = tmp.path().join("nested/deeper");
    std::fs::create_dir_all(&nested).unwrap();
    for f in ["CT_small.dcm", "badVR.dcm", "meta_missing_tsyntax.dcm", "rtstruct.dcm"] {
        copy(&data("pydicom").join(f), tmp.path());
    }
    copy(&data("pydicom/MR_small.dcm"), &nested);
    copy(&data("pydicom/MR_truncated.dcm"), &nested);
    std::fs::write(tmp.path().join("notes.txt"), "not an image").unwrap();
    std::fs::write(tmp.path().join("empty"), "").unwrap();

    let found = dicom::scan(tmp.path(), &Progress::new()).unwrap();
    let skipped: Vec<String> =
        found.skipped.iter().map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for name in ["badVR.dcm", "meta_missing_tsyntax.dcm", "rtstruct.dcm", "notes.txt", "empty"] {
        assert!(skipped.iter().any(|s| s == name), "{name} not in {skipped:?}");
    }
    assert!(found.skipped.iter().all(|s| !s.reason.is_empty()));
    // CT_small and MR_small (+ MR_truncated, same series) are two series.
    assert_eq!(found.series.len(), 2, "{:?}", found.series.iter().map(|s| &s.id).collect::<Vec<_>>());
    for s in &found.series {
        let loaded = dicom::load(s, &Progress::new()).unwrap_or_else(|e| panic!("{}: {e}", s.id));
        if s.slices.iter().any(|h| h.path.ends_with("MR_truncated.dcm")) {
            assert_eq!(loaded.failed.len(), 1, "the truncated file is left out");
            assert!(loaded.volume.warnings[0].contains("MR_truncated.dcm"), "{:?}", loaded.volume.warnings);
            assert_eq!(s.slices.len(), 2, "scanned: both files");
            assert_eq!(loaded.series.slices.len(), 1, "loaded: the good one");
            assert_eq!(loaded.volume.grid.dims[2], 1);
        }
    }
}

#[test]
fn dicomdir_folders_and_files_without_extension() {
    let found = dicom::scan(&data("pydicom/dicomdirtests"), &Progress::new()).unwrap();
    assert!(found.series.len() >= 3, "{} series", found.series.len());
    let dirs = found.skipped.iter().filter(|s| s.reason.contains("DICOMDIR")).count();
    assert!(dirs >= 6, "every DICOMDIR variant is listed as an index: {:?}", found.skipped);
    // Opening the DICOMDIR file itself scans the folder it indexes.
    let via_dicomdir = dicom::scan(&data("pydicom/dicomdirtests/DICOMDIR"), &Progress::new()).unwrap();
    assert_eq!(via_dicomdir.series.len(), found.series.len());
    // ct-head-phantom's files have no extension at all.
    assert!(data_dir().join("ct-head-phantom/I10").extension().is_none());
}

#[test]
fn an_empty_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let e = dicom::scan(tmp.path(), &Progress::new()).unwrap_err();
    assert!(matches!(e, DicomError::NoImages { files: 0, .. }), "{e}");
    assert!(e.to_string().contains(&tmp.path().display().to_string()));
    let missing = dicom::scan(&tmp.path().join("nope"), &Progress::new()).unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
}

/// A real file with its Rows and Columns rewritten: the loader must refuse before allocating.
#[test]
fn absurd_dimensions_are_refused_before_allocating() {
    use ::dicom::core::{DataElement, PrimitiveValue, VR};
    use ::dicom::dictionary_std::tags;
    let mut obj = ::dicom::object::open_file(data("pydicom/MR_small.dcm")).unwrap();
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(65535u16)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(65535u16)));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge.dcm");
    obj.write_to_file(&path).unwrap();
    let e = open(&path).unwrap_err().to_string();
    assert!(e.contains("huge.dcm") && e.contains("65535 x 65535"), "{e}");

    // Many frames of a modest size: the volume limit applies.
    let mut obj = ::dicom::object::open_file(data("pydicom/MR_small.dcm")).unwrap();
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(8192u16)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(8192u16)));
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("90000")));
    let path = tmp.path().join("many.dcm");
    obj.write_to_file(&path).unwrap();
    let e = open(&path).unwrap_err().to_string();
    assert!(e.contains("many.dcm") && e.contains("90000 frame(s) of 8192 x 8192"), "{e}");
}

/// Copies of a real file whose positions put one slice 200 m from three others 2 µm apart:
/// filling the gap would mean 10^11 slices. The series is split at the gap, with the warning on
/// both volumes, and nothing of that size is ever reserved.
#[test]
fn a_gap_far_wider_than_the_spacing_splits_the_series() {
    use ::dicom::core::{DataElement, PrimitiveValue, VR};
    use ::dicom::dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    for (i, z) in ["0", "0.002", "0.004", "200000"].iter().enumerate() {
        let mut obj = ::dicom::object::open_file(data("pydicom/CT_small.dcm")).unwrap();
        let position = format!("-158.135803\\-179.035797\\{z}");
        obj.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, PrimitiveValue::from(position)));
        let uid = format!("1.2.826.0.1.3680043.8.498.{}", 100 + i);
        obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(uid)));
        obj.write_to_file(tmp.path().join(format!("{i}.dcm"))).unwrap();
    }
    let scan = dicom::scan(tmp.path(), &Progress::new()).unwrap();
    assert_eq!(scan.series.iter().map(|s| s.grid.dims[2]).collect::<Vec<_>>(), vec![3, 1]);
    for s in &scan.series {
        assert!(s.warnings.iter().any(|w| w.contains("split there into separate volumes")), "{:?}", s.warnings);
        let loaded = dicom::load(s, &Progress::new()).unwrap();
        assert_eq!(loaded.volume.grid.dims, [128, 128, s.grid.dims[2]]);
    }
}

/// Twelve RLE slices 3.6 mm apart, of which the six in the middle hold streams the codec
/// refuses (their segment count zeroed). The scan cannot tell; the load leaves them out, and the
/// hole they leave splits the stack: the two images beyond it are left out too, each with its
/// reason, and the four before it load.
#[test]
fn images_cut_off_by_undecodable_files_are_listed_not_dropped_unseen() {
    use ::dicom::core::{DataElement, PrimitiveValue, VR};
    use ::dicom::dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    for k in 0..12 {
        let mut obj = ::dicom::object::open_file(data("transfer-syntaxes/4.dcm")).unwrap();
        // The series is nearly axial (normal 0, -0.108, 0.994): step along that normal.
        let z = 3.6 * k as f64;
        let position = format!("-624\\{:.4}\\{:.4}", -661.827 - 0.107999 * z, -6.526 + 0.994151 * z);
        obj.put(DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, PrimitiveValue::from(position)));
        let uid = format!("1.2.826.0.1.3680043.8.498.{}", 200 + k);
        obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(uid)));
        let path = tmp.path().join(format!("{k:02}.dcm"));
        obj.write_to_file(&path).unwrap();
        if (4..10).contains(&k) {
            // Pixel data (7FE0,0010) OB, undefined length; the offset table item; then the
            // fragment, whose RLE header starts with the number of segments.
            let mut b = std::fs::read(&path).unwrap();
            let at = b.windows(4).rposition(|w| w == [0xe0, 0x7f, 0x10, 0x00]).unwrap() + 12;
            let table = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
            let fragment = at + 8 + table + 8;
            assert_eq!(b[fragment..fragment + 4], [2, 0, 0, 0], "two RLE segments");
            b[fragment..fragment + 4].fill(0);
            std::fs::write(&path, b).unwrap();
        }
    }
    let scan = dicom::scan(tmp.path(), &Progress::new()).unwrap();
    assert_eq!(scan.series.len(), 1);
    assert_eq!(scan.series[0].slices.len(), 12, "the scan reads headers only");
    let loaded = dicom::load(&scan.series[0], &Progress::new()).unwrap();
    assert_eq!(loaded.volume.grid.dims, [384, 384, 4]);
    let left_out: Vec<String> =
        loaded.failed.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(left_out, (4..12).map(|k| format!("{k:02}.dcm")).collect::<Vec<_>>());
    assert!(loaded.failed[6].reason.contains("leave a gap that separates this image"), "{}", loaded.failed[6].reason);
    assert!(
        loaded.volume.warnings[0].starts_with("8 file(s) of this series were left out"),
        "{:?}",
        loaded.volume.warnings
    );
}

#[test]
fn cancelling_stops_loading() {
    let p = Progress::new();
    p.cancel();
    let e = dicom::scan(&data("ct-head-phantom"), &p).unwrap_err();
    assert!(matches!(e, DicomError::Cancelled(_)), "{e}");
    let found = dicom::scan(&data("ct-head-phantom"), &Progress::new()).unwrap();
    let e = dicom::load(&found.series[0], &p).unwrap_err();
    assert!(matches!(e, DicomError::Cancelled(_)), "{e}");
}

/// Inputs the fuzzer found (mutations of pydicom's test files): element lengths of 2 to 4 GB in a
/// file of a few kilobytes. The parser would allocate and zero each value before reading it;
/// the length guard refuses them first, naming the element. Number 6 hides its bad length behind
/// a stray item delimiter at the top level, which the parser reads past (number 8: one whose
/// length field is not zero, which the parser ignores); number 7 inside an
/// undefined-length OB that is not pixel data, which the parser reads as a sequence (it took
/// 5.6 s and 3.7 GB before failing); number 9 after a sequence whose items are not items, which
/// the parser reads on through as elements; number 10 (a DICOMDIR, 5.1 s and 3.7 GB) after a
/// sequence delimiter that ends a defined-length sequence early, as the parser lets it; number
/// 11 (187 bytes without preamble, 10 s and 4.2 GB) after a 1-byte UL, of which the parser
/// reads no byte, so that it goes on one byte earlier than the declared length says; number 12
/// (842 MB when the pixel data is read) after an item delimiter among the pixel data's
/// fragments, which ends them for the parser.
#[test]
fn corrupt_lengths_found_by_the_fuzzer_are_refused_before_allocating() {
    for n in 1..=12 {
        let path = common::project(&format!("tests/fixtures/fuzz/corrupt-length-{n}.dcm"));
        // The full read (pixel data included) is what allocates; the guard must stop it there.
        let bytes = std::fs::read(&path).unwrap();
        let e = match dicom::read_object(&bytes, &path, false) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("corrupt-length-{n}.dcm was read"),
        };
        assert!(
            e.contains(&format!("corrupt-length-{n}.dcm")) && e.contains("declares") && e.contains("remain"),
            "{e}"
        );
        assert!(open(&path).is_err());
    }
}

/// Fuzzer finds: compressed streams whose own header disagrees with the image's size. On the
/// first the JPEG 2000 codec (dicom-rs's OpenJPEG adapter) panicked, crashing `info`; on the
/// second it reserved 4.3 GB (9 s) before failing; on the third (738 bytes, a JPEG-LS stream of
/// 10 x 50 in a 9226 x 50 image) CharLS spent 6 s before failing. Each stream's declared size is
/// now checked against the DICOM header first (and a codec that panics anyway fails only its
/// file). The files are refused with a message that names them; the folder's other files load.
#[test]
fn compressed_streams_that_disagree_with_the_header_fail_only_their_file() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, declared) in [
        ("codec-panic-1.dcm", "JPEG 2000 stream declares a 256 x 2816"),
        ("j2k-oversized-1.dcm", "JPEG 2000 stream declares a 1048832 x 1024"),
        ("jpegls-size-1.dcm", "JPEG-LS stream declares a 10 x 50"),
    ] {
        let bad = dir.path().join(fixture);
        std::fs::copy(common::project(&format!("tests/fixtures/fuzz/{fixture}")), &bad).unwrap();
        let e = open(&bad).unwrap_err().to_string();
        assert!(e.contains(fixture) && e.contains(declared), "{e}");
    }
    for f in std::fs::read_dir(data("ct-head-phantom")).unwrap().take(3) {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    let (_, loaded) = open(dir.path()).unwrap();
    assert_eq!(loaded.volume.grid.dims[..2], [512, 512], "the good slices load");
}
