//! Shared by the integration tests: where the real data lives and how to fingerprint voxels.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod pairs;

/// `../shared/data` (or `$TWINPLAN_DATA`). The tests need it: its absence is a failure, not a skip.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("TWINPLAN_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(dir.join("README.md").is_file(), "real DICOM test data not found at {} (set TWINPLAN_DATA)", dir.display());
    dir
}

pub fn data(rel: &str) -> PathBuf {
    data_dir().join(rel)
}

pub fn project(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// FNV-1a over each value rounded to i32, little endian: the same as tests/fixtures/make_reference.py.
pub fn fnv1a64(values: impl Iterator<Item = f64>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for b in (v.round() as i32).to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

pub fn reference() -> serde_json::Value {
    let text =
        std::fs::read_to_string(project("tests/fixtures/reference.json")).expect("tests/fixtures/reference.json");
    serde_json::from_str(&text).expect("reference.json parses")
}

/// Validates a JSON file against a JSON Schema with Python's `jsonschema` (an independent
/// implementation; `.ci/install-deps` installs it): the validator's message when it fails.
pub fn validate(schema: &std::path::Path, file: &std::path::Path) -> Result<(), String> {
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft7Validator.check_schema(schema)\n\
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(json.load(open(sys.argv[2])))]\n\
        print('\\n'.join(errors))\n\
        sys.exit(3 if errors else 0)";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(schema)
        .arg(file)
        .output()
        .expect("python3 (with the jsonschema module: run .ci/install-deps)");
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!("the validator did not run: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// A copy of the bundled plan in `dir` whose scan has moved to `dir/name`: (plan, new folder).
pub fn phantom_with_moved_scan(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
    let phantom = project("sample_scans/phantom");
    let moved = dir.join(name);
    std::fs::create_dir(&moved).unwrap();
    copy_files(&phantom.join("dicom"), &moved);
    // The plan, its label map, the truth beside them, and the fused MR where the plan says.
    copy_files(&phantom, dir);
    std::fs::create_dir(dir.join("mr")).unwrap();
    copy_files(&phantom.join("mr"), &dir.join("mr"));
    (dir.join("phantom.twinplan.json"), moved)
}

/// Copies the files (not the folders) of `from` into `to`.
pub fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
}

/// Runs the twinplan binary: (exit code, stdout, stderr).
pub fn twinplan(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twinplan")).args(args).output().expect("run twinplan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A PDF's text as poppler's pdftotext reads it (an independent reader).
pub fn pdf_text(pdf: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils: run .ci/install-deps)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exact distance between two segments (closest points by the clamped normal equations).
pub fn segment_segment(
    p1: &nalgebra::Point3<f64>,
    q1: &nalgebra::Point3<f64>,
    p2: &nalgebra::Point3<f64>,
    q2: &nalgebra::Point3<f64>,
) -> f64 {
    let (d1, d2, r) = (q1 - p1, q2 - p2, p1 - p2);
    let (a, e, f, c, b) = (d1.dot(&d1), d2.dot(&d2), d2.dot(&r), d1.dot(&r), d1.dot(&d2));
    let denom = a * e - b * b;
    let mut s = if denom > 1e-12 { ((b * f - c * e) / denom).clamp(0.0, 1.0) } else { 0.0 };
    let mut t = (b * s + f) / e;
    if t < 0.0 {
        t = 0.0;
        s = (-c / a).clamp(0.0, 1.0);
    } else if t > 1.0 {
        t = 1.0;
        s = ((b - c) / a).clamp(0.0, 1.0);
    }
    ((p1 + d1 * s) - (p2 + d2 * t)).norm()
}
