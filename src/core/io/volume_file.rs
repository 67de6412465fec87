//! Volumes that come as one file rather than a DICOM series: NIfTI-1 (`.nii`, `.nii.gz`) and NRRD
//! (`.nrrd`, `.nhdr`), as research data, public datasets and other tools' outputs come. They open
//! wherever a DICOM folder does, as a series of their own.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{nifti, nrrd};
use crate::core::volume::{Grid, Volume, VolumeMeta, VoxelData};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nifti,
    Nrrd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nifti => "NIfTI-1",
            Kind::Nrrd => "NRRD",
        }
    }
}

/// The kind of volume file a path names, by its extension.
pub fn kind(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        Some(Kind::Nifti)
    } else if name.ends_with(".nrrd") || name.ends_with(".nhdr") {
        Some(Kind::Nrrd)
    } else {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeFileError {
    #[error(transparent)]
    Nifti(#[from] nifti::NiftiError),
    #[error(transparent)]
    Nrrd(#[from] nrrd::NrrdError),
    #[error("{path}: cannot read: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

/// What a volume file holds, from its header alone.
#[derive(Debug, Clone)]
pub struct FileHeader {
    pub kind: Kind,
    pub grid: Grid,
    pub description: String,
    /// Stands for a series UID: the format and a hash of the file's start and length, so that a
    /// plan can tell its scan from another file put in its place.
    pub id: String,
    pub warnings: Vec<String>,
}

/// Reads a volume file's header.
pub fn header(path: &Path) -> Result<FileHeader, VolumeFileError> {
    let kind = kind(path).ok_or_else(|| VolumeFileError::Io {
        path: path.to_owned(),
        error: std::io::Error::other("expected a .nii, .nii.gz, .nrrd or .nhdr file"),
    })?;
    let id = format!("{}:{:016x}", kind.name(), identity(path)?);
    Ok(match kind {
        Kind::Nifti => {
            let h = nifti::read_header(path)?;
            FileHeader { kind, grid: h.grid, description: h.description, id, warnings: h.warnings }
        }
        Kind::Nrrd => {
            let h = nrrd::read_header(path)?;
            FileHeader { kind, grid: h.grid, description: h.content.clone(), id, warnings: h.warnings }
        }
    })
}

/// Reads a volume file: values as stored after any scaling, kept as i16 where they are whole
/// numbers that fit, else f32.
pub fn read(path: &Path) -> Result<Volume, VolumeFileError> {
    let head = header(path)?;
    let (values, integer): (Vec<f32>, bool) = match head.kind {
        Kind::Nifti => {
            let v = nifti::read(path)?;
            (v.values, v.integer)
        }
        Kind::Nrrd => {
            let h = nrrd::read_header(path)?;
            (h.read_values()?.into_iter().map(|v| v as f32).collect(), h.integer())
        }
    };
    let fits = integer && values.iter().all(|&v| v == v.round() && (i16::MIN as f32..=i16::MAX as f32).contains(&v));
    let data = if fits { VoxelData::I16(values.iter().map(|&v| v as i16).collect()) } else { VoxelData::F32(values) };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let meta = VolumeMeta {
        series_uid: head.id.clone(),
        description: head.description.clone(),
        identifying: vec![name],
        ..Default::default()
    };
    Ok(Volume { grid: head.grid, data, meta, warnings: head.warnings })
}

/// A hash of the file's first 64 KB and its length (FNV-1a): cheap, and enough to tell files
/// apart.
fn identity(path: &Path) -> Result<u64, VolumeFileError> {
    let io = |error| VolumeFileError::Io { path: path.to_owned(), error };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut head = Vec::new();
    file.take(64 * 1024).read_to_end(&mut head).map_err(io)?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in head.iter().chain(&len.to_le_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    Ok(h)
}
