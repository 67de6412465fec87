//! Voxel values and geometry against independent readers (pydicom + plug-ins, DCMTK, SimpleITK),
//! recorded in tests/fixtures/reference.json by tests/fixtures/make_reference.py.

mod common;

use common::{data, data_dir, fnv1a64, reference};
use twinplan::core::dicom;
use twinplan::core::progress::Progress;
use twinplan::core::volume::Volume;

fn load(path: &std::path::Path) -> Volume {
    let (_, loaded) = dicom::open_volume(path, None, &Progress::new()).unwrap_or_else(|e| panic!("{e}"));
    loaded.volume
}

fn values(v: &Volume) -> Vec<f64> {
    (0..v.data.len()).map(|i| v.data.get(i) as f64).collect()
}

#[test]
fn all_nine_transfer_syntaxes_decode_to_the_pixels_of_1_dcm() {
    let dir = data("transfer-syntaxes");
    let reference = values(&load(&dir.join("1.dcm")));
    assert_eq!(reference.len(), 384 * 384);
    for n in 2..=9 {
        let v = values(&load(&dir.join(format!("{n}.dcm"))));
        let differing = v.iter().zip(&reference).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "{n}.dcm differs from 1.dcm in {differing} pixels");
    }
}

/// Every single file decodes to what the independent decoder got: exactly for lossless syntaxes,
/// within the decoders' disagreement for lossy ones.
#[test]
fn single_files_match_the_independent_decoder() {
    let r = reference();
    let mut syntaxes = std::collections::BTreeSet::new();
    for f in r["files"].as_array().unwrap() {
        let rel = f["file"].as_str().unwrap();
        let path = match rel.strip_prefix("project:") {
            Some(p) => common::project(p),
            None => data_dir().join(rel),
        };
        let v = load(&path);
        assert_eq!(v.grid.dims[0] as u64, f["columns"].as_u64().unwrap(), "{rel}");
        assert_eq!(v.grid.dims[1] as u64, f["rows"].as_u64().unwrap(), "{rel}");
        let vals = values(&v);
        let lo = vals.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        if f["lossy"].as_bool().unwrap() {
            // Lossy codecs leave the exact inverse transform to the decoder: libjpeg (pydicom) and
            // DCMTK themselves differ by one grey level here, and their means by 0.013.
            let mut worst = 0.0f64;
            for s in f["samples"].as_array().unwrap() {
                let i = s[0].as_u64().unwrap() as usize;
                worst = worst.max((vals[i] - s[1].as_f64().unwrap()).abs());
            }
            assert!(worst <= 1.0, "{rel}: sampled values differ by up to {worst}");
            assert!((mean - f["values"]["mean"].as_f64().unwrap()).abs() <= 0.02, "{rel}: mean {mean}");
        } else {
            assert_eq!(
                fnv1a64(vals.iter().cloned()),
                f["values_fnv1a64"].as_str().unwrap(),
                "{rel}: voxel values differ"
            );
        }
        assert!((lo - f["values"]["min"].as_f64().unwrap()).abs() <= 1.0, "{rel}: min {lo}");
        assert!((hi - f["values"]["max"].as_f64().unwrap()).abs() <= 1.0, "{rel}: max {hi}");
        syntaxes.insert(f["transfer_syntax"].as_str().unwrap().to_owned());
    }
    // Implicit/explicit LE, big endian, deflate, RLE, JPEG baseline + extended + lossless, JPEG-LS
    // lossless + near-lossless, JPEG 2000 lossless + lossy.
    assert!(syntaxes.len() >= 12, "{syntaxes:?}");
}

