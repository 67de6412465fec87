//! `twinplan plan ...`: changes to a plan file from the command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use nalgebra::Point3;

use twinplan::core::dicom;
use twinplan::core::document::io as plan_io;
use twinplan::core::document::{Annotation, Command, FuseRefused, ScanRef, SecondaryScan, fused_name, may_fuse};
use twinplan::core::progress::Progress;
use twinplan::core::registration::{Registration, RegistrationError, Settings, fit_landmarks, register};
use twinplan::core::segmentation::step_text::point;
use twinplan::core::stereotaxy::acpc::AcPc;
use twinplan::core::stereotaxy::{PlanFrame, fit};

use super::common::{ScanArg, TerminalProgress};

#[derive(Args)]
pub struct PlanArgs {
    #[command(subcommand)]
    command: PlanCommand,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Add another scan of the patient to a plan (fusion): placed by the scans' own geometry, or
    /// with --register aligned to the plan's scan by mutual information.
    AddScan(AddScanArgs),
    /// Fit the stereotactic frame on the plan's scan from its localiser and record it: the
    /// trajectories then have frame coordinates (and Leksell ring and arc angles).
    Frame(FrameArgs),
    /// Record the anterior and posterior commissures and a midline point (LPS mm): the
    /// trajectories then have AC-PC coordinates.
    Acpc(AcpcArgs),
    /// Pin a text label to a point (LPS mm).
    Annotate(AnnotateArgs),
    /// Add segments from a label map (NIfTI, each label a segment) or a DICOM Segmentation
    /// (each segment with its name, category and colour), placed on the plan's scan.
    Import(ImportArgs),
}

#[derive(Args)]
struct ImportArgs {
    plan: PathBuf,
    /// F.nii[.gz] or a DICOM SEG file.
    file: PathBuf,
    #[command(flatten)]
    primary: ScanArg,
}

#[derive(Args)]
struct AnnotateArgs {
    plan: PathBuf,
    /// Where, X,Y,Z in LPS mm.
    #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true)]
    at: String,
    #[arg(long)]
    text: String,
    #[command(flatten)]
    primary: ScanArg,
}

#[derive(Args)]
struct FrameArgs {
    plan: PathBuf,
    #[command(flatten)]
    fit: super::frame::FitArgs,
    #[command(flatten)]
    primary: ScanArg,
}

#[derive(Args)]
struct AcpcArgs {
    plan: PathBuf,
    /// The anterior commissure, X,Y,Z in LPS mm.
    #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true)]
    ac: String,
    /// The posterior commissure.
    #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true)]
    pc: String,
    /// Any point of the midsagittal plane above the commissures.
    #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true)]
    midline: String,
    #[command(flatten)]
    primary: ScanArg,
}

#[derive(Args)]
struct AddScanArgs {
    plan: PathBuf,
    /// A DICOM folder or file, or a NIfTI or NRRD volume.
    #[arg(value_name = "SCAN")]
    secondary: PathBuf,
    /// Series id or SeriesInstanceUID in SCAN (default: the largest series).
    #[arg(long)]
    series: Option<String>,
    /// What to call it in the plan (default: its modality and description).
    #[arg(long)]
    name: Option<String>,
    /// Align it to the plan's scan (rigid, mutual information) instead of trusting the geometry.
    #[arg(long, conflicts_with = "landmarks")]
    register: bool,
    /// With --register: compare only the voxels of this segment of the plan (by name): anatomy
    /// that keeps its shape between the scans and has edges to align on (the skull, not the jaw;
    /// a smooth region alone, such as the brain, holds too little).
    #[arg(long, value_name = "SEGMENT", requires = "register")]
    mask: Option<String>,
    /// Place it by three or more point pairs: a CSV file whose lines are X,Y,Z in the plan's scan
    /// then X,Y,Z of the same point in SCAN (LPS mm; lines starting with # are skipped).
    #[arg(long, value_name = "CSV")]
    landmarks: Option<PathBuf>,
    /// Add a scan whose PatientID differs from the plan's scan.
    #[arg(long)]
    allow_other_patient: bool,
    #[command(flatten)]
    primary: ScanArg,
}

