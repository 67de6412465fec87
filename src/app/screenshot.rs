//! Unattended screenshots for end-to-end tests and documentation: with `TWINPLAN_SCREENSHOT=F.png`
//! the app waits until the study is loaded, its surfaces built and drawn, saves the window to
//! F.png and exits. It logs how long each phase took (the launch benchmark reads these lines).

use std::path::PathBuf;
use std::time::Instant;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};

use super::document::Doc;
use super::meshes::SegmentMeshes;
use super::study::Study;
use super::tasks::Jobs;

#[derive(Resource)]
struct Target {
    path: PathBuf,
    frames_after_load: u32,
    requested: bool,
    launched: Instant,
    first_frame: Option<Instant>,
    ready: Option<Instant>,
}

/// Frames to let the scene settle after loading (egui layout, first mesh uploads).
const SETTLE_FRAMES: u32 = 6;

fn take(
    mut commands: Commands,
    target: Option<ResMut<Target>>,
    study: Res<Study>,
    jobs: Res<Jobs>,
    meshes: Res<SegmentMeshes>,
    doc: Res<Doc>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(mut t) = target else { return };
    let now = Instant::now();
    if t.first_frame.is_none() {
        t.first_frame = Some(now);
        info!("timing: launch to first frame {:.2} s", (now - t.launched).as_secs_f64());
    }
    // A failed load is also something to capture: the error dialog is on screen.
    let ready = (study.volume.is_some() || jobs.error.is_some()) && jobs.load.is_none() && meshes.settled(&doc);
    if !ready {
        return;
    }
    if t.ready.is_none() {
        t.ready = Some(now);
        info!("timing: launch to scan and surfaces shown {:.2} s", (now - t.launched).as_secs_f64());
    }
    t.frames_after_load += 1;
    if t.frames_after_load == SETTLE_FRAMES && !t.requested {
        t.requested = true;
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(t.path.clone()));
    }
    // The capture completes a few frames later; leave time for the file to be written.
    if t.requested && t.frames_after_load > SETTLE_FRAMES + 2 && t.path.exists() {
        if let Some(ready) = t.ready {
            let per_frame = (now - ready).as_secs_f64() * 1000.0 / f64::from(t.frames_after_load);
            info!("timing: {} frames after loading, {per_frame:.1} ms per frame", t.frames_after_load);
        }
        exit.write(AppExit::Success);
    }
}

pub(super) fn plugin(app: &mut App) {
    if let Some(path) = std::env::var_os("TWINPLAN_SCREENSHOT") {
        let path = PathBuf::from(path);
        let _ = std::fs::remove_file(&path);
        app.insert_resource(Target {
            path,
            frames_after_load: 0,
            requested: false,
            launched: Instant::now(),
            first_frame: None,
            ready: None,
        })
        .add_systems(Update, take);
    }
}
