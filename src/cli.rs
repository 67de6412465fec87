//! The headless command line. Exit codes: 0 success, 1 input problem, 2 usage.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Parser, Subcommand};
use serde_json::json;

use twinplan::core::dicom::{self, Scan, Series};
use twinplan::core::io::nifti;
use twinplan::core::phantom;
use twinplan::core::planning::{EntryRegion, SearchSettings};
use twinplan::core::progress::Progress;
use twinplan::core::volume::Volume;

#[derive(Parser)]
#[command(name = "twinplan", version, about = "3D surgical planning on a digital twin of the patient's anatomy")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Open the workstation on a DICOM folder or file, or a plan.
    Open { path: PathBuf },
    /// List the series found under PATH: geometry, values, warnings, skipped files.
    Info {
        path: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Write a loaded series as NIfTI (RAS affine), to open aligned in 3D Slicer or ITK-SNAP.
    ExportVolume {
        path: PathBuf,
        /// Series id or SeriesInstanceUID (default: the largest series).
        #[arg(long)]
        series: Option<String>,
        #[arg(long)]
        out: PathBuf,
        /// Leave the series description out of the file's header (the modality alone).
        #[arg(long)]
        anonymise: bool,
    },
    /// Extract a surface mesh (LPS mm unless --ras) from a scan at an iso value, or from one
    /// label of a NIfTI label map aligned to the scan.
    #[command(group(ArgGroup::new("source").required(true).args(["iso", "labels"])))]
    Mesh {
        path: PathBuf,
        /// Iso value in the scan's units (HU for CT).
        #[arg(long)]
        iso: Option<f64>,
        /// NIfTI label map (resampled onto the scan's grid if placed differently).
        #[arg(long, requires = "label")]
        labels: Option<PathBuf>,
        #[arg(long)]
        label: Option<u32>,
        /// Output file: .stl, .obj or .ply.
        #[arg(long)]
        out: PathBuf,
        /// Taubin smoothing iterations (no shrinking).
        #[arg(long, default_value_t = 0)]
        smooth: usize,
        /// Keep this fraction of the triangles (quadric decimation).
        #[arg(long)]
        decimate: Option<f64>,
        /// Write in RAS (3D Slicer) instead of LPS (DICOM).
        #[arg(long)]
        ras: bool,
        /// ASCII STL instead of binary.
        #[arg(long)]
        ascii: bool,
        /// Close surfaces cut by the edge of the scan (watertight meshes for printing).
        #[arg(long)]
        close_border: bool,
        /// Drop pieces enclosing less than this volume (mm3).
        #[arg(long)]
        min_component_mm3: Option<f64>,
        /// Series id or SeriesInstanceUID (default: the largest series).
        #[arg(long)]
        series: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Build one segment from tools applied in order and write it as a NIfTI label map on the
    /// scan's grid (RAS affine, label 1), with the recipe that made it.
    Segment {
        path: PathBuf,
        /// A tool, repeated in the order to apply them: threshold:bone|skin|vessels|soft,
        /// threshold:LO:HI, grow:LO:HI@X,Y,Z, keep-largest, keep-island@X,Y,Z, remove-small:MM3,
        /// dilate:MM, erode:MM, open:MM, close:MM, fill-holes, margin:MM, hollow:MM,
        /// brush:X,Y,Z:R, erase:X,Y,Z:R, import:FILE:LABEL (points in LPS mm).
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
        /// Output label map: .nii or .nii.gz.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "segment")]
        name: String,
        /// skin, bone, brain, ventricle, target, vessel, nerve or other.
        #[arg(long, default_value = "other")]
        category: String,
        /// Neighbours for growing and islands: 6 (faces) or 26 (faces, edges, corners).
        #[arg(long, default_value = "26", value_parser = ["6", "26"])]
        connectivity: String,
        /// Series id or SeriesInstanceUID (default: the largest series).
        #[arg(long)]
        series: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Clearance analysis of every trajectory in a plan against its critical structures.
    Check {
        plan: PathBuf,
        /// The folder the plan's scan is in now, when it has moved (its series UID must match).
        #[arg(long)]
        scan: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Propose entries for a trajectory's target: every skin point the instrument can reach is
    /// scored by its risk, the best places are checked exactly, the safest come first.
    Search {
        plan: PathBuf,
        /// The folder the plan's scan is in now, when it has moved.
        #[arg(long)]
        scan: Option<PathBuf>,
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
    },
    /// Write a plan's parts for other tools into a folder: each trajectory as a 3D Slicer line
    /// markup (NAME.mrk.json), all of them as trajectories.csv (LPS and RAS), each segment's
    /// surface (meshes/LABEL_NAME.stl|obj|ply, closed, for printing) and the label map
    /// (labels.nii.gz).
    Export {
        plan: PathBuf,
        /// The folder the plan's scan is in now, when it has moved.
        #[arg(long)]
        scan: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// stl, obj or ply.
        #[arg(long, default_value = "stl", value_parser = ["stl", "obj", "ply"])]
        mesh_format: String,
        /// Meshes and markups in RAS (3D Slicer's world) instead of LPS (DICOM).
        #[arg(long)]
        ras: bool,
        /// Remove the scan's identifying values (the patient's name, ID, file names...) from
        /// the names of trajectories and segments, in the files and in their names.
        #[arg(long)]
        anonymise: bool,
    },
    /// The plan's report, PDF or HTML by the file name: scan, structures with volumes, per
    /// trajectory its coordinates (LPS and RAS), clearances, profile and pictures.
    Report {
        plan: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Leave out everything that identifies the patient, the study or the place (name, ID,
        /// dates, UIDs, descriptions, file names), also where a warning or a name carries it.
        #[arg(long)]
        anonymise: bool,
        /// The folder the plan's scan is in now, when it has moved.
        #[arg(long)]
        scan: Option<PathBuf>,
    },
    /// Write the synthetic head phantom: DICOM series, truth label map, truth JSON.
    Phantom {
        #[arg(long)]
        out: PathBuf,
    },
}

/// An input problem: exit code 1 with the message.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Some(Command::Info { path, json }) => info(&path, json),
        Some(Command::ExportVolume { path, series, out, anonymise }) => {
            export_volume(&path, series.as_deref(), &out, anonymise)
        }
        Some(Command::Phantom { out }) => write_phantom(&out),
        Some(Command::Mesh {
            path,
            iso,
            labels,
            label,
            out,
            smooth,
            decimate,
            ras,
            ascii,
            close_border,
            min_component_mm3,
            series,
            json,
        }) => {
            let opts =
                MeshArgs { iso, labels, label, smooth, decimate, ras, ascii, close_border, min_component_mm3, json };
            mesh(&path, series.as_deref(), &out, &opts)
        }
        Some(Command::Segment { path, steps, out, name, category, connectivity, series, json }) => {
            let args = SegmentArgs { steps, name, category, connectivity, json };
            segment(&path, series.as_deref(), &out, &args)
        }
        Some(Command::Check { plan, scan, json }) => check(&plan, scan.as_deref(), json),
        Some(Command::Report { plan, out, anonymise, scan }) => report(&plan, scan.as_deref(), &out, anonymise),
        Some(Command::Export { plan, scan, out, mesh_format, ras, anonymise }) => {
            export_plan(&plan, scan.as_deref(), &out, &mesh_format, ras, anonymise)
        }
        Some(Command::Search { plan, scan, trajectory, max_angle, max_length, region, count, json }) => {
            region.as_deref().map(parse_region).transpose().and_then(|region| {
                let settings = SearchSettings {
                    max_angle_deg: max_angle,
                    max_length_mm: max_length,
                    region,
                    count,
                    ..SearchSettings::default()
                };
                search(&plan, scan.as_deref(), trajectory.as_deref(), &settings, json)
            })
        }
        Some(Command::Open { .. }) | None => unreachable!("the GUI commands are handled in main"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Shows a job's progress on the terminal (stderr) until dropped.
struct TerminalProgress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TerminalProgress {
    fn start(progress: &Progress) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let (p, stop) = (progress.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (done, total) = p.counts();
                    if total > 0 {
                        eprint!("\r\x1b[2K{} {done}/{total} ({:.0}%)", p.stage(), 100.0 * p.fraction());
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                eprint!("\r\x1b[2K");
            })
        });
        TerminalProgress { stop, thread }
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn row_major<const R: usize, const C: usize>(m: &nalgebra::SMatrix<f64, R, C>) -> Vec<Vec<f64>> {
    (0..R).map(|r| (0..C).map(|c| m[(r, c)]).collect()).collect()
}

struct SeriesReport<'a> {
    /// As scanned, or as loaded when some of its files could not be decoded.
    series: std::borrow::Cow<'a, Series>,
    volume: Option<Volume>,
    error: Option<String>,
}

fn info(path: &Path, as_json: bool) -> Result<()> {
    let progress = Progress::new();
    let _shown = TerminalProgress::start(&progress);
    let found: Scan = dicom::scan(path, &progress)?;
    let mut skipped = found.skipped.clone();
    let mut reports = Vec::new();
    for s in &found.series {
        match dicom::load(s, &progress) {
            Ok(loaded) => {
                skipped.extend(loaded.failed);
                let series = std::borrow::Cow::Owned(loaded.series);
                reports.push(SeriesReport { series, volume: Some(loaded.volume), error: None });
            }
            Err(e) => {
                let series = std::borrow::Cow::Borrowed(s);
                reports.push(SeriesReport { series, volume: None, error: Some(e.to_string()) })
            }
        }
    }
    drop(_shown);

    if as_json {
        let series: Vec<_> = reports
            .iter()
            .map(|r| {
                let s = r.series.as_ref();
                let h = s.first();
                let (grid, warnings) = match &r.volume {
                    Some(v) => (&v.grid, v.warnings.clone()),
                    None => (&s.grid, s.warnings.iter().cloned().chain(r.error.clone()).collect()),
                };
                let range = r.volume.as_ref().and_then(|v| v.data.range());
                json!({
                    "id": s.id,
                    "series_uid": s.series_uid,
                    "study_uid": h.study_uid,
                    "modality": h.modality,
                    "description": h.series_description,
                    "dims": grid.dims,
                    "spacing_mm": grid.spacing_mm(),
                    "origin_mm": grid.origin_mm().coords.as_slice(),
                    "direction": row_major(&grid.directions()),
                    "patient_from_voxel": row_major(&grid.patient_from_voxel),
                    "slice_count": s.image_count(),
                    "file_count": s.file_count(),
                    "transfer_syntaxes": s.transfer_syntaxes(),
                    "voxel_type": r.volume.as_ref().map(|v| v.data.type_name()),
                    "unit": r.volume.as_ref().map(|v| v.meta.unit.clone()),
                    "value_range": range.map(|(a, b)| [a, b]),
                    "loaded": r.volume.is_some(),
                    "warnings": warnings,
                })
            })
            .collect();
        let out = json!({
            "root": found.root,
            "files_seen": found.files_seen,
            "series": series,
            "skipped": skipped,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} series in {} file(s), {} skipped",
            found.root.display(),
            reports.len(),
            found.files_seen,
            skipped.len()
        );
        for r in &reports {
            print_series(r);
        }
        if !skipped.is_empty() {
            println!("\nSkipped files:");
            for s in &skipped {
                println!("  {}: {}", s.path.display(), s.reason);
            }
        }
    }
    if reports.iter().all(|r| r.volume.is_none()) {
        bail!("{}: no series could be loaded", path.display());
    }
    Ok(())
}

fn print_series(r: &SeriesReport) {
    let s = r.series.as_ref();
    let h = s.first();
    let grid = r.volume.as_ref().map_or(&s.grid, |v| &v.grid);
    let [nx, ny, nz] = grid.dims;
    let sp = grid.spacing_mm();
    let o = grid.origin_mm();
    let d = grid.directions();
    println!("\nSeries {}", if s.id.is_empty() { "(no SeriesInstanceUID)" } else { &s.id });
    println!("  modality {}  \"{}\"", h.modality, h.series_description);
    println!(
        "  dims {nx} x {ny} x {nz}, spacing {:.4} x {:.4} x {:.4} mm, {} image(s) in {} file(s)",
        sp[0],
        sp[1],
        sp[2],
        s.image_count(),
        s.file_count()
    );
    println!("  origin (LPS) {:.3}, {:.3}, {:.3} mm   (RAS {:.3}, {:.3}, {:.3})", o.x, o.y, o.z, -o.x, -o.y, o.z);
    for (a, name) in ["i", "j", "k"].iter().enumerate() {
        println!("  direction {name} (LPS) {:+.6}, {:+.6}, {:+.6}", d[(0, a)], d[(1, a)], d[(2, a)]);
    }
    println!("  transfer syntax: {}", s.transfer_syntaxes().join(", "));
    match (&r.volume, &r.error) {
        (Some(v), _) => {
            if let Some((lo, hi)) = v.data.range() {
                println!("  values {lo} .. {hi} {} ({})", v.meta.unit, v.data.type_name());
            }
            for w in &v.warnings {
                println!("  warning: {w}");
            }
        }
        (None, Some(e)) => {
            for w in &s.warnings {
                println!("  warning: {w}");
            }
            println!("  not loaded: {e}");
        }
        (None, None) => {}
    }
}

fn export_volume(path: &Path, series: Option<&str>, out: &Path, anonymise: bool) -> Result<()> {
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let (_, loaded) = dicom::open_volume(path, series, &progress)?;
    drop(shown);
    let v = &loaded.volume;
    for w in &v.warnings {
        eprintln!("warning: {w}");
    }
    let name = out.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        bail!("{}: expected an output name ending in .nii or .nii.gz", out.display());
    }
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

struct MeshArgs {
    iso: Option<f64>,
    labels: Option<PathBuf>,
    label: Option<u32>,
    smooth: usize,
    decimate: Option<f64>,
    ras: bool,
    ascii: bool,
    close_border: bool,
    min_component_mm3: Option<f64>,
    json: bool,
}

fn mesh(path: &Path, series: Option<&str>, out: &Path, a: &MeshArgs) -> Result<()> {
    use twinplan::core::mesh::{self as meshing, ExtractOptions, export};
    let format = export::Format::from_path(out, a.ascii)
        .with_context(|| format!("{}: expected an output name ending in .stl, .obj or .ply", out.display()))?;
    if let Some(r) = a.decimate
        && !(r > 0.0 && r <= 1.0)
    {
        bail!("--decimate {r}: expected a fraction of triangles to keep, in (0, 1]");
    }
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let (_, loaded) = dicom::open_volume(path, series, &progress)?;
    let v = loaded.volume;
    let mut warnings = v.warnings.clone();
    let extract = ExtractOptions { close_border: a.close_border };
    let (mut m, what) = if let Some(iso) = a.iso {
        let (lo, hi) = v.data.range().unwrap_or((0.0, 0.0));
        if iso < lo as f64 || iso > hi as f64 {
            bail!(
                "{}: the iso value {iso} is outside the data range {lo} .. {hi} {}: the surface would be empty",
                path.display(),
                v.meta.unit
            );
        }
        (meshing::extract_iso(&v, iso, extract, &progress)?, format!("iso {iso} {}", v.meta.unit))
    } else {
        let file = a.labels.as_ref().context("--labels is required without --iso")?;
        let label = a.label.context("--label is required with --labels")?;
        let (map, w) = twinplan::core::segmentation::import_labels(file, &v.grid)?;
        warnings.extend(w);
        let l = u16::try_from(label).ok().filter(|&l| l != 0 && map.count(l) > 0);
        let Some(l) = l else {
            bail!("{}: label {label} is absent (present: {})", file.display(), map.present_summary());
        };
        (meshing::extract_mask(&map.mask(l), extract, &progress)?, format!("label {label} of {}", file.display()))
    };
    if let Some(min) = a.min_component_mm3 {
        m = m.remove_small_components(min);
    }
    if a.smooth > 0 {
        meshing::smooth::taubin(&mut m, meshing::smooth::SmoothOptions::iterations(a.smooth));
    }
    let mut decimation = None;
    if let Some(ratio) = a.decimate {
        let (d, report) = meshing::decimate::decimate(
            &m,
            meshing::decimate::DecimateOptions { target_ratio: ratio, max_error_mm: None },
            &progress,
        )?;
        m = d;
        decimation = Some(report);
    }
    drop(shown);
    if m.is_empty() {
        bail!("{}: {what} gives no surface", path.display());
    }
    let frame = if a.ras { export::Frame::Ras } else { export::Frame::Lps };
    // The file is written while the statistics are counted.
    let (written, stats) = rayon::join(|| export::write(&m, out, format, frame, &what), || m.stats());
    written?;
    if a.json {
        let mut j = serde_json::to_value(&stats)?;
        j["file"] = json!(out);
        j["frame"] = json!(frame.name());
        j["source"] = json!(what);
        j["warnings"] = json!(warnings);
        if let Some(r) = decimation {
            j["decimation"] = json!({"triangles_before": r.triangles_before, "max_error_mm": r.max_error_mm});
        }
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "wrote {} ({} frame): {} triangles, {} vertices, area {:.1} mm2, volume {:.1} mm3 ({:.2} mL), {} component(s), {}",
            out.display(),
            frame.name(),
            stats.triangles,
            stats.vertices,
            stats.area_mm2,
            stats.volume_mm3,
            stats.volume_ml,
            stats.components,
            if stats.watertight { "watertight" } else { "open (use --close-border for a closed surface)" }
        );
        if let Some(r) = decimation {
            println!("decimated from {} triangles; error bound {:.3} mm", r.triangles_before, r.max_error_mm);
        }
    }
    Ok(())
}

struct SegmentArgs {
    steps: Vec<String>,
    name: String,
    category: String,
    connectivity: String,
    json: bool,
}

fn segment(path: &Path, series: Option<&str>, out: &Path, a: &SegmentArgs) -> Result<()> {
    use twinplan::core::segmentation::{Category, Connectivity, Segmentation, Step, components};
    let name = out.to_string_lossy();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        bail!("{}: expected an output name ending in .nii or .nii.gz", out.display());
    }
    let category = Category::parse(&a.category).with_context(|| {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
        format!("--category {}: expected one of {}", a.category, names.join(", "))
    })?;
    let connectivity = if a.connectivity == "6" { Connectivity::Six } else { Connectivity::TwentySix };
    // Every step is checked before the scan is read, so a typo costs no loading time.
    let steps: Vec<Step> =
        a.steps.iter().map(|t| Step::parse(t, connectivity)).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let (_, loaded) = dicom::open_volume(path, series, &progress)?;
    let v = loaded.volume;
    let mut seg = Segmentation::new(&v);
    let label = seg.add(&a.name, category);
    for (text, step) in a.steps.iter().zip(steps) {
        seg.apply(label, step, &v, &progress).with_context(|| format!("step '{text}'"))?;
    }
    drop(shown);
    let mask = seg.mask(label);
    if mask.is_empty() {
        bail!("{}: the steps {} select no voxel", path.display(), a.steps.join(" "));
    }
    let islands = components::components(&mask, connectivity).count();
    seg.labels.write_nifti(out, &format!("twinplan {}", a.name))?;
    let segment = seg.segment(label).context("the segment just added")?;
    if a.json {
        let j = json!({
            "file": out,
            "label": label,
            "name": segment.name,
            "category": category.name(),
            "margin_mm": segment.margin_mm,
            "voxels": mask.count(),
            "volume_mm3": mask.volume_mm3(),
            "components": islands,
            "steps": segment.steps,
            "warnings": v.warnings,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        for w in &v.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "wrote {} (label {label} = {}, {}): {} voxels, {:.1} mm3 ({:.2} mL), {islands} island(s)",
            out.display(),
            a.name,
            category.name(),
            mask.count(),
            mask.volume_mm3(),
            mask.volume_mm3() / 1000.0
        );
    }
    Ok(())
}

fn check(plan: &Path, scan: Option<&Path>, json: bool) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::planning::{CONFLICT_MM, PlanningScene, conflicts};
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

fn export_plan(
    plan: &Path,
    scan: Option<&Path>,
    out: &Path,
    mesh_format: &str,
    ras: bool,
    anonymise: bool,
) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::mesh::{export, segment_surface};
    use twinplan::core::planning::export as paths;
    let frame = if ras { export::Frame::Ras } else { export::Frame::Lps };
    let format = export::Format::from_path(Path::new(&format!("x.{mesh_format}")), false)
        .with_context(|| format!("--mesh-format {mesh_format}: expected stl, obj or ply"))?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(plan, scan, &progress)?;
    let doc = &opened.doc;
    let scrubber = twinplan::core::report::Scrubber::new(&opened.loaded.volume.meta);
    let name = |s: &str| if anonymise { scrubber.text(s) } else { s.to_owned() };
    let meshes = out.join("meshes");
    std::fs::create_dir_all(&meshes).with_context(|| format!("{}: cannot create the folder", meshes.display()))?;
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
    };
    let mut written = Vec::new();
    let trajectories: Vec<_> = doc
        .trajectories
        .iter()
        .map(|t| twinplan::core::planning::Trajectory { name: name(&t.name), ..t.clone() })
        .collect();
    for t in &trajectories {
        let path = out.join(format!("{}.mrk.json", paths::file_stem(&t.name, "trajectory")));
        write(&path, serde_json::to_string_pretty(&paths::slicer_line(t, frame))? + "\n")?;
        written.push(path);
    }
    let csv = out.join("trajectories.csv");
    write(&csv, paths::csv(&trajectories))?;
    written.push(csv);
    for s in &doc.segmentation.segments {
        let mesh = segment_surface(&doc.segmentation.mask(s.label), &progress)?;
        if mesh.triangles.is_empty() {
            eprintln!("warning: {} has no voxels: no mesh written", s.name);
            continue;
        }
        let segment = name(&s.name);
        let stem = paths::file_stem(&segment, "segment");
        let path = meshes.join(format!("{}_{stem}.{mesh_format}", s.label));
        export::write(&mesh, &path, format, frame, &segment)?;
        written.push(path);
    }
    let labels = out.join("labels.nii.gz");
    doc.segmentation.labels.write_nifti(&labels, "twinplan label map")?;
    written.push(labels);
    drop(shown);
    for p in &written {
        println!("wrote {}", p.display());
    }
    println!("{} files ({}; meshes and markups in {})", written.len(), out.display(), frame.name());
    Ok(())
}

