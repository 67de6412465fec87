//! Trajectory clearance against analytic truth (the phantom's tubes), against an independent
//! brute-force distance on real meshes, and on degenerate input.

mod common;

use std::sync::OnceLock;

use nalgebra::{Point3, Vector3};
use twinplan::core::document::io::{OpenedPlan, open};
use twinplan::core::planning::{
    DistanceField, EntryRegion, Instrument, InstrumentKind, Obstacle, PlanningError, PlanningScene, SearchSettings,
    SegmentShape, Trajectory, Verdict, conflicts,
};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::{Category, Mask, Segmentation};

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

/// On the safe side of the analytic tubes, within the uncertainty each figure states.
#[test]
fn clearances_to_the_phantoms_tubes_match_the_analytic_distance() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
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
            worst = worst.max(truth - s.min_clearance_mm);
            assert!(s.min_clearance_mm <= truth, "{name}: {} overstates {truth}", s.min_clearance_mm);
            assert!(s.min_clearance_mm >= truth - s.uncertainty_mm, "{name}: {} vs {truth}: {s:?}", s.min_clearance_mm);
            // The closest approach is at the target, the end of the path.
            assert!((s.depth_mm - t.length_mm()).abs() < 1.5, "depth {} of {}", s.depth_mm, t.length_mm());
            // Verdicts against the 2 mm safety margin: a warning inside it, and clear wherever the
            // figure's uncertainty cannot reach into it.
            if truth < 2.0 {
                assert_ne!(s.verdict, Verdict::Clear, "{name} at {truth:.2} mm");
            } else if truth >= 2.0 + s.uncertainty_mm {
                assert_eq!(s.verdict, Verdict::Clear, "{name} at {truth:.2} mm");
            }
        }
    }
    eprintln!("largest understatement of the analytic clearance: {worst:.3} mm");
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
            [(a, b), (b, c), (c, a)].iter().map(|(x, y)| common::segment_segment(p, q, x, y)).fold(ends, f64::min)
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

/// The clearance to the surface shown equals an exhaustive search over its triangles; the figure
/// reported is never larger, and point distances lie between the cells' reach and the surface.
fn agrees_with_brute_force(name: &str, mask: &Mask) {
    let (mesh, shape) = SegmentShape::from_mask(mask, &Progress::new()).unwrap().unwrap();
    let reach = shape.cells.half_diagonal_mm();
    let obstacle = Obstacle::new(1, name, Category::Vessel, 2.0, shape);
    let mut worst: f64 = 0.0;
    for t in probe_paths(&mesh) {
        let c = obstacle.clearance(&t, 0.0);
        let fast = c.surface_clearance_mm.max(0.0);
        let slow = brute_force_distance(&mesh, &t.entry_mm, &t.target_mm);
        worst = worst.max((fast - slow).abs());
        assert!((fast - slow).abs() < 1e-3, "{name}: BVH {fast:.5} vs brute force {slow:.5} mm");
        assert!(c.min_clearance_mm <= c.surface_clearance_mm, "{name}: {c:?}");
        // The profile's point distances too (outside the surface they are unsigned).
        let p = t.entry_mm;
        let slow_point = brute_force_distance(&mesh, &p, &p);
        let fast_point = obstacle.signed_distance_mm(&p);
        assert!(
            fast_point <= slow_point + 1e-3 && fast_point >= slow_point - 2.0 * reach,
            "{name}: point {fast_point:.5} vs {slow_point:.5}"
        );
    }
    eprintln!("{name}: {} triangles, largest difference {worst:.2e} mm", mesh.triangles.len());
}

#[test]
fn the_bvh_distance_equals_brute_force_on_real_meshes() {
    let arteries = seg().segments.iter().find(|s| s.name == "Arteries").unwrap().label;
    agrees_with_brute_force("phantom arteries", &seg().mask(arteries));

    let (_, loaded) =
        twinplan::core::dicom::open_volume(&common::data("ct-body-j2k/dicom"), None, &Progress::new()).unwrap();
    let (labels, _) =
        twinplan::core::segmentation::import_labels(&common::data("ct-body-j2k/labels.nii.gz"), &loaded.volume.grid)
            .unwrap();
    agrees_with_brute_force("ct-body-j2k aorta", &labels.mask(52));
}