/// Point pairs from a CSV file: the plan's scan's point, then the added scan's.
fn read_pairs(file: &Path) -> Result<(Vec<Point3<f64>>, Vec<Point3<f64>>)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let mut pairs = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let v: Vec<f64> =
            line.split(',').map(|c| c.trim().parse::<f64>()).collect::<Result<_, _>>().unwrap_or_default();
        if v.len() != 6 || !v.iter().all(|c| c.is_finite()) {
            bail!(
                "{}: line {}: expected six numbers, X,Y,Z in the plan's scan then X,Y,Z in the added scan",
                file.display(),
                n + 1
            );
        }
        pairs.0.push(Point3::new(v[0], v[1], v[2]));
        pairs.1.push(Point3::new(v[3], v[4], v[5]));
    }
    Ok(pairs)
}

pub fn run(args: &PlanArgs) -> Result<()> {
    match &args.command {
        PlanCommand::AddScan(a) => add_scan(a),
        PlanCommand::Frame(a) => frame(a),
        PlanCommand::Acpc(a) => acpc(a),
        PlanCommand::Annotate(a) => annotate(a),
        PlanCommand::Import(a) => import(a),
    }
}

fn import(args: &ImportArgs) -> Result<()> {
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(&args.plan, args.primary.folder(), &progress)?;
    let mut doc = opened.doc;
    let command = twinplan::core::document::import_label_map(&doc, &opened.loaded.volume, &args.file, &progress)?;
    drop(shown);
    let before = doc.segmentation.segments.len();
    doc.apply(command)?;
    plan_io::save(&doc, &args.plan).with_context(|| format!("{}", args.plan.display()))?;
    for s in &doc.segmentation.segments[before..] {
        println!("added {} ({}, {:.0} mm3)", s.name, s.category.name(), doc.segmentation.volume_mm3(s.label));
    }
    Ok(())
}

fn annotate(args: &AnnotateArgs) -> Result<()> {
    let at = point(&args.at).map_err(|e| anyhow::anyhow!("--at {}: {e}", args.at))?;
    let annotation = Annotation { text: args.text.clone(), point_mm: at };
    annotation.check().map_err(|e| anyhow::anyhow!("--text: {e}"))?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let mut doc = plan_io::open_with_scan(&args.plan, args.primary.folder(), &progress)?.doc;
    drop(shown);
    doc.apply(Command::AddAnnotation { index: doc.annotations.len(), annotation })?;
    plan_io::save_with(&doc, &args.plan, false).with_context(|| format!("{}", args.plan.display()))?;
    println!("{}: label '{}' pinned ({} labels)", args.plan.display(), args.text, doc.annotations.len());
    Ok(())
}

fn frame(args: &FrameArgs) -> Result<()> {
    let localizer = super::frame::localizer(&args.fit.localizer)?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(&args.plan, args.primary.folder(), &progress)?;
    let settings = args.fit.settings();
    let found = fit(&opened.loaded.volume, &localizer, &settings, &progress).map_err(|e| {
        anyhow::anyhow!(
            "{}: the {} localiser on its scan (the plan is unchanged): {e}",
            args.plan.display(),
            localizer.name
        )
    })?;
    drop(shown);
    for w in &found.warnings {
        eprintln!("warning: {w}");
    }
    let mut doc = opened.doc;
    doc.apply(Command::SetFrame { frame: Some(PlanFrame::new(&found, &localizer, &settings)) })?;
    plan_io::save_with(&doc, &args.plan, false).with_context(|| format!("{}", args.plan.display()))?;
    println!(
        "{}: the {} frame recorded ({} fiducials, residual mean {:.3} mm, max {:.3} mm)",
        args.plan.display(),
        found.frame,
        found.fiducials.len(),
        found.residual_mean_mm,
        found.residual_max_mm
    );
    Ok(())
}

