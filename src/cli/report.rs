//! `twinplan report`: the plan's report as PDF or HTML, or as an Encapsulated PDF filed in the
//! scan's DICOM study.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use twinplan::core::progress::Progress;

use super::common::{ScanArg, TerminalProgress};

#[derive(Args)]
pub struct ReportArgs {
    plan: PathBuf,
    /// F.pdf, F.html, or F.dcm: the PDF as a DICOM Encapsulated PDF in the scan's study (the
    /// patient and study as the scan's files have them; a new series), for the PACS.
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
    let dicom = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("dcm"));
    if dicom && anonymise {
        bail!(
            "--out {}: a DICOM report is filed in the patient's study, so it cannot be anonymised; ask for .pdf or \
             .html with --anonymise",
            out.display()
        );
    }
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
    if dicom {
        use twinplan::core::dicom::derived::{SourceStudy, write_encapsulated_pdf};
        let source = SourceStudy::of(&opened.loaded.series)?;
        write_encapsulated_pdf(&report::pdf_bytes(&r), &source, "Surgical plan report", out)?;
    } else {
        report::write(&r, out)?;
    }
    println!("wrote {} ({} trajectories{})", out.display(), r.paths.len(), if anonymise { ", anonymised" } else { "" });
    Ok(())
}
