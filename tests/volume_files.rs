//! NIfTI and NRRD volumes open as scans wherever a DICOM folder does. Their geometry is checked
//! against what nibabel, SimpleITK and pynrrd read from the same files (recorded in
//! tests/fixtures/volumes/expected.json by its make.py), oblique, flipped and scaled ones included.

mod common;

use common::twinplan;
use nalgebra::{Matrix4, Point3};
use twinplan::core::dicom;
use twinplan::core::progress::Progress;

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(common::project("tests/fixtures/volumes/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matrix(v: &serde_json::Value) -> Matrix4<f64> {
    Matrix4::from_row_iterator(v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
}

#[test]
fn volume_files_open_where_the_other_readers_place_them() {
    let e = expected();
    let mut checked = 0;
    for f in e["volumes"].as_array().unwrap() {
        let name = f["file"].as_str().unwrap();
        let path = common::project(&format!("tests/fixtures/volumes/{name}"));
        if f["format"] == "NIfTI-2" {
            let err = dicom::open_volume(&path, None, &Progress::new()).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("NIfTI-2"), "{err}");
            continue;
        }
        let (scan, loaded) = dicom::open_volume(&path, None, &Progress::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scan.series.len(), 1);
        let v = loaded.volume;
        assert_eq!(v.grid.dims, [20, 24, 16], "{name}");
        let ours = v.grid.patient_from_voxel;
        // The matrix the file was written with, and each independent reader that agrees with it.
        let written = matrix(&f["written_patient_from_voxel"]);
        assert!((ours - written).amax() < 1e-4, "{name}: {ours} vs written {written}");
        for reader in ["nibabel", "simpleitk"] {
            if let Some(m) = f[reader].get("patient_from_voxel") {
                let theirs = matrix(m);
                let apart = (ours - theirs).amax();
                // SimpleITK takes the qform where sform_code is not 1: the one disagreement, said.
                if reader == "simpleitk" && f["simpleitk_uses"] == "qform" && f["header"]["sform_code"] == 2 {
                    assert!(apart > 10.0, "{name}: SimpleITK was expected to differ");
                    assert!(v.warnings.iter().any(|w| w.contains("sform and the qform")), "{:?}", v.warnings);
                } else {
                    assert!(apart < 1e-4, "{name}: {reader} {theirs} vs {ours}");
                }
            }
        }
        if f["format"] == "NRRD" {
            assert!((ours - matrix(&f["pynrrd_patient_from_voxel"])).amax() < 1e-9, "{name} vs pynrrd");
        }
        // Values where the samples say, after scaling, and the sum of all.
        for s in f["samples"].as_array().unwrap() {
            let ijk: Vec<usize> = s["ijk"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            assert_eq!(f64::from(v.at(ijk[0], ijk[1], ijk[2])), s["value"].as_f64().unwrap(), "{name} at {ijk:?}");
            let p = v.grid.patient_point(Point3::new(ijk[0] as f64, ijk[1] as f64, ijk[2] as f64));
            let lps: Vec<f64> = s["lps"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            assert!((p - Point3::new(lps[0], lps[1], lps[2])).norm() < 1e-4, "{name} {ijk:?}: {p} vs {lps:?}");
        }
        let sum: f64 = (0..v.data.len()).map(|i| f64::from(v.data.get(i))).sum();
        assert!((sum - f["values"]["sum"].as_f64().unwrap()).abs() < 1e-3 * sum.abs().max(1.0), "{name}: {sum}");
        checked += 1;
    }
    assert_eq!(checked, 8, "5 NIfTI-1 and 3 NRRD files");
}

/// `info`, `segment`, `mesh` and `export-volume` take a volume file as they take a folder; a plan
/// on one saves, opens again and notices when another file is put in its place.
#[test]
fn the_command_line_and_plans_take_volume_files() {
    let dir = tempfile::tempdir().unwrap();
    let nrrd = common::project("tests/fixtures/volumes/lps_gzip.nrrd");
    let nrrd = nrrd.to_str().unwrap();
    let (code, out, err) = twinplan(&["info", nrrd, "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["series"][0]["dims"], serde_json::json!([20, 24, 16]));
    assert_eq!(j["series"][0]["slice_count"], 16);
    assert_eq!(j["series"][0]["transfer_syntaxes"], serde_json::json!(["NRRD"]));

    // Values v = 1000 i + 40 j + k: above 10000 is i >= 10, half the volume.
    let seg = dir.path().join("half.nii.gz");
    let (code, out, err) =
        twinplan(&["segment", nrrd, "--step", "threshold:10000:30000", "--out", seg.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["voxels"], 10 * 24 * 16, "{j}");
    let stl = dir.path().join("half.stl");
    let (code, out, err) = twinplan(&["mesh", nrrd, "--iso", "10000", "--out", stl.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["triangles"].as_u64().unwrap() > 100);

    // Through NIfTI and back: the same grid.
    let nii = dir.path().join("back.nii.gz");
    let (code, _, err) = twinplan(&["export-volume", nrrd, "--out", nii.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (_, a) = dicom::open_volume(std::path::Path::new(nrrd), None, &Progress::new()).unwrap();
    let (_, b) = dicom::open_volume(&nii, None, &Progress::new()).unwrap();
    assert!((a.volume.grid.patient_from_voxel - b.volume.grid.patient_from_voxel).amax() < 1e-4);

    use twinplan::core::document::{PlanDocument, ScanRef, io as plan_io};
    let scan = dir.path().join("scan.nrrd");
    std::fs::copy(nrrd, &scan).unwrap();
    let (found, loaded) = dicom::open_volume(&scan, None, &Progress::new()).unwrap();
    let id = found.series[0].id.clone();
    let scan_ref = ScanRef { path: scan.clone(), series_uid: loaded.volume.meta.series_uid.clone(), series_id: id };
    let doc = PlanDocument::new(scan_ref, twinplan::core::segmentation::LabelMap::empty(&loaded.volume.grid));
    let plan = dir.path().join("p.twinplan.json");
    plan_io::save(&doc, &plan).unwrap();
    let opened = plan_io::open(&plan, &Progress::new()).unwrap();
    assert_eq!(opened.loaded.volume.grid, loaded.volume.grid);
    // Another file in its place is refused, by its identity.
    std::fs::copy(common::project("tests/fixtures/volumes/ras_raw.nrrd"), &scan).unwrap();
    let err = plan_io::open(&plan, &Progress::new()).err().expect("another file is not the plan's scan").to_string();
    assert!(err.contains("scan.nrrd"), "{err}");
}
