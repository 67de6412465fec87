//! Plans on disk: `*.twinplan.json` (the document) beside a NIfTI label map side file. Paths in
//! the file are relative to the plan's folder, so a plan and its scan can move together.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{PlanDocument, SCHEMA_VERSION, ScanRef, SecondaryScan};
use crate::core::io::nifti::NiftiError;
use crate::core::progress::{Interrupted, Progress};
use crate::core::segmentation::{SegmentationError, Step, WithFused, import_labels};
use crate::core::volume::{Grid, Volume};

#[derive(Debug, thiserror::Error)]
pub enum PlanIoError {
    // The cause is part of the message, not a `source`: an error chain would print it twice.
    #[error("{path}: cannot read: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}: cannot write: {error}")]
    Write { path: PathBuf, error: std::io::Error },
    #[error("{path}: line {line}, column {column}: {detail}")]
    Syntax { path: PathBuf, line: usize, column: usize, detail: String },
    #[error(
        "{path}: written by a newer twinplan (plan version {found}; this build reads up to {supported}); update twinplan to open it"
    )]
    TooNew { path: PathBuf, found: u32, supported: u32 },
    #[error(
        "{plan}: the plan's scan (series {series_uid}) is not at {scan}: {detail}. Point twinplan to the folder that holds it now (File > Locate scan, or --scan DIR)"
    )]
    ScanMissing { plan: PathBuf, scan: PathBuf, series_uid: String, detail: String },
    #[error("{plan}: the fused scan '{name}' (series {series_uid}) is not at {scan}: {detail}")]
    SecondaryMissing { plan: PathBuf, name: String, scan: PathBuf, series_uid: String, detail: String },
    #[error("{folder}: holds series {found}, not the plan's series {wanted}")]
    WrongScan { folder: PathBuf, wanted: String, found: String },
    #[error(transparent)]
    Labels(#[from] NiftiError),
    #[error(transparent)]
    Segmentation(#[from] SegmentationError),
    #[error(transparent)]
    Scan(#[from] crate::core::dicom::DicomError),
}

impl Interrupted for PlanIoError {
    fn is_cancelled(&self) -> bool {
        match self {
            PlanIoError::Segmentation(e) => e.is_cancelled(),
            PlanIoError::Scan(e) => e.is_cancelled(),
            _ => false,
        }
    }
}

/// The label map side file of a plan holding labels whose CRC-32 is `crc`:
/// `name.twinplan.json` -> `name.labels-0123abcd.nii.gz`. Each content has its own name, so a
/// save never overwrites the label map the plan on disk points at (see [`save_with`]).
pub fn labels_path(plan: &Path, crc: u32) -> PathBuf {
    plan.with_file_name(format!("{}.labels-{crc:08x}.nii.gz", plan_stem(plan)))
}

fn plan_stem(plan: &Path) -> String {
    let name = file_name(plan);
    name.strip_suffix(".twinplan.json").or_else(|| name.strip_suffix(".json")).unwrap_or(&name).to_owned()
}

/// The CRC-32 of a label map's values (little-endian u16).
fn labels_crc(labels: &[u16]) -> u32 {
    let mut crc = flate2::Crc::new();
    for chunk in labels.chunks(1 << 16) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|l| l.to_le_bytes()).collect();
        crc.update(&bytes);
    }
    crc.sum()
}

/// `p` relative to `base` when it lies inside it, else absolute. Paths in memory are relative to
/// the working folder (as the user typed them) or absolute; both are made absolute first, so a
/// path typed relative to the working folder is not read back relative to the plan's.
fn relative_to(base: &Path, p: &Path) -> PathBuf {
    let absolute = |p: &Path| {
        if p.as_os_str().is_empty() { std::env::current_dir() } else { std::path::absolute(p) }
            .unwrap_or_else(|_| p.to_owned())
    };
    let (base, p) = (absolute(base), absolute(p));
    p.strip_prefix(&base).map(Path::to_owned).unwrap_or(p)
}

fn map_paths(doc: &mut PlanDocument, f: impl Fn(&Path) -> PathBuf) {
    doc.scan.path = f(&doc.scan.path);
    for s in &mut doc.secondary_scans {
        s.scan.path = f(&s.scan.path);
    }
    if let Some(l) = &doc.label_map {
        doc.label_map = Some(f(l));
    }
    for s in &mut doc.segmentation.segments {
        for step in &mut s.steps {
            if let Step::Import { file, .. } | Step::ImportTracts { file, .. } = step {
                *file = f(file);
            }
        }
    }
}