#[test]
fn instruments_closer_than_the_limit_conflict() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    let a = Trajectory::new("a", Point3::new(0.0, 0.0, 0.0), Point3::new(0.0, 0.0, 50.0), needle);
    let b = Trajectory::new("b", Point3::new(2.8, 0.0, 10.0), Point3::new(2.8, 30.0, 10.0), needle);
    let c = Trajectory::new("c", Point3::new(20.0, 0.0, 0.0), Point3::new(20.0, 0.0, 50.0), needle);
    let found = conflicts(&[a, b, c], 3.0);
    assert_eq!(found.len(), 1);
    let (i, j, gap) = found[0];
    assert_eq!((i, j), (0, 1));
    assert!((gap - (2.8 - 1.8)).abs() < 1e-4, "gap {gap}");
}

#[test]
fn degenerate_paths_and_scenes_say_what_is_wrong() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    let p = Point3::new(10.0, -20.0, 40.0);
    let e = phantom().scene.check(&Trajectory::new("same", p, p, needle), seg()).unwrap_err();
    assert!(matches!(e, PlanningError::Degenerate { .. }));
    assert!(e.to_string().contains("'same'") && e.to_string().contains("same point"), "{e}");
    let e = phantom().scene.check(&Trajectory::new("far", Point3::new(0.0, 0.0, 400.0), p, needle), seg()).unwrap_err();
    assert!(e.to_string().contains("entry (0.0, 0.0, 400.0)") && e.to_string().contains("outside the scan"), "{e}");
    let e =
        phantom().scene.check(&Trajectory::new("nan", Point3::new(f64::NAN, 0.0, 0.0), p, needle), seg()).unwrap_err();
    assert!(e.to_string().contains("not a number"), "{e}");

    // A segmentation without critical structures, and a critical segment without voxels.
    let mut plain = Segmentation { labels: seg().labels.clone(), segments: seg().segments.clone() };
    for s in &mut plain.segments {
        s.critical = false;
    }
    let scene = PlanningScene::build(&plain, &Progress::new()).unwrap();
    let report = scene.check(&Trajectory::new("t", Point3::new(10.0, -20.0, 100.0), p, needle), &plain).unwrap();
    assert!(report.structures.is_empty());
    assert!(report.warnings.iter().any(|w| w.contains("no critical structures")), "{:?}", report.warnings);
    plain.add("Empty artery", Category::Vessel);
    let scene = PlanningScene::build(&plain, &Progress::new()).unwrap();
    assert!(
        scene.warnings.iter().any(|w| w.contains("Empty artery") && w.contains("no surface")),
        "{:?}",
        scene.warnings
    );
    assert!(SegmentShape::from_mask(&Mask::empty(&seg().labels.grid), &Progress::new()).unwrap().is_none());
}

/// Where a ray from the target leaves the phantom's head: the outer skin ellipsoid of the
/// truth, hit analytically, and its outward normal there.
fn skin_exit(from: &P, dir: &Vector3<f64>) -> (P, Vector3<f64>) {
    let outer = &phantom().truth["structures"][0]["geometry"]["outer"];
    let c = P::new(
        outer["center"][0].as_f64().unwrap(),
        outer["center"][1].as_f64().unwrap(),
        outer["center"][2].as_f64().unwrap(),
    );
    let s: Vec<f64> = (0..3).map(|a| outer["semi_axes_mm"][a].as_f64().unwrap()).collect();
    let o = Vector3::new((from.x - c.x) / s[0], (from.y - c.y) / s[1], (from.z - c.z) / s[2]);
    let d = Vector3::new(dir.x / s[0], dir.y / s[1], dir.z / s[2]);
    // |o + t d| = 1, the root beyond the start (which is inside).
    let (a, b, cc) = (d.norm_squared(), 2.0 * o.dot(&d), o.norm_squared() - 1.0);
    let t = (-b + (b * b - 4.0 * a * cc).sqrt()) / (2.0 * a);
    let p = from + dir * t;
    let n = Vector3::new((p.x - c.x) / (s[0] * s[0]), (p.y - c.y) / (s[1] * s[1]), (p.z - c.z) / (s[2] * s[2]));
    (p, n.normalize())
}

