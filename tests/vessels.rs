//! Vessels and nerves from the images: the phantom's arterial trees grown from one seed each,
//! against its analytic tubes; the real contrast CT's aorta against its label.

mod common;

use twinplan::core::dicom;
use twinplan::core::phantom::{Shape, Truth, Tube};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::{Logic, Mask, import_labels};
use twinplan::core::vessels::{TreeSettings, tree};
use twinplan::core::volume::Volume;

fn truth() -> Truth {
    let text = std::fs::read_to_string(common::project("sample_scans/phantom/truth.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn tubes(truth: &Truth, name: &str) -> Vec<Tube> {
    match &truth.structure(name).unwrap().geometry {
        Shape::Tubes { segments } => segments.clone(),
        other => panic!("{other:?}"),
    }
}

fn phantom_ct() -> Volume {
    dicom::open_volume(&common::project("sample_scans/phantom/dicom"), None, &Progress::new()).unwrap().1.volume
}

fn truth_mask(volume: &Volume, label: u16) -> Mask {
    let (map, _) = import_labels(&common::project("sample_scans/phantom/truth_labels.nii.gz"), &volume.grid).unwrap();
    map.mask(label)
}

#[test]
fn the_phantom_arteries_grow_from_one_seed_per_side() {
    let truth = truth();
    let arteries = tubes(&truth, "Arteries");
    let ct = phantom_ct();
    let mid = |t: &Tube| t.from + (t.to - t.from) * 0.5;
    let seeds = [mid(&arteries[0]), mid(&arteries[6])];
    let settings = TreeSettings::contrast_ct();
    let found = tree::tree(&ct, &seeds, &settings, &Progress::new()).unwrap();
    let want = truth_mask(&ct, 6);
    let dice = found.dice(&want);
    let missed = want.combine(&found, Logic::Subtract).count();
    eprintln!("arteries: Dice {dice:.3}, {} voxels found, {} in truth, {missed} missed", found.count(), want.count());
    assert!(dice > 0.92, "Dice {dice:.3}");
    // The wall errs outward: (almost) no truth voxel is left out.
    assert!(missed * 200 < want.count(), "{missed} truth voxels missed");
}

/// The contrast CT's aorta (TotalSegmentator's label 52), grown from one click at its centre.
/// This scan's vertebral cortex lies below 700 HU (thin slices, old bone), so bone is taken
/// above 400 HU; without bone suppression the tree runs into the vertebrae (labels 32, 33).
#[test]
fn the_contrast_ct_aorta_grows_from_one_click_and_bone_keeps_the_spine_out() {
    let ct = dicom::open_volume(&common::data("ct-body-j2k/dicom"), None, &Progress::new()).unwrap().1.volume;
    let (labels, _) = import_labels(&common::data("ct-body-j2k/labels.nii.gz"), &ct.grid).unwrap();
    let aorta = labels.mask(52);
    let spine = labels.mask(32).combine(&labels.mask(33), Logic::Union);
    // The label's centre on the middle slice.
    let k = ct.grid.dims[2] / 2;
    let inside: Vec<[usize; 2]> = (0..ct.grid.dims[1])
        .flat_map(|j| (0..ct.grid.dims[0]).map(move |i| [i, j]))
        .filter(|&[i, j]| aorta.get(ct.grid.index(i, j, k)))
        .collect();
    let mean = |a: usize| inside.iter().map(|p| p[a] as f64).sum::<f64>() / inside.len() as f64;
    let seed = ct.grid.patient_point(nalgebra::Point3::new(mean(0), mean(1), k as f64));
    let settings = TreeSettings {
        scales_mm: vec![2.0, 4.0, 6.0, 8.0],
        contrast: 150.0,
        threshold: 0.1,
        min_radius_mm: 5.0,
        bone_above: Some(400.0),
        ..TreeSettings::contrast_ct()
    };
    let found = tree::tree(&ct, &[seed], &settings, &Progress::new()).unwrap();
    let covered = aorta.combine(&found, Logic::Intersect).count() as f64 / aorta.count() as f64;
    let in_spine = spine.combine(&found, Logic::Intersect).count() as f64 / spine.count() as f64;
    eprintln!(
        "aorta: {:.1}% covered, Dice {:.3}; spine {:.2}% taken",
        100.0 * covered,
        found.dice(&aorta),
        100.0 * in_spine
    );
    assert!(covered > 0.7, "{covered}");
    assert!(in_spine < 0.02, "{in_spine}");

    let unsuppressed = TreeSettings { bone_above: None, ..settings };
    let leaked = tree::tree(&ct, &[seed], &unsuppressed, &Progress::new()).unwrap();
    let in_spine = spine.combine(&leaked, Logic::Intersect).count() as f64 / spine.count() as f64;
    eprintln!("without bone suppression: spine {:.1}% taken", 100.0 * in_spine);
    assert!(in_spine > 0.3, "{in_spine}");
}

/// A click away from any vessel, or outside the scan, is refused with a message naming it.
#[test]
fn a_seed_off_any_vessel_is_refused_by_name() {
    let ct = phantom_ct();
    let settings = TreeSettings::contrast_ct();
    let prepared = tree::prepare(&ct, &settings, &Progress::new()).unwrap();
    // The centre of the head: white matter, 15 mm from the nearest artery.
    let brain = match truth().structure("Brain").unwrap().geometry {
        Shape::Ellipsoids { ref items } => items[0].centre,
        ref other => panic!("{other:?}"),
    };
    for (seed, says) in [(brain, "is not on a vessel"), (nalgebra::Point3::new(0.0, 0.0, 900.0), "outside the scan")] {
        let e = tree::grow(&ct, &prepared, &[seed], &settings, &Progress::new()).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains(&format!("{:.1}", seed.z)), "{e}");
    }
}
