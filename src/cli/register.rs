//! `twinplan register`: the rigid motion that aligns a moving scan to a fixed scan.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use twinplan::core::dicom;
use twinplan::core::progress::Progress;
use twinplan::core::registration::{RegistrationError, Settings, register};
use twinplan::core::segmentation::{Mask, import_labels};

use super::common::{TerminalProgress, row_major};

#[derive(Args)]
pub struct RegisterArgs {
    /// The scan the other is aligned to: a DICOM folder or file, or a NIfTI or NRRD volume.
    fixed: PathBuf,
    /// The scan that is moved.
    moving: PathBuf,
    /// Series id or SeriesInstanceUID in FIXED (default: the largest series).
    #[arg(long)]
    fixed_series: Option<String>,
    /// Series id or SeriesInstanceUID in MOVING (default: the largest series).
    #[arg(long)]
    moving_series: Option<String>,
    /// Register scans whose PatientID differs.
    #[arg(long)]
    allow_other_patient: bool,
    /// Compare only the fixed scan's voxels in this NIfTI label map (resampled onto the fixed
    /// scan if needed): any label, or only LABEL with FILE:LABEL. For anatomy that keeps its
    /// shape between the scans and has edges to align on (the skull, not the jaw).
    #[arg(long, value_name = "FILE[:LABEL]")]
    fixed_mask: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &RegisterArgs) -> Result<()> {
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let open = |path: &PathBuf, series: &Option<String>| {
        dicom::open_volume(path, series.as_deref(), &progress).map(|(_, loaded)| loaded.volume)
    };
    let fixed = open(&args.fixed, &args.fixed_series)?;
    let moving = open(&args.moving, &args.moving_series)?;
    for (path, v) in [(&args.fixed, &fixed), (&args.moving, &moving)] {
        for w in &v.warnings {
            eprintln!("warning: {}: {w}", path.display());
        }
    }
    let fixed_mask = args.fixed_mask.as_deref().map(|m| fixed_mask(m, &fixed)).transpose()?;
    let settings = Settings { allow_other_patient: args.allow_other_patient, fixed_mask, ..Settings::default() };
    let found = register(&fixed, &moving, &settings, &progress).map_err(|e| {
        let hint = match e {
            RegistrationError::OtherPatient { .. } => "; if they are one patient's, pass --allow-other-patient",
            _ => "",
        };
        anyhow::anyhow!("registering {} to {}: {e}{hint}", args.moving.display(), args.fixed.display())
    })?;
    drop(shown);
    let matrix = found.fixed_from_moving.to_homogeneous();
    if args.json {
        let j = json!({
            "fixed": args.fixed,
            "moving": args.moving,
            "frame": "LPS",
            "fixed_from_moving": row_major(&matrix).concat(),
            "metric": found.metric,
            "metric_name": "Mattes mutual information",
            "iterations": found.iterations,
            "time_s": found.time_s,
            "converged": found.converged,
            "start": found.start,
            "levels": found.levels,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        let angle = found.fixed_from_moving.rotation.angle().to_degrees();
        let (lo, hi) = moving.grid.bounds_mm();
        let centre = nalgebra::center(&lo, &hi);
        let t = found.fixed_from_moving * centre - centre;
        println!(
            "{} -> {}: turned {angle:.2} degrees, its centre moved ({:.2}, {:.2}, {:.2}) mm LPS; mutual information {:.4} after {} iterations in {:.2} s",
            args.moving.display(),
            args.fixed.display(),
            t.x,
            t.y,
            t.z,
            found.metric,
            found.iterations,
            found.time_s
        );
        println!("fixed_from_moving (LPS mm, row-major):");
        for row in row_major(&matrix) {
            println!("  {}", row.iter().map(|v| format!("{v:>11.6}")).collect::<Vec<_>>().join(" "));
        }
    }
    if !found.converged {
        bail!("the registration did not converge in {} iterations: do not use this transform", found.iterations);
    }
    Ok(())
}

/// The mask `FILE[:LABEL]` on `fixed`'s grid.
fn fixed_mask(text: &str, fixed: &twinplan::core::volume::Volume) -> Result<std::sync::Arc<Mask>> {
    // A label is what follows the last colon, when it is a number (paths may hold colons).
    let (file, label) = match text.rsplit_once(':') {
        Some((f, l)) if l.parse::<u16>().is_ok() => (f, l.parse::<u16>().ok()),
        _ => (text, None),
    };
    let (labels, warnings) = import_labels(std::path::Path::new(file), &fixed.grid)?;
    for w in warnings {
        eprintln!("warning: {file}: {w}");
    }
    let voxels = labels.labels.iter().map(|&l| u8::from(label.map_or(l != 0, |want| l == want))).collect();
    let mask = Mask { grid: fixed.grid.clone(), voxels };
    if mask.is_empty() {
        bail!("--fixed-mask {text}: no voxel of the fixed scan is in it (present: {})", labels.present_summary());
    }
    Ok(std::sync::Arc::new(mask))
}
