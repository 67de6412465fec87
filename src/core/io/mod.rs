//! File formats other than DICOM.

pub mod nifti;
pub mod nrrd;
pub mod tracts;
pub mod volume_file;
