//! `twinplan export`: a plan's parts for other tools (markups, CSV, meshes, vessel centrelines,
//! label map, fused scans on the plan's grid), the 3D scene, or the segments as DICOM SEG or
//! RT Structure Set.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use twinplan::core::io::nifti;
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::Category;
use twinplan::core::vessels::centrelines;

use super::common::{ScanArg, TerminalProgress};

#[derive(Args)]
pub struct ExportArgs {
    plan: PathBuf,
    #[command(flatten)]
    scan: ScanArg,
    /// The folder to write the parts into.
    #[arg(long, required_unless_present_any = ["scene", "seg", "rtstruct"])]
    out: Option<PathBuf>,
    /// Instead, the whole 3D scene as one binary glTF file (F.glb): each shown segment in its
    /// colour and opacity, trajectories as tubes, labels as named nodes; metres, +Y up
    /// (X = left, Y = superior, Z = anterior). F.html: the same in a page that shows it
    /// offline (drag to turn, wheel to zoom).
    #[arg(long, value_name = "F.glb|F.html", conflicts_with_all = ["out", "seg", "rtstruct"])]
    scene: Option<PathBuf>,
    /// Instead, the segments as a binary DICOM Segmentation (F.dcm) in the scan's study: each
    /// segment with its SNOMED CT category and type and its colour, each frame referring to the
    /// scan's image it lies on; for the PACS, 3D Slicer, OHIF or radiotherapy planning.
    #[arg(long, value_name = "F.dcm", conflicts_with_all = ["out", "anonymise", "rtstruct"])]
    seg: Option<PathBuf>,
    /// Instead, the segments as an RT Structure Set (F.dcm) in the scan's study: on each of the
    /// scan's slices, each segment's outlines along its voxels' edges (so that filling them
    /// gives its voxels back exactly), with its name, colour and SNOMED CT code; for
    /// radiotherapy planning systems and navigation.
    #[arg(long, value_name = "F.dcm", conflicts_with_all = ["out", "anonymise"])]
    rtstruct: Option<PathBuf>,
    /// With --scene: decimate the surfaces so that the scene has at most N triangles.
    #[arg(long, value_name = "N", requires = "scene")]
    max_triangles: Option<usize>,
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
}

pub fn run(args: &ExportArgs) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::mesh::{export, segment_surface};
    use twinplan::core::planning::export as paths;
    let (plan, scan) = (args.plan.as_path(), args.scan.folder());
    if let Some(file) = &args.scene {
        return scene(args, file);
    }
    if let Some(file) = &args.seg {
        return dicom_segments(args, file, false);
    }
    if let Some(file) = &args.rtstruct {
        return dicom_segments(args, file, true);
    }
    let out = args.out.as_deref().expect("clap requires --out without --scene");
    let (mesh_format, ras, anonymise) = (args.mesh_format.as_str(), args.ras, args.anonymise);
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
    if !doc.annotations.is_empty() {
        let annotations: Vec<_> = doc
            .annotations
            .iter()
            .map(|a| twinplan::core::document::Annotation { text: name(&a.text), ..a.clone() })
            .collect();
        let path = out.join("annotations.mrk.json");
        write(&path, serde_json::to_string_pretty(&paths::slicer_points(&annotations, frame))? + "\n")?;
        written.push(path);
    }
    let csv = out.join("trajectories.csv");
    write(&csv, paths::csv(&trajectories, doc.frame.as_ref(), doc.acpc.as_ref()))?;
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
    // Each vessel's centreline tree, from its first seed when it was grown from seeds.
    let vessels: Vec<_> = doc.segmentation.segments.iter().filter(|s| s.category == Category::Vessel).collect();
    let lines_dir = out.join("centrelines");
    if !vessels.is_empty() {
        std::fs::create_dir_all(&lines_dir)
            .with_context(|| format!("{}: cannot create the folder", lines_dir.display()))?;
    }
    for s in vessels {
        let lines = centrelines(&doc.segmentation.mask(s.label), s.vessel_seed(), &progress)?;
        if lines.branches.is_empty() {
            continue;
        }
        let segment = name(&s.name);
        let stem = format!("{}_{}", s.label, paths::file_stem(&segment, "segment"));
        let colour = doc.display_of(s.label).color;
        let markups = lines_dir.join(format!("{stem}.mrk.json"));
        write(&markups, serde_json::to_string_pretty(&lines.slicer_curves(&segment, colour, frame))? + "\n")?;
        let table = lines_dir.join(format!("{stem}.csv"));
        write(&table, lines.csv())?;
        written.extend([markups, table]);
    }
    let labels = out.join("labels.nii.gz");
    doc.segmentation.labels.write_nifti(&labels, "twinplan label map")?;
    written.push(labels);
    // Each fused scan on the plan's grid, voxel for voxel beside the label map.
    let primary = &opened.loaded.volume.grid;
    let scans = out.join("scans");
    if !doc.secondary_scans.is_empty() {
        std::fs::create_dir_all(&scans).with_context(|| format!("{}: cannot create the folder", scans.display()))?;
    }
    for (n, s) in doc.secondary_scans.iter().enumerate() {
        let on_grid = plan_io::fused_on_grid(plan, s, primary, &progress)?;
        let path = scans.join(format!("{}_{}.nii.gz", n + 1, paths::file_stem(&name(&s.name), "scan")));
        let description = if anonymise { on_grid.meta.modality.clone() } else { name(&s.name) };
        nifti::write_volume(&path, primary, &on_grid.filled(), &description)?;
        written.push(path);
    }
    drop(shown);
    for p in &written {
        println!("wrote {}", p.display());
    }
    println!("{} files ({}; meshes and markups in {})", written.len(), out.display(), frame.name());
    Ok(())
}

