//! Shared by the benchmarks: running measurements in child processes, calling the Python
//! anchors, and reporting ratios.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

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

/// Runs this benchmark binary again with `args` and parses its JSON line.
pub fn run_self(args: &[&str]) -> Measurement {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe).args(args).output().expect("run child");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(last_line(&out.stdout)).expect("child JSON")
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
    let setup = Command::new(manifest().join("benches/setup-venv.sh"))
        .output()
        .expect("benches/setup-venv.sh");
    assert!(
        setup.status.success(),
        "venv setup failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let python = String::from_utf8_lossy(&setup.stdout).trim().to_owned();
    let out = Command::new(python)
        .arg(manifest().join("benches/anchors.py"))
        .args(args)
        .output()
        .expect("anchors.py");
    assert!(
        out.status.success(),
        "anchor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(last_line(&out.stdout)).expect("anchor JSON")
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
    Row {
        input: input.into(),
        ours: ours.clone(),
        anchor: anchor.clone(),
        speedup: anchor.seconds / ours.seconds,
    }
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
    for r in rows {
        println!(
            "{:<32} {:>12.4} {:>12.4} {:>8.2}x {:>12.2} {:>12.2}   ({})",
            r.input,
            r.ours.seconds,
            r.anchor.seconds,
            r.speedup,
            r.ours.memory_ratio(),
            r.anchor.memory_ratio(),
            r.anchor.who
        );
    }
    let dir = manifest().join("target/bench-results");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(rows).unwrap(),
    );
}
