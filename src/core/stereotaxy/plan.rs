//! What a plan keeps of its stereotactic frame and AC-PC landmarks, and a trajectory's
//! coordinates in them.

use nalgebra::{Isometry3, Point3};
use serde::{Deserialize, Serialize};

use super::acpc::AcPc;
use super::fit::{FitSettings, FrameFit};
use super::frame::{FrameTrajectory, frame_trajectory};
use super::localizer::Localizer;
use crate::core::planning::Trajectory;

/// The frame fitted on the plan's scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFrame {
    /// The localiser's name and its frame's.
    pub localizer: String,
    pub frame: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub convention: String,
    /// Maps LPS mm to frame mm: written row by row, 4 x 4.
    #[serde(with = "crate::core::document::rigid_rows")]
    pub frame_from_patient: Isometry3<f64>,
    pub residual_mean_mm: f64,
    pub residual_max_mm: f64,
    pub fiducials: usize,
    /// The slices (first, last) the user restricted the fit to; absent when it used them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<(usize, usize)>,
}

impl PlanFrame {
    pub fn new(fit: &FrameFit, localizer: &Localizer, settings: &FitSettings) -> PlanFrame {
        PlanFrame {
            localizer: fit.localizer.clone(),
            frame: fit.frame.clone(),
            convention: localizer.convention.clone(),
            frame_from_patient: fit.frame_from_patient,
            residual_mean_mm: fit.residual_mean_mm,
            residual_max_mm: fit.residual_max_mm,
            fiducials: fit.fiducials.len(),
            slices: settings.slices,
        }
    }

    /// "486 fiducials, residual mean 0.08 mm, max 0.17 mm", and the slices when the user chose
    /// them: one wording for the report, the command line and the workstation.
    pub fn fit_summary(&self) -> String {
        let slices = self.slices.map_or(String::new(), |(a, b)| format!(" on slices {a}-{b} only"));
        format!(
            "{} fiducials{slices}, residual mean {:.2} mm, max {:.2} mm",
            self.fiducials, self.residual_mean_mm, self.residual_max_mm
        )
    }

    pub fn trajectory(&self, t: &Trajectory) -> FrameTrajectory {
        frame_trajectory(&self.frame_from_patient, &self.frame, &t.entry_mm, &t.target_mm)
    }
}

/// A trajectory's ends in AC-PC coordinates (mm: x right, y anterior, z superior).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcPcTrajectory {
    pub target_mm: [f64; 3],
    pub entry_mm: [f64; 3],
    pub acpc_length_mm: f64,
}

impl AcPc {
    pub fn trajectory(&self, t: &Trajectory) -> Result<AcPcTrajectory, String> {
        let at = |p: &Point3<f64>| self.acpc_from_patient(p).map(|v| v.into());
        Ok(AcPcTrajectory {
            target_mm: at(&t.target_mm)?,
            entry_mm: at(&t.entry_mm)?,
            acpc_length_mm: self.length_mm(),
        })
    }
}
