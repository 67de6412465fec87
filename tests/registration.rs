//! Automatic registration on real scans with a known answer (see common/pairs.rs): the CT of the
//! head phantom against a pseudo-MR of itself, and the MPRAGE against another contrast of itself,
//! each moved by up to 20 mm and 15 degrees onto another grid. The target registration error is
//! measured at points spread through the anatomy.

mod common;

use std::sync::OnceLock;

use common::pairs::{self, PSEUDO_MR, Recipe};
use nalgebra::Point3;
use twinplan::core::dicom;
use twinplan::core::progress::Progress;
use twinplan::core::registration::{RegistrationError, Settings, register};
use twinplan::core::volume::Volume;

fn load(rel: &str) -> Volume {
    dicom::open_volume(&common::data(rel), None, &Progress::new()).unwrap().1.volume
}

fn ct() -> &'static Volume {
    static CT: OnceLock<Volume> = OnceLock::new();
    CT.get_or_init(|| load("ct-head-phantom"))
}

fn centre(v: &Volume) -> Point3<f64> {
    let (lo, hi) = v.grid.bounds_mm();
    nalgebra::center(&lo, &hi)
}

/// Registers a moved copy of `fixed` and returns the TRE (mean, max) in mm.
fn tre_after(fixed: &Volume, recipe: &Recipe) -> (f64, f64) {
    let (truth, grid) = recipe.geometry(fixed);
    let moving = recipe.moving(fixed, &truth, &grid);
    let found = register(fixed, &moving, &Settings::default(), &Progress::new()).unwrap();
    assert!(found.converged, "{found:?}");
    let points = recipe.points(fixed, &truth, &grid);
    assert!(points.len() > 200, "{} points", points.len());
    let (mean, max) = pairs::tre_mm(&found.fixed_from_moving, &truth, &points);
    eprintln!(
        "shift {:?} turn {:?}: TRE mean {mean:.3} mm, max {max:.3} mm, {} iterations, {:.2} s",
        recipe.shift_mm, recipe.angles_deg, found.iterations, found.time_s
    );
    (mean, max)
}

#[test]
fn ct_to_a_pseudo_mr_of_itself_within_a_fifth_of_a_millimetre() {
    for recipe in [&pairs::CT_FAR, &pairs::CT_OBLIQUE] {
        let (mean, max) = tre_after(ct(), recipe);
        assert!(mean < 0.2 && max < 0.5, "TRE mean {mean:.3} mm, max {max:.3} mm");
    }
}

#[test]
fn mr_to_another_contrast_of_itself_within_a_fifth_of_a_millimetre() {
    let (mean, max) = tre_after(&load("mr-sagittal"), &pairs::MR_CONTRAST);
    assert!(mean < 0.2 && max < 0.5, "TRE mean {mean:.3} mm, max {max:.3} mm");
}

#[test]
fn refuses_another_patient_and_scans_that_do_not_overlap() {
    let fixed = ct();
    let c = centre(fixed);
    let grid = pairs::grid(&c, [120.0, 120.0, 90.0], [3.0, 3.0, 3.0], 0.0);
    let mut other =
        pairs::moved_copy(fixed, &pairs::motion(&c, [0.0; 3], [0.0; 3]), &grid, pairs::curve(PSEUDO_MR), 0.0);
    other.meta.patient_id = format!("{}-other", fixed.meta.patient_id);
    let e = register(fixed, &other, &Settings::default(), &Progress::new()).unwrap_err();
    assert!(matches!(e, RegistrationError::OtherPatient { .. }), "{e}");
    // Far away and small: neither the geometry nor the centres of mass bring the two together.
    let far = pairs::grid(&(c + nalgebra::Vector3::new(600.0, 0.0, 0.0)), [40.0, 40.0, 40.0], [2.0; 3], 0.0);
    let mut away = pairs::moved_copy(fixed, &pairs::motion(&c, [0.0; 3], [0.0; 3]), &far, |_| 0.0, 0.0);
    away.meta.patient_id = fixed.meta.patient_id.clone();
    let e = register(fixed, &away, &Settings::default(), &Progress::new()).unwrap_err();
    assert!(matches!(e, RegistrationError::NoOverlap(_)), "{e}");
}

#[test]
fn the_same_answer_on_any_number_of_threads() {
    let mr = load("mr-sagittal");
    let recipe = Recipe { spacing_mm: [2.0, 2.0, 3.0], ..pairs::MR_CONTRAST };
    let (truth, grid) = recipe.geometry(&mr);
    let moving = recipe.moving(&mr, &truth, &grid);
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| register(&mr, &moving, &Settings::default(), &Progress::new()).unwrap().fixed_from_moving)
    };
    assert_eq!(on(1), on(3));
}

/// A mask keeps the registration to the anatomy it covers. The moving scan is the CT's pseudo-MR
/// moved by the truth, except that the half of the head on the patient's right (x below the
/// centre, in the fixed scan's space) comes from a copy moved 8 mm further (as a jaw or a neck
/// that moved on its own would). Masked to the left half (from 10 mm past the centre), the
/// registration finds the truth there; unmasked it is pulled away by the other half.
#[test]
fn a_mask_keeps_the_registration_to_the_anatomy_it_covers() {
    use std::sync::Arc;
    use twinplan::core::segmentation::Mask;
    use twinplan::core::volume::VoxelData;
    let fixed = ct();
    let c = centre(fixed);
    let recipe = &pairs::CT_FAR;
    let (truth, grid) = recipe.geometry(fixed);
    let other = nalgebra::Isometry3::translation(8.0, 0.0, 0.0) * truth;
    let (a, b) = (recipe.moving(fixed, &truth, &grid), recipe.moving(fixed, &other, &grid));
    let mixed: Vec<f32> = (0..a.data.len())
        .map(|i| {
            let m = grid.patient_point(Point3::from(grid.ijk(i).map(|v| v as f64)));
            if (truth * m).x > c.x { a.data.get(i) } else { b.data.get(i) }
        })
        .collect();
    let moving = Volume { data: VoxelData::F32(mixed), ..a };
    let left = |p: &Point3<f64>| p.x > c.x + 10.0;
    let voxels = (0..fixed.data.len())
        .map(|i| u8::from(left(&fixed.grid.patient_point(Point3::from(fixed.grid.ijk(i).map(|v| v as f64))))))
        .collect();
    let mask = Arc::new(Mask { grid: fixed.grid.clone(), voxels });
    let points: Vec<Point3<f64>> = recipe.points(fixed, &truth, &grid).into_iter().filter(left).collect();
    assert!(points.len() > 50, "{} points", points.len());
    let run = |mask: Option<Arc<Mask>>| {
        let settings = Settings { fixed_mask: mask, ..Settings::default() };
        let found = register(fixed, &moving, &settings, &Progress::new()).unwrap();
        pairs::tre_mm(&found.fixed_from_moving, &truth, &points)
    };
    let (masked, unmasked) = (run(Some(mask)), run(None));
    eprintln!("TRE in the masked half: masked {masked:.3?} mm, unmasked {unmasked:.3?} mm");
    assert!(masked.0 < 0.2 && masked.1 < 0.5, "masked: TRE {masked:?}");
    assert!(unmasked.0 > 2.0 * masked.0 + 0.2, "the other half did not pull the unmasked one away: {unmasked:?}");

    let empty = Arc::new(Mask::empty(&fixed.grid));
    let e = register(fixed, &moving, &Settings { fixed_mask: Some(empty), ..Settings::default() }, &Progress::new());
    assert!(e.unwrap_err().to_string().contains("no voxel"));
}
