//! Vessels and nerves from the images: the phantom's arterial trees grown from one seed each,
//! against its analytic tubes; the real contrast CT's aorta against its label.

mod common;

use nalgebra::Point3;
use twinplan::core::dicom;
use twinplan::core::phantom::{Shape, Truth, Tube};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::{Category, Logic, Mask, Segmentation, Step, WithFused, import_labels};
use twinplan::core::vessels::{TreeSettings, centrelines, trace, tree};
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

/// The arterial trees from one seed per side, as the tests below grow them.
fn phantom_arteries(ct: &Volume, arteries: &[Tube]) -> (Mask, Point3<f64>) {
    let mid = |t: &Tube| t.from + (t.to - t.from) * 0.5;
    let seeds = [mid(&arteries[0]), mid(&arteries[6])];
    (tree::tree(ct, &seeds, &TreeSettings::contrast_ct(), &Progress::new()).unwrap(), seeds[0])
}

/// Distance from a point to the nearest tube's axis, and that tube.
fn nearest_axis(p: &Point3<f64>, tubes: &[Tube]) -> (f64, Tube) {
    tubes.iter().map(|t| (t.axis_distance(p), *t)).min_by(|a, b| a.0.total_cmp(&b.0)).unwrap()
}

#[test]
fn the_phantom_arteries_grow_from_one_seed_per_side() {
    let truth = truth();
    let arteries = tubes(&truth, "Arteries");
    let ct = phantom_ct();
    let (found, _) = phantom_arteries(&ct, &arteries);
    let want = truth_mask(&ct, 6);
    let dice = found.dice(&want);
    let missed = want.combine(&found, Logic::Subtract).count();
    eprintln!("arteries: Dice {dice:.3}, {} voxels found, {} in truth, {missed} missed", found.count(), want.count());
    assert!(dice > 0.9, "Dice {dice:.3}");
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
/// A workstation computes the vesselness once and grows every click from it: a vessels step
/// grows from the vesselness at hand when its settings fit (a copy with one side's arteries
/// erased gives only the other side's tree), and computes it afresh when they do not.
#[test]
fn a_vessels_step_grows_from_the_vesselness_at_hand_only_when_it_fits() {
    let arteries = tubes(&truth(), "Arteries");
    let ct = phantom_ct();
    let settings = TreeSettings::contrast_ct();
    let (both, _) = phantom_arteries(&ct, &arteries);
    let mid = |t: &Tube| t.from + (t.to - t.from) * 0.5;
    let seeds = vec![mid(&arteries[0]), mid(&arteries[6])];
    let mut prepared = tree::prepare(&ct, &settings, &Progress::new()).unwrap();
    assert!(prepared.fits(&TreeSettings { threshold: 0.2, min_radius_mm: 1.0, ..settings.clone() }));
    // Erase the second side (the phantom's sides lie either side of x = 0).
    for n in 0..prepared.vesselness.values.len() {
        let p = ct.grid.patient_point(Point3::from(ct.grid.ijk(n).map(|i| i as f64)));
        if p.x * arteries[6].from.x > 0.0 {
            prepared.vesselness.values[n] = 0.0;
        }
    }
    let prepared = std::sync::Arc::new(prepared);
    let grown = |settings: &TreeSettings, seeds_mm: &[Point3<f64>]| {
        let mut seg = Segmentation::new(&ct);
        let label = seg.add("Arteries", Category::Vessel);
        let values = WithFused { primary: &ct, fused: vec![], vessels: Some((None, prepared.clone())) };
        let step = Step::Vessels { seeds_mm: seeds_mm.to_vec(), settings: settings.clone(), scan: None };
        seg.apply(label, step, &values, &Progress::new()).map(|()| seg.mask(label))
    };
    // The erased side's seed finds no vessel in the vesselness at hand.
    let refused = grown(&settings, &seeds).unwrap_err().to_string();
    assert!(refused.contains("is not on a vessel"), "{refused}");
    let one_side = grown(&settings, &seeds[..1]).unwrap();
    eprintln!("from the vesselness at hand: {} voxels; afresh, both sides: {}", one_side.count(), both.count());
    assert!(one_side.count() * 10 < both.count() * 7 && one_side.count() * 10 > both.count() * 3);
    // The first side's tree lies wholly on its side: as it grows from its seed alone.
    assert!(one_side == tree::tree(&ct, &seeds[..1], &settings, &Progress::new()).unwrap());
    // Other settings: computed afresh, both sides again.
    let other = TreeSettings { contrast: 240.0, ..settings.clone() };
    let afresh = grown(&other, &seeds).unwrap();
    assert!(afresh == tree::tree(&ct, &seeds, &other, &Progress::new()).unwrap());
    assert!(afresh.count() > one_side.count() * 3 / 2);
}

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

/// The centrelines of the grown arteries against the analytic tubes: every point near a tube's
/// axis with that tube's radius, every tube (the thin branches too) followed, every junction a
/// branch point.
#[test]
fn phantom_artery_centrelines_follow_the_analytic_axes_and_radii() {
    let arteries = tubes(&truth(), "Arteries");
    let ct = phantom_ct();
    let (found, seed) = phantom_arteries(&ct, &arteries);
    let lines = centrelines(&found, Some(seed), &Progress::new()).unwrap();
    let points: Vec<_> = lines.points().collect();
    let (mut off, mut radius_error, mut signed) = (0.0, 0.0, 0.0);
    for p in &points {
        let (d, tube) = nearest_axis(&p.position_mm, &arteries);
        off += d;
        radius_error += (p.radius_mm - tube.radius_mm).abs();
        signed += p.radius_mm - tube.radius_mm;
    }
    let n = points.len() as f64;
    let (off, radius_error) = (off / n, radius_error / n);
    eprintln!(
        "{} branches, {} points: axis distance {off:.3} mm, radius error {radius_error:.3} mm (signed {:.3})",
        lines.branches.len(),
        points.len(),
        signed / n
    );
    for (t, tube) in arteries.iter().enumerate() {
        // The axis, 1 mm apart, inside the tube's own stretch (its ends lie in its neighbours).
        let length = (tube.to - tube.from).norm();
        let samples: Vec<Point3<f64>> =
            (0..=length as usize).map(|s| tube.from + (tube.to - tube.from) * (s as f64 / length)).collect();
        let followed =
            samples.iter().filter(|q| points.iter().any(|p| (p.position_mm - **q).norm() < tube.radius_mm)).count()
                as f64
                / samples.len() as f64;
        eprintln!("tube {t} (r {:.1} mm, {length:.0} mm long): {:.0}% followed", tube.radius_mm, 100.0 * followed);
        assert!(followed > 0.75, "tube {t}: {followed}");
    }
    assert!(off < 0.5, "mean distance to the axis {off:.3} mm");
    assert!(radius_error < 0.3, "mean radius error {radius_error:.3} mm");
    // Junctions: where three tube ends meet (two are a bend).
    let branch_points = lines.branch_points();
    let mut junctions = 0;
    for t in &arteries {
        let meets = arteries.iter().filter(|o| (o.from - t.to).norm() < 1e-9 || (o.to - t.to).norm() < 1e-9).count();
        if meets >= 3 {
            junctions += 1;
            let nearest = branch_points.iter().map(|b| (b - t.to).norm()).fold(f64::INFINITY, f64::min);
            assert!(nearest < 3.0, "junction {} has no branch point within 3 mm ({nearest:.1})", t.to);
        }
    }
    assert_eq!(junctions, 4, "two junctions a side");
}

/// The left optic nerve traced on the MR from its two ends only: the path must find the bend at
/// the chiasm, 14 mm off the straight line between the clicks, by the nerve's brightness.
#[test]
fn an_optic_nerve_traced_from_its_ends_follows_its_bend() {
    let truth = truth();
    let nerves = tubes(&truth, "Optic nerves");
    let mr = dicom::open_volume(&common::project("sample_scans/phantom/mr"), None, &Progress::new()).unwrap().1.volume;
    let ct_from_mr = nalgebra::Matrix4::from_fn(|i, j| truth.mr.ct_from_mr[i][j]);
    let mr_from_ct = ct_from_mr.try_inverse().unwrap();
    let left = &nerves[..2];
    let ends = [left[0].from, left[1].to].map(|p| mr_from_ct.transform_point(&p));
    let line = trace::trace(&mr, &ends, &Progress::new()).unwrap();
    let line_ct: Vec<Point3<f64>> = line.iter().map(|p| ct_from_mr.transform_point(p)).collect();
    let off = line_ct.iter().map(|p| nearest_axis(p, left).0).sum::<f64>() / line_ct.len() as f64;
    let worst = line_ct.iter().map(|p| nearest_axis(p, left).0).fold(0.0, f64::max);
    let bend = left[0].to;
    let at_bend = line_ct.iter().map(|p| (p - bend).norm()).fold(f64::INFINITY, f64::min);
    eprintln!(
        "traced nerve: {} points, mean {off:.2} mm off the axis, worst {worst:.2}, {at_bend:.2} mm from the bend",
        line.len()
    );
    assert!(off < 0.5, "{off}");
    assert!(at_bend < 1.5, "{at_bend}");
}

/// A traced nerve is a tube segment whose exact shape is known (capsules along the traced line):
/// the clearance reported from its label map never exceeds the exact clearance to those capsules
/// (beyond 0.05 mm), and falls short of it by no more than its stated uncertainty.
#[test]
fn a_traced_nerve_clearance_agrees_with_its_analytic_tubes() {
    use twinplan::core::phantom::splitmix;
    use twinplan::core::planning::{Instrument, Obstacle, SegmentShape, Trajectory};
    let nerves = tubes(&truth(), "Optic nerves");
    let ct = phantom_ct();
    let points = [nerves[0].from, nerves[0].to, nerves[1].to];
    let line = trace::trace(&ct, &points, &Progress::new()).unwrap();
    let radius_mm = 1.5;
    let capsules = trace::tubes(&line, radius_mm);
    let mask = trace::tube_mask(&ct, &line, radius_mm);
    let (_, shape) = SegmentShape::from_mask(&mask, &Progress::new()).unwrap().unwrap();
    let obstacle = Obstacle::new(1, "nerve", twinplan::core::segmentation::Category::Nerve, 2.0, shape);
    let mut state = 7u64;
    let mut uniform = |lo: f64, hi: f64| {
        state = splitmix(state);
        lo + (hi - lo) * (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut worst_over, mut paths) = (f64::NEG_INFINITY, 0);
    for _ in 0..200 {
        // A target 0.3-6 mm clear of a point along the nerve, approached from above.
        let c = &capsules[(uniform(0.0, capsules.len() as f64) as usize).min(capsules.len() - 1)];
        let on = c.from + (c.to - c.from) * uniform(0.0, 1.0);
        let side = nalgebra::Vector3::new(uniform(-1.0, 1.0), uniform(-1.0, 1.0), uniform(0.2, 1.0)).normalize();
        let instrument_radius = uniform(0.4, 1.2);
        let target = on + side * (radius_mm + instrument_radius + uniform(0.3, 6.0));
        let entry = target + nalgebra::Vector3::new(uniform(-0.5, 0.5), uniform(-0.5, 0.5), 1.0).normalize() * 40.0;
        let t = Trajectory::new("p", entry, target, Instrument::custom(2.0 * instrument_radius, 300.0));
        let reported = obstacle.clearance(&t, instrument_radius);
        let analytic = capsules
            .iter()
            .map(|c| common::segment_segment(&entry, &target, &c.from, &c.to))
            .fold(f64::INFINITY, f64::min)
            - radius_mm
            - instrument_radius;
        let r = reported.min_clearance_mm;
        assert!(r <= analytic + 0.05, "reported {r:.3} above the exact {analytic:.3}");
        assert!(
            r >= analytic - reported.uncertainty_mm,
            "reported {r:.3} below the exact {analytic:.3} by more than {:.3}",
            reported.uncertainty_mm
        );
        worst_over = worst_over.max(r - analytic);
        paths += 1;
    }
    eprintln!("{paths} paths past a traced nerve: reported at most {worst_over:.3} mm above the exact clearance");
}

/// Points off the scan, or on either side of a part without values (outside a fused scan's
/// field of view), are refused by number; nothing is traced.
#[test]
fn points_that_cannot_be_joined_are_refused_by_number() {
    use twinplan::core::volume::{Grid, VolumeMeta, VoxelData};
    let grid = Grid::axis_aligned([20, 20, 20], Point3::origin(), [1.0; 3]);
    let values = (0..8000).map(|n| if n / 400 == 10 { f32::NAN } else { 30.0 }).collect();
    let volume = Volume { grid, data: VoxelData::F32(values), meta: VolumeMeta::default(), warnings: vec![] };
    let (a, b) = (Point3::new(10.0, 10.0, 5.0), Point3::new(10.0, 10.0, 15.0));
    // Two clicks in one voxel make a nerve of that voxel's stretch.
    let close = trace::trace(&volume, &[a, a + nalgebra::Vector3::new(0.2, 0.0, 0.0)], &Progress::new()).unwrap();
    assert_eq!(close.len(), 2);
    for (points, says) in [
        (vec![a, Point3::new(10.0, 10.0, 50.0)], "point 2 at (10.0, 10.0, 50.0) mm lies outside the scan"),
        (vec![a, b], "points 1 and 2 cannot be joined"),
        (vec![a], "at least two points"),
    ] {
        let e = trace::trace(&volume, &points, &Progress::new()).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}
