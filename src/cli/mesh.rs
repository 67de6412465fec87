//! `twinplan mesh`: a surface mesh from an iso value or from one label of a label map.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};
use serde_json::json;

use twinplan::core::dicom;
use twinplan::core::progress::Progress;

use super::common::{SeriesArg, TerminalProgress};

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["iso", "labels"])))]
pub struct MeshArgs {
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
    #[command(flatten)]
    series: SeriesArg,
    #[arg(long)]
    json: bool,
}

pub fn run(a: &MeshArgs) -> Result<()> {
    use twinplan::core::mesh::{self as meshing, ExtractOptions, export};
    let (path, series, out) = (a.path.as_path(), a.series.id(), a.out.as_path());
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
