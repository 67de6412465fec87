//! Trajectory clearance against analytic truth (the phantom's tubes), against an independent
//! brute-force distance on real meshes, and on degenerate input.

mod common;

use std::sync::OnceLock;

use nalgebra::{Point3, Vector3};
use twinplan::core::document::io::{OpenedPlan, open};
use twinplan::core::mesh::segment_surface;
use twinplan::core::planning::{
    Instrument, InstrumentKind, Obstacle, PlanningError, PlanningScene, Trajectory, Verdict, conflicts,
};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::{Category, Segmentation};

type P = Point3<f64>;

struct Phantom {
    plan: OpenedPlan,
    scene: PlanningScene,
    truth: serde_json::Value,
}

fn phantom() -> &'static Phantom {
    static P: OnceLock<Phantom> = OnceLock::new();
    P.get_or_init(|| {
        let dir = common::project("sample_scans/phantom");
        let plan = open(&dir.join("phantom.twinplan.json"), &Progress::new()).unwrap();
        let scene = PlanningScene::build(&plan.doc.segmentation, &Progress::new()).unwrap();
        let truth = serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
        Phantom { plan, scene, truth }
    })
}

fn seg() -> &'static Segmentation {
    &phantom().plan.doc.segmentation
}

/// The centre-line segments (from, to, radius) of a truth tube structure.
fn tubes(name: &str) -> Vec<(P, P, f64)> {
    let s = phantom().truth["structures"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap();
    let p = |v: &serde_json::Value| P::new(v[0].as_f64().unwrap(), v[1].as_f64().unwrap(), v[2].as_f64().unwrap());
    s["geometry"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (p(&t["from"]), p(&t["to"]), t["radius_mm"].as_f64().unwrap()))
        .collect()
}

fn point_segment_distance(p: &P, a: &P, b: &P) -> f64 {
    let ab = b - a;
    let t = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
    (p - (a + ab * t)).norm()
}

/// Exact clearance of a path to a union of tubes (capsules), by 0.005 mm steps along the path:
/// the distance to a capsule union is min(distance to each axis - its radius), and it changes by
/// at most the step between samples.
fn analytic_clearance(t: &Trajectory, tubes: &[(P, P, f64)]) -> f64 {
    let n = (t.length_mm() / 0.005).ceil() as usize;
    let r = t.instrument.radius_mm();
    (0..=n)
        .map(|i| {
            let p = t.at_depth(t.length_mm() * i as f64 / n as f64);
            tubes.iter().map(|(a, b, rt)| point_segment_distance(&p, a, b) - rt).fold(f64::INFINITY, f64::min)
        })
        .fold(f64::INFINITY, f64::min)
        - r
}

/// A path ending `clearance_mm` (instrument surface to tube surface) beside the middle of a tube,
/// arriving perpendicular to it from 40 mm away.
fn beside(tube: &(P, P, f64), side: &Vector3<f64>, clearance_mm: f64, instrument: Instrument) -> Trajectory {
    let (a, b, r) = tube;
    let axis = (b - a).normalize();
    let n = (side - axis * side.dot(&axis)).normalize();
    let mid = nalgebra::center(a, b);
    let target = mid + n * (r + instrument.radius_mm() + clearance_mm);
    let entry = target + n * 40.0;
    Trajectory::new("test", entry.into(), target.into(), instrument)
}

fn report_for<'a>(
    r: &'a twinplan::core::planning::TrajectoryReport,
    name: &str,
) -> &'a twinplan::core::planning::StructureClearance {
    r.structures.iter().find(|s| s.name == name).unwrap()
}

#[test]
fn clearances_to_the_phantoms_tubes_match_the_analytic_distance() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    let voxel_mm = seg().labels.grid.spacing_mm().into_iter().fold(0.0, f64::max);
    let mut worst: f64 = 0.0;
    for (name, tube_index, side) in [
        ("Arteries", 0, Vector3::new(1.0, 0.0, 0.0)),
        ("Arteries", 1, Vector3::new(0.0, 0.0, 1.0)),
        ("Superior sagittal sinus", 1, Vector3::new(0.0, 0.0, -1.0)),
        ("Optic nerves", 0, Vector3::new(0.0, 0.0, 1.0)),
    ] {
        let tree = tubes(name);
        for clearance in [6.0, 3.0, 1.0] {
            let t = beside(&tree[tube_index], &side, clearance, needle);
            let truth = analytic_clearance(&t, &tree);
            let report = phantom().scene.check(&t, seg()).unwrap();
            let s = report_for(&report, name);
            eprintln!("{name} #{tube_index}, {clearance} mm: reported {:.3}, analytic {truth:.3}", s.min_clearance_mm);
            worst = worst.max((s.min_clearance_mm - truth).abs());
            assert!((s.min_clearance_mm - truth).abs() <= voxel_mm, "{name}: {} vs {truth}", s.min_clearance_mm);
            // The closest approach is at the target, the end of the path.
            assert!((s.depth_mm - t.length_mm()).abs() < 1.5, "depth {} of {}", s.depth_mm, t.length_mm());
            // Verdicts against the 2 mm safety margin: clear well outside it, a warning inside it.
            let expected = if truth >= 2.5 { Verdict::Clear } else { Verdict::Warning };
            assert_eq!(s.verdict, expected, "{name} at {truth:.2} mm");
        }
    }
    eprintln!("largest difference from the analytic clearance: {worst:.3} mm (voxel {voxel_mm} mm)");
}

