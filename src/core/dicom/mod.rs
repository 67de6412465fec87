//! DICOM input: scan a folder for series, then load one series into a patient-space [`Volume`].
//!
//! ```text
//! scan(path) -> Scan { series: [Series { sorted headers, grid, warnings }], skipped }
//! load(&series) -> Volume (decoded in parallel straight into the voxel buffer)
//! ```

pub mod derived;
mod error;
mod guard;
pub mod header;
mod jpeg12;
mod pixels;
mod rle;
pub mod rtstruct;
mod scan;
pub mod seg_read;
pub mod series;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use error::{DicomError, Result};
pub use header::{MAX_VOXELS, SliceHeader, read_file_header, read_object, slice_headers};
pub use scan::{Scan, Skipped, read_headers, scan};
pub use series::{Series, SliceSource, build_series};

use crate::core::progress::Progress;
use crate::core::volume::{Grid, Volume, VolumeMeta, VoxelData};
use pixels::{Sample, SampleKind, choose_kind, decode_file, decode_object, native_pixel_bytes};

/// A loaded series and what went wrong on the way, for the user to see.
#[derive(Debug)]
pub struct Loaded {
    pub volume: Volume,
    /// Files of this series that are left out, with a warning: they could not be decoded, or
    /// lie beyond the gap those leave.
    pub failed: Vec<Skipped>,
    /// The series as loaded: without the failed files' images.
    pub series: Series,
}

