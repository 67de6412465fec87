//! Long work off the UI thread: a job runs on its own thread with a shared [`Progress`]; a system
//! polls it every frame and hands the result to the study. Cancel flips the progress flag.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use bevy::prelude::*;

use super::StartupPath;
use super::study::Study;
use crate::core::dicom::{self, Scan, Skipped};
use crate::core::progress::Progress;
use crate::core::volume::Volume;

/// A finished load: the volume and what else the folder held.
pub struct LoadResult {
    pub path: PathBuf,
    pub scan: Scan,
    pub volume: Volume,
    pub failed: Vec<Skipped>,
}

/// Why a job produced nothing.
#[derive(Debug)]
pub enum JobError {
    Cancelled,
    Failed(String),
}

impl From<dicom::DicomError> for JobError {
    fn from(e: dicom::DicomError) -> Self {
        match e {
            dicom::DicomError::Cancelled(_) => JobError::Cancelled,
            other => JobError::Failed(other.to_string()),
        }
    }
}

pub struct Job<T> {
    pub title: String,
    pub progress: Progress,
    handle: Option<JoinHandle<Result<T, JobError>>>,
}

impl<T: Send + 'static> Job<T> {
    pub fn spawn(title: String, work: impl FnOnce(&Progress) -> Result<T, JobError> + Send + 'static) -> Self {
        let progress = Progress::new();
        let p = progress.clone();
        let handle = std::thread::spawn(move || work(&p));
        Job { title, progress, handle: Some(handle) }
    }

    /// `Some` once the job has ended: its result, or why it failed (a panic included).
    pub fn poll(&mut self) -> Option<Result<T, JobError>> {
        if !self.handle.as_ref()?.is_finished() {
            return None;
        }
        let handle = self.handle.take()?;
        Some(handle.join().unwrap_or_else(|_| {
            Err(JobError::Failed(format!("{}: the job failed unexpectedly (a bug: please report it)", self.title)))
        }))
    }
}

/// Jobs in flight and the last failure to show.
#[derive(Resource, Default)]
pub struct Jobs {
    pub load: Option<Job<LoadResult>>,
    /// A failed job's message, shown in a dialog until dismissed.
    pub error: Option<String>,
}

impl Jobs {
    /// Starts loading `path` (the largest series, or `series` when given) in the background.
    pub fn open(&mut self, path: PathBuf, series: Option<String>) {
        if let Some(old) = &self.load {
            old.progress.cancel();
        }
        let title = format!("Loading {}", path.display());
        self.load = Some(Job::spawn(title, move |progress| {
            let (scan, loaded) = dicom::open_volume(&path, series.as_deref(), progress)?;
            Ok(LoadResult { path, scan, volume: loaded.volume, failed: loaded.failed })
        }));
    }
}

fn start_with_startup_path(mut jobs: ResMut<Jobs>, path: Option<Res<StartupPath>>) {
    if let Some(p) = path {
        jobs.open(p.0.clone(), None);
    }
}

fn poll_jobs(mut jobs: ResMut<Jobs>, mut study: ResMut<Study>) {
    let Some(result) = jobs.load.as_mut().and_then(Job::poll) else {
        return;
    };
    jobs.load = None;
    match result {
        Ok(r) => {
            let id = r.volume.meta.series_uid.clone();
            study.other_series = r
                .scan
                .series
                .iter()
                .filter(|s| s.series_uid != id)
                .map(|s| {
                    let h = s.first();
                    let [x, y, z] = s.grid.dims;
                    (s.id.clone(), format!("{} {} ({x} x {y} x {z})", h.modality, h.series_description))
                })
                .collect();
            study.skipped = r.scan.skipped.into_iter().chain(r.failed).collect();
            study.source = Some(r.path);
            study.volume = Some(Arc::new(r.volume));
            study.revision += 1;
        }
        // Either way the current study stays as it was.
        Err(JobError::Cancelled) => {}
        Err(JobError::Failed(e)) => jobs.error = Some(e),
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Jobs>().add_systems(Startup, start_with_startup_path).add_systems(Update, poll_jobs);
}
