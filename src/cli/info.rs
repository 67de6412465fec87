//! `twinplan info`: the series found under a path, as text or JSON.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use twinplan::core::dicom::{self, Scan, Series};
use twinplan::core::progress::Progress;
use twinplan::core::volume::Volume;

use super::common::{TerminalProgress, row_major};

#[derive(Args)]
pub struct InfoArgs {
    path: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

struct SeriesReport<'a> {
    /// As scanned, or as loaded when some of its files could not be decoded.
    series: std::borrow::Cow<'a, Series>,
    volume: Option<Volume>,
    error: Option<String>,
}

pub fn run(args: &InfoArgs) -> Result<()> {
    let (path, as_json) = (args.path.as_path(), args.json);
    let progress = Progress::new();
    let _shown = TerminalProgress::start(&progress);
    let found: Scan = dicom::scan(path, &progress)?;
    let mut skipped = found.skipped.clone();
    let mut reports = Vec::new();
    for s in &found.series {
        match dicom::load(s, &progress) {
            Ok(loaded) => {
                skipped.extend(loaded.failed);
                let series = std::borrow::Cow::Owned(loaded.series);
                reports.push(SeriesReport { series, volume: Some(loaded.volume), error: None });
            }
            Err(e) => {
                let series = std::borrow::Cow::Borrowed(s);
                reports.push(SeriesReport { series, volume: None, error: Some(e.to_string()) })
            }
        }
    }
    drop(_shown);

    if as_json {
        let series: Vec<_> = reports
            .iter()
            .map(|r| {
                let s = r.series.as_ref();
                let h = s.first();
                let (grid, warnings) = match &r.volume {
                    Some(v) => (&v.grid, v.warnings.clone()),
                    None => (&s.grid, s.warnings.iter().cloned().chain(r.error.clone()).collect()),
                };
                let range = r.volume.as_ref().and_then(|v| v.data.range());
                json!({
                    "id": s.id,
                    "series_uid": s.series_uid,
                    "study_uid": h.study_uid,
                    "modality": h.modality,
                    "description": h.series_description,
                    "dims": grid.dims,
                    "spacing_mm": grid.spacing_mm(),
                    "origin_mm": grid.origin_mm().coords.as_slice(),
                    "direction": row_major(&grid.directions()),
                    "patient_from_voxel": row_major(&grid.patient_from_voxel),
                    "slice_count": s.image_count(),
                    "file_count": s.file_count(),
                    "transfer_syntaxes": s.transfer_syntaxes(),
                    "voxel_type": r.volume.as_ref().map(|v| v.data.type_name()),
                    "unit": r.volume.as_ref().map(|v| v.meta.unit.clone()),
                    "value_range": range.map(|(a, b)| [a, b]),
                    "loaded": r.volume.is_some(),
                    "warnings": warnings,
                })
            })
            .collect();
        let out = json!({
            "root": found.root,
            "files_seen": found.files_seen,
            "series": series,
            "skipped": skipped,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} series in {} file(s), {} skipped",
            found.root.display(),
            reports.len(),
            found.files_seen,
            skipped.len()
        );
        for r in &reports {
            print_series(r);
        }
        if !skipped.is_empty() {
            println!("\nSkipped files:");
            for s in &skipped {
                println!("  {}: {}", s.path.display(), s.reason);
            }
        }
    }
    if reports.iter().all(|r| r.volume.is_none()) {
        bail!("{}: no series could be loaded", path.display());
    }
    Ok(())
}

fn print_series(r: &SeriesReport) {
    let s = r.series.as_ref();
    let h = s.first();
    let grid = r.volume.as_ref().map_or(&s.grid, |v| &v.grid);
    let [nx, ny, nz] = grid.dims;
    let sp = grid.spacing_mm();
    let o = grid.origin_mm();
    let d = grid.directions();
    println!("\nSeries {}", if s.id.is_empty() { "(no SeriesInstanceUID)" } else { &s.id });
    println!("  modality {}  \"{}\"", h.modality, h.series_description);
    println!(
        "  dims {nx} x {ny} x {nz}, spacing {:.4} x {:.4} x {:.4} mm, {} image(s) in {} file(s)",
        sp[0],
        sp[1],
        sp[2],
        s.image_count(),
        s.file_count()
    );
    println!("  origin (LPS) {:.3}, {:.3}, {:.3} mm   (RAS {:.3}, {:.3}, {:.3})", o.x, o.y, o.z, -o.x, -o.y, o.z);
    for (a, name) in ["i", "j", "k"].iter().enumerate() {
        println!("  direction {name} (LPS) {:+.6}, {:+.6}, {:+.6}", d[(0, a)], d[(1, a)], d[(2, a)]);
    }
    println!("  transfer syntax: {}", s.transfer_syntaxes().join(", "));
    match (&r.volume, &r.error) {
        (Some(v), _) => {
            if let Some((lo, hi)) = v.data.range() {
                println!("  values {lo} .. {hi} {} ({})", v.meta.unit, v.data.type_name());
            }
            for w in &v.warnings {
                println!("  warning: {w}");
            }
        }
        (None, Some(e)) => {
            for w in &s.warnings {
                println!("  warning: {w}");
            }
            println!("  not loaded: {e}");
        }
        (None, None) => {}
    }
}
