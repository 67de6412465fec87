//! Unattended screenshots for end-to-end tests and documentation: with `TWINPLAN_SCREENSHOT=F.png`
//! the app waits until the study is loaded and drawn, saves the window to F.png and exits.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};

use super::study::Study;
use super::tasks::Jobs;

#[derive(Resource)]
struct Target {
    path: PathBuf,
    frames_after_load: u32,
    requested: bool,
}

/// Frames to let the scene settle after loading (egui layout, first mesh uploads).
const SETTLE_FRAMES: u32 = 30;

fn take(
    mut commands: Commands,
    target: Option<ResMut<Target>>,
    study: Res<Study>,
    jobs: Res<Jobs>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(mut t) = target else { return };
    // A failed load is also something to capture: the error dialog is on screen.
    let ready = (study.volume.is_some() || jobs.error.is_some()) && jobs.load.is_none();
    if !ready {
        return;
    }
    t.frames_after_load += 1;
    if t.frames_after_load == SETTLE_FRAMES && !t.requested {
        t.requested = true;
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(t.path.clone()));
    }
    // The capture completes a few frames later; leave time for the file to be written.
    if t.requested && t.frames_after_load > SETTLE_FRAMES + 20 && t.path.exists() {
        exit.write(AppExit::Success);
    }
}

pub(super) fn plugin(app: &mut App) {
    if let Some(path) = std::env::var_os("TWINPLAN_SCREENSHOT") {
        let path = PathBuf::from(path);
        let _ = std::fs::remove_file(&path);
        app.insert_resource(Target { path, frames_after_load: 0, requested: false }).add_systems(Update, take);
    }
}
