//! Frame-based stereotaxy: a frame's localiser found on a scan and fitted (`frame_from_patient`),
//! a trajectory's frame coordinates and arc settings, and the AC-PC coordinate system.

pub mod acpc;
pub mod detect;
pub mod fit;
pub mod frame;
pub mod localizer;
pub mod plan;

pub use fit::{FitSettings, FrameError, FrameFit, fit};
pub use localizer::Localizer;
pub use plan::PlanFrame;