/// `--seg F.dcm` or `--rtstruct F.dcm`: the segments as a DICOM object in the scan's study.
fn dicom_segments(args: &ExportArgs, file: &Path, rtstruct: bool) -> Result<()> {
    use twinplan::core::document::dicom_out::{SegmentsAs, check_name, write_segments};
    use twinplan::core::document::io as plan_io;
    let option = if rtstruct { "--rtstruct" } else { "--seg" };
    check_name(file).with_context(|| option)?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(&args.plan, args.scan.folder(), &progress)?;
    drop(shown);
    let kind = if rtstruct { SegmentsAs::StructureSet } else { SegmentsAs::Segmentation };
    let written = write_segments(&opened.doc, &opened.loaded.series, kind, file)?;
    for name in &written.empty {
        eprintln!("warning: {name} has no voxels: left out");
    }
    println!("wrote {} ({})", file.display(), written.describe());
    Ok(())
}

fn scene(args: &ExportArgs, file: &Path) -> Result<()> {
    use twinplan::core::document::io as plan_io;
    use twinplan::core::scene::{Scene, write_glb, write_html};
    let extension = file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let html = match extension.as_deref() {
        Some("glb") => false,
        Some("html") => true,
        _ => anyhow::bail!("--scene {}: expected a name ending in .glb or .html", file.display()),
    };
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let opened = plan_io::open_with_scan(&args.plan, args.scan.folder(), &progress)?;
    let doc = &opened.doc;
    let scrubber = twinplan::core::report::Scrubber::new(&opened.loaded.volume.meta);
    let mut scene = Scene::of_plan(doc, args.max_triangles, &progress)
        .with_context(|| format!("{}: the scene", args.plan.display()))?;
    drop(shown);
    if args.anonymise {
        for p in &mut scene.parts {
            p.name = scrubber.text(&p.name);
        }
        for m in &mut scene.markers {
            m.name = scrubber.text(&m.name);
        }
    }
    let glb = write_glb(&scene);
    // The page's title: the scan's description, unless anonymised.
    let title = if args.anonymise {
        "twinplan scene".to_owned()
    } else {
        format!("twinplan: {}", opened.loaded.volume.meta.description)
    };
    let bytes = if html { write_html(&title, &glb).into_bytes() } else { glb };
    // Written under another name first: an interrupted export leaves no half file.
    let partial = file.with_extension("partial");
    std::fs::write(&partial, &bytes).with_context(|| format!("{}: cannot write", partial.display()))?;
    std::fs::rename(&partial, file).with_context(|| format!("{}: cannot write", file.display()))?;
    println!(
        "wrote {} ({} parts, {} labels, {} triangles, {:.1} MB)",
        file.display(),
        scene.parts.len(),
        scene.markers.len(),
        scene.triangles(),
        bytes.len() as f64 / 1e6
    );
    Ok(())
}
