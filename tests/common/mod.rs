//! Shared by the integration tests: where the real data lives and how to fingerprint voxels.
#![allow(dead_code)]

use std::path::PathBuf;

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
