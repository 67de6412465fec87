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
    // Each trajectory's frame and AC-PC coordinates, where the plan has them.
    let frames: Vec<_> = doc.trajectories.iter().map(|t| doc.frame.as_ref().map(|f| f.trajectory(t))).collect();
    let acpcs: Vec<_> = doc
        .trajectories
        .iter()
        .map(|t| doc.acpc.as_ref().map(|a| a.trajectory(t)).transpose())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{}: AC-PC: {e}", plan.display()))?;
    if json {
        let mut trajectories = serde_json::to_value(&reports)?;
        for (n, t) in trajectories.as_array_mut().into_iter().flatten().enumerate() {
            if let (Some(f), Some(o)) = (&frames[n], doc.frame.as_ref()) {
                let mut v = serde_json::to_value(f)?;
                v["frame"] = json!(o.frame);
                v["localizer"] = json!(o.localizer);
                v["residual_mm"] = json!({"mean": o.residual_mean_mm, "max": o.residual_max_mm});
                if let Some(slices) = o.slices {
                    v["slices"] = json!(slices);
                }
                t["frame"] = v;
            }
            if let Some(a) = &acpcs[n] {
                t["acpc"] = serde_json::to_value(a)?;
            }
        }
        let j = json!({
            "plan": plan,
            "frame": "LPS",
            "trajectories": trajectories,
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
    for (n, r) in reports.iter().enumerate() {
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
        if let (Some(f), Some(o)) = (&frames[n], doc.frame.as_ref()) {
            let [x, y, z] = f.target_mm;
            println!(
                "  {} frame: target X {x:.1}  Y {y:.1}  Z {z:.1} mm{} (fit: {})",
                o.frame,
                if f.target_inside { "" } else { "  OUTSIDE THE FRAME'S RANGE" },
                o.fit_summary()
            );
            for a in &f.arcs {
                println!("    {}", a.describe());
            }
        }
        if let Some(a) = &acpcs[n] {
            let [x, y, z] = a.target_mm;
            println!(
                "  AC-PC: target x {x:.1} (right +)  y {y:.1} (anterior +)  z {z:.1} (up +) mm from the mid-commissural point"
            );
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
