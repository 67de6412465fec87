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
    last_frame: Option<Instant>,
    /// Frame times (s) measured once the scene has settled.
    frame_times: Vec<f64>,
}

/// Frames to let the scene settle after loading (egui layout, first mesh uploads).
const SETTLE_FRAMES: u32 = 6;
/// Frames timed after settling, before the capture (which slows the frames it is in).
const TIMED_FRAMES: u32 = 5;

fn take(
    mut commands: Commands,
    target: Option<ResMut<Target>>,
    study: Res<Study>,
    jobs: Res<Jobs>,
    notices: Res<super::notices::Notices>,
    meshes: Res<SegmentMeshes>,
    doc: Res<Doc>,
    surfaces: Query<(&super::meshes::SegmentMesh, &InheritedVisibility)>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(mut t) = target else { return };
    let now = Instant::now();
    if t.first_frame.is_none() {
        t.first_frame = Some(now);
        info!("timing: launch to first frame {:.2} s", (now - t.launched).as_secs_f64());
    }
    // A failed load is also something to capture: the error dialog is on screen.
    let ready = (study.volume.is_some() || notices.error.is_some()) && jobs.load.is_none() && meshes.settled(&doc);
    if !ready {
        return;
    }
    if t.ready.is_none() {
        t.ready = Some(now);
        info!("timing: launch to scan and surfaces shown {:.2} s", (now - t.launched).as_secs_f64());
    }
    t.frames_after_load += 1;
    if let Some(last) = t.last_frame.replace(now)
        && t.frames_after_load > SETTLE_FRAMES
        && t.frame_times.len() < TIMED_FRAMES as usize
    {
        t.frame_times.push((now - last).as_secs_f64());
        if t.frame_times.len() == TIMED_FRAMES as usize {
            let mut ms: Vec<f64> = t.frame_times.iter().map(|s| s * 1000.0).collect();
            ms.sort_by(f64::total_cmp);
            let triangles: usize = surfaces.iter().filter(|(_, v)| v.get()).map(|(s, _)| s.triangles).sum();
            info!(
                "timing: frame time over {TIMED_FRAMES} frames: median {:.1} ms, max {:.1} ms ({triangles} triangles shown)",
                ms[ms.len() / 2],
                ms[ms.len() - 1]
            );
        }
    }
    if t.frame_times.len() == TIMED_FRAMES as usize && !t.requested {
        t.requested = true;
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(t.path.clone()));
    }
    // The capture completes a few frames later; leave time for the file to be written.
    if t.requested && t.path.exists() {
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
            last_frame: None,
            frame_times: Vec::new(),
        })
        .add_systems(Update, take);
    }
}