#[test]
fn a_path_through_a_vessel_is_a_collision_where_it_enters() {
    let tree = tubes("Arteries");
    let (a, b, r) = tree[0];
    let mid = nalgebra::center(&a, &b);
    let side = Vector3::new(1.0, 0.0, 0.0);
    let t = Trajectory::new(
        "through",
        (mid + side * 40.0).into(),
        (mid - side * (r + 4.0)).into(),
        Instrument::preset(InstrumentKind::SeegElectrode),
    );
    let report = phantom().scene.check(&t, seg()).unwrap();
    let s = report_for(&report, "Arteries");
    assert_eq!(s.verdict, Verdict::Collision);
    assert_eq!(report.verdict, Verdict::Collision);
    assert!(s.min_clearance_mm <= 0.0);
    // It meets the vessel wall 40 - r mm in, within a voxel.
    assert!((s.depth_mm - (40.0 - r)).abs() < 1.25, "enters at {} mm", s.depth_mm);
    // The profile goes below zero inside the vessel and is positive at the entry.
    assert!(report.profile.first().unwrap().clearance_mm > 0.0);
    let inside = report.profile.iter().find(|p| (p.depth_mm - 40.0).abs() < 0.3).unwrap();
    assert!(inside.clearance_mm < -(r - 1.25), "at the centre line {}", inside.clearance_mm);
}

#[test]
fn the_bundled_biopsy_runs_clear_through_scalp_skull_and_brain_to_the_tumour() {
    let doc = &phantom().plan.doc;
    let t = &doc.trajectories[0];
    let report = phantom().scene.check(t, seg()).unwrap();
    eprintln!(
        "{}: length {:.1} mm, angle {:?}, {:?}",
        report.name,
        report.length_mm,
        report.entry_angle_deg,
        report.structures.iter().map(|s| (&s.name, s.min_clearance_mm)).collect::<Vec<_>>()
    );
    assert_eq!(report.verdict, Verdict::Clear);
    assert_eq!(report.structures.len(), 3, "arteries, sinus and optic nerves are critical");
    let order: Vec<&str> = report.passes_through.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(order, ["Scalp", "Skull", "Brain", "Tumour"]);
    // The tumour (radius 11 mm) begins 11 mm before the target, within a voxel.
    let tumour = report.passes_through.last().unwrap();
    assert!((report.length_mm - tumour.from_depth_mm - 11.0).abs() < 1.25, "{tumour:?}");
    // Entry angle against the analytic normal of the scalp's outer ellipsoid at the entry.
    let head = &phantom().truth["structures"][0]["geometry"]["outer"];
    let c: Vec<f64> = (0..3).map(|i| head["center"][i].as_f64().unwrap()).collect();
    let ax: Vec<f64> = (0..3).map(|i| head["semi_axes_mm"][i].as_f64().unwrap()).collect();
    let normal = Vector3::from_fn(|i, _| (t.entry_mm[i] - c[i]) / ax[i].powi(2)).normalize();
    let dir = t.direction().unwrap();
    let truth_deg = normal.dot(&dir).abs().acos().to_degrees();
    let angle = report.entry_angle_deg.unwrap();
    assert!((angle - truth_deg).abs() < 2.0, "entry angle {angle:.2} vs analytic {truth_deg:.2}");
}

// Brute force: exact segment-to-triangle distances, every triangle, f64 (after Ericson,
// Real-Time Collision Detection, 5.1.5 and 5.1.9).