fn acpc(args: &AcpcArgs) -> Result<()> {
    let point = |flag: &str, text: &str| point(text).map_err(|e| anyhow::anyhow!("--{flag} {text}: {e}"));
    let landmarks = AcPc {
        ac_mm: point("ac", &args.ac)?,
        pc_mm: point("pc", &args.pc)?,
        midline_mm: point("midline", &args.midline)?,
    };
    landmarks.axes().map_err(|e| anyhow::anyhow!("{e}"))?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let mut doc = plan_io::open_with_scan(&args.plan, args.primary.folder(), &progress)?.doc;
    drop(shown);
    let length = landmarks.length_mm();
    doc.apply(Command::SetAcPc { acpc: Some(landmarks) })?;
    plan_io::save_with(&doc, &args.plan, false).with_context(|| format!("{}", args.plan.display()))?;
    println!("{}: AC-PC recorded (AC-PC length {length:.1} mm)", args.plan.display());
    Ok(())
}

fn add_scan(args: &AddScanArgs) -> Result<()> {
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(&args.plan, args.primary.folder(), &progress)?;
    let (_, loaded) = dicom::open_volume(&args.secondary, args.series.as_deref(), &progress)?;
    let (primary, secondary) = (&opened.loaded.volume, &loaded.volume);
    for w in &secondary.warnings {
        eprintln!("warning: {}: {w}", args.secondary.display());
    }
    may_fuse(primary, secondary, args.allow_other_patient).map_err(|e| match e {
        FuseRefused::OtherPatient { .. } => {
            anyhow::anyhow!("{}: {e}; if it is this patient's, pass --allow-other-patient", args.secondary.display())
        }
        FuseRefused::OwnScan(_) => anyhow::anyhow!("{}: {e}", args.secondary.display()),
    })?;
    let name = args.name.clone().unwrap_or_else(|| fused_name(secondary, &opened.doc.secondary_scans));
    let scan = ScanRef::of(&args.secondary, &loaded);
    let added = if let Some(file) = &args.landmarks {
        let (primary_points, secondary_points) = read_pairs(file)?;
        let fit = fit_landmarks(&primary_points, &secondary_points).with_context(|| format!("{}", file.display()))?;
        SecondaryScan::by_landmarks(&name, scan, &fit)
    } else if args.register {
        let fixed_mask = match &args.mask {
            Some(name) => {
                let seg = &opened.doc.segmentation;
                let segment = seg.segments.iter().find(|s| s.name == *name).with_context(|| {
                    let names: Vec<&str> = seg.segments.iter().map(|s| s.name.as_str()).collect();
                    format!("--mask {name}: the plan has no such segment (it has: {})", names.join(", "))
                })?;
                Some(std::sync::Arc::new(seg.mask(segment.label)))
            }
            None => None,
        };
        let settings = Settings { allow_other_patient: true, fixed_mask, ..Settings::default() };
        let found = register(primary, secondary, &settings, &progress).and_then(Registration::converged).map_err(
            |e: RegistrationError| {
                anyhow::anyhow!(
                    "registering {} to the plan's scan (the plan is unchanged): {e}",
                    args.secondary.display()
                )
            },
        )?;
        SecondaryScan::registered(&name, scan, &found)
    } else {
        SecondaryScan::by_geometry(&name, scan)
    };
    drop(shown);
    let told = format!("added '{}'", added.name);
    let placed = added.placement.describe();
    let mut doc = opened.doc;
    doc.apply(Command::AddScan { index: doc.secondary_scans.len(), scan: added })?;
    plan_io::save_with(&doc, &args.plan, false).with_context(|| format!("{}", args.plan.display()))?;
    println!("{}: {told} (the plan has {} scans now), {placed}", args.plan.display(), doc.secondary_scans.len() + 1);
    Ok(())
}
