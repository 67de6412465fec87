//! `twinplan register`: the rigid motion that aligns a moving scan to a fixed scan.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use twinplan::core::dicom;
use twinplan::core::progress::Progress;
use twinplan::core::registration::{RegistrationError, Settings, register};

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
    let settings = Settings { allow_other_patient: args.allow_other_patient, ..Settings::default() };
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
