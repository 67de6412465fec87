//! Domain logic in patient space (LPS, millimetres). Nothing here knows about windows or GPUs.

pub mod dicom;
pub mod document;
pub mod io;
pub mod mesh;
pub mod pacs;
pub mod phantom;
pub mod planning;
pub mod progress;
pub mod registration;
pub mod report;
pub mod scene;
pub mod segmentation;
pub mod settings;
pub mod stereotaxy;
pub mod vessels;
pub mod volume;