/// Parses a plan document, resolving its paths against the plan's folder. The label map is not
/// read here (see `PlanDocument::label_map`).
pub fn read(path: &Path) -> Result<PlanDocument, PlanIoError> {
    let text = std::fs::read_to_string(path).map_err(|error| PlanIoError::Read { path: path.to_owned(), error })?;
    parse(&text, path)
}

/// [`read`] on a plan's text (`path` names it in errors and anchors its relative paths).
pub fn parse(text: &str, path: &Path) -> Result<PlanDocument, PlanIoError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| PlanIoError::Syntax {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    })?;
    let found = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    if found > SCHEMA_VERSION {
        return Err(PlanIoError::TooNew { path: path.to_owned(), found, supported: SCHEMA_VERSION });
    }
    let mut doc: PlanDocument = serde_json::from_str(text).map_err(|e| PlanIoError::Syntax {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    })?;
    doc.version = SCHEMA_VERSION;
    let base = path.parent().unwrap_or(Path::new("")).to_owned();
    map_paths(&mut doc, |p| if p.is_absolute() { p.to_owned() } else { base.join(p) });
    Ok(doc)
}

/// The document as JSON, with paths relative to `plan`'s folder.
pub fn to_json(doc: &PlanDocument, plan: &Path) -> String {
    let base = plan.parent().unwrap_or(Path::new("")).to_owned();
    let mut copy = doc.clone();
    copy.version = SCHEMA_VERSION;
    map_paths(&mut copy, |p| relative_to(&base, p));
    // Serialising plain data to a String cannot fail.
    serde_json::to_string_pretty(&copy).unwrap_or_default() + "\n"
}

/// Saves a plan: its label map to a side file named for its content (see [`labels_path`]), then
/// the document pointing at it, then removes the side files of earlier saves. Each file is
/// written under a temporary name, flushed to the disk and renamed; the rename of the document is
/// the one moment the new plan replaces the old, and until then the old document and the label
/// map it points at are untouched. So a crash, a power cut or a full disk at any point leaves the
/// previous plan whole (tests/document.rs kills a saving process at random points to check).
/// Returns the document as saved (with its label map path).
pub fn save(doc: &PlanDocument, path: &Path) -> Result<PlanDocument, PlanIoError> {
    save_with(doc, path, true)
}

/// As [`save`]; without `write_labels` the label map side file already there is kept (the
/// labels have not changed since it was written).
pub fn save_with(doc: &PlanDocument, path: &Path, write_labels: bool) -> Result<PlanDocument, PlanIoError> {
    let kept = doc.label_map.clone().filter(|l| !write_labels && l.parent() == path.parent() && l.is_file());
    let labels = match kept {
        Some(l) => l,
        None => {
            let labels = labels_path(path, labels_crc(&doc.segmentation.labels.labels));
            if !labels.is_file() {
                // The temporary name keeps `.nii.gz`: the writer compresses by the name.
                let labels_tmp = beside(&labels, ".saving.nii.gz");
                doc.segmentation.labels.write_nifti(&labels_tmp, "twinplan label map")?;
                sync(&labels_tmp, &labels)?;
                rename(&labels_tmp, &labels)?;
            }
            labels
        }
    };
    let mut saved = doc.clone();
    saved.label_map = Some(labels.clone());
    write_atomically(path, to_json(&saved, path).as_bytes())?;
    remove_stale_labels(path, &labels);
    Ok(saved)
}

/// Removes the label maps earlier saves of this plan left beside it (`name.labels.nii.gz`, the
/// name before, and `name.labels-XXXXXXXX.nii.gz`), except the one it points at now.
fn remove_stale_labels(plan: &Path, current: &Path) {
    let Some(dir) = plan.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let stem = plan_stem(plan);
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&format!("{stem}.labels")) else { continue };
        let ours = rest == ".nii.gz"
            || rest
                .strip_prefix('-')
                .and_then(|r| r.strip_suffix(".nii.gz"))
                .is_some_and(|h| h.len() == 8 && h.chars().all(|c| c.is_ascii_hexdigit()));
        if ours && e.path().file_name() != current.file_name() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes a file under a temporary name beside it, flushes it to the disk, then renames it over
