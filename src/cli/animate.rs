//! `twinplan animate`: the plan's 3D scene turning, or moving through its saved views, as an
//! animated GIF, rendered without a window.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use twinplan::core::document::io as plan_io;
use twinplan::core::planning::PlanningScene;
use twinplan::core::progress::Progress;
use twinplan::core::report::shown_surfaces;
use twinplan::core::scene::animation::{FPS, Motion, cameras, render, write_gif};

use super::common::{ScanArg, TerminalProgress};

#[derive(Args)]
pub struct AnimateArgs {
    plan: PathBuf,
    /// The animated GIF to write (F.gif).
    #[arg(long)]
    out: PathBuf,
    /// Once round the patient's superior axis, from the front (the default).
    #[arg(long, conflicts_with = "views")]
    turntable: bool,
    /// From each saved view of the plan to the next.
    #[arg(long)]
    views: bool,
    /// How long the animation lasts.
    #[arg(long, default_value_t = 6.0)]
    seconds: f64,
    /// Frame size in pixels (square).
    #[arg(long, default_value_t = 360)]
    size: usize,
    #[command(flatten)]
    scan: ScanArg,
}

pub fn run(args: &AnimateArgs) -> Result<()> {
    match args.out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("gif") => {}
        Some("mp4" | "webm") => bail!("--out {}: MP4 and WebM are not written yet: ask for F.gif", args.out.display()),
        _ => bail!("--out {}: expected a name ending in .gif", args.out.display()),
    }
    if !(args.seconds > 0.0 && args.seconds <= 120.0) || !(16..=2048).contains(&args.size) {
        bail!("--seconds must lie in (0, 120] and --size in 16..2048, not {} and {}", args.seconds, args.size);
    }
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(&args.plan, args.scan.folder(), &progress)?;
    let doc = &opened.doc;
    let (lo, hi) = opened.loaded.volume.grid.bounds_mm();
    let motion = if args.views { Motion::SavedViews } else { Motion::Turntable };
    let cameras = cameras(doc, motion, args.seconds, nalgebra::center(&lo, &hi))
        .with_context(|| format!("{}", args.plan.display()))?;
    let scene = PlanningScene::from_shapes(&doc.segmentation, &Default::default());
    let surfaces = shown_surfaces(doc, &scene);
    let frames =
        render(doc, &surfaces, &cameras, args.size, &progress).with_context(|| format!("{}", args.plan.display()))?;
    write_gif(&frames, &args.out)?;
    drop(shown);
    println!(
        "wrote {} ({} frames of {} x {} px at {FPS} frames per second, {:.1} s)",
        args.out.display(),
        frames.len(),
        args.size,
        args.size,
        frames.len() as f64 / f64::from(FPS)
    );
    Ok(())
}
