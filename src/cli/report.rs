//! `twinplan report`: the plan's report as PDF or HTML.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use twinplan::core::progress::Progress;

use super::common::{ScanArg, TerminalProgress};

#[derive(Args)]
pub struct ReportArgs {
    plan: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Leave out everything that identifies the patient, the study or the place (name, ID,
    /// dates, UIDs, descriptions, file names), also where a warning or a name carries it.
    #[arg(long)]
    anonymise: bool,
    #[command(flatten)]
    scan: ScanArg,
}

pub fn run(args: &ReportArgs) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::planning::PlanningScene;
    use twinplan::core::report;
    let (plan, scan, out, anonymise) = (args.plan.as_path(), args.scan.folder(), args.out.as_path(), args.anonymise);
    let bytes = std::fs::read(plan).with_context(|| format!("{}: cannot read", plan.display()))?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(plan, scan, &progress)?;
    let scene = PlanningScene::build(&opened.doc.segmentation, &progress)?;
    let volume = &opened.loaded.volume;
    let (fused, missing) = plan_io::all_fused(plan, &opened.doc, &volume.grid, &progress)?;
    drop(shown);
    let warnings: Vec<String> = opened.warnings.iter().chain(&missing).cloned().collect();
    let input = report::Input {
        doc: &opened.doc,
        volume,
        warnings: &warnings,
        scene: &scene,
        plan_bytes: &bytes,
        fused: &fused,
    };
    let r = report::build(&input, anonymise).with_context(|| format!("{}", plan.display()))?;
    report::write(&r, out)?;
    println!("wrote {} ({} trajectories{})", out.display(), r.paths.len(), if anonymise { ", anonymised" } else { "" });
    Ok(())
}
