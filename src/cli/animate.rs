//! `twinplan animate`: the plan's 3D scene turning, or moving through its saved views, as an
//! animated GIF, an MP4 or numbered PNG images, rendered without a window.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use twinplan::core::document::io as plan_io;
use twinplan::core::planning::PlanningScene;
use twinplan::core::progress::Progress;
use twinplan::core::report::surfaces_at;
use twinplan::core::scene::animation::{Motion, most_opaque, render, shots};
use twinplan::core::scene::encode::Format;

use super::common::{ScanArg, TerminalProgress};

#[derive(Args)]
pub struct AnimateArgs {
    plan: PathBuf,
    /// What to write: F.gif (10 frames a second), F.mp4 (H.264, 25 a second) or a folder
    /// ending in '/' for numbered PNG images (25 a second).
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
    let format = Format::of(&args.out).map_err(|e| anyhow!("--out {e}"))?;
    if !(args.seconds > 0.0 && args.seconds <= 120.0) || !(16..=2048).contains(&args.size) {
        bail!("--seconds must lie in (0, 120] and --size in 16..2048, not {} and {}", args.seconds, args.size);
    }
    format.check_size(args.size).map_err(|e| anyhow!("--size: {e}"))?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(&args.plan, args.scan.folder(), &progress)?;
    let doc = &opened.doc;
    let (lo, hi) = opened.loaded.volume.grid.bounds_mm();
    let motion = if args.views { Motion::SavedViews } else { Motion::Turntable };
    let fps = format.fps();
    let shots = shots(doc, motion, args.seconds, fps, nalgebra::center(&lo, &hi))
        .with_context(|| format!("{}", args.plan.display()))?;
    let scene = PlanningScene::from_shapes(&doc.segmentation, &Default::default());
    let most = most_opaque(&shots);
    let mut surfaces = surfaces_at(doc, &scene, |label| most.get(&label).copied().unwrap_or(0.0));
    let frames =
        render(doc, &mut surfaces, &shots, args.size, &progress).with_context(|| format!("{}", args.plan.display()))?;
    format.write(&frames, &args.out)?;
    drop(shown);
    println!(
        "wrote {} ({} frames of {} x {} px at {fps} frames per second, {:.1} s)",
        args.out.display(),
        frames.len(),
        args.size,
        args.size,
        frames.len() as f64 / f64::from(fps)
    );
    Ok(())
}