fn closest_on_triangle(p: &P, a: &P, b: &P, c: &P) -> P {
    let (ab, ac, ap) = (b - a, c - a, p - a);
    let (d1, d2) = (ab.dot(&ap), ac.dot(&ap));
    if d1 <= 0.0 && d2 <= 0.0 {
        return *a;
    }
    let bp = p - b;
    let (d3, d4) = (ab.dot(&bp), ac.dot(&bp));
    if d3 >= 0.0 && d4 <= d3 {
        return *b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        return a + ab * (d1 / (d1 - d3));
    }
    let cp = p - c;
    let (d5, d6) = (ab.dot(&cp), ac.dot(&cp));
    if d6 >= 0.0 && d5 <= d6 {
        return *c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        return a + ac * (d2 / (d2 - d6));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        return b + (c - b) * ((d4 - d3) / ((d4 - d3) + (d5 - d6)));
    }
    let denom = 1.0 / (va + vb + vc);
    a + ab * (vb * denom) + ac * (vc * denom)
}

fn segment_segment_distance(p1: &P, q1: &P, p2: &P, q2: &P) -> f64 {
    let (d1, d2, r) = (q1 - p1, q2 - p2, p1 - p2);
    let (a, e, f) = (d1.dot(&d1), d2.dot(&d2), d2.dot(&r));
    let c = d1.dot(&r);
    let b = d1.dot(&d2);
    let denom = a * e - b * b;
    let mut s = if denom > 1e-12 { ((b * f - c * e) / denom).clamp(0.0, 1.0) } else { 0.0 };
    let mut t = (b * s + f) / e;
    if t < 0.0 {
        t = 0.0;
        s = (-c / a).clamp(0.0, 1.0);
    } else if t > 1.0 {
        t = 1.0;
        s = ((b - c) / a).clamp(0.0, 1.0);
    }
    ((p1 + d1 * s) - (p2 + d2 * t)).norm()
}

fn segment_crosses_triangle(p: &P, q: &P, a: &P, b: &P, c: &P) -> bool {
    let (e1, e2, d) = (b - a, c - a, q - p);
    let h = d.cross(&e2);
    let det = e1.dot(&h);
    if det.abs() < 1e-12 {
        return false;
    }
    let s = p - a;
    let u = s.dot(&h) / det;
    let qv = s.cross(&e1);
    let v = d.dot(&qv) / det;
    let t = e2.dot(&qv) / det;
    (0.0..=1.0).contains(&u) && v >= 0.0 && u + v <= 1.0 && (0.0..=1.0).contains(&t)
}

