//! The bundled phantom's MR fused into its plan: the registration the plan records against the
//! truth motion, the MR series as the reader sees it, and the optic nerves the plan grows on the
//! fused MR against the truth label map.

mod common;

use nalgebra::{Isometry3, Matrix3, Point3, Rotation3, Translation3, UnitQuaternion};
use twinplan::core::dicom;
use twinplan::core::document::{Placement, PlanDocument, io as plan_io};
use twinplan::core::phantom::{MR_NAME, Truth};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::import_labels;
use twinplan::core::volume::Volume;

fn truth() -> Truth {
    let text = std::fs::read_to_string(common::project("sample_scans/phantom/truth.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The bundled plan, its CT and its MR as the reader loads them.
fn bundled() -> (PlanDocument, Volume, Volume) {
    let dir = common::project("sample_scans/phantom");
    let load = |folder: &str| dicom::open_volume(&dir.join(folder), None, &Progress::new()).unwrap().1.volume;
    (plan_io::read(&dir.join("phantom.twinplan.json")).unwrap(), load("dicom"), load("mr"))
}

fn rigid(rows: &[[f64; 4]; 4]) -> Isometry3<f64> {
    let r = Matrix3::from_fn(|i, j| rows[i][j]);
    let rotation = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
    Isometry3::from_parts(Translation3::new(rows[0][3], rows[1][3], rows[2][3]), rotation)
}

/// The plan's `primary_from_secondary` for the MR, found by twinplan's registration when the
/// phantom was written, against the truth motion: target errors at points 10 mm apart through
/// the brain (truth structure 3's ellipsoid).
#[test]
fn the_bundled_mr_is_fused_within_a_fifth_of_a_millimetre_of_its_truth_motion() {
    let truth = truth();
    let plan = plan_io::read(&common::project("sample_scans/phantom/phantom.twinplan.json")).unwrap();
    let mr = &plan.secondary_scans[0];
    assert_eq!(mr.name, MR_NAME);
    assert!(matches!(mr.placement, Placement::Automatic { .. }), "{:?}", mr.placement);
    let brain = match &truth.structure("Brain").unwrap().geometry {
        twinplan::core::phantom::Shape::Ellipsoids { items } => items[0],
        other => panic!("{other:?}"),
    };
    let c = brain.centre;
    let [a, b, h] = brain.semi_axes_mm;
    let mut points = Vec::new();
    for x in (-8..=8).map(|i| c.x + 10.0 * i as f64) {
        for y in (-10..=10).map(|i| c.y + 10.0 * i as f64) {
            for z in (-9..=9).map(|i| c.z + 10.0 * i as f64) {
                let p = Point3::new(x, y, z);
                if brain.contains(&p) {
                    points.push(p);
                }
            }
        }
    }
    assert!(points.len() > 1000 && a > 50.0 && b > 50.0 && h > 50.0, "{} points", points.len());
    let truth_motion = rigid(&truth.mr.ct_from_mr);
    let start = common::pairs::tre_mm(&Isometry3::identity(), &truth_motion, &points);
    let (mean, max) = common::pairs::tre_mm(&mr.primary_from_secondary, &truth_motion, &points);
    eprintln!(
        "TRE over {} points: mean {mean:.3} mm, max {max:.3} mm (unregistered: {:.1} / {:.1} mm)",
        points.len(),
        start.0,
        start.1
    );
    assert!(start.0 > 10.0, "the registration has something to find: {start:?}");
    assert!(mean < 0.2 && max < 0.5, "TRE mean {mean:.3} mm, max {max:.3} mm");
}

/// The MR series reads back as the truth describes it: an MR of the same patient on its own
/// oblique grid, a study of its own.
#[test]
fn the_bundled_mr_reads_as_an_oblique_mr_of_the_same_patient() {
    let truth = truth();
    let (_, ct, mr) = bundled();
    assert_eq!(mr.meta.modality, "MR");
    assert_eq!(mr.meta.patient_id, ct.meta.patient_id);
    assert_ne!(mr.meta.study_uid, ct.meta.study_uid);
    assert!(mr.warnings.is_empty(), "{:?}", mr.warnings);
    assert_eq!(mr.grid.dims, truth.mr.dims);
    for r in 0..4 {
        for c in 0..4 {
            let (got, want) = (mr.grid.patient_from_voxel[(r, c)], truth.mr.patient_from_voxel[r][c]);
            assert!((got - want).abs() < 1e-6, "patient_from_voxel[{r}][{c}]: {got} vs {want}");
        }
    }
    assert!(mr.grid.directions()[(2, 1)].abs() > 0.1, "the slices are tilted");
}

/// The optic nerves are the one structure the plan takes from the MR. Rebuilt from the plan's
/// recipe (the MR loaded from its folder, placed by the plan's registration and resampled onto
/// the CT), they are exactly the plan's saved label map; against the truth label map they miss
/// almost no nerve voxel (the threshold errs toward a thicker nerve, the safe side for
/// clearance).
#[test]
fn the_optic_nerves_grown_on_the_fused_mr_cover_the_truth_nerves() {
    let dir = common::project("sample_scans/phantom");
    let plan = dir.join("phantom.twinplan.json");
    let opened = plan_io::open(&plan, &Progress::new()).unwrap();
    let nerve = opened.doc.segmentation.segments.iter().find(|s| s.name == "Optic nerves").unwrap();
    assert_eq!(nerve.steps[0].scan(), Some(MR_NAME));
    let mut rebuilt = opened.doc.clone();
    rebuilt.label_map = None;
    plan_io::load_labels(&plan, &mut rebuilt, &opened.loaded.volume, &Progress::new()).unwrap();
    assert!(rebuilt.segmentation.labels.labels == opened.doc.segmentation.labels.labels, "rebuilt as saved");

    let (truth, _) = import_labels(&dir.join("truth_labels.nii.gz"), &opened.loaded.volume.grid).unwrap();
    let ours = &rebuilt.segmentation.labels;
    let label = nerve.label;
    let (truth_n, ours_n) = (truth.count(8), ours.count(label));
    let both = (0..truth.labels.len()).filter(|&i| truth.labels[i] == 8 && ours.labels[i] == label).count();
    let missed = truth_n - both;
    let dice = 2.0 * both as f64 / (truth_n + ours_n) as f64;
    eprintln!("nerves: truth {truth_n} voxels, grown {ours_n}, missed {missed}, Dice {dice:.3}");
    assert!(truth_n > 500);
    assert!((missed as f64) < 0.03 * truth_n as f64, "{missed} of {truth_n} truth nerve voxels missed");
    assert!(dice > 0.8, "Dice {dice:.3}");
}

/// The metric that follows a placement made by hand is the registration's own: at the plan's
/// registered placement it is the value the plan recorded, and every nudge of 1 mm or 2 degrees
/// away from it lowers it.
#[test]
fn the_metric_of_a_hand_placement_peaks_where_the_registration_ended() {
    use twinplan::core::registration::{Probe, Settings};
    let (plan, ct, mr) = bundled();
    let fused = &plan.secondary_scans[0];
    let Placement::Automatic { metric: recorded, .. } = fused.placement else { panic!("{:?}", fused.placement) };
    let probe = Probe::new(&ct, &mr, Settings::default().samples);
    let at = |m: &Isometry3<f64>| probe.metric(m).unwrap();
    let best = at(&fused.primary_from_secondary);
    assert!((best - recorded).abs() < 1e-3, "{best} where the plan recorded {recorded}");
    let c = twinplan::core::phantom::CENTRE_MM.coords;
    for axis in [nalgebra::Vector3::x(), nalgebra::Vector3::y(), nalgebra::Vector3::z()] {
        let shifted = Isometry3::translation(axis.x, axis.y, axis.z) * fused.primary_from_secondary;
        let turn = Translation3::from(c)
            * UnitQuaternion::from_scaled_axis(axis * 2f64.to_radians())
            * Translation3::from(-c)
            * fused.primary_from_secondary;
        for (what, m) in [("1 mm", shifted), ("2 degrees", turn)] {
            let v = at(&m);
            assert!(v < best, "{what} along {axis:?}: {v} is not below {best}");
        }
    }
}

/// Where the plan's grid leaves the fused MR (the bottom of the head), the MR has no value: a
/// threshold on its dark values (air, bone, flow voids, from 0) takes none of those voxels,
/// though it would if they read as the MR's lowest value.
#[test]
fn a_threshold_on_the_fused_mr_takes_nothing_outside_its_field_of_view() {
    use std::sync::Arc;
    use twinplan::core::segmentation::{Segmentation, Step, WithFused};
    let (plan, ct, mr) = bundled();
    let fused = &plan.secondary_scans[0];
    let on_ct = fused.on_grid(&mr, &ct.grid).unwrap();
    let mr_from_ct = fused.primary_from_secondary.inverse();
    let outside: Vec<usize> = (0..ct.data.len())
        .filter(|&i| {
            let p = ct.grid.patient_point(Point3::from(ct.grid.ijk(i).map(|c| c as f64)));
            mr.grid.voxel_point(&(mr_from_ct * p)).and_then(|v| mr.sample_voxel(v)).is_none()
        })
        .collect();
    assert!(outside.len() > 100_000, "{} voxels outside the MR", outside.len());
    let values = WithFused { primary: &ct, fused: vec![(MR_NAME.to_owned(), Arc::new(on_ct))], vessels: None };
    let mut seg = Segmentation::new(&ct);
    let label = seg.add("dark on the MR", twinplan::core::segmentation::Category::Other);
    let step = Step::Threshold { lo: 0.0, hi: 50.0, scan: Some(MR_NAME.to_owned()) };
    seg.apply(label, step, &values, &Progress::new()).unwrap();
    let taken = seg.labels.count(label);
    assert!(taken > 10_000, "{taken} dark voxels inside the MR");
    assert!(outside.iter().all(|&i| seg.labels.labels[i] == 0), "a voxel outside the MR was taken");
}
