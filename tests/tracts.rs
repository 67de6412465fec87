//! Tractography files read as nibabel reads them (tests/fixtures/tracts, written and read back
//! by nibabel: see make.py there), imported as a nerve segment on the phantom, and refused with
//! a message naming the file when broken or made for another scan.

mod common;

use nalgebra::Point3;
use twinplan::core::dicom;
use twinplan::core::io::tracts;
use twinplan::core::phantom::{Shape, Truth};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::{Segmentation, Step};
use twinplan::core::volume::Volume;

fn fixture(name: &str) -> std::path::PathBuf {
    common::project(&format!("tests/fixtures/tracts/{name}"))
}

#[test]
fn streamlines_read_as_nibabel_reads_them() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    for name in ["nerve.tck", "oblique.trk", "voxel-order.trk"] {
        let want = expected["streamlines_ras_mm"][name].as_array().unwrap();
        let got = tracts::read(&fixture(name)).unwrap();
        assert_eq!(got.streamlines.len(), want.len(), "{name}");
        let mut worst = 0f64;
        for (line, want_line) in got.streamlines.iter().zip(want) {
            let want_line = want_line.as_array().unwrap();
            assert_eq!(line.len(), want_line.len(), "{name}");
            for (p, q) in line.iter().zip(want_line) {
                let ras = [q[0].as_f64().unwrap(), q[1].as_f64().unwrap(), q[2].as_f64().unwrap()];
                // nibabel gives RAS; twinplan LPS.
                let d = (p - Point3::new(-ras[0], -ras[1], ras[2])).norm();
                worst = worst.max(d);
            }
        }
        eprintln!("{name}: {} streamlines, largest difference from nibabel {worst:.2e} mm", got.streamlines.len());
        assert!(worst < 1e-4, "{name}: {worst} mm from nibabel");
    }
}

fn phantom_ct() -> Volume {
    dicom::open_volume(&common::project("sample_scans/phantom/dicom"), None, &Progress::new()).unwrap().1.volume
}

/// Fibres within 0.6 mm of the left optic nerve's axis, imported with a 1.5 mm radius (the
/// nerve's): the segment holds the nerve's truth voxels and little else.
#[test]
fn tracts_along_the_optic_nerve_become_its_segment() {
    let text = std::fs::read_to_string(common::project("sample_scans/phantom/truth.json")).unwrap();
    let truth: Truth = serde_json::from_str(&text).unwrap();
    let Shape::Tubes { segments } = &truth.structure("Optic nerves").unwrap().geometry else { panic!() };
    let left = &segments[..2];
    let ct = phantom_ct();
    let mut seg = Segmentation::new(&ct);
    let label = seg.add("Left optic nerve", twinplan::core::segmentation::Category::Nerve);
    seg.apply(label, Step::ImportTracts { file: fixture("nerve.tck"), radius_mm: 1.5 }, &ct, &Progress::new()).unwrap();
    let mask = seg.mask(label);
    let (mut inside_truth, mut truth_voxels, mut covered) = (0, 0, 0);
    for v in 0..mask.voxels.len() {
        let [i, j, k] = ct.grid.ijk(v);
        let p = ct.grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
        let in_truth = left.iter().any(|t| t.signed_distance(&p) < 0.0);
        truth_voxels += in_truth as usize;
        if mask.get(v) {
            inside_truth += left.iter().any(|t| t.signed_distance(&p) < 1.0) as usize;
            covered += in_truth as usize;
        }
    }
    let (found, coverage) = (mask.count(), covered as f64 / truth_voxels as f64);
    eprintln!(
        "tract segment: {found} voxels, {:.0}% within 1 mm of the nerve, {:.1}% of the nerve covered",
        100.0 * inside_truth as f64 / found as f64,
        100.0 * coverage
    );
    assert!(coverage > 0.97, "{coverage}");
    assert!(inside_truth as f64 > 0.95 * found as f64);
}

#[test]
fn broken_files_and_tracts_of_another_scan_are_refused_by_name() {
    for (name, says) in [("broken.tck", "no END line"), ("broken.trk", "header size field says 999")] {
        let e = tracts::read(&fixture(name)).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(says), "{e}");
    }
    let e = tracts::read(&fixture("make.py")).unwrap_err().to_string();
    assert!(e.contains("make.py") && e.contains(".tck (MRtrix) or .trk"), "{e}");
    // The fibres 300 mm to the side, outside the phantom's CT.
    let ct = phantom_ct();
    let mut seg = Segmentation::new(&ct);
    let label = seg.add("Tracts", twinplan::core::segmentation::Category::Nerve);
    for (name, says) in [("far.tck", "belong to another scan"), ("broken.tck", "no END line")] {
        let step = Step::ImportTracts { file: fixture(name), radius_mm: 1.0 };
        let e = seg.apply(label, step, &ct, &Progress::new()).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(says), "{e}");
    }
    assert_eq!(seg.mask(label).count(), 0);
    assert!(seg.segment(label).unwrap().steps.is_empty(), "nothing recorded");
}
