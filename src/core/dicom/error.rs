use std::path::PathBuf;

use crate::core::progress::{Cancelled, Interrupted};

/// Why a DICOM file or folder could not be used. Every variant names the file (or folder) and what
/// was expected, so the message alone tells the user what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    // Not a `source`: the message already says it, and error chains would say it twice.
    #[error("{path}: cannot read: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: not a DICOM file (no 'DICM' marker at byte 128 and no recognisable data set)")]
    NotDicom { path: PathBuf },
    #[error("{path}: not a readable DICOM file: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("{path}: {what} is not supported")]
    Unsupported { path: PathBuf, what: String },
    #[error("{path}: no pixel data ({kind})")]
    NoPixelData { path: PathBuf, kind: String },
    #[error("{path}: pixel data cannot be decoded: {detail}")]
    Decode { path: PathBuf, detail: String },
    #[error("{path}: no DICOM image found (looked at {files} file(s){details})")]
    NoImages { path: PathBuf, files: usize, details: String },
    #[error("{path}: no series '{id}' here; found: {found}")]
    NoSuchSeries { path: PathBuf, id: String, found: String },
    #[error(transparent)]
    VolumeFile(#[from] crate::core::io::volume_file::VolumeFileError),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

impl Interrupted for DicomError {
    fn is_cancelled(&self) -> bool {
        matches!(self, DicomError::Cancelled(_))
    }
}

impl DicomError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        DicomError::Invalid { path: path.into(), detail: detail.into() }
    }
}

pub type Result<T, E = DicomError> = std::result::Result<T, E>;