/// `path` (and flushes the folder, so that the rename itself survives a power cut).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PlanIoError> {
    use std::io::Write;
    let tmp = beside(path, ".saving");
    let err = |error| PlanIoError::Write { path: path.to_owned(), error };
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })?;
    drop(f);
    rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Flushes a written file to the disk (`target` names it in the error).
fn sync(written: &Path, target: &Path) -> Result<(), PlanIoError> {
    std::fs::File::open(written).and_then(|f| f.sync_all()).map_err(|error| {
        let _ = std::fs::remove_file(written);
        PlanIoError::Write { path: target.to_owned(), error }
    })
}

/// A hidden file beside `path`: `.name` + `suffix`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    path.with_file_name(format!(".{}{suffix}", file_name(path)))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn rename(from: &Path, to: &Path) -> Result<(), PlanIoError> {
    std::fs::rename(from, to).map_err(|error| {
        let _ = std::fs::remove_file(from);
        PlanIoError::Write { path: to.to_owned(), error }
    })
}

/// Fills the plan's label map for `volume`: from its side file when it has one (resampled onto
/// the scan's grid if needed), else by re-running every segment's recipe, with the fused scans
/// the recipes read loaded from where the plan at `plan` says they are. Returns the warnings the
/// user should see.
pub fn load_labels(
    plan: &Path,
    doc: &mut PlanDocument,
    volume: &Volume,
    progress: &Progress,
) -> Result<Vec<String>, PlanIoError> {
    match &doc.label_map {
        Some(path) => {
            let (labels, warnings) = import_labels(path, &volume.grid)?;
            doc.segmentation.labels = labels;
            Ok(warnings)
        }
        None => {
            let fused = fused_values(plan, doc, &volume.grid, progress)?;
            doc.segmentation.rebuild(&WithFused { primary: volume, fused, vessels: None }, progress)?;
            Ok(Vec::new())
        }
    }
}

/// The fused scans that the plan's segments read, each loaded and placed on `primary`.
pub fn fused_values(
    plan: &Path,
    doc: &PlanDocument,
    primary: &Grid,
    progress: &Progress,
) -> Result<Vec<(String, Arc<Volume>)>, PlanIoError> {
    let mut fused = Vec::new();
    for name in doc.segmentation.fused_scans_read() {
        let secondary = doc.secondary_scans.iter().find(|s| s.name == name).ok_or_else(|| {
            PlanIoError::Segmentation(SegmentationError::Invalid(format!(
                "{}: a segment reads the fused scan '{name}', which the plan does not list",
                plan.display()
            )))
        })?;
        fused.push((name.to_owned(), Arc::new(fused_on_grid(plan, secondary, primary, progress)?)));
    }
    Ok(fused)
}

/// Every fused scan of the plan placed on `primary`, for pictures: one that cannot be loaded is
/// left out, and why is in the warnings returned. Fails only when cancelled.
pub fn all_fused(
    plan: &Path,
    doc: &PlanDocument,
    primary: &Grid,
    progress: &Progress,
) -> Result<(Vec<(String, Arc<Volume>)>, Vec<String>), PlanIoError> {
    let (mut fused, mut warnings) = (Vec::new(), Vec::new());
    for s in &doc.secondary_scans {
        match fused_on_grid(plan, s, primary, progress) {
            Ok(v) => fused.push((s.name.clone(), Arc::new(v))),
            Err(e) if e.is_cancelled() => return Err(e),
            Err(e) => warnings.push(e.to_string()),
        }
    }
    Ok((fused, warnings))
}

/// One of the plan's fused scans, loaded and placed on `primary`.
pub fn fused_on_grid(
    plan: &Path,
    secondary: &SecondaryScan,
    primary: &Grid,
    progress: &Progress,
) -> Result<Volume, PlanIoError> {
    let volume = load_secondary(plan, secondary, progress)?;
    secondary.on_grid(&volume, primary).ok_or_else(|| secondary_missing(plan, secondary, "its grid is flat".into()))
}

/// The plan at `plan` cannot have its fused scan `secondary`, for `detail`.
fn secondary_missing(plan: &Path, secondary: &SecondaryScan, detail: String) -> PlanIoError {
    PlanIoError::SecondaryMissing {
        plan: plan.to_owned(),
        name: secondary.name.clone(),
        scan: secondary.scan.path.clone(),
        series_uid: secondary.scan.series_uid.clone(),
        detail,
    }
}

