//! Long work off the UI thread: a job runs on its own thread with a shared [`Progress`], and
//! a system polls it every frame. Cancel flips the progress flag.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crate::core::document::io::PlanIoError;
use crate::core::progress::{Interrupted, Progress};

/// Why a job produced nothing.
#[derive(Debug)]
pub enum JobError {
    Cancelled,
    Failed(String),
    /// A plan whose scan is not where it says: the user can point to its folder.
    ScanMissing {
        plan: PathBuf,
        message: String,
    },
    /// A scan to fuse whose PatientID is not the plan's: the user may confirm it is this
    /// patient's.
    OtherPatient {
        scan: PathBuf,
        message: String,
    },
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Cancelled => write!(f, "cancelled"),
            JobError::Failed(m)
            | JobError::ScanMissing { message: m, .. }
            | JobError::OtherPatient { message: m, .. } => {
                write!(f, "{m}")
            }
        }
    }
}

/// A core error as a job's outcome: the user's cancel, or a failure with its message.
impl<E: Interrupted> From<E> for JobError {
    fn from(e: E) -> Self {
        if e.is_cancelled() { JobError::Cancelled } else { JobError::Failed(e.to_string()) }
    }
}

impl JobError {
    /// The same failure, saying what was being done.
    pub fn context(self, doing: &str) -> Self {
        match self {
            JobError::Failed(message) => JobError::Failed(format!("{doing}: {message}")),
            other => other,
        }
    }

    /// Opening a plan: a scan that is not where the plan says can be pointed to.
    pub fn opening(e: PlanIoError) -> Self {
        match e {
            PlanIoError::ScanMissing { ref plan, .. } => {
                JobError::ScanMissing { plan: plan.clone(), message: e.to_string() }
            }
            other => other.into(),
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

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
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