/// Loads one series. Files that fail to decode are left out (the stack is rebuilt without them,
/// so a hole becomes a "missing slices" warning, or a split where it is wide) unless nothing is
/// left.
pub fn load(series: &Series, progress: &Progress) -> Result<Loaded> {
    if series.volume_file {
        let volume = crate::core::io::volume_file::read(&series.first().path)?;
        return Ok(Loaded { volume, failed: Vec::new(), series: series.clone() });
    }
    let mut current = series.clone();
    let mut failed: Vec<Skipped> = Vec::new();
    loop {
        match decode_series(&current, progress) {
            Ok(mut volume) => {
                // The files' names too: a PACS export names them after the patient.
                let names = current.slices.iter().map(|s| &s.path).chain(failed.iter().map(|f| &f.path));
                volume.meta.identifying.extend(names.map(|p| file_name(p)));
                volume.meta.identifying.sort();
                volume.meta.identifying.dedup();
                if !failed.is_empty() {
                    let list: Vec<String> =
                        failed.iter().map(|f| format!("{}: {}", file_name(&f.path), f.reason)).collect();
                    volume.warnings.insert(
                        0,
                        format!("{} file(s) of this series were left out: {}", failed.len(), list.join("; ")),
                    );
                }
                return Ok(Loaded { volume, failed, series: current });
            }
            Err(DecodeFailure::Fatal(e)) => return Err(e),
            Err(DecodeFailure::Files(mut errs)) => {
                let bad: Vec<PathBuf> = errs.iter().map(|(p, _)| p.clone()).collect();
                let rest: Vec<SliceHeader> =
                    current.slices.iter().filter(|s| !bad.contains(&s.path)).cloned().collect();
                if rest.is_empty() {
                    // Nothing of the series decodes: the first file's own error says why.
                    return Err(errs.swap_remove(0).1);
                }
                failed.extend(errs.into_iter().map(|(p, e)| Skipped { reason: scan::reason_of(&e, &p), path: p }));
                let mut rebuilt = build_series(rest);
                rebuilt.sort_by_key(|s| std::cmp::Reverse(s.slices.len()));
                let mut next = rebuilt.swap_remove(0);
                // The hole the failed files leave may be wide enough to split the stack: what
                // lies beyond it is left out too, and said so, never dropped unseen.
                let mut beyond: Vec<PathBuf> =
                    rebuilt.iter().flat_map(|s| s.slices.iter().map(|h| h.path.clone())).collect();
                beyond.sort();
                beyond.dedup();
                failed.extend(beyond.into_iter().filter(|p| !next.slices.iter().any(|h| &h.path == p)).map(|path| {
                    Skipped {
                        reason: "the files that could not be decoded leave a gap that separates this image from the rest of its series".into(),
                        path,
                    }
                }));
                next.id = current.id.clone();
                current = next;
            }
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

enum DecodeFailure {
    Fatal(DicomError),
    Files(Vec<(PathBuf, DicomError)>),
}

fn decode_series(series: &Series, progress: &Progress) -> Result<Volume, DecodeFailure> {
    let first = series.first();
    let plane = first.rows as usize * first.cols as usize;
    let out_slices = series.grid.dims[2];
    let voxels = plane.saturating_mul(out_slices.max(series.slices.len()));
    if voxels > MAX_VOXELS {
        return Err(DecodeFailure::Fatal(DicomError::invalid(
            &first.path,
            format!("series {} would need {voxels} voxels; at most {MAX_VOXELS} are supported", series.id),
        )));
    }
    let data = match choose_kind(&series.slices) {
        SampleKind::I16 => {
            let (v, outside) = decode_into::<i16>(series, plane, progress)?;
            if outside {
                // Values beyond i16 (a 16-bit unsigned MR, say): decode again as f32, without
                // holding the first attempt meanwhile.
                drop(v);
                VoxelData::F32(decode_into::<f32>(series, plane, progress)?.0)
            } else {
                VoxelData::I16(v)
            }
        }
        SampleKind::F32 => VoxelData::F32(decode_into::<f32>(series, plane, progress)?.0),
    };
    let ct = first.modality == "CT" && (first.rescale_type.is_empty() || first.rescale_type == "HU");
    let meta = VolumeMeta {
        series_uid: series.series_uid.clone(),
        study_uid: first.study_uid.clone(),
        modality: first.modality.clone(),
        description: first.series_description.clone(),
        patient_name: first.patient_name.clone(),
        patient_id: first.patient_id.clone(),
        study_date: first.study_date.clone(),
        unit: if ct { "HU".into() } else { first.rescale_type.clone() },
        window: first.window,
        identifying: first.identifying.to_vec(),
    };
    Ok(Volume {
        grid: Grid::new(series.grid.dims, series.grid.patient_from_voxel),
        data,
        meta,
        warnings: series.warnings.clone(),
    })
}

/// Decodes every source slice into the volume buffer; the flag says whether some value did not
/// fit `T`. A regular stack is decoded straight into place. An irregular one is resampled: an
/// output slice that is one source slice (beside a gap, say) is still decoded straight into
/// place, and only the sources that feed interpolated slices alone are decoded beside it, so a
/// few missing slices cost a few planes, not a second volume.
fn decode_into<T: Sample>(series: &Series, plane: usize, progress: &Progress) -> Result<(Vec<T>, bool), DecodeFailure> {
    let n_src = series.slices.len();
    let Some(plan) = &series.resample else {
        let mut buf = vec![T::default(); plane * n_src];
        let outside = decode_planes(series, buf.chunks_mut(plane).collect(), progress)?;
        return Ok((buf, outside));
    };
    // Where each source slice is decoded to: the output slice it is, or a plane beside.
    let mut home: Vec<Option<usize>> = vec![None; n_src];
    for (k, s) in plan.iter().enumerate() {
        if let Some(i) = s.exact() {
            home[i].get_or_insert(k);
        }
    }
    let is_home: Vec<bool> = {
        let mut v = vec![false; plan.len()];
        home.iter().flatten().for_each(|&k| v[k] = true);
        v
    };
    let beside: Vec<usize> = (0..n_src).filter(|&i| home[i].is_none()).collect();
    let mut out = vec![T::default(); plane * plan.len()];
    let mut side = vec![T::default(); plane * beside.len()];
    let outside = {
        let mut out_planes: Vec<Option<&mut [T]>> = out.chunks_mut(plane).map(Some).collect();
        let mut side_planes = side.chunks_mut(plane);
        let planes = home
            .iter()
            .map(|h| match h {
                Some(k) => out_planes[*k].take().expect("one source per output slice"),
                None => side_planes.next().expect("a plane beside for each source without one"),
            })
            .collect();
        decode_planes(series, planes, progress)?
    };
    // The rest of the output slices, blended from their two sources wherever those were put.
    let mut made: Vec<Option<&[T]>> = vec![None; plan.len()];
    let mut todo: Vec<(usize, &mut [T])> = Vec::new();
    for (k, p) in out.chunks_mut(plane).enumerate() {
        if is_home[k] {
            made[k] = Some(p);
        } else {
            todo.push((k, p));
        }
    }
    let source = |i: usize| -> &[T] {
        match home[i] {
            Some(k) => made[k].expect("decoded in place"),
            None => {
                let j = beside.binary_search(&i).expect("decoded beside");
                &side[j * plane..(j + 1) * plane]
            }
        }
    };
    todo.into_par_iter().for_each(|(k, dst)| {
        let s = plan[k];
        let (a, b) = (source(s.lo), source(s.hi));
        for ((o, &x), &y) in dst.iter_mut().zip(a).zip(b) {
            *o = T::from_f64((1.0 - s.t) * x.to_f64() + s.t * y.to_f64());
        }
    });
    Ok((out, outside))
}

/// Decodes source slice i of the series into `planes[i]`, in parallel, one task per file.
fn decode_planes<T: Sample>(
    series: &Series,
    mut planes: Vec<&mut [T]>,
    progress: &Progress,
) -> Result<bool, DecodeFailure> {
    let outside = std::sync::atomic::AtomicBool::new(false);
    let n_src = series.slices.len();
    let mut by_file: BTreeMap<&Path, Vec<(&SliceHeader, &mut [T])>> = BTreeMap::new();
    for (h, p) in series.slices.iter().zip(planes.drain(..)) {
        by_file.entry(h.path.as_path()).or_default().push((h, p));
    }
    progress.begin(&format!("Decoding {n_src} images"), n_src as u64);
    let errors: Vec<(PathBuf, DicomError)> = by_file
        .into_par_iter()
        .filter_map(|(path, mut frames)| {
            if progress.is_cancelled() {
                return Some((path.to_owned(), DicomError::Cancelled(crate::core::progress::Cancelled)));
            }
            let n = frames.len() as u64;
            let r = decode_file(path, &mut frames);
            progress.advance(n);
            match r {
                Ok(o) => {
                    outside.fetch_or(o, std::sync::atomic::Ordering::Relaxed);
                    None
                }
                Err(e) => Some((path.to_owned(), e)),
            }
        })
        .collect();
    if progress.is_cancelled() {
        return Err(DecodeFailure::Fatal(DicomError::Cancelled(crate::core::progress::Cancelled)));
    }
    if !errors.is_empty() {
        return Err(DecodeFailure::Files(errors));
    }
    Ok(outside.into_inner())
}

/// Scans `path` and loads the series `id` (or the largest series when `id` is `None`).
pub fn open_volume(path: &Path, id: Option<&str>, progress: &Progress) -> Result<(Scan, Loaded)> {
    let found = scan(path, progress)?;
    let series = match id {
        Some(id) => found.find(id).ok_or_else(|| DicomError::NoSuchSeries {
            path: path.to_owned(),
            id: id.to_owned(),
            found: found.series.iter().map(|s| s.id.clone()).collect::<Vec<_>>().join(", "),
        })?,
        None => largest(&found).ok_or_else(|| DicomError::NoImages {
            path: path.to_owned(),
            files: found.files_seen,
            details: String::new(),
        })?,
    };
    let loaded = load(series, progress)?;
    Ok((found, loaded))
}

/// The series with the most voxels: what "open this folder" should show first.
pub fn largest(scan: &Scan) -> Option<&Series> {
    scan.series.iter().max_by_key(|s| s.grid.voxel_count())
}

/// Reads one DICOM file held in memory: headers, then every frame's values. This is the
/// single-file path the fuzzer drives; it never panics on any input.
pub fn decode_bytes(bytes: &[u8], name: &Path) -> Result<Vec<(SliceHeader, Vec<f32>)>> {
    let parsed = read_object(bytes, name, false)?;
    let headers = slice_headers(&parsed, name)?;
    let Some(h) = headers.first() else {
        return Ok(Vec::new());
    };
    let needed = h.format.bytes_for(h.rows, h.cols, h.frames_in_file);
    if let Some(have) = native_pixel_bytes(&parsed.object)
        && have < needed
    {
        return Err(DicomError::Decode {
            path: name.to_owned(),
            detail: format!("pixel data is truncated: {have} bytes present, {needed} expected"),
        });
    }
    let plane = h.rows as usize * h.cols as usize;
    let mut planes: Vec<Vec<f32>> = headers.iter().map(|_| vec![0.0; plane]).collect();
    {
        let mut frames: Vec<(&SliceHeader, &mut [f32])> =
            headers.iter().zip(planes.iter_mut()).map(|(h, p)| (h, p.as_mut_slice())).collect();
        decode_object(&parsed.object, name, &mut frames)?;
    }
    Ok(headers.into_iter().zip(planes).collect())
}
