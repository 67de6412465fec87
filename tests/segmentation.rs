//! Segmentation against the phantom's exact truth and real label maps.

mod common;

use std::sync::OnceLock;

use twinplan::core::dicom;
use twinplan::core::phantom::{self, Phantom, Shape};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::components::{flood, keep_largest};
use twinplan::core::segmentation::{
    Category, Connectivity, Mask, Preset, Segmentation, Step, import_labels, mask::threshold,
};

fn phantom() -> &'static Phantom {
    static P: OnceLock<Phantom> = OnceLock::new();
    P.get_or_init(phantom::generate)
}

fn truth(labels: &[u8]) -> Mask {
    let p = phantom();
    Mask { grid: p.volume.grid.clone(), voxels: p.labels.iter().map(|l| labels.contains(l) as u8).collect() }
}

/// Points on the centre-lines of a truth tube tree (segment starts), in LPS mm.
fn tube_points(name: &str) -> Vec<nalgebra::Point3<f64>> {
    match &phantom().truth.structure(name).unwrap().geometry {
        Shape::Tubes { segments } => segments.iter().map(|t| t.from).collect(),
        _ => panic!("{name} is not a tube tree"),
    }
}

#[test]
fn bone_threshold_and_largest_island_recover_the_skull() {
    let p = phantom();
    let (lo, hi) = Preset::Bone.range_hu();
    let skull = keep_largest(&threshold(&p.volume, lo, hi), Connectivity::TwentySix);
    let dice = skull.dice(&truth(&[2]));
    eprintln!("skull Dice {dice:.4}");
    assert!(dice >= 0.95, "skull Dice {dice:.4}");
}

#[test]
fn vessel_threshold_and_seeded_islands_recover_the_vessels() {
    let p = phantom();
    let (lo, hi) = Preset::ContrastVessels.range_hu();
    let candidates = threshold(&p.volume, lo, hi);
    let mut seeds = tube_points("Arteries");
    seeds.extend(tube_points("Superior sagittal sinus"));
    let seeds = twinplan::core::segmentation::seed_voxels(&p.volume, &seeds);
    let vessels = flood(&candidates, &seeds, Connectivity::TwentySix);
    let dice = vessels.dice(&truth(&[6, 7]));
    eprintln!("vessel Dice {dice:.4}");
    assert!(dice >= 0.95, "vessel Dice {dice:.4}");
}

#[test]
fn region_growing_from_a_vessel_seed_gets_that_tree_and_not_the_skull() {
    let p = phantom();
    let mut seg = Segmentation::new(&p.volume);
    let label = seg.add("Left arteries", Category::Vessel);
    let seed = tube_points("Arteries")[0];
    let (lo, hi) = Preset::ContrastVessels.range_hu();
    seg.apply(
        label,
        Step::Grow { seeds_mm: vec![seed], lo, hi, connectivity: Connectivity::TwentySix, scan: None },
        &p.volume,
        &Progress::new(),
    )
    .unwrap();
    let grown = seg.mask(label);
    let arteries = truth(&[6]);
    let skull = truth(&[2]);
    let in_skull = grown.combine(&skull, twinplan::core::segmentation::Logic::Intersect).count();
    let sinus = grown.combine(&truth(&[7]), twinplan::core::segmentation::Logic::Intersect).count();
    // The seed is in the left tree's trunk: the left tree (half the arteries), no bone, no sinus.
    let left_tree = grown.combine(&arteries, twinplan::core::segmentation::Logic::Intersect).count();
    eprintln!("grown {} voxels, {left_tree} in arteries, {in_skull} in skull, {sinus} in sinus", grown.count());
    assert!(in_skull < grown.count() / 100, "{in_skull} skull voxels");
    assert_eq!(sinus, 0);
    assert!(left_tree as f64 > 0.4 * arteries.count() as f64 && (left_tree as f64) < 0.6 * arteries.count() as f64);
    assert!(grown.dice(&arteries) < 0.75, "only one of the two trees");
}

