//! Frame times of the workstation on this machine's Vulkan driver (here Mesa's software llvmpipe
//! under Xvfb, no GPU): `cargo bench --bench frames`. Each case is a plan the app opens in its
//! own process; the app logs the launch times, the worst frame while the scan loads and its
//! surfaces are built, and the median and worst of 20 frames while the 3D view orbits once the
//! scene has settled (see src/app/screenshot.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    name: &'static str,
    plan: PathBuf,
}

/// The bundled plan with changes, its paths made absolute for a new folder.
fn variant(dir: &Path, name: &str, change: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let phantom = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom");
    let text = std::fs::read_to_string(phantom.join("phantom.twinplan.json")).expect("the bundled plan");
    let mut plan: serde_json::Value = serde_json::from_str(&text).expect("plan JSON");
    let abs =
        |v: &mut serde_json::Value| *v = phantom.join(v.as_str().expect("a path")).to_str().expect("utf-8").into();
    abs(&mut plan["scan"]["path"]);
    abs(&mut plan["label_map"]);
    for s in plan["segmentation"]["segments"].as_array_mut().expect("segments") {
        for step in s["steps"].as_array_mut().expect("steps") {
            abs(&mut step["file"]);
        }
    }
    change(&mut plan);
    let out = dir.join(format!("{name}.twinplan.json"));
    std::fs::write(&out, serde_json::to_string(&plan).expect("JSON")).expect("write plan");
    out
}

/// ct-head-phantom (512 x 512 x 140, 0.45 mm pixels) with its bone segmented from a recipe when
/// it opens: a scene of about two million triangles.
fn dense_head(dir: &Path) -> PathBuf {
    let scan = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct-head-phantom");
    let (found, loaded) =
        twinplan::core::dicom::open_volume(&scan, None, &Default::default()).expect("ct-head-phantom");
    let id = twinplan::core::dicom::largest(&found).expect("a series").id.clone();
    let segment = |label: u16, name: &str, category: &str, lo: f64| {
        serde_json::json!({
            "label": label, "name": name, "category": category, "margin_mm": 0.0, "critical": false,
            "steps": [{"tool": "threshold", "lo": lo, "hi": 3071.0}],
        })
    };
    let plan = serde_json::json!({
        "version": 1,
        "scan": {"path": scan, "series_uid": loaded.volume.meta.series_uid, "series_id": id},
        "segmentation": {"segments": [segment(1, "Bone", "bone", 250.0)]},
    });
    let out = dir.join("dense.twinplan.json");
    std::fs::write(&out, plan.to_string()).expect("write plan");
    out
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        Case { name: "phantom as shipped", plan: variant(dir.path(), "shipped", |_| {}) },
        Case {
            name: "phantom, volume rendering (bone)",
            plan: variant(dir.path(), "volume", |p| p["view"]["volume_rendering"] = "bone".into()),
        },
        Case {
            name: "phantom, no surfaces",
            plan: variant(dir.path(), "bare", |p| p["view"]["show_meshes"] = false.into()),
        },
        Case { name: "ct-head-phantom bone", plan: dense_head(dir.path()) },
    ];
    println!("\nframes: {} cores, Xvfb 1600x1000, the Vulkan driver Mesa picks (llvmpipe without a GPU)", num_cpus());
    println!(
        "{:<36} {:>14} {:>17} {:>13} {:>13} {:>10}",
        "case", "launch->shown", "loading max ms", "orbit median", "orbit max", "triangles"
    );
    for c in &cases {
        let shot = dir.path().join(format!("{}.png", c.name.replace(' ', "_")));
        let out = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1600x1000x24", env!("CARGO_BIN_EXE_twinplan"), "open"])
            .arg(&c.plan)
            .env("TWINPLAN_SCREENSHOT", &shot)
            .output()
            .expect("xvfb-run (install xvfb)");
        let log = String::from_utf8_lossy(&out.stderr);
        let after = |key: &str| log.lines().find_map(|l| l.split_once(key).map(|(_, rest)| rest.trim().to_owned()));
        let numbers = |text: Option<String>| -> Vec<String> {
            text.unwrap_or_default()
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let shown = after("launch to scan and surfaces shown").unwrap_or_else(|| "?".into());
        // "median 12.3 ms, max 45.6 ms"
        let loading = numbers(after("frames while loading:"));
        // "20 frames: median 12.3 ms, max 45.6 ms (789 triangles shown)"
        let orbit = numbers(after("frame time orbiting over"));
        let at = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_else(|| "?".into());
        println!(
            "{:<36} {:>14} {:>17} {:>13} {:>13} {:>10}",
            c.name,
            shown,
            at(&loading, 1),
            at(&orbit, 1),
            at(&orbit, 2),
            at(&orbit, 3)
        );
    }
    match idle_cpu(&cases[0].plan) {
        Some(s) => println!("idle: {} used {s:.2} s of CPU in 20 s after loading (drawing on demand)", cases[0].name),
        None => println!("idle: could not measure (no /proc, or the app did not start)"),
    }
}

/// CPU seconds (user and system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (in parentheses): utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The workstation process showing `plan` (a child of xvfb-run's shell).
fn find_app(plan: &Path) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let shows = String::from_utf8_lossy(&cmdline).contains(plan.to_str()?);
        (comm.trim() == "twinplan" && shows).then_some(pid)
    })
}

/// The shipped plan opened as a user would (drawing on demand, no screenshot): the CPU time the
/// app uses in 20 s once it has had 40 s to load and build its surfaces.
fn idle_cpu(plan: &Path) -> Option<f64> {
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24", env!("CARGO_BIN_EXE_twinplan"), "open"])
        .arg(plan)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(std::time::Duration::from_secs(40));
    let app = find_app(plan);
    let before = app.and_then(cpu_seconds);
    std::thread::sleep(std::time::Duration::from_secs(20));
    let after = app.and_then(cpu_seconds);
    if let Some(pid) = app {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    let _ = child.wait();
    Some(after? - before?)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
