//! The study on screen: the loaded volume and what the loader reported about it.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;

use crate::core::dicom::Skipped;
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
    /// Bumped on every change, so views know when to rebuild.
    pub revision: u64,
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Study>();
}