#[test]
fn recipes_rebuild_the_same_label_map() {
    let p = phantom();
    let mut seg = Segmentation::new(&p.volume);
    let progress = Progress::new();
    let skin = seg.add("Skin", Category::Skin);
    let (lo, hi) = Preset::Skin.range_hu();
    for step in
        [Step::Threshold { lo, hi, scan: None }, Step::KeepLargest { connectivity: Connectivity::Six }, Step::FillHoles]
    {
        seg.apply(skin, step, &p.volume, &progress).unwrap();
    }
    let tumour = seg.add("Tumour", Category::Target);
    let Shape::Sphere { centre, radius_mm } = phantom().truth.structure("Tumour").unwrap().geometry else { panic!() };
    seg.apply(tumour, Step::Brush { centre_mm: centre, radius_mm, erase: false }, &p.volume, &progress).unwrap();
    seg.apply(tumour, Step::Dilate { mm: 2.0 }, &p.volume, &progress).unwrap();
    let before = seg.labels.clone();
    assert!(seg.volume_mm3(tumour) > 4.0 / 3.0 * std::f64::consts::PI * radius_mm.powi(3));
    seg.rebuild(&p.volume, &progress).unwrap();
    assert_eq!(seg.labels, before);
    // The filled body outline covers the whole head.
    let head = truth(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let dice = seg.mask(skin).combine(&seg.mask(tumour), twinplan::core::segmentation::Logic::Union).dice(&head);
    assert!(dice > 0.99, "head Dice {dice}");
}

#[test]
fn the_aorta_label_map_imports_onto_the_series_grid() {
    let (_, loaded) = dicom::open_volume(&common::data("ct-body-j2k/dicom"), None, &Progress::new()).unwrap();
    let v = loaded.volume;
    let path = common::data("ct-body-j2k/labels.nii.gz");
    let (labels, warnings) = import_labels(&path, &v.grid).unwrap();
    // The NIfTI rows run the other way (its affine flips y): resampled, and said so.
    assert!(warnings.iter().any(|w| w.contains("resampled")), "{warnings:?}");
    let aorta = labels.mask(52);
    // Nearest neighbour onto a flipped copy of the same grid is exact: the voxel count is kept.
    assert_eq!(aorta.count(), 11723);
    // Contrast-filled aorta: its voxels are bright on the CT.
    let mean_hu: f64 = (0..aorta.voxels.len()).filter(|&i| aorta.get(i)).map(|i| v.data.get(i) as f64).sum::<f64>()
        / aorta.count() as f64;
    assert!(mean_hu > 150.0, "aorta mean {mean_hu} HU");
    assert_eq!(labels.histogram().len(), 31);
}

#[test]
fn label_maps_that_do_not_fit_are_refused_with_reasons() {
    let p = phantom();
    let tmp = tempfile::tempdir().unwrap();
    // A label map of the phantom shifted 1 m away does not overlap.
    let mut far = p.volume.grid.clone();
    far.patient_from_voxel[(0, 3)] += 1000.0;
    let labels: Vec<u16> = p.labels.iter().map(|&l| l as u16).collect();
    let path = tmp.path().join("far.nii.gz");
    twinplan::core::io::nifti::write_labels(&path, &far, &labels, "").unwrap();
    let e = import_labels(&path, &p.volume.grid).unwrap_err().to_string();
    assert!(e.contains("far.nii.gz") && e.contains("does not overlap"), "{e}");
    // Shifted by 10 mm: resampled, with the part outside reported.
    let mut near = p.volume.grid.clone();
    near.patient_from_voxel[(0, 3)] += 10.0;
    let path = tmp.path().join("near.nii.gz");
    twinplan::core::io::nifti::write_labels(&path, &near, &labels, "").unwrap();
    let (moved, warnings) = import_labels(&path, &p.volume.grid).unwrap();
    assert!(warnings.iter().any(|w| w.contains("covers")), "{warnings:?}");
    // 10 mm is not a whole number of 0.9 mm voxels: nearest neighbour puts each label within
    // half a voxel of where it was.
    let idx = p.volume.grid.index(100, 100, 75);
    let [i, j, k] = [100usize, 100, 75];
    let shifted = p.labels[p.volume.grid.index(i - 11, j, k)] as u16;
    assert_eq!(moved.labels[idx], shifted);
    // A label that is not there is named.
    let mut seg = Segmentation::new(&p.volume);
    let l = seg.add("x", Category::Other);
    let e = seg.apply(l, Step::Import { file: path, label: 42 }, &p.volume, &Progress::new()).unwrap_err().to_string();
    assert!(e.contains("label 42 is absent") && e.contains("1, 2, 3"), "{e}");
}

#[test]
fn label_maps_round_trip_through_nifti() {
    let p = phantom();
    let tmp = tempfile::tempdir().unwrap();
    let mut seg = Segmentation::new(&p.volume);
    seg.labels.labels = p.labels.iter().map(|&l| l as u16).collect();
    let path = tmp.path().join("labels.nii.gz");
    seg.labels.write_nifti(&path, "test").unwrap();
    let (back, warnings) = import_labels(&path, &p.volume.grid).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back.labels, seg.labels.labels);
}
