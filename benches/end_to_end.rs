//! Whole commands against the scripts a user would otherwise write, same input, same run:
//! `cargo bench --bench end_to_end`. `twinplan mesh` (DICOM series to binary STL) against
//! SimpleITK's reader + VTK's flying edges + VTK's STL writer, and `twinplan info` against
//! SimpleITK's ImageSeriesReader. twinplan is timed as a whole process (start-up, progress,
//! statistics and all); the anchors inside their Python process, imports excluded: the harder
//! comparison for twinplan. Results go to stdout and target/bench-results/end_to_end.json.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Measurement, anchor, anchor_with};

const REPEATS: usize = 3;
const ISO_HU: &str = "300";

/// The best wall time of `twinplan ARGS`, run REPEATS times; the last run's stdout.
fn twinplan(args: &[&str]) -> (Measurement, String) {
    let mut best = f64::INFINITY;
    let mut stdout = String::new();
    for _ in 0..REPEATS {
        let t = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_twinplan")).args(args).output().expect("twinplan");
        best = best.min(t.elapsed().as_secs_f64());
        assert!(out.status.success(), "twinplan {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let m =
        Measurement { who: "twinplan".into(), seconds: best, peak_rss_bytes: 0, rss_before_bytes: 0, voxel_bytes: 1 };
    (m, stdout)
}

fn main() {
    let inputs: [(&str, PathBuf); 2] = [
        (
            "ct-head-phantom 512x512x140",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct-head-phantom"),
        ),
        ("synthetic CT 512x512x300", common::big_series()),
    ];
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let ours_stl = out_dir.join("end_to_end_twinplan.stl");
    let theirs_stl = out_dir.join("end_to_end_vtk.stl");
    let mut rows = Vec::new();
    for (name, folder) in &inputs {
        let folder = folder.to_str().unwrap();
        // Warm the page cache so both see the same, cached files.
        twinplan(&["info", folder]);
        let (ours, json) = twinplan(&["mesh", folder, "--iso", ISO_HU, "--out", ours_stl.to_str().unwrap(), "--json"]);
        let triangles =
            serde_json::from_str::<serde_json::Value>(&json).expect("mesh --json")["triangles"].as_u64().unwrap();
        let (theirs, vtk_triangles): (Measurement, usize) =
            anchor_with(&["pipeline", folder, ISO_HU, theirs_stl.to_str().unwrap(), &REPEATS.to_string()]);
        println!(
            "{name}: mesh {triangles} triangles ({} MB), VTK {vtk_triangles} ({} MB)",
            size_mb(&ours_stl),
            size_mb(&theirs_stl)
        );
        rows.push(common::compare(&format!("mesh --iso {ISO_HU}: {name}"), &ours, &theirs));
        let (ours, _) = twinplan(&["info", folder]);
        let theirs = anchor(&["load", folder, &REPEATS.to_string()]);
        rows.push(common::compare(&format!("info: {name}"), &ours, &theirs));
    }
    common::report("end_to_end", &rows);
}

fn size_mb(p: &Path) -> String {
    format!("{:.0}", std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / 1e6)
}