/// Whole series against SimpleITK's ImageSeriesReader: size, spacing, origin and direction to
/// 1e-3 mm, and every voxel.
#[test]
fn series_geometry_and_voxels_match_simpleitk() {
    let r = reference();
    for s in r["series"].as_array().unwrap() {
        let folder = s["folder"].as_str().unwrap();
        let v = load(&data_dir().join(folder));
        let size: Vec<usize> = s["size"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        assert_eq!(v.grid.dims.to_vec(), size, "{folder}");
        let sp = v.grid.spacing_mm();
        for a in 0..3 {
            assert!((sp[a] - s["spacing_mm"][a].as_f64().unwrap()).abs() < 1e-3, "{folder} spacing {sp:?}");
        }
        let o = v.grid.origin_mm();
        for a in 0..3 {
            assert!((o[a] - s["origin_mm"][a].as_f64().unwrap()).abs() < 1e-3, "{folder} origin {o:?}");
        }
        let d = v.grid.directions();
        for r in 0..3 {
            for c in 0..3 {
                let expected = s["direction_row_major"][3 * r + c].as_f64().unwrap();
                assert!((d[(r, c)] - expected).abs() < 1e-5, "{folder} direction {d} vs {expected} at ({r},{c})");
            }
        }
        assert_eq!(
            fnv1a64(values(&v).into_iter()),
            s["values_fnv1a64"].as_str().unwrap(),
            "{folder}: voxel values differ from SimpleITK"
        );
    }
}

/// JPEG Lossless process 14 (.57) with the predictors the shared data lacks (it has only
/// predictor 1, as .70): DCMTK's encoder made them from MR_small.dcm, whose own values are
/// checked against pydicom above; being lossless, each must give exactly those values.
#[test]
fn jpeg_lossless_with_every_predictor_gives_back_the_source_pixels() {
    let source = values(&load(&data("pydicom/MR_small.dcm")));
    for sv in 2..=7 {
        let path = common::project(&format!("tests/fixtures/jpeg_lossless/mr_small_sv{sv}.dcm"));
        let (scan, loaded) = dicom::open_volume(&path, None, &Progress::new()).unwrap();
        assert_eq!(scan.series[0].transfer_syntaxes(), ["JPEG Lossless, Non-Hierarchical (Process 14)"]);
        let v = values(&loaded.volume);
        let differing = v.iter().zip(&source).filter(|(a, b)| a != b).count();
        assert_eq!((v.len(), differing), (64 * 64, 0), "predictor {sv}");
    }
}

/// An enhanced multi-frame MR written by another tool (highdicom's legacy conversion, per-frame
/// functional groups) loads exactly like the single-frame files it was made from, and both sit
/// where those twelve slices sit in the whole oblique series (checked against SimpleITK above).
#[test]
fn highdicom_enhanced_mr_loads_like_its_single_frames() {
    let dir = common::project("tests/fixtures/enhanced");
    let enhanced = load(&dir.join("enhanced.dcm"));
    let single = load(&dir.join("single"));
    assert_eq!(enhanced.grid.dims, [64, 64, 12]);
    assert!(enhanced.warnings.is_empty(), "{:?}", enhanced.warnings);
    assert_eq!(enhanced.grid.dims, single.grid.dims);
    assert!((enhanced.grid.patient_from_voxel - single.grid.patient_from_voxel).amax() < 1e-6);
    assert_eq!(values(&enhanced), values(&single));
    assert_eq!(enhanced.meta.unit, "", "RescaleType US is 'unspecified'");

    // The crop began at column 80, row 96 of file 91 of 192.
    let whole = load(&data("mr-sagittal"));
    let corner = whole.grid.patient_from_voxel * nalgebra::Vector4::new(80.0, 96.0, 90.0, 1.0);
    let origin = enhanced.grid.patient_from_voxel.column(3);
    assert!((corner - origin).amax() < 1e-3, "{corner} vs {origin}");
    let axes = |m: &nalgebra::Matrix4<f64>| m.fixed_view::<3, 3>(0, 0).into_owned();
    assert!((axes(&whole.grid.patient_from_voxel) - axes(&enhanced.grid.patient_from_voxel)).amax() < 1e-5);
    for (k, j, i) in [(0, 0, 0), (5, 31, 17), (11, 63, 63)] {
        assert_eq!(enhanced.at(i, j, k), whole.at(80 + i, 96 + j, 90 + k), "voxel {i} {j} {k}");
    }
}
