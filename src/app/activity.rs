//! What the workstation is doing, for deciding how to draw: whether background work keeps
//! frames coming, and when the 3D view last moved. A leaf: the module that measures each
//! (redraw, lod) and those that read them depend on it, not on each other.

use std::time::{Duration, Instant};

use bevy::prelude::*;

/// How long after the last camera move the view counts as resting.
const SETTLE: Duration = Duration::from_millis(300);

/// Frames are being drawn one after another for background work (set by `redraw`).
#[derive(Resource, Default)]
pub struct Busy(pub bool);

/// When the 3D view last moved (set by `lod`).
#[derive(Resource, Default)]
pub struct Motion {
    last: Option<Instant>,
}

impl Motion {
    pub fn moved(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// Time left until the view counts as resting, or `None` when it does.
    pub fn settle_in(&self, now: Instant) -> Option<Duration> {
        let end = self.last? + SETTLE;
        (end > now).then(|| end - now)
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Busy>().init_resource::<Motion>();
}
