//! Surface extraction against VTK's vtkFlyingEdges3D and scikit-image's marching_cubes, same
//! volume, same iso value, same run: `cargo bench --bench mesh`. Each measurement runs in its
//! own process; memory is the extraction's peak over what the loaded volume already used.
//! The iso value is off the integer grid (x.5) so that no voxel equals it and every
//! implementation classifies every voxel the same way.

mod common;

use std::path::Path;
use std::time::Instant;

use common::{Measurement, anchor_with, peak_rss_bytes, rss_bytes, run_self};
use twinplan::core::dicom;
use twinplan::core::mesh::{ExtractOptions, extract_iso};
use twinplan::core::progress::Progress;

const REPEATS: usize = 5;

fn child(folder: &Path, iso: f64) -> (Measurement, usize) {
    let (_, loaded) = dicom::open_volume(folder, None, &Progress::new()).expect("load");
    let before = rss_bytes();
    let mut best = f64::INFINITY;
    let mut triangles = 0;
    let mut mesh_bytes = 0;
    for _ in 0..REPEATS {
        let t = Instant::now();
        let m = extract_iso(&loaded.volume, iso, ExtractOptions::default(), &Progress::new()).expect("extract");
        best = best.min(t.elapsed().as_secs_f64());
        triangles = m.triangles.len();
        mesh_bytes = (m.triangles.len() * 12 + m.positions.len() * 12) as u64;
    }
    // Memory is reported against the mesh produced (the budget: 3x the mesh beyond the volume).
    (
        Measurement {
            who: "twinplan".into(),
            seconds: best,
            peak_rss_bytes: peak_rss_bytes(),
            rss_before_bytes: before,
            voxel_bytes: mesh_bytes,
        },
        triangles,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (m, triangles) = child(Path::new(&args[i + 1]), args[i + 2].parse().unwrap());
        let mut j = serde_json::to_value(&m).unwrap();
        j["triangles"] = triangles.into();
        println!("{j}");
        return;
    }
    let big = common::big_series();
    let inputs = [
        (
            "ct-head-phantom bone 512x512x140",
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct-head-phantom"),
            250.5,
        ),
        ("synthetic CT bone 512x512x300", big, 250.5),
    ];
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    for (name, folder, iso) in &inputs {
        let f = folder.to_str().unwrap();
        let iso_s = iso.to_string();
        let (ours, our_tris) = run_self(&["--child", f, &iso_s]);
        let (vtk, vtk_tris) = anchor_with(&["mesh", f, &iso_s, "5"]);
        let (sk, sk_tris) = anchor_with(&["skimage", f, &iso_s, "2"]);
        rows.push(common::compare(&format!("{name} vs VTK"), &ours, &vtk));
        rows.push(common::compare(&format!("{name} vs skimage"), &ours, &sk));
        counts.push((name.to_string(), our_tris, vtk_tris, sk_tris));
    }
    common::report("mesh", &rows);
    println!("\n{:<34} {:>12} {:>12} {:>12} {:>10}", "triangles", "twinplan", "VTK", "skimage", "vs VTK");
    for (name, o, v, s) in &counts {
        println!("{name:<34} {o:>12} {v:>12} {s:>12} {:>+9.3}%", 100.0 * (*o as f64 - *v as f64) / *v as f64);
    }
    println!("(mem/buffer here: extraction memory beyond the loaded volume, over the mesh's size)");
}