/// The entry search is checked against an exhaustive one: rays from the target every 2 degrees
/// over the whole sphere, each leaving the head where the truth's skin ellipsoid says, each path
/// checked exactly. The search scores the skin on a distance map and checks only a few paths
/// exactly; it must still find one at least as safe as the best of the grid, and nothing it
/// proposes may break a constraint, by its own check or by the truth's tubes.
#[test]
fn entry_search_is_as_safe_as_a_dense_exhaustive_grid_and_never_proposes_an_unsafe_entry() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    // In the brain, 6 mm from an artery's bifurcation: no path is free of risk.
    let target = P::new(30.0, -32.0, 44.0);
    let template = Trajectory::new("deep", target.into(), target.into(), needle);
    let field = DistanceField::build(seg(), &Progress::new()).unwrap().expect("the phantom has vessels");
    let settings = SearchSettings::default();
    let found = phantom().scene.search_entries(&template, seg(), Some(&field), &settings, &Progress::new()).unwrap();
    eprintln!(
        "{} vertices, {} scored, {} checked exactly, rejected {:?}",
        found.surface_vertices, found.scored, found.checked, found.rejections
    );
    assert!(found.scored >= 10_000, "only {} candidate entries scored", found.scored);
    assert_eq!(found.vertex_risk_mm.len(), found.surface_vertices);
    assert_eq!(found.vertex_risk_mm.iter().filter(|r| r.is_finite()).count(), found.scored);
    assert_eq!(found.suggestions.len(), settings.count);

    let tubes: Vec<(P, P, f64)> =
        ["Arteries", "Superior sagittal sinus", "Optic nerves"].iter().flat_map(|n| tubes(n)).collect();
    let voxel_mm = seg().labels.grid.spacing_mm().into_iter().fold(0.0, f64::max);
    for s in &found.suggestions {
        let t = Trajectory { entry_mm: s.entry_mm, ..template.clone() };
        let r = phantom().scene.check(&t, seg()).unwrap();
        assert_eq!(r.verdict, Verdict::Clear, "{:?}", s.entry_mm);
        assert!(r.entry_angle_deg.unwrap() <= settings.max_angle_deg);
        assert!(r.length_mm <= needle.length_mm);
        assert!((r.risk_mm - s.report.risk_mm).abs() < 1e-9);
        let truth = analytic_clearance(&t, &tubes);
        assert!(truth >= 2.0 - voxel_mm, "{:?}: {truth:.2} mm from the truth's tubes", s.entry_mm);
        // On the truth's own skin: within a voxel of the outer ellipsoid.
        let (exit, normal) = skin_exit(&target, &(t.entry_mm - target).normalize());
        assert!((exit - t.entry_mm).norm() < voxel_mm, "{:?} is not on the skin ({exit})", s.entry_mm);
        let angle = normal.dot(&(t.entry_mm - target).normalize()).acos().to_degrees();
        assert!(angle <= settings.max_angle_deg + 2.0, "analytic entry angle {angle:.1}");
    }
    for w in found.suggestions.windows(2) {
        assert!(w[0].report.risk_mm <= w[1].report.risk_mm);
    }

    // The exhaustive grid.
    let step = 2f64.to_radians();
    let mut best = f64::INFINITY;
    let mut allowed = 0;
    let mut paths = Vec::new();
    for i in 0..=(std::f64::consts::PI / step) as usize {
        let polar = i as f64 * step;
        let around = ((2.0 * std::f64::consts::PI * polar.sin() / step).round() as usize).max(1);
        for j in 0..around {
            let az = j as f64 * 2.0 * std::f64::consts::PI / around as f64;
            let dir = Vector3::new(polar.sin() * az.cos(), polar.sin() * az.sin(), polar.cos());
            let (exit, normal) = skin_exit(&target, &dir);
            if normal.dot(&dir).acos().to_degrees() > settings.max_angle_deg - 1.0 {
                continue;
            }
            paths.push(Trajectory { entry_mm: exit.into(), ..template.clone() });
        }
    }
    for t in &paths {
        let r = phantom().scene.check(t, seg()).unwrap();
        if r.verdict == Verdict::Clear
            && r.length_mm <= needle.length_mm
            && r.entry_angle_deg.is_some_and(|a| a <= settings.max_angle_deg)
        {
            allowed += 1;
            best = best.min(r.risk_mm);
        }
    }
    let found_best = found.suggestions[0].report.risk_mm;
    eprintln!("grid: {} paths, {allowed} allowed, least risk {best:.3} mm; search: {found_best:.3} mm", paths.len());
    assert!(allowed > 100 && best > 0.0);
    assert!(found_best <= best * 1.02 + 0.01, "search {found_best:.3} vs grid {best:.3}");
}

