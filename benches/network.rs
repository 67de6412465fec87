//! Receiving a 500-image CT series over the DICOM network: `twinplan listen` against DCMTK's
//! storescp, the same files sent by the same DCMTK storescu over loopback, in the same run:
//! `cargo bench --bench network`. The best of three sends each, alternating. DCMTK runs with
//! TCP_NODELAY=1 (its own switch): without it each image waits about 40 ms on a delayed
//! acknowledgement and storescp takes several times longer. Results go to stdout and
//! target/bench-results/network.json.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nalgebra::Point3;
use twinplan::core::dicom::write::{WriteOptions, write_series};
use twinplan::core::volume::{Grid, Volume, VolumeMeta, VoxelData};

const IMAGES: usize = 500;
const REPEATS: usize = 3;

/// A 512 x 512 x 500 CT (a water cylinder in air with some texture), as one file per image.
fn series(dir: &Path) -> Vec<PathBuf> {
    let [nx, ny] = [512usize, 512];
    let grid = Grid::axis_aligned([nx, ny, IMAGES], Point3::new(-128.0, -128.0, 0.0), [0.5, 0.5, 1.0]);
    let data: Vec<i16> = (0..nx * ny * IMAGES)
        .map(|i| {
            let (x, y, z) = ((i % nx) as f64 - 256.0, (i / nx % ny) as f64 - 256.0, (i / (nx * ny)) as f64);
            if x * x + y * y < 200.0 * 200.0 { ((x * 0.3 + y * 0.7 + z).sin() * 40.0) as i16 } else { -1000 }
        })
        .collect();
    let meta = VolumeMeta { modality: "CT".into(), patient_id: "BENCH".into(), ..Default::default() };
    let volume = Volume { grid, data: VoxelData::I16(data), meta, warnings: Vec::new() };
    write_series(&volume, dir, &WriteOptions::new("twinplan network bench")).expect("write the series")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `port` answers C-ECHO to `ae`.
fn answering(port: u16, ae: &str) {
    for _ in 0..100 {
        let ok = Command::new("echoscu")
            .args(["-aec", ae, "127.0.0.1", &port.to_string()])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing answers on port {port}");
}

/// Seconds for storescu to send the files to `ae` on `port` over one association.
fn send(files: &[PathBuf], port: u16, ae: &str) -> f64 {
    let t = Instant::now();
    let out = Command::new("storescu")
        .env("TCP_NODELAY", "1")
        .args(["-aec", ae, "127.0.0.1", &port.to_string()])
        .args(files)
        .output()
        .expect("storescu (dcmtk)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    t.elapsed().as_secs_f64()
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for p in std::fs::read_dir(&d).into_iter().flatten().flatten().map(|e| e.path()) {
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n != "index.jsonl") {
                n += 1;
            }
        }
    }
    n
}

fn main() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let files = series(&tmp.path().join("series"));
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    let (mut ours, mut theirs) = (f64::INFINITY, f64::INFINITY);
    for round in 0..REPEATS {
        let store = tmp.path().join(format!("twinplan-{round}"));
        let port = free_port();
        let service = Killed(
            Command::new(env!("CARGO_BIN_EXE_twinplan"))
                .args(["listen", "--port", &port.to_string(), "--store", store.to_str().unwrap()])
                .stdout(Stdio::null())
                .spawn()
                .expect("twinplan listen"),
        );
        answering(port, "TWINPLAN");
        ours = ours.min(send(&files, port, "TWINPLAN"));
        drop(service);
        assert_eq!(count_files(&store), IMAGES, "twinplan stored every image");

        let out = tmp.path().join(format!("storescp-{round}"));
        std::fs::create_dir_all(&out).unwrap();
        let port = free_port();
        let peer = Killed(
            Command::new("storescp")
                .env("TCP_NODELAY", "1")
                .args(["-aet", "STORESCP", "-od", out.to_str().unwrap(), &port.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .expect("storescp (dcmtk)"),
        );
        answering(port, "STORESCP");
        theirs = theirs.min(send(&files, port, "STORESCP"));
        drop(peer);
        assert_eq!(count_files(&out), IMAGES, "storescp stored every image");
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "receiving {IMAGES} CT images ({mb:.0} MB) from storescu over loopback: twinplan {ours:.2} s ({:.0} MB/s), \
         DCMTK storescp {theirs:.2} s ({:.0} MB/s): twinplan takes {:.2}x storescp's time",
        mb / ours,
        mb / theirs,
        ours / theirs
    );
    let result = serde_json::json!({
        "images": IMAGES, "bytes": bytes, "twinplan_s": ours, "storescp_s": theirs, "ratio": ours / theirs,
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-results/network.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&result).unwrap()).unwrap();
}
