//! The study on screen: the loaded volume and what the loader reported about it.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;

use crate::core::dicom::Skipped;
use crate::core::document::SecondaryScan;
use crate::core::registration::Probe;
use crate::core::volume::Volume;

/// The scan the user is looking at. Replaced only when a new load succeeds, so a failed load
/// never loses the current scene.
#[derive(Resource, Default)]
pub struct Study {
    pub source: Option<PathBuf>,
    pub volume: Option<Arc<Volume>>,
    /// Files found beside the series that were not used, with the reason.
    pub skipped: Vec<Skipped>,
    /// Other series found in the same folder: (id, one-line description).
    pub other_series: Vec<(String, String)>,
    /// A fused scan the views show instead of the plan's scan, on the plan's grid.
    pub fused: Option<Fused>,
    /// Bumped on every change, so views know when to rebuild.
    pub revision: u64,
}

/// How the slice views show a fused scan with the plan's scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FusionMode {
    /// The fused scan alone.
    #[default]
    Alone,
    /// The fused scan over the plan's scan at the chosen opacity.
    Blend,
    /// Squares of one and the other: edges that run on across the squares' borders show a good
    /// alignment.
    Checkerboard,
    /// The plan's scan in grey, the fused scan's signal over it in colour (hot: dark red to
    /// yellow-white), each with its own window.
    Colour,
}

impl FusionMode {
    pub const ALL: [FusionMode; 4] =
        [FusionMode::Alone, FusionMode::Blend, FusionMode::Checkerboard, FusionMode::Colour];

    pub fn name(self) -> &'static str {
        match self {
            FusionMode::Alone => "alone",
            FusionMode::Blend => "blend",
            FusionMode::Checkerboard => "checkerboard",
            FusionMode::Colour => "colour overlay",
        }
    }
}

/// The slice views' fusion settings (a way of looking, not part of the plan).
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct FusionView {
    pub mode: FusionMode,
    /// Of the fused scan, in blend and colour modes (0-1).
    pub opacity: f32,
    pub checker_mm: f32,
}

impl Default for FusionView {
    fn default() -> Self {
        FusionView { mode: FusionMode::Alone, opacity: 0.5, checker_mm: 20.0 }
    }
}

/// A fused scan resampled onto the plan's grid, and the plan's entry it was made from (placed
/// anew when the entry's placement changes; when the entry otherwise changes or goes, the views
/// return to the plan's scan).
#[derive(Clone)]
pub struct Fused {
    pub index: usize,
    pub scan: SecondaryScan,
    pub volume: Arc<Volume>,
    /// The scan as loaded, to place it anew without reading it again.
    pub original: Arc<Volume>,
    /// Its metric against the plan's scan, for placements made by hand.
    pub probe: Arc<Probe>,
    /// The metric at `scan`'s placement (`None`: too little overlap).
    pub metric: Option<f64>,
    /// The window (centre, width) in use when it was asked for, given back when it is hidden;
    /// the plan's scan is drawn with it under the fused scan.
    pub window_before: (f64, f64),
}

impl Study {
    /// What the slices and volume rendering show: a fused scan when one is chosen, else the plan's.
    pub fn shown(&self) -> Option<&Arc<Volume>> {
        self.fused.as_ref().map(|f| &f.volume).or(self.volume.as_ref())
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Study>().init_resource::<FusionView>();
}
