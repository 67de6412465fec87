//! Irregular series written by another tool (pydicom, tests/fixtures/series/make.py), checked
//! against the positions and values that script wrote (expected.json): gantry tilt, missing
//! slices, a gap wide enough to split, uneven spacing, an oblique stack numbered backwards.

mod common;

use nalgebra::{Matrix4, Point3};
use twinplan::core::dicom;
use twinplan::core::progress::Progress;
use twinplan::core::volume::Volume;

fn truth(name: &str) -> serde_json::Value {
    let path = common::project("tests/fixtures/series/expected.json");
    let all: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["series"][name]["ground_truth"].clone()
}

fn volumes(name: &str) -> Vec<Volume> {
    let scan = dicom::scan(&common::project(&format!("tests/fixtures/series/{name}")), &Progress::new()).unwrap();
    scan.series.iter().map(|s| dicom::load(s, &Progress::new()).unwrap().volume).collect()
}

fn matrix(v: &serde_json::Value) -> Matrix4<f64> {
    Matrix4::from_row_iterator(v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
}

fn slice_sum(v: &Volume, k: usize) -> f64 {
    let [nx, ny, _] = v.grid.dims;
    (0..ny).flat_map(|j| (0..nx).map(move |i| (i, j))).map(|(i, j)| f64::from(v.at(i, j, k))).sum()
}

/// Slice `k` of the volume is the written slice `s`: its sum, and its sampled pixels.
fn is_slice(v: &Volume, k: usize, s: &serde_json::Value, what: &str) {
    assert_eq!(slice_sum(v, k), s["hu_sum"].as_f64().unwrap(), "{what}: slice {k} is not {}", s["file"]);
    for p in s["samples"].as_array().unwrap() {
        let (row, col) = (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize);
        assert_eq!(
            f64::from(v.at(col, row, k)),
            p[2].as_f64().unwrap(),
            "{what}: slice {k} at row {row}, column {col}"
        );
    }
}

#[test]
fn a_gantry_tilt_keeps_its_sheared_geometry() {
    let t = truth("tilt");
    let v = volumes("tilt").remove(0);
    assert!(
        (v.grid.patient_from_voxel - matrix(&t["sheared_patient_from_voxel"])).amax() < 1e-4,
        "{}",
        v.grid.patient_from_voxel
    );
    assert!((v.grid.shear_deg() - 15.0).abs() < 0.01, "{}", v.grid.shear_deg());
    assert!(v.warnings.iter().any(|w| w.contains("tilt")), "{:?}", v.warnings);
    for (k, s) in t["slices_in_position_order"].as_array().unwrap().iter().enumerate() {
        is_slice(&v, k, s, "tilt");
    }
}

#[test]
fn two_missing_slices_are_filled_and_said() {
    let t = truth("gap");
    let v = volumes("gap").remove(0);
    assert_eq!(v.grid.dims[2], 20);
    assert!((v.grid.patient_from_voxel - matrix(&t["nominal_patient_from_voxel"])).amax() < 1e-4);
    assert!(v.warnings.iter().any(|w| w.contains("missing") && w.contains("interpolation")), "{:?}", v.warnings);
    let present: Vec<usize> =
        t["present_nominal_indices"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let slices = t["slices_in_position_order"].as_array().unwrap();
    for (s, &k) in slices.iter().zip(&present) {
        is_slice(&v, k, s, "gap");
    }
    // The filled ones lie between their neighbours (8 is a third of the way from 7 to 10).
    let (a, b) = (slice_sum(&v, 7), slice_sum(&v, 10));
    for (k, t) in [(8, 1.0 / 3.0), (9, 2.0 / 3.0)] {
        let expected = a + (b - a) * t;
        assert!(
            (slice_sum(&v, k) - expected).abs() <= 32.0 * 32.0 * 0.5,
            "slice {k}: {} vs {expected}",
            slice_sum(&v, k)
        );
    }
}

#[test]
fn a_gap_of_fifteen_steps_splits_the_series() {
    let t = truth("wide_gap");
    let mut vs = volumes("wide_gap");
    assert_eq!(vs.len(), 2);
    vs.sort_by(|a, b| a.grid.origin_mm().z.total_cmp(&b.grid.origin_mm().z));
    let slices = t["slices_in_position_order"].as_array().unwrap();
    for (n, v) in vs.iter().enumerate() {
        assert_eq!(v.grid.dims[2], 10);
        assert!((v.grid.spacing_mm()[2] - 2.0).abs() < 1e-6);
        assert!(v.warnings.iter().any(|w| w.contains("split")), "{:?}", v.warnings);
        for k in 0..10 {
            is_slice(v, k, &slices[10 * n + k], "wide gap");
        }
    }
}

#[test]
fn uneven_spacing_is_resampled_and_said() {
    let t = truth("uneven");
    let v = volumes("uneven").remove(0);
    assert!(v.warnings.iter().any(|w| w.contains("uneven")), "{:?}", v.warnings);
    let slices = t["slices_in_position_order"].as_array().unwrap();
    let first = slices.first().unwrap()["position_along_normal"].as_f64().unwrap();
    let last = slices.last().unwrap()["position_along_normal"].as_f64().unwrap();
    let n = v.grid.dims[2];
    assert!((v.grid.origin_mm().z - first).abs() < 1e-6);
    assert!((v.grid.patient_point(Point3::new(0.0, 0.0, (n - 1) as f64)).z - last).abs() < v.grid.spacing_mm()[2]);
    is_slice(&v, 0, &slices[0], "uneven");
}

#[test]
fn an_oblique_stack_numbered_backwards_is_ordered_by_position() {
    let t = truth("oblique_reversed");
    let v = volumes("oblique_reversed").remove(0);
    assert!(
        (v.grid.patient_from_voxel - matrix(&t["patient_from_voxel_k_along_normal"])).amax() < 1e-4,
        "{}",
        v.grid.patient_from_voxel
    );
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    for (k, s) in t["slices_in_position_order"].as_array().unwrap().iter().enumerate() {
        is_slice(&v, k, s, "oblique");
    }
}