fn brute_force_distance(mesh: &twinplan::core::mesh::Mesh, p: &P, q: &P) -> f64 {
    let v = |i: u32| {
        let x = mesh.positions[i as usize];
        P::new(x[0] as f64, x[1] as f64, x[2] as f64)
    };
    mesh.triangles
        .iter()
        .map(|t| {
            let (a, b, c) = (v(t[0]), v(t[1]), v(t[2]));
            if segment_crosses_triangle(p, q, &a, &b, &c) {
                return 0.0;
            }
            let ends =
                (closest_on_triangle(p, &a, &b, &c) - p).norm().min((closest_on_triangle(q, &a, &b, &c) - q).norm());
            [(a, b), (b, c), (c, a)].iter().map(|(x, y)| segment_segment_distance(p, q, x, y)).fold(ends, f64::min)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Paths around a mesh: from points on a sphere around it towards points near its centre,
/// stopping short at several depths.
fn probe_paths(mesh: &twinplan::core::mesh::Mesh) -> Vec<Trajectory> {
    let s = mesh.stats();
    let lo = P::from(s.bounds_min_mm);
    let hi = P::from(s.bounds_max_mm);
    let centre = nalgebra::center(&lo, &hi);
    let reach = (hi - lo).norm() / 2.0 + 20.0;
    let mut out = Vec::new();
    for i in 0..12 {
        // A spiral of directions over the sphere.
        let z = 1.0 - (i as f64 + 0.5) / 6.0;
        let phi = i as f64 * 2.399963;
        let dir = Vector3::new((1.0 - z * z).max(0.0).sqrt() * phi.cos(), (1.0 - z * z).max(0.0).sqrt() * phi.sin(), z);
        let entry = centre + dir * reach;
        let offset = Vector3::new(phi.sin(), phi.cos(), 0.3) * 4.0;
        let depth = [0.55, 0.8, 0.95][i % 3];
        let target = entry + (centre + offset - entry) * depth;
        out.push(Trajectory::new("probe", entry.into(), target.into(), Instrument::custom(1.0, 500.0)));
    }
    out
}

fn agrees_with_brute_force(name: &str, mesh: &twinplan::core::mesh::Mesh) {
    let obstacle = Obstacle::new(1, name, Category::Vessel, 2.0, mesh).unwrap();
    let mut worst: f64 = 0.0;
    for t in probe_paths(mesh) {
        let fast = obstacle.clearance(&t, 0.0).min_clearance_mm.max(0.0);
        let slow = brute_force_distance(mesh, &t.entry(), &t.target());
        worst = worst.max((fast - slow).abs());
        assert!((fast - slow).abs() < 1e-3, "{name}: BVH {fast:.5} vs brute force {slow:.5} mm");
        // The profile's point distances too (outside the surface they are unsigned).
        let p = t.entry();
        let slow_point = brute_force_distance(mesh, &p, &p);
        let fast_point = obstacle.signed_distance_mm(&p);
        assert!((fast_point - slow_point).abs() < 1e-3, "{name}: point {fast_point:.5} vs {slow_point:.5}");
    }
    eprintln!("{name}: {} triangles, largest difference {worst:.2e} mm", mesh.triangles.len());
}

#[test]
fn the_bvh_distance_equals_brute_force_on_real_meshes() {
    let arteries = seg().segments.iter().find(|s| s.name == "Arteries").unwrap().label;
    let mesh = segment_surface(&seg().mask(arteries), &Progress::new()).unwrap();
    agrees_with_brute_force("phantom arteries", &mesh);

    let (_, loaded) =
        twinplan::core::dicom::open_volume(&common::data("ct-body-j2k/dicom"), None, &Progress::new()).unwrap();
    let (labels, _) =
        twinplan::core::segmentation::import_labels(&common::data("ct-body-j2k/labels.nii.gz"), &loaded.volume.grid)
            .unwrap();
    let aorta = segment_surface(&labels.mask(52), &Progress::new()).unwrap();
    agrees_with_brute_force("ct-body-j2k aorta", &aorta);
}

#[test]
fn instruments_closer_than_the_limit_conflict() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    let a = Trajectory::new("a", [0.0, 0.0, 0.0], [0.0, 0.0, 50.0], needle);
    let b = Trajectory::new("b", [2.8, 0.0, 10.0], [2.8, 30.0, 10.0], needle);
    let c = Trajectory::new("c", [20.0, 0.0, 0.0], [20.0, 0.0, 50.0], needle);
    let found = conflicts(&[a, b, c], 3.0);
    assert_eq!(found.len(), 1);
    let (i, j, gap) = found[0];
    assert_eq!((i, j), (0, 1));
    assert!((gap - (2.8 - 1.8)).abs() < 1e-4, "gap {gap}");
}

#[test]
fn degenerate_paths_and_scenes_say_what_is_wrong() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    let p = [10.0, -20.0, 40.0];
    let e = phantom().scene.check(&Trajectory::new("same", p, p, needle), seg()).unwrap_err();
    assert!(matches!(e, PlanningError::Degenerate { .. }));
    assert!(e.to_string().contains("'same'") && e.to_string().contains("same point"), "{e}");
    let e = phantom().scene.check(&Trajectory::new("far", [0.0, 0.0, 400.0], p, needle), seg()).unwrap_err();
    assert!(e.to_string().contains("entry (0.0, 0.0, 400.0)") && e.to_string().contains("outside the scan"), "{e}");
    let e = phantom().scene.check(&Trajectory::new("nan", [f64::NAN, 0.0, 0.0], p, needle), seg()).unwrap_err();
    assert!(e.to_string().contains("not a number"), "{e}");

    // A segmentation without critical structures, and a critical segment without voxels.
    let mut plain = Segmentation { labels: seg().labels.clone(), segments: seg().segments.clone() };
    for s in &mut plain.segments {
        s.critical = false;
    }
    let scene = PlanningScene::build(&plain, &Progress::new()).unwrap();
    let report = scene.check(&Trajectory::new("t", [10.0, -20.0, 100.0], p, needle), &plain).unwrap();
    assert!(report.structures.is_empty());
    assert!(report.warnings.iter().any(|w| w.contains("no critical structures")), "{:?}", report.warnings);
    plain.add("Empty artery", Category::Vessel);
    let scene = PlanningScene::build(&plain, &Progress::new()).unwrap();
    assert!(
        scene.warnings.iter().any(|w| w.contains("Empty artery") && w.contains("no surface")),
        "{:?}",
        scene.warnings
    );
    assert!(Obstacle::new(9, "nothing", Category::Nerve, 2.0, &Default::default()).is_none());
}
