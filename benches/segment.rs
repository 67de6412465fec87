//! Connectivity on a 512 x 512 x 300 CT: `cargo bench --bench segment`. The workstation's budget
//! is a click-to-result well under a second for region growing and connected components.

mod common;

use std::time::Instant;

use twinplan::core::dicom;
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::components::{components, flood, keep_largest};
use twinplan::core::segmentation::{Connectivity, Preset, mask::threshold};

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("at least one run"))
}

fn main() {
    let folder = common::big_series();
    let (_, loaded) = dicom::open_volume(&folder, None, &Progress::new()).expect("load");
    let v = &loaded.volume;
    let (lo, hi) = Preset::Bone.range_hu();
    let (t_threshold, bone) = best_of(3, || threshold(v, lo, hi));
    let seed = (0..bone.voxels.len()).find(|&i| bone.get(i)).expect("some bone");
    println!(
        "\nsegment: {:?} voxels, {} of them bone, {} cores",
        v.grid.dims,
        bone.count(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("{:<44} {:>10}", "operation", "best of 3");
    println!("{:<44} {:>9.3}s", "threshold (bone)", t_threshold);
    for (name, c) in [("6-connected", Connectivity::Six), ("26-connected", Connectivity::TwentySix)] {
        let (t_grow, grown) = best_of(3, || flood(&bone, &[seed], c));
        let (t_cc, labelled) = best_of(3, || components(&bone, c));
        let (t_largest, _) = best_of(3, || keep_largest(&bone, c));
        println!(
            "{:<44} {:>9.3}s  ({} voxels)",
            format!("region growing from one seed, {name}"),
            t_grow,
            grown.count()
        );
        println!("{:<44} {:>9.3}s  ({} components)", format!("connected components, {name}"), t_cc, labelled.count());
        println!("{:<44} {:>9.3}s", format!("keep largest island, {name}"), t_largest);
    }
}