fn report(plan: &Path, scan: Option<&Path>, out: &Path, anonymise: bool) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::planning::PlanningScene;
    use twinplan::core::report;
    let bytes = std::fs::read(plan).with_context(|| format!("{}: cannot read", plan.display()))?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(plan, scan, &progress)?;
    let scene = PlanningScene::build(&opened.doc.segmentation, &progress)?;
    drop(shown);
    let r = report::build(&report::Input::opened(&opened, &scene, &bytes), anonymise)
        .with_context(|| format!("{}", plan.display()))?;
    report::write(&r, out)?;
    println!("wrote {} ({} trajectories{})", out.display(), r.paths.len(), if anonymise { ", anonymised" } else { "" });
    Ok(())
}

/// `X,Y,Z:R` in LPS mm.
fn parse_region(text: &str) -> Result<EntryRegion> {
    let bad = || anyhow::anyhow!("--region '{text}': expected X,Y,Z:R in mm, for example -40,60,30:20");
    let (centre, radius) = text.split_once(':').ok_or_else(bad)?;
    let c: Vec<f64> =
        centre.split(',').map(|v| v.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    let radius_mm: f64 = radius.trim().parse().map_err(|_| bad())?;
    if c.len() != 3 || !(radius_mm > 0.0) || !c.iter().all(|v| v.is_finite()) {
        return Err(bad());
    }
    Ok(EntryRegion { centre_mm: [c[0], c[1], c[2]], radius_mm })
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
    let [x, y, z] = found.target_mm;
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
        let [x, y, z] = s.entry_mm;
        let nearest = r
            .structures
            .first()
            .map_or("no critical structures".into(), |c| format!("{} {:.2} mm", c.name, c.min_clearance_mm));
        println!(
            "{:>2}. entry ({x:.1}, {y:.1}, {z:.1})  risk {:.2} mm  nearest {nearest}  angle {:.1} deg  length {:.1} mm",
            i + 1,
            r.risk,
            r.entry_angle_deg.unwrap_or(f64::NAN),
            r.length_mm
        );
    }
    Ok(())
}

fn write_phantom(out: &Path) -> Result<()> {
    eprintln!("generating the phantom ...");
    let p = phantom::generate();
    let files = phantom::write(&p, out)?;
    println!(
        "wrote {} (DICOM series), {}, {}",
        files.dicom_dir.display(),
        files.labels.display(),
        files.truth.display()
    );
    Ok(())
}
