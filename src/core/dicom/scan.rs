//! Finding DICOM images under a path: walk folders, read every file's header in parallel, and keep
//! a reason for every file that is not used.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::error::{DicomError, Result};
use super::header::{SliceHeader, read_file_header, slice_headers};
use super::series::{Series, build_series};
use crate::core::io::volume_file;
use crate::core::progress::Progress;

/// A file that was looked at and not used, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Everything found under a path.
#[derive(Debug, Clone)]
pub struct Scan {
    pub root: PathBuf,
    pub series: Vec<Series>,
    pub skipped: Vec<Skipped>,
    pub files_seen: usize,
}

impl Scan {
    /// The series with this id (or series UID, when it is not split).
    pub fn find(&self, id: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.id == id).or_else(|| self.series.iter().find(|s| s.series_uid == id))
    }
}

/// Every regular file under `root` (or `root` itself), in a stable order. Directory symlinks are
/// not followed, so a link cycle cannot trap the walk.
fn list_files(root: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(root).map_err(|e| DicomError::Io { path: root.to_owned(), error: e })?;
    if meta.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| DicomError::Io { path: dir.clone(), error: e })?;
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the headers of one file.
pub fn read_headers(path: &Path) -> Result<Vec<SliceHeader>> {
    let parsed = read_file_header(path)?;
    slice_headers(&parsed, path)
}

/// Scans a file or folder (recursively). A DICOMDIR path scans the folder it indexes.
/// Fails only when nothing usable is found; unusable files are listed in `skipped`.
pub fn scan(path: &Path, progress: &Progress) -> Result<Scan> {
    if path.is_file() && volume_file::kind(path).is_some() {
        return scan_volume_file(path);
    }
    let root = if path.file_name().is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR")) && path.is_file() {
        path.parent().map(Path::to_owned).unwrap_or_else(|| path.to_owned())
    } else {
        path.to_owned()
    };
    let files = list_files(&root)?;
    progress.begin("Reading headers", files.len() as u64);
    let results: Vec<(PathBuf, Result<Vec<SliceHeader>>)> = files
        .par_iter()
        .map(|f| {
            progress.check()?;
            let r = read_headers(f);
            progress.advance(1);
            Ok((f.clone(), r))
        })
        .collect::<Result<_>>()?;

    // One file asked for and unusable: its own error says it best.
    let mut results = results;
    if root.is_file()
        && matches!(results.as_slice(), [(_, Err(_))])
        && let Some((_, Err(e))) = results.pop()
    {
        return Err(e);
    }
    let mut headers = Vec::new();
    let mut skipped = Vec::new();
    for (path, r) in results {
        match r {
            Ok(h) => headers.extend(h),
            Err(e) => skipped.push(Skipped { reason: reason_of(&e, &path), path }),
        }
    }
    if headers.is_empty() {
        let details: Vec<String> =
            skipped.iter().take(3).map(|s| format!("{}: {}", s.path.display(), s.reason)).collect();
        return Err(DicomError::NoImages {
            path: root,
            files: files.len(),
            details: if details.is_empty() { String::new() } else { format!("; {}", details.join("; ")) },
        });
    }
    Ok(Scan { root, series: build_series(headers), skipped, files_seen: files.len() })
}

/// A NIfTI or NRRD file as a scan of one series, from its header.
fn scan_volume_file(path: &Path) -> Result<Scan> {
    let head = volume_file::header(path)?;
    let g = &head.grid;
    let d = g.directions();
    let first = SliceHeader {
        path: path.to_owned(),
        frames_in_file: g.dims[2] as u32,
        series_uid: head.id.clone(),
        series_description: head.description.clone(),
        transfer_syntax_name: head.kind.name().to_owned(),
        rows: g.dims[1] as u32,
        cols: g.dims[0] as u32,
        position_mm: Some(g.origin_mm().coords),
        row_dir: Some(d.column(0).into_owned()),
        col_dir: Some(d.column(1).into_owned()),
        ..Default::default()
    };
    let series = Series {
        id: head.id.clone(),
        series_uid: head.id,
        slices: vec![first],
        grid: head.grid,
        resample: None,
        warnings: head.warnings,
        volume_file: true,
    };
    Ok(Scan { root: path.to_owned(), series: vec![series], skipped: Vec::new(), files_seen: 1 })
}

/// The error message without the leading path (the skip list shows the path beside it).
pub(crate) fn reason_of(e: &DicomError, path: &Path) -> String {
    let msg = e.to_string();
    let prefix = format!("{}: ", path.display());
    msg.strip_prefix(&prefix).map(str::to_owned).unwrap_or(msg)
}
