//! Clearance checks on the bundled phantom with about a million triangles of critical surface
//! (scalp, skull, vessels and nerves all marked critical): `cargo bench --bench clearance`.
//! The exact check of one path must take well under a millisecond (re-checking a dragged path
//! within one frame); point distances are compared with VTK's vtkImplicitPolyDataDistance on
//! the same surface and points, both single-threaded. The entry search (every skin vertex
//! scored, the best places checked exactly) must take under a second on 2 cores; VTK has no
//! counterpart to compare it with.

mod common;

use std::time::Instant;

use common::{Measurement, anchor};
use nalgebra::Point3;
use twinplan::core::document::io as plan_io;
use twinplan::core::mesh::{export, segment_surface};
use twinplan::core::planning::{DistanceField, Instrument, InstrumentKind, PlanningScene, SearchSettings, Trajectory};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::Category;

fn median(v: Vec<f64>) -> f64 {
    percentile(v, 0.5)
}

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Seconds each path took.
fn per_path(paths: &[Trajectory], mut f: impl FnMut(&Trajectory)) -> Vec<f64> {
    paths
        .iter()
        .map(|p| {
            let t = Instant::now();
            f(p);
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn main() {
    let plan = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/phantom.twinplan.json");
    let mut opened = plan_io::open(&plan, &Progress::new()).expect("the bundled plan");
    // As planned: only vessels and nerves are critical.
    let as_planned = PlanningScene::build(&opened.doc.segmentation, &Progress::new()).expect("scene");
    let t = Instant::now();
    let field = DistanceField::build(&opened.doc.segmentation, &Progress::new()).expect("map").expect("vessels");
    let field_s = t.elapsed().as_secs_f64();
    let seg = &mut opened.doc.segmentation;
    for s in &mut seg.segments {
        s.critical |= matches!(s.category, Category::Skin | Category::Bone);
    }
    let t = Instant::now();
    let scene = PlanningScene::build(seg, &Progress::new()).expect("scene");
    let build_s = t.elapsed().as_secs_f64();
    let skull = seg.segments.iter().find(|s| s.category == Category::Bone).expect("a skull").label;
    let skull_mesh = segment_surface(&seg.mask(skull), &Progress::new()).expect("skull");
    let triangles: usize = scene.obstacles.iter().map(|o| o.triangles()).sum();

    // Paths from a spiral of entries over the upper head towards the tumour.
    let target = opened.doc.trajectories[0].target_mm;
    let needle = Instrument::preset(InstrumentKind::BiopsyNeedle);
    let paths: Vec<Trajectory> = (0..400)
        .map(|i| {
            let z = 0.95 - 0.9 * (i as f64 + 0.5) / 400.0;
            let phi = i as f64 * 2.399963;
            let r = (1.0 - z * z).sqrt();
            let entry = Point3::new(72.0 * r * phi.cos(), -15.0 + 90.0 * r * phi.sin(), 40.0 + 82.0 * z);
            Trajectory::new("bench", entry, target, needle)
        })
        .collect();
    // The exact check: closest approach to every critical surface, one thread.
    let exact = per_path(&paths, |p| {
        for o in &scene.obstacles {
            std::hint::black_box(o.clearance(p, needle.radius_mm()));
        }
    });
    // The whole report: clearances, 0.5 mm profile, structures passed through, entry angle.
    let full = per_path(&paths, |p| {
        std::hint::black_box(scene.check(p, seg).expect("check"));
    });
    let planned = per_path(&paths, |p| {
        std::hint::black_box(as_planned.check(p, seg).expect("check"));
    });
    let planned_triangles: usize = as_planned.obstacles.iter().map(|o| o.triangles()).sum();

    // Entry search against the plan's own critical structures, for its tumour and for a deep
    // target 6 mm from an artery (the whole search: scoring every skin vertex, exact checks).
    let mut searches = Vec::new();
    for (what, target) in [("tumour", target), ("deep, beside an artery", Point3::new(30.0, -32.0, 44.0))] {
        let template = Trajectory::new("bench", target, target, needle);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let t = Instant::now();
            let found = as_planned
                .search_entries(&template, seg, Some(&field), &SearchSettings::default(), &Progress::new())
                .expect("search");
            times.push(t.elapsed().as_secs_f64());
            last = Some(found);
        }
        searches.push((what, median(times), last.expect("five runs")));
    }

    // Point distances to the skull, against VTK on the same surface and points.
    let dir = tempfile::tempdir().expect("temp dir");
    let ply = dir.path().join("skull.ply");
    export::write(&skull_mesh, &ply, export::Format::Ply, export::Frame::Lps, "skull").expect("ply");
    let points: Vec<[f64; 3]> =
        paths.iter().flat_map(|p| (0..25).map(move |k| p.at_depth(p.length_mm() * k as f64 / 24.0).into())).collect();
    let pts_file = dir.path().join("points.json");
    std::fs::write(&pts_file, serde_json::to_string(&points).expect("json")).expect("points");
    let skull_obstacle = scene.obstacles.iter().find(|o| o.label == skull).expect("skull obstacle");
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for p in &points {
            std::hint::black_box(skull_obstacle.signed_distance_mm(&(*p).into()));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let ours =
        Measurement { who: "twinplan".into(), seconds: best, peak_rss_bytes: 0, rss_before_bytes: 0, voxel_bytes: 1 };
    let vtk = anchor(&["distance", ply.to_str().expect("path"), pts_file.to_str().expect("path"), "5"]);

    println!(
        "\nclearance: {} critical triangles in {} surfaces, built in {build_s:.2} s",
        triangles,
        scene.obstacles.len()
    );
    println!(
        "exact check of one path (all critical surfaces, 1 thread, as check runs it): median {:.3} ms, 95th percentile {:.3} ms, max {:.3} ms over {} paths",
        median(exact.clone()) * 1e3,
        percentile(exact.clone(), 0.95) * 1e3,
        exact.iter().cloned().fold(0.0, f64::max) * 1e3,
        paths.len()
    );
    println!("full report of one path (clearances, profile, passage, angle): median {:.3} ms", median(full) * 1e3);
    println!("distance map of the plan's critical structures: {field_s:.3} s");
    for (what, seconds, found) in &searches {
        println!(
            "entry search, {what}: median {seconds:.3} s over 5 runs ({} skin vertices, {} paths scored, {} checked exactly, best risk {:.3} mm)",
            found.surface_vertices,
            found.scored,
            found.checked,
            found.suggestions.first().map_or(f64::NAN, |s| s.report.risk_mm)
        );
    }
    println!(
        "full report against the plan's own critical structures ({planned_triangles} triangles of vessels and nerves): median {:.3} ms",
        median(planned) * 1e3
    );
    println!(
        "{} point distances to the skull ({} triangles): twinplan {:.4} s, {} {:.4} s: {:.1}x",
        points.len(),
        skull_mesh.triangles.len(),
        ours.seconds,
        vtk.who,
        vtk.seconds,
        vtk.seconds / ours.seconds
    );
    common::report("clearance", &[common::compare("point distances, skull", &ours, &vtk)]);
}