#[test]
fn entry_search_respects_the_region_and_says_when_nothing_is_possible() {
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    let field = DistanceField::build(seg(), &Progress::new()).unwrap();
    let scene = &phantom().scene;
    let tumour = Trajectory::new("biopsy", Point3::origin(), Point3::new(30.0, -35.0, 60.0), needle);
    let region = EntryRegion { centre_mm: Point3::new(60.0, -20.0, 90.0), radius_mm: 15.0 };
    let settings = SearchSettings { region: Some(region), max_angle_deg: 40.0, ..SearchSettings::default() };
    let found = scene.search_entries(&tumour, seg(), field.as_ref(), &settings, &Progress::new()).unwrap();
    assert!(!found.suggestions.is_empty());
    for s in &found.suggestions {
        assert!((P::from(s.entry_mm) - P::from(region.centre_mm)).norm() <= region.radius_mm);
        assert!(s.report.entry_angle_deg.unwrap() <= 40.0);
    }
    assert!(found.rejections.outside_region > 0);

    // A target inside an artery: every path collides.
    let inside = Trajectory::new("in a vessel", Point3::origin(), Point3::new(23.5, -26.0, 27.5), needle);
    let found =
        scene.search_entries(&inside, seg(), field.as_ref(), &SearchSettings::default(), &Progress::new()).unwrap();
    assert!(found.suggestions.is_empty());
    assert!(found.warnings.iter().any(|w| w.contains("no entry meets every constraint")), "{:?}", found.warnings);

    // A target outside the scan, and a search without a skin to enter through.
    let far = Trajectory::new("far", Point3::origin(), Point3::new(0.0, 0.0, 900.0), needle);
    let e = scene.search_entries(&far, seg(), field.as_ref(), &SearchSettings::default(), &Progress::new());
    assert!(e.unwrap_err().to_string().contains("outside the scan"));
    let mut no_skin = Segmentation { labels: seg().labels.clone(), segments: seg().segments.clone() };
    no_skin.segments.retain(|s| !matches!(s.category, Category::Skin | Category::Bone));
    let bare = PlanningScene::build(&no_skin, &Progress::new()).unwrap();
    let e = bare.search_entries(&tumour, &no_skin, field.as_ref(), &SearchSettings::default(), &Progress::new());
    assert!(e.unwrap_err().to_string().contains("no skin or bone segment"));
}

/// Rehearsal's view at the tip: the plane perpendicular to the path cuts the phantom's tumour
/// sphere (radius 11 mm) in a disc of radius sqrt(11^2 - h^2) at distance h from its centre,
/// centred where the path's axis meets the plane's projection of the sphere's centre.
#[test]
fn the_slice_perpendicular_to_a_path_cuts_the_tumour_as_the_sphere_predicts() {
    use twinplan::core::volume::Plane;
    let opened = &phantom().plan;
    let volume = &opened.loaded.volume;
    let labels = &seg().labels;
    let tumour = seg().segments.iter().find(|s| s.name == "Tumour").unwrap().label;
    let centre = P::new(30.0, -35.0, 60.0);
    let dir = Vector3::new(-0.6, 0.3, -0.74).normalize();
    let (n, size_mm) = (240, 40.0);
    let pixel_mm2 = (size_mm / n as f64).powi(2);
    let voxel_mm = labels.grid.spacing_mm().into_iter().fold(0.0, f64::max);
    for (along, aside) in [(0.0, 0.0), (5.0, 0.0), (0.0, 4.0), (-7.0, 3.0)] {
        let plane0 = Plane::perpendicular(centre + dir * along, &dir).unwrap();
        let plane = Plane { centre_mm: plane0.centre_mm + plane0.right * aside, ..plane0 };
        let cut = plane.sample_labels(&labels.grid, &labels.labels, n, size_mm);
        let inside: Vec<usize> = (0..n * n).filter(|&i| cut[i] == tumour).collect();
        let area = inside.len() as f64 * pixel_mm2;
        let radius = (11.0f64.powi(2) - along * along).sqrt();
        let want = std::f64::consts::PI * radius * radius;
        // A voxelised sphere's edge is within half a voxel of the true one.
        let slack = 2.0 * std::f64::consts::PI * radius * voxel_mm / 2.0;
        assert!((area - want).abs() < slack, "at {along} mm: {area:.1} mm2 vs {want:.1} mm2");
        // The disc's centre: `aside` to the left of the image centre (the plane moved right).
        let cx = inside.iter().map(|&i| plane.point(i % n, i / n, n, size_mm)).map(|p| p.coords).sum::<Vector3<f64>>()
            / inside.len() as f64;
        let want_centre = centre + dir * along;
        assert!((P::from(cx) - want_centre).norm() < voxel_mm / 2.0, "disc centre {cx:?} vs {want_centre}");
        // The scan's values there: the tumour's contrast-enhanced HU, air outside the head.
        let values = plane.sample(volume, n, size_mm);
        let mean = inside.iter().map(|&i| f64::from(values[i])).sum::<f64>() / inside.len() as f64;
        assert!((40.0..=120.0).contains(&mean), "tumour mean {mean:.1} HU");
    }
    let far = Plane::perpendicular(P::new(0.0, 0.0, 900.0), &dir).unwrap();
    assert!(far.sample(volume, 8, 10.0).iter().all(|v| v.is_nan()));
    assert!(far.sample_labels(&labels.grid, &labels.labels, 8, 10.0).iter().all(|&l| l == 0));
}

