//! `twinplan check`: clearance analysis of a plan's trajectories.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use twinplan::core::progress::Progress;

use super::common::TerminalProgress;

#[derive(Args)]
pub struct CheckArgs {
    plan: PathBuf,
    // Not the shared `ScanArg`: its help says more than the other commands' does.
    /// The folder the plan's scan is in now, when it has moved (its series UID must match).
    #[arg(long)]
    scan: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: &CheckArgs) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::planning::{CONFLICT_MM, PlanningScene, conflicts};
    let (plan, scan, json) = (args.plan.as_path(), args.scan.as_deref(), args.json);
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(plan, scan, &progress)?;
    let doc = &opened.doc;
    let scene = PlanningScene::build(&doc.segmentation, &progress)?;
    drop(shown);
    let reports = doc
        .trajectories
        .iter()
        .map(|t| scene.check(t, &doc.segmentation))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}", plan.display()))?;
    let clashes = conflicts(&doc.trajectories, CONFLICT_MM);
    let mut warnings = opened.loaded.volume.warnings.clone();
    warnings.extend(opened.warnings.iter().cloned());
    if json {
        let j = json!({
            "plan": plan,
            "frame": "LPS",
            "trajectories": reports,
            "conflicts": clashes.iter().map(|&(a, b, gap)| json!({
                "a": doc.trajectories[a].name, "b": doc.trajectories[b].name, "distance_mm": gap,
            })).collect::<Vec<_>>(),
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if reports.is_empty() {
        println!("{}: no trajectories to check", plan.display());
    }
    for r in &reports {
        let angle = r.entry_angle_deg.map_or("no entry surface".into(), |a| format!("entry angle {a:.1} deg"));
        println!(
            "{}: {} ({:.2} mm), length {:.1} mm, {angle}: {}",
            r.name,
            r.instrument,
            r.diameter_mm,
            r.length_mm,
            r.verdict.name().to_uppercase()
        );
        for s in &r.structures {
            println!(
                "  {:<28} {:>22} at depth {:>6.1} mm (margin {:.1} mm)  {}",
                s.name,
                s.clearance_text(),
                s.depth_mm,
                s.margin_mm,
                s.verdict.name()
            );
        }
        let passes: Vec<String> = r.passes_through.iter().map(|p| p.name.clone()).collect();
        if !passes.is_empty() {
            println!("  passes through: {}", passes.join(", "));
        }
        for w in &r.warnings {
            println!("  warning: {w}");
        }
    }
    for (a, b, gap) in clashes {
        println!(
            "conflict: {} and {} come within {gap:.2} mm (less than {CONFLICT_MM} mm)",
            doc.trajectories[a].name, doc.trajectories[b].name
        );
    }
    Ok(())
}
