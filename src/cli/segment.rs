//! `twinplan segment`: one segment from tools applied in order, written as a NIfTI label map.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use twinplan::core::dicom;
use twinplan::core::progress::Progress;

use super::common::{SeriesArg, TerminalProgress, require_nifti_name};

#[derive(Args)]
pub struct SegmentArgs {
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
    #[command(flatten)]
    series: SeriesArg,
    #[arg(long)]
    json: bool,
}

pub fn run(a: &SegmentArgs) -> Result<()> {
    use twinplan::core::segmentation::{Category, Connectivity, Segmentation, Step, components};
    let (path, series, out) = (a.path.as_path(), a.series.id(), a.out.as_path());
    require_nifti_name(out)?;
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