/// A plan opened with everything it stands on: its scan loaded and its label map filled.
pub struct OpenedPlan {
    pub doc: PlanDocument,
    pub scan: crate::core::dicom::Scan,
    pub loaded: crate::core::dicom::Loaded,
    /// For the user: label map resampling and the like (the volume carries its own).
    pub warnings: Vec<String>,
}

/// Reads a plan, loads its series from where the plan says it is and fills its label map.
pub fn open(path: &Path, progress: &Progress) -> Result<OpenedPlan, PlanIoError> {
    open_with_scan(path, None, progress)
}

/// Loads the series a plan names: its folder is scanned once, and the series picked by its id,
/// else by its UID (a series split on loading may be numbered differently elsewhere).
/// The plan's scan, found again by its series under its path, and loaded.
pub fn load_series(
    scan_ref: &ScanRef,
    progress: &Progress,
) -> Result<(crate::core::dicom::Scan, crate::core::dicom::Loaded), crate::core::dicom::DicomError> {
    use crate::core::dicom::{self, DicomError};
    let scan = dicom::scan(&scan_ref.path, progress)?;
    let series = scan.find(&scan_ref.series_id).or_else(|| scan.find(&scan_ref.series_uid)).ok_or_else(|| {
        DicomError::NoSuchSeries {
            path: scan_ref.path.clone(),
            id: scan_ref.series_id.clone(),
            found: scan.series.iter().map(|s| s.id.clone()).collect::<Vec<_>>().join(", "),
        }
    })?;
    let loaded = dicom::load(series, progress)?;
    Ok((scan, loaded))
}

/// Loads one of the plan's secondary scans (`plan` names the plan in errors).
pub fn load_secondary(plan: &Path, secondary: &SecondaryScan, progress: &Progress) -> Result<Volume, PlanIoError> {
    let missing = |detail: String| secondary_missing(plan, secondary, detail);
    let (_, loaded) = load_series(&secondary.scan, progress).map_err(|e| match e {
        e @ crate::core::dicom::DicomError::Cancelled(_) => PlanIoError::Scan(e),
        e => missing(e.to_string()),
    })?;
    if !secondary.scan.series_uid.is_empty() && loaded.volume.meta.series_uid != secondary.scan.series_uid {
        return Err(missing(format!("the series there is {}, not the plan's", loaded.volume.meta.series_uid)));
    }
    Ok(loaded.volume)
}

/// As [`open`], with the scan looked for in `scan_folder` instead (the plan's scan has moved):
/// the series there must be the plan's, by its UID. The plan keeps the new place once saved.
pub fn open_with_scan(path: &Path, scan_folder: Option<&Path>, progress: &Progress) -> Result<OpenedPlan, PlanIoError> {
    use crate::core::dicom::DicomError;
    let mut doc = read(path)?;
    if let Some(folder) = scan_folder {
        doc.scan.path = folder.to_owned();
    }
    let by_uid = |e: &DicomError| matches!(e, DicomError::NoSuchSeries { .. });
    let (scan, loaded) = match load_series(&doc.scan, progress) {
        Ok(f) => f,
        Err(e @ (DicomError::Io { .. } | DicomError::NoImages { .. } | DicomError::NoSuchSeries { .. })) => {
            return Err(match scan_folder {
                Some(folder) if by_uid(&e) => PlanIoError::WrongScan {
                    folder: folder.to_owned(),
                    wanted: doc.scan.series_uid.clone(),
                    found: match e {
                        DicomError::NoSuchSeries { found, .. } => found,
                        _ => String::new(),
                    },
                },
                _ => PlanIoError::ScanMissing {
                    plan: path.to_owned(),
                    scan: doc.scan.path.clone(),
                    series_uid: doc.scan.series_uid.clone(),
                    detail: e.to_string(),
                },
            });
        }
        Err(e) => return Err(e.into()),
    };
    if !doc.scan.series_uid.is_empty() && loaded.volume.meta.series_uid != doc.scan.series_uid {
        return Err(PlanIoError::WrongScan {
            folder: doc.scan.path.clone(),
            wanted: doc.scan.series_uid.clone(),
            found: loaded.volume.meta.series_uid.clone(),
        });
    }
    let warnings = load_labels(path, &mut doc, &loaded.volume, progress)?;
    Ok(OpenedPlan { doc, scan, loaded, warnings })
}
