//! File formats other than DICOM.

pub mod nifti;
pub mod nrrd;
pub mod volume_file;
