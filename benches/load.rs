//! Series loading against SimpleITK's ImageSeriesReader, same files, same run:
//! `cargo bench --bench load`. Each measurement runs in its own process so that peak memory is
//! that of one load. Results go to stdout and target/bench-results/load.json.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Measurement, anchor, peak_rss_bytes, rss_bytes, run_self};
use twinplan::core::dicom;
use twinplan::core::progress::Progress;

const REPEATS: usize = 5;

/// One process: load `folder` REPEATS times, report the best time and the peak memory.
fn child(folder: &Path) -> Measurement {
    let before = rss_bytes();
    let mut best = f64::INFINITY;
    let mut voxel_bytes = 0;
    for _ in 0..REPEATS {
        let t = Instant::now();
        let (_, loaded) = dicom::open_volume(folder, None, &Progress::new()).expect("load");
        best = best.min(t.elapsed().as_secs_f64());
        voxel_bytes = loaded.volume.data.byte_size() as u64;
    }
    Measurement {
        who: "twinplan".into(),
        seconds: best,
        peak_rss_bytes: peak_rss_bytes(),
        rss_before_bytes: before,
        voxel_bytes,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        println!("{}", serde_json::to_string(&child(Path::new(&args[i + 1]))).unwrap());
        return;
    }
    let inputs = [
        (
            "ct-head-phantom 512x512x140",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct-head-phantom"),
        ),
        ("synthetic CT 512x512x300", common::big_series()),
    ];
    let mut rows = Vec::new();
    for (name, folder) in &inputs {
        // Warm the page cache so both readers see the same, cached files.
        dicom::open_volume(folder, None, &Progress::new()).expect("warm-up load");
        let ours = run_self(&["--child", folder.to_str().unwrap()]);
        let theirs = anchor(&["load", folder.to_str().unwrap(), &REPEATS.to_string()]);
        rows.push(common::compare(name, &ours, &theirs));
    }
    common::report("load", &rows);
}
