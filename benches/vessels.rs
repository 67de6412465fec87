//! Vesselness of a 512 x 512 x 300 CT (the phantom's anatomy with CT noise of 6 HU, as the
//! bundled phantom has, so that flat regions are not free) at four scales against SimpleITK's ObjectnessMeasure and
//! ITK's multi-scale Hessian filter, same volume, same run: `cargo bench --bench vessels`. The
//! measure is the same on both sides (Frangi's, alpha = beta = 0.5, ITK's gamma = twinplan's
//! c), so the benchmark also reports how far the two answers lie apart. With
//! TWINPLAN_BENCH_OURS_ONLY set, only twinplan runs.

mod common;

use std::time::Instant;

use common::{Measurement, anchor_with, compare, report};
use rayon::prelude::*;
use twinplan::core::dicom;
use twinplan::core::io::nifti;
use twinplan::core::phantom::noise;
use twinplan::core::progress::Progress;
use twinplan::core::vessels::{Polarity, TreeSettings, vesselness};
use twinplan::core::volume::VoxelData;

const REPEATS: usize = 3;
const SCALES_MM: [f64; 4] = [0.5, 1.0, 1.5, 2.0];
const NOISE_SD_HU: f64 = 6.0;

fn main() {
    let folder = common::big_series();
    let mut volume = dicom::open_volume(&folder, None, &Progress::new()).expect("load").1.volume;
    if let VoxelData::I16(v) = &mut volume.data {
        v.par_iter_mut().enumerate().for_each(|(i, x)| *x = (f64::from(*x) + NOISE_SD_HU * noise(7, i)).round() as i16);
    }
    let dir = folder.parent().expect("bench-data").to_path_buf();
    let image = dir.join("ct-512x512x300-noise6.nii");
    if !image.is_file() {
        nifti::write_volume(&image, &volume.grid, &volume.data, "vesselness benchmark").expect("write NIfTI");
    }
    let contrast = TreeSettings::contrast_ct().contrast;
    let mut best = f64::INFINITY;
    let mut ours = None;
    for _ in 0..REPEATS {
        let t = Instant::now();
        let v =
            vesselness(&volume, &SCALES_MM, Polarity::Bright, contrast, None, &Progress::new()).expect("vesselness");
        best = best.min(t.elapsed().as_secs_f64());
        ours = Some(v);
    }
    let ours = ours.expect("a run");
    let measured = Measurement {
        who: "twinplan".into(),
        seconds: best,
        peak_rss_bytes: common::peak_rss_bytes(),
        rss_before_bytes: 0,
        voxel_bytes: 1,
    };
    println!("twinplan: {best:.2} s");
    if std::env::var_os("TWINPLAN_BENCH_OURS_ONLY").is_some() {
        return;
    }
    let scales = SCALES_MM.map(|s| s.to_string()).join(",");
    // twinplan's c is contrast / 4 (see vessels::vesselness).
    let gamma = (contrast / 4.0).to_string();
    let theirs_file = dir.join("objectness-simpleitk.nii");
    let repeats = REPEATS.to_string();
    let sitk: Measurement = anchor_with(&[
        "objectness",
        &image.to_string_lossy(),
        &scales,
        &gamma,
        &theirs_file.to_string_lossy(),
        &repeats,
    ]);
    let mut rows = vec![compare("512x512x300 CT, 4 scales", &measured, &sitk)];
    let itk: Result<Measurement, String> =
        anchor_with(&["itk-objectness", &image.to_string_lossy(), &scales, &gamma, "1"]);
    match itk {
        Ok(m) => rows.push(compare("512x512x300 CT, 4 scales", &measured, &m)),
        Err(why) => println!("ITK's multi-scale filter left out: {why}"),
    }
    report("vessels", &rows);

    // How far apart the two answers are, where either sees a vessel.
    let theirs = nifti::read(&theirs_file).expect("SimpleITK's result").values;
    let (mut n, mut sum, mut worst) = (0usize, 0f64, 0f32);
    for (i, &a) in ours.values.iter().enumerate() {
        let b = theirs[i];
        if a > 0.05 || b > 0.05 {
            n += 1;
            sum += f64::from((a - b).abs());
            worst = worst.max((a - b).abs());
        }
    }
    println!(
        "agreement with SimpleITK where either is above 0.05: {n} voxels, mean |difference| {:.4}, largest {worst:.3}",
        sum / n.max(1) as f64
    );
}
