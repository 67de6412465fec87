//! `twinplan frame`: the stereotactic frame's placement on a scan, from its localiser's rods.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::json;

use twinplan::core::dicom;
use twinplan::core::progress::Progress;
use twinplan::core::stereotaxy::fit::ranges;
use twinplan::core::stereotaxy::{FitSettings, Localizer, fit};

use super::common::{SeriesArg, TerminalProgress, row_major};

#[derive(Args)]
pub struct FrameArgs {
    /// The scan taken with the frame and its localiser: a DICOM folder or file, or a NIfTI or NRRD
    /// volume.
    scan: PathBuf,
    #[command(flatten)]
    series: SeriesArg,
    #[command(flatten)]
    fit: FitArgs,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// How to fit the frame: `frame` and `plan frame` take the same.
#[derive(Args)]
pub struct FitArgs {
    /// A localiser file (JSON: name, frame, rods as from_mm/to_mm segments in frame mm), or the
    /// name of a preset (leksell-g-ct).
    #[arg(long, default_value = "leksell-g-ct")]
    pub localizer: String,
    /// The level the rods are above (default: edges above 400 and centres above 800 on CT, half
    /// the 99.9th percentile otherwise).
    #[arg(long)]
    level: Option<f64>,
    /// Fit on these slices only (FIRST-LAST, the scan's slice numbers from 0, as messages name
    /// them): to leave out slices spoilt by artefacts, such as those through the frame's base.
    #[arg(long, value_name = "FIRST-LAST", value_parser = slice_range)]
    slices: Option<(usize, usize)>,
}

impl FitArgs {
    pub fn settings(&self) -> FitSettings {
        FitSettings { level: self.level, slices: self.slices, ..FitSettings::default() }
    }
}

/// "92-251": the first and last slice.
fn slice_range(text: &str) -> Result<(usize, usize), String> {
    let parsed = text.split_once('-').and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((first, last)) if first <= last => Ok((first, last)),
        _ => {
            Err(format!("expected FIRST-LAST slice numbers, the first not after the last, such as 92-251; got {text}"))
        }
    }
}

/// A preset by name, else a file.
pub fn localizer(name: &str) -> Result<Localizer> {
    match Localizer::preset(name) {
        Some(l) => Ok(l),
        None if Path::new(name).is_file() => Localizer::load(Path::new(name)).map_err(|e| anyhow!(e)),
        None => Err(anyhow!(
            "--localizer {name}: neither a preset ({}) nor a localiser file",
            Localizer::PRESETS.join(", ")
        )),
    }
}

pub fn run(args: &FrameArgs) -> Result<()> {
    let localizer = localizer(&args.fit.localizer)?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let (_, loaded) = dicom::open_volume(&args.scan, args.series.id(), &progress)?;
    let volume = loaded.volume;
    for w in &volume.warnings {
        eprintln!("warning: {}: {w}", args.scan.display());
    }
    let found = fit(&volume, &localizer, &args.fit.settings(), &progress)
        .map_err(|e| anyhow!("{}: the {} localiser: {e}", args.scan.display(), localizer.name))?;
    drop(shown);
    for w in &found.warnings {
        eprintln!("warning: {}: {w}", args.scan.display());
    }
    let matrix = found.frame_from_patient.to_homogeneous();
    if args.json {
        let j = json!({
            "scan": args.scan,
            "localizer": found.localizer,
            "frame": found.frame,
            "convention": localizer.convention,
            "frame_from_patient": row_major(&matrix).concat(),
            "residual_mm": {"mean": found.residual_mean_mm, "max": found.residual_max_mm},
            "fiducials": found.fiducials.len(),
            // Each dot the fit used: its slice, the rod (index in the localiser), and its residual.
            "fiducial_residuals": found.fiducials.iter().map(|f| json!({
                "slice": f.slice, "rod": f.rod, "diagonal": f.diagonal, "patient_mm": f.patient_mm, "residual_mm": f.residual_mm,
            })).collect::<Vec<_>>(),
            "slices_used": found.slices_used,
            "tilt_deg": found.tilt_deg,
            "warnings": found.warnings,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        println!(
            "{}: the {} localiser on slices {} ({} fiducials): residual mean {:.3} mm, max {:.3} mm; frame tilted {:.2} degrees against the slices",
            args.scan.display(),
            found.localizer,
            ranges(&found.slices_used),
            found.fiducials.len(),
            found.residual_mean_mm,
            found.residual_max_mm,
            found.tilt_deg
        );
        println!("frame_from_patient ({} frame mm from LPS mm, row-major):", found.frame);
        for row in row_major(&matrix) {
            println!("  {}", row.iter().map(|v| format!("{v:>11.6}")).collect::<Vec<_>>().join(" "));
        }
        if !localizer.convention.is_empty() {
            println!("{}", localizer.convention);
        }
    }
    Ok(())
}
