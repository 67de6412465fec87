//! `twinplan export-volume`: a series as a NIfTI volume.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use twinplan::core::dicom;
use twinplan::core::io::nifti;
use twinplan::core::progress::Progress;

use super::common::{SeriesArg, TerminalProgress, require_nifti_name};

#[derive(Args)]
pub struct ExportVolumeArgs {
    path: PathBuf,
    #[command(flatten)]
    series: SeriesArg,
    #[arg(long)]
    out: PathBuf,
    /// Leave the series description out of the file's header (the modality alone).
    #[arg(long)]
    anonymise: bool,
}

pub fn run(args: &ExportVolumeArgs) -> Result<()> {
    let (path, series, out, anonymise) = (args.path.as_path(), args.series.id(), args.out.as_path(), args.anonymise);
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let (_, loaded) = dicom::open_volume(path, series, &progress)?;
    drop(shown);
    let v = &loaded.volume;
    for w in &v.warnings {
        eprintln!("warning: {w}");
    }
    require_nifti_name(out)?;
    let desc = if anonymise { v.meta.modality.clone() } else { format!("{} {}", v.meta.modality, v.meta.description) };
    nifti::write_volume(out, &v.grid, &v.data, desc.trim())?;
    let [nx, ny, nz] = v.grid.dims;
    println!(
        "wrote {} ({nx} x {ny} x {nz}, {}, {})",
        out.display(),
        v.data.type_name(),
        if v.meta.unit.is_empty() { "no unit" } else { &v.meta.unit }
    );
    Ok(())
}
