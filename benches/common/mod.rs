//! Shared by the benchmarks: running measurements in child processes, calling the Python
//! anchors, and reporting ratios.
#![allow(dead_code)]

use nalgebra::Point3;
use std::path::PathBuf;
use std::process::Command;

use twinplan::core::dicom::write::{WriteOptions, write_series};
use twinplan::core::phantom::Anatomy;
use twinplan::core::volume::{Grid, Volume, VoxelData};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    #[serde(alias = "anchor")]
    pub who: String,
    pub seconds: f64,
    pub peak_rss_bytes: u64,
    pub rss_before_bytes: u64,
    pub voxel_bytes: u64,
}

impl Measurement {
    /// Memory the work itself needed, over the voxel buffer it produced.
    pub fn memory_ratio(&self) -> f64 {
        self.peak_rss_bytes.saturating_sub(self.rss_before_bytes) as f64 / self.voxel_bytes.max(1) as f64
    }
}

fn status_field(name: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

pub fn rss_bytes() -> u64 {
    status_field("VmRSS:")
}

pub fn peak_rss_bytes() -> u64 {
    status_field("VmHWM:")
}

/// Runs this benchmark binary again with `args` and parses its JSON line (a measurement, alone
/// or with the `triangles` count the child reports).
pub fn run_self<T: FromJsonLine>(args: &[&str]) -> T {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe).args(args).output().expect("run child");
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    T::from_line(last_line(&out.stdout))
}

/// A child's or anchor's JSON line, read as a measurement alone or with its triangle count.
pub trait FromJsonLine {
    fn from_line(line: &[u8]) -> Self;
}

impl FromJsonLine for Measurement {
    fn from_line(line: &[u8]) -> Self {
        serde_json::from_slice(line).expect("measurement JSON")
    }
}

impl FromJsonLine for (Measurement, usize) {
    fn from_line(line: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(line).expect("measurement JSON");
        let triangles = v["triangles"].as_u64().unwrap_or(0) as usize;
        (serde_json::from_value(v).expect("measurement JSON"), triangles)
    }
}

/// A measurement, or why the anchor could not run (`{"unavailable": ...}`: an optional wheel that
/// did not install).
impl FromJsonLine for Result<Measurement, String> {
    fn from_line(line: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(line).expect("JSON");
        match v["unavailable"].as_str() {
            Some(why) => Err(why.to_owned()),
            None => Ok(Measurement::from_line(line)),
        }
    }
}

fn last_line(bytes: &[u8]) -> &[u8] {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    match text.iter().rposition(|&b| b == b'\n') {
        Some(i) => &text[i + 1..],
        None => text,
    }
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs benches/anchors.py in the throwaway venv (created on first use).
pub fn anchor(args: &[&str]) -> Measurement {
    anchor_with(args)
}

/// As [`anchor`], parsing the line as `T`.
pub fn anchor_with<T: FromJsonLine>(args: &[&str]) -> T {
    let setup = Command::new(manifest().join("benches/setup-venv.sh")).output().expect("benches/setup-venv.sh");
    assert!(setup.status.success(), "venv setup failed: {}", String::from_utf8_lossy(&setup.stderr));
    let python = String::from_utf8_lossy(&setup.stdout).trim().to_owned();
    let out = Command::new(python).arg(manifest().join("benches/anchors.py")).args(args).output().expect("anchors.py");
    assert!(out.status.success(), "anchor failed: {}", String::from_utf8_lossy(&out.stderr));
    T::from_line(last_line(&out.stdout))
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub input: String,
    pub ours: Measurement,
    pub anchor: Measurement,
    /// anchor time / our time: above 1 means we are faster.
    pub speedup: f64,
}

pub fn compare(input: &str, ours: &Measurement, anchor: &Measurement) -> Row {
    Row { input: input.into(), ours: ours.clone(), anchor: anchor.clone(), speedup: anchor.seconds / ours.seconds }
}

pub fn report(name: &str, rows: &[Row]) {
    println!(
        "\n{name}: best of repeated runs, same input, same machine ({} cores)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "{:<32} {:>12} {:>12} {:>9} {:>12} {:>12}",
        "input", "twinplan s", "anchor s", "speedup", "mem/buffer", "anchor mem"
    );
    // A measurement without a voxel buffer (a whole command) has no memory ratio.
    let mem = |m: &Measurement| if m.voxel_bytes > 1 { format!("{:.2}", m.memory_ratio()) } else { "-".into() };
    for r in rows {
        println!(
            "{:<32} {:>12.4} {:>12.4} {:>8.2}x {:>12} {:>12}   ({})",
            r.input,
            r.ours.seconds,
            r.anchor.seconds,
            r.speedup,
            mem(&r.ours),
            mem(&r.anchor),
            r.anchor.who
        );
    }
    let dir = manifest().join("target/bench-results");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(rows).unwrap());
}

/// A 512 x 512 x 300 CT of the phantom's anatomy (written once, kept under target/).
pub fn big_series() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/ct-512x512x300");
    if dir.join("CT0300.dcm").is_file() {
        return dir;
    }
    eprintln!("writing {} ...", dir.display());
    let grid = Grid::axis_aligned([512, 512, 300], Point3::new(-115.0, -130.0, -60.0), [0.45, 0.45, 0.7]);
    let anatomy = Anatomy::new(twinplan::core::phantom::CENTRE_MM);
    let plane = 512 * 512;
    let mut hu = vec![0i16; grid.voxel_count()];
    use rayon::prelude::*;
    hu.par_chunks_mut(plane).enumerate().for_each(|(k, s)| {
        for (n, v) in s.iter_mut().enumerate() {
            let p = grid.patient_point(Point3::new((n % 512) as f64, (n / 512) as f64, k as f64));
            *v = anatomy.tissue(&p).hu() as i16;
        }
    });
    let mut meta = twinplan::core::phantom::meta();
    meta.series_uid = String::new();
    let v = Volume { grid, data: VoxelData::I16(hu), meta, warnings: vec![] };
    write_series(&v, &dir, &WriteOptions::new("twinplan load benchmark")).expect("write series");
    dir
}
