//! Rigid registration against SimpleITK's ImageRegistrationMethod (Mattes MI, rigid, 3 levels)
//! and, where it installs, itk-elastix with its default rigid parameter map, same pairs, same
//! run: `cargo bench --bench register`. The pairs are real scans moved by a known
//! motion onto another grid with another contrast and noise (tests/common/pairs.rs), written as
//! NIfTI so that both read the same files; each side is timed from loaded images to transform,
//! best of three, and scored by its target registration error at points through the anatomy.

mod common;
#[path = "../tests/common/pairs.rs"]
mod pairs;

use std::path::{Path, PathBuf};

use common::{Measurement, anchor_with, run_self};
use nalgebra::{Isometry3, Matrix4, Point3};
use pairs::Recipe;
use twinplan::core::dicom;
use twinplan::core::io::nifti;
use twinplan::core::progress::Progress;
use twinplan::core::registration::{Settings, register};

const REPEATS: usize = 3;

struct Pair {
    name: &'static str,
    source: &'static str,
    /// The fixed scan resampled to this spacing first (0: as it is).
    fixed_spacing_mm: f64,
    recipe: &'static Recipe,
}

/// The `registration` tests' pairs, and the oblique CT pair with the CT at 1.5 mm.
const PAIRS: [Pair; 4] = [
    Pair {
        name: "CT 1.5 mm to pseudo-MR",
        source: "ct-head-phantom",
        fixed_spacing_mm: 1.5,
        recipe: &pairs::CT_OBLIQUE,
    },
    Pair {
        name: "CT to pseudo-MR, 20 mm 15 deg",
        source: "ct-head-phantom",
        fixed_spacing_mm: 0.0,
        recipe: &pairs::CT_FAR,
    },
    Pair {
        name: "CT to pseudo-MR, oblique",
        source: "ct-head-phantom",
        fixed_spacing_mm: 0.0,
        recipe: &pairs::CT_OBLIQUE,
    },
    Pair { name: "MR to another contrast", source: "mr-sagittal", fixed_spacing_mm: 0.0, recipe: &pairs::MR_CONTRAST },
];

/// Writes the pair's fixed and moving NIfTI files (once) and returns them with the truth and
/// the TRE points.
fn prepare(pair: &Pair, dir: &Path) -> (PathBuf, PathBuf, Isometry3<f64>, Vec<Point3<f64>>) {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(pair.source);
    let fixed = dicom::open_volume(&source, None, &Progress::new()).expect("load").1.volume;
    let fixed = if pair.fixed_spacing_mm > 0.0 { pairs::coarser(&fixed, pair.fixed_spacing_mm) } else { fixed };
    let (truth, grid) = pair.recipe.geometry(&fixed);
    let stem = pair.name.replace([' ', ','], "_");
    let (fixed_file, moving_file) =
        (dir.join(format!("{stem}_fixed.nii.gz")), dir.join(format!("{stem}_moving.nii.gz")));
    if !moving_file.is_file() {
        let moving = pair.recipe.moving(&fixed, &truth, &grid);
        nifti::write_volume(&fixed_file, &fixed.grid, &fixed.data, "fixed").expect("write fixed");
        nifti::write_volume(&moving_file, &moving.grid, &moving.data, "moving").expect("write moving");
    }
    let points = pair.recipe.points(&fixed, &truth, &grid);
    (fixed_file, moving_file, truth, points)
}

fn child(fixed: &Path, moving: &Path) -> (Measurement, Matrix4<f64>, usize) {
    let read = |p: &Path| dicom::open_volume(p, None, &Progress::new()).expect("read").1.volume;
    let (f, m) = (read(fixed), read(moving));
    let mut best = f64::INFINITY;
    let mut found = None;
    for _ in 0..REPEATS {
        let r = register(&f, &m, &Settings::default(), &Progress::new()).expect("register");
        assert!(r.converged, "{r:?}");
        best = best.min(r.time_s);
        found = Some(r);
    }
    let r = found.unwrap();
    let m =
        Measurement { who: "twinplan".into(), seconds: best, peak_rss_bytes: 0, rss_before_bytes: 0, voxel_bytes: 1 };
    (m, r.fixed_from_moving.to_homogeneous(), r.iterations)
}

/// A JSON line with a measurement, a row-major matrix under `key` and an iteration count.
struct Found(Measurement, Matrix4<f64>, usize);

/// elastix's result, or why there is none (it did not install).
struct MaybeFound(Result<Found, String>);

