//! `twinplan search`: proposed entries for a trajectory's target, safest first.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use twinplan::core::planning::{EntryRegion, SearchSettings};
use twinplan::core::progress::Progress;

use super::common::{ScanArg, TerminalProgress};

#[derive(Args)]
pub struct SearchArgs {
    plan: PathBuf,
    #[command(flatten)]
    scan: ScanArg,
    /// The trajectory whose target and instrument are used (default: the first).
    #[arg(long)]
    trajectory: Option<String>,
    /// Largest angle to the skin's normal at the entry, degrees.
    #[arg(long, default_value_t = 30.0)]
    max_angle: f64,
    /// Longest path in mm (default: the instrument's working length).
    #[arg(long)]
    max_length: Option<f64>,
    /// Entries only within R mm of X,Y,Z (LPS mm): X,Y,Z:R.
    #[arg(long)]
    region: Option<String>,
    /// How many entries to propose.
    #[arg(long, default_value_t = 5)]
    count: usize,
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SearchArgs) -> Result<()> {
    let SearchArgs { plan, scan, trajectory, max_angle, max_length, region, count, json } = args;
    region.as_deref().map(parse_region).transpose().and_then(|region| {
        let settings = SearchSettings {
            max_angle_deg: *max_angle,
            max_length_mm: *max_length,
            region,
            count: *count,
            ..SearchSettings::default()
        };
        search(plan, scan.folder(), trajectory.as_deref(), &settings, *json)
    })
}

/// `X,Y,Z:R` in LPS mm.
fn parse_region(text: &str) -> Result<EntryRegion> {
    let bad = || anyhow::anyhow!("--region '{text}': expected X,Y,Z:R in mm, for example -40,60,30:20");
    let (centre, radius) = text.split_once(':').ok_or_else(bad)?;
    let centre_mm = twinplan::core::segmentation::point(centre).map_err(|_| bad())?;
    let radius_mm: f64 = radius.trim().parse().map_err(|_| bad())?;
    if !(radius_mm > 0.0 && radius_mm.is_finite()) {
        return Err(bad());
    }
    Ok(EntryRegion { centre_mm, radius_mm })
}

fn search(plan: &Path, scan: Option<&Path>, name: Option<&str>, settings: &SearchSettings, json: bool) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::planning::{DistanceField, PlanningScene};
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(plan, scan, &progress)?;
    let doc = &opened.doc;
    let template = match name {
        Some(n) => doc.trajectories.iter().find(|t| t.name == n).with_context(|| {
            let names: Vec<&str> = doc.trajectories.iter().map(|t| t.name.as_str()).collect();
            format!("{}: no trajectory named '{n}' (it has: {})", plan.display(), names.join(", "))
        })?,
        None => doc
            .trajectories
            .first()
            .with_context(|| format!("{}: no trajectory to take a target from", plan.display()))?,
    };
    let scene = PlanningScene::build(&doc.segmentation, &progress)?;
    let field = DistanceField::build(&doc.segmentation, &progress)?;
    let started = std::time::Instant::now();
    let found = scene
        .search_entries(template, &doc.segmentation, field.as_ref(), settings, &progress)
        .with_context(|| format!("{}", plan.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    drop(shown);
    if json {
        let j = json!({ "plan": plan, "trajectory": template.name, "frame": "LPS", "search": found });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    for w in &found.warnings {
        eprintln!("warning: {w}");
    }
    let (x, y, z) = (found.target_mm.x, found.target_mm.y, found.target_mm.z);
    println!(
        "{}: target ({x:.1}, {y:.1}, {z:.1}) mm LPS, {} ({:.2} mm); {} skin points, {} scored, {} checked exactly in {seconds:.2} s",
        template.name,
        template.instrument.kind.name(),
        template.instrument.diameter_mm,
        found.surface_vertices,
        found.scored,
        found.checked
    );
    for (i, s) in found.suggestions.iter().enumerate() {
        let r = &s.report;
        let (x, y, z) = (s.entry_mm.x, s.entry_mm.y, s.entry_mm.z);
        let nearest = r
            .structures
            .first()
            .map_or("no critical structures".into(), |c| format!("{} {:.2} mm", c.name, c.min_clearance_mm));
        println!(
            "{:>2}. entry ({x:.1}, {y:.1}, {z:.1})  risk {:.2} mm  nearest {nearest}  angle {:.1} deg  length {:.1} mm",
            i + 1,
            r.risk_mm,
            r.entry_angle_deg.unwrap_or(f64::NAN),
            r.length_mm
        );
    }
    Ok(())
}
