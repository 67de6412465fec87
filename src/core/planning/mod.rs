//! Trajectory planning: straight instrument paths from an entry to a target (LPS mm), checked
//! for clearance against the critical structures of a segmentation.

mod cells;
mod clearance;
mod distance_field;
pub mod export;
mod instrument;
mod search;
mod segment_mesh;

use crate::core::progress::{Cancelled, Interrupted};
use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

pub use cells::Cells;
pub use clearance::{
    CLEARANCE_NOTE, CONFLICT_MM, Obstacle, Passage, PlanningScene, ProfileSample, SegmentShape, StructureClearance,
    TrajectoryReport, Verdict, conflicts,
};
pub use distance_field::DistanceField;
pub use instrument::{Instrument, InstrumentKind};
pub use search::{EntryRegion, EntrySearch, RISK_RANGE_MM, Rejections, SearchSettings, Suggestion, path_risk};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanningError {
    #[error(
        "trajectory '{name}': the entry and the target are the same point ({x:.1}, {y:.1}, {z:.1}) mm: a path needs two distinct points"
    )]
    Degenerate { name: String, x: f64, y: f64, z: f64 },
    #[error("trajectory '{name}': the {which} ({x:.1}, {y:.1}, {z:.1}) mm LPS lies outside the scan")]
    OutsideScan { name: String, which: &'static str, x: f64, y: f64, z: f64 },
    #[error("trajectory '{name}': {detail}")]
    Invalid { name: String, detail: String },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

impl Interrupted for PlanningError {
    fn is_cancelled(&self) -> bool {
        matches!(self, PlanningError::Cancelled(_))
    }
}

/// One planned path: the instrument goes in at `entry_mm` and stops at `target_mm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub name: String,
    pub entry_mm: Point3<f64>,
    pub target_mm: Point3<f64>,
    pub instrument: Instrument,
    /// sRGB, how the path is drawn.
    pub color: [u8; 3],
}

impl Trajectory {
    pub fn new(name: &str, entry_mm: Point3<f64>, target_mm: Point3<f64>, instrument: Instrument) -> Trajectory {
        Trajectory { name: name.to_owned(), entry_mm, target_mm, instrument, color: [90, 170, 255] }
    }

    pub fn length_mm(&self) -> f64 {
        (self.target_mm - self.entry_mm).norm()
    }

    /// Unit vector from entry to target; an error when the two coincide or are not finite.
    pub fn direction(&self) -> Result<Vector3<f64>, PlanningError> {
        let (x, y, z) = (self.entry_mm.x, self.entry_mm.y, self.entry_mm.z);
        if !self.entry_mm.iter().chain(self.target_mm.iter()).all(|c| c.is_finite()) {
            return Err(PlanningError::Invalid {
                name: self.name.clone(),
                detail: "a coordinate is not a number".into(),
            });
        }
        let d = self.target_mm - self.entry_mm;
        if d.norm() < 1e-6 {
            return Err(PlanningError::Degenerate { name: self.name.clone(), x, y, z });
        }
        Ok(d / d.norm())
    }

    /// The point `depth_mm` along the path from the entry.
    pub fn at_depth(&self, depth_mm: f64) -> Point3<f64> {
        let d = self.target_mm - self.entry_mm;
        let len = d.norm();
        if len == 0.0 { self.entry_mm } else { self.entry_mm + d * (depth_mm / len) }
    }
}