impl common::FromJsonLine for MaybeFound {
    fn from_line(line: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(line).expect("JSON");
        match v["unavailable"].as_str() {
            Some(why) => MaybeFound(Err(why.to_owned())),
            None => MaybeFound(Ok(Found::from_line(line))),
        }
    }
}

impl common::FromJsonLine for Found {
    fn from_line(line: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(line).expect("JSON");
        let key = if v["fixed_from_moving"].is_array() { "fixed_from_moving" } else { "moving_from_fixed" };
        let m: Vec<f64> = v[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let matrix = Matrix4::from_row_slice(&m);
        let matrix = if key == "moving_from_fixed" { matrix.try_inverse().expect("invertible") } else { matrix };
        Found(
            serde_json::from_value(v.clone()).expect("measurement"),
            matrix,
            v["iterations"].as_u64().unwrap_or(0) as usize,
        )
    }
}

fn tre(found: &Matrix4<f64>, truth: &Isometry3<f64>, points: &[Point3<f64>]) -> (f64, f64) {
    let moving_from_fixed = truth.inverse();
    let e: Vec<f64> = points.iter().map(|p| (found.transform_point(&(moving_from_fixed * p)) - p).norm()).collect();
    (e.iter().sum::<f64>() / e.len() as f64, e.iter().copied().fold(0.0, f64::max))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (m, matrix, iterations) = child(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
        let mut j = serde_json::to_value(&m).unwrap();
        j["fixed_from_moving"] = matrix.transpose().as_slice().to_vec().into();
        j["iterations"] = iterations.into();
        println!("{j}");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/registration");
    std::fs::create_dir_all(&dir).expect("bench data folder");
    println!(
        "\nregistration: best of {REPEATS}, same NIfTI pairs, same machine ({} cores); TRE over points through the anatomy",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "{:<32} {:>10} {:>17} {:>10} {:>17} {:>8} {:>10} {:>17} {:>8}",
        "pair",
        "twinplan s",
        "TRE mean/max mm",
        "SimpleITK",
        "TRE mean/max mm",
        "speedup",
        "elastix",
        "TRE mean/max mm",
        "speedup"
    );
    let mut rows = Vec::new();
    for pair in &PAIRS {
        let (fixed, moving, truth, points) = prepare(pair, &dir);
        let (f, m) = (fixed.to_str().unwrap(), moving.to_str().unwrap());
        let Found(ours, ours_matrix, ours_iterations) = run_self(&["--child", f, m]);
        let Found(sitk, sitk_matrix, sitk_iterations) = anchor_with(&["register", f, m, &REPEATS.to_string()]);
        let MaybeFound(elastix) = anchor_with(&["elastix", f, m, &REPEATS.to_string()]);
        let (a, b) = (tre(&ours_matrix, &truth, &points), tre(&sitk_matrix, &truth, &points));
        let (elastix_text, elastix_json) = match &elastix {
            Ok(Found(e, matrix, iterations)) => {
                let c = tre(matrix, &truth, &points);
                (
                    format!("{:>10.3} {:>8.3}/{:<8.3} {:>7.2}x", e.seconds, c.0, c.1, e.seconds / ours.seconds),
                    serde_json::json!({ "who": e.who, "seconds": e.seconds, "tre_mean_mm": c.0, "tre_max_mm": c.1, "iterations": iterations }),
                )
            }
            Err(why) => (format!("{:>10} ({why})", "-"), serde_json::json!({ "unavailable": why })),
        };
        println!(
            "{:<32} {:>10.3} {:>8.3}/{:<8.3} {:>10.3} {:>8.3}/{:<8.3} {:>7.2}x {elastix_text}   ({} points; {ours_iterations} and {sitk_iterations} iterations; {})",
            pair.name,
            ours.seconds,
            a.0,
            a.1,
            sitk.seconds,
            b.0,
            b.1,
            sitk.seconds / ours.seconds,
            points.len(),
            sitk.who
        );
        rows.push(serde_json::json!({
            "pair": pair.name, "points": points.len(),
            "twinplan": { "seconds": ours.seconds, "tre_mean_mm": a.0, "tre_max_mm": a.1, "iterations": ours_iterations },
            "anchor": { "who": sitk.who, "seconds": sitk.seconds, "tre_mean_mm": b.0, "tre_max_mm": b.1, "iterations": sitk_iterations },
            "elastix": elastix_json,
        }));
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results/register.json");
    let _ = std::fs::create_dir_all(out.parent().unwrap());
    let _ = std::fs::write(out, serde_json::to_string_pretty(&rows).unwrap());
}