/// A plan built on the phantom, saved and reopened, is the same document and gives exactly the
/// same clearances (surfaces rebuilt from the reopened label map).
#[test]
fn a_saved_and_reopened_plan_gives_exactly_the_same_clearances() {
    use twinplan::core::document::io::{open, save};
    let mut doc = phantom().plan.doc.clone();
    let seeg = Instrument::preset(InstrumentKind::SeegElectrode);
    doc.trajectories.push(Trajectory::new(
        "SEEG, deep",
        Point3::new(-60.0, -10.0, 50.0),
        Point3::new(30.0, -32.0, 44.0),
        seeg,
    ));
    doc.display.get_mut(&2).unwrap().visible = false;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("round trip.twinplan.json");
    save(&doc, &path).unwrap();
    let back = open(&path, &Progress::new()).unwrap().doc;
    assert_eq!(back.trajectories, doc.trajectories);
    assert_eq!(back.segmentation.segments, doc.segmentation.segments);
    assert_eq!(back.segmentation.labels, doc.segmentation.labels);
    assert_eq!((back.display.clone(), back.view.clone()), (doc.display.clone(), doc.view.clone()));
    let scene = PlanningScene::build(&back.segmentation, &Progress::new()).unwrap();
    for t in &doc.trajectories {
        let (a, b) = (phantom().scene.check(t, seg()).unwrap(), scene.check(t, &back.segmentation).unwrap());
        assert_eq!(
            (a.verdict, a.risk_mm.to_bits(), a.length_mm.to_bits()),
            (b.verdict, b.risk_mm.to_bits(), b.length_mm.to_bits())
        );
        for (x, y) in a.structures.iter().zip(&b.structures) {
            assert_eq!(x.name, y.name);
            assert_eq!(x.min_clearance_mm.to_bits(), y.min_clearance_mm.to_bits(), "{}", x.name);
            assert_eq!(x.depth_mm.to_bits(), y.depth_mm.to_bits());
        }
        assert_eq!(a.passes_through, b.passes_through);
    }
}

/// The report's 3D pictures, drawn without a window: looking at the phantom from the front with
/// the scalp and skull hidden, the pixel the tumour's centre projects to shows the tumour's
/// colour, and a pixel beside the head shows the background.
#[test]
fn the_windowless_3d_view_shows_the_tumour_where_it_projects() {
    use twinplan::core::report::raster::{Camera, Rgb};
    let mut doc = phantom().plan.doc.clone();
    for label in [1u16, 2] {
        doc.display.get_mut(&label).unwrap().visible = false;
    }
    let tumour = P::new(30.0, -35.0, 60.0);
    let camera = Camera { eye_mm: P::new(30.0, -400.0, 60.0), look_at_mm: tumour, up: Vector3::z(), fov_deg: 30.0 };
    let n = 200;
    let image = Rgb::render(&twinplan::core::report::shown_surfaces(&doc, &phantom().scene), &camera, n);
    let (x, y) = camera.project(&tumour, n).unwrap();
    assert!((x - 100.0).abs() < 1e-9 && (y - 100.0).abs() < 1e-9, "the look-at point is the centre");
    let [r, g, b] = image.pixels[y as usize * n + x as usize];
    let want = doc.display_of(5).color;
    assert!(g > r && g > b && want[1] > want[0], "tumour pixel {:?}, tumour colour {want:?}", [r, g, b]);
    // Far to the side of the head: nothing but the background.
    let (x, y) = camera.project(&P::new(100.0, -35.0, 60.0), n).unwrap();
    assert!((0.0..n as f64).contains(&x), "{x}");
    assert_eq!(image.pixels[y as usize * n + x as usize], [24, 27, 34]);
}
