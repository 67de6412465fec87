//! Unattended screenshots for end-to-end tests and documentation: with `TWINPLAN_SCREENSHOT=F.png`
//! the app waits until the study is loaded, its surfaces built and drawn, saves the window to
//! F.png and exits. With `TWINPLAN_SCREENSHOT_SHOW=NAME` as well, the slices show the plan's fused
//! scan of that name in the capture, and `TWINPLAN_SCREENSHOT_FUSION=MODE` (alone, blend,
//! checkerboard, colour overlay) says how; `TWINPLAN_SCREENSHOT_TOOL=NAME` chooses a tool (as the
//! Tools panel names it) first, `TWINPLAN_SCREENSHOT_NAMES=1` shows the segments' names,
//! `TWINPLAN_SCREENSHOT_STUDIES=1` opens the study browser, `TWINPLAN_SCREENSHOT_DIALOG=settings`
//! (or `about`, `shortcuts`) that window, `TWINPLAN_SCREENSHOT_REHEARSE=MM` rehearses the first
//! trajectory with the tip MM from its entry, `TWINPLAN_SCREENSHOT_SEARCH=1` searches entries for
//! it and shows the heat map, and `TWINPLAN_SCREENSHOT_PRESENT=1` starts presenting (at the first
//! saved view's slide). It
//! logs how long each phase took and the frame times while loading and while the 3D view orbits
//! (benches/frames.rs reads these lines).

use std::path::PathBuf;
use std::time::Instant;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::window::RequestRedraw;

use super::activity::Motion;
use super::document::Doc;
use super::meshes::SegmentMeshes;
use super::scene::Orbit;
use super::study::{FusionMode, FusionView, Study};
use super::tasks::Jobs;
use super::tools::{Dialog, Tool, Tools};

#[derive(Resource)]
struct Target {
    path: PathBuf,
    frames_after_load: u32,
    requested: bool,
    launched: Instant,
    first_frame: Option<Instant>,
    ready: Option<Instant>,
    last_frame: Option<Instant>,
    /// Frame times (s) from the first frame until the scan and surfaces are shown.
    loading: Vec<f64>,
    /// Frame times (s) measured once the scene has settled, while the 3D view orbits.
    frame_times: Vec<f64>,
    /// The view before orbiting, put back for the capture.
    view: Option<Orbit>,
    /// Frames since the view began to orbit.
    orbit_frames: u32,
    /// Frames in a row with the view at rest.
    resting_frames: u32,
    /// The fused scan the slices are to show, by its name in the plan.
    show: Option<String>,
    /// Search entries for the first trajectory and show the heat map, once loaded.
    search: SearchStage,
}

/// Where the entry search of `TWINPLAN_SCREENSHOT_SEARCH` is.
#[derive(PartialEq)]
enum SearchStage {
    None,
    ToStart,
    Started,
}

/// Frames to let the scene settle after loading (egui layout, first mesh uploads).
const SETTLE_FRAMES: u32 = 6;
/// Frames timed after settling, before the capture (which slows the frames it is in).
const TIMED_FRAMES: u32 = 20;
/// How far the 3D view turns in each timed frame (pixels of a drag).
const ORBIT_STEP_PX: f32 = 10.0;

/// "median 12.3 ms, max 45.6 ms" of frame times in seconds.
fn summary(times: &[f64]) -> String {
    let mut ms: Vec<f64> = times.iter().map(|s| s * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    match ms.last() {
        Some(max) => format!("median {:.1} ms, max {max:.1} ms", ms[ms.len() / 2]),
        None => "none".into(),
    }
}

fn take(
    mut commands: Commands,
    target: Option<ResMut<Target>>,
    study: Res<Study>,
    jobs: Res<Jobs>,
    notices: Res<super::notices::Notices>,
    meshes: Res<SegmentMeshes>,
    doc: Res<Doc>,
    surfaces: Query<(&super::meshes::SegmentMesh, &InheritedVisibility)>,
    mut orbit: ResMut<Orbit>,
    motion: Res<Motion>,
    mut exit: MessageWriter<AppExit>,
    mut redraw: MessageWriter<RequestRedraw>,
    mut intents: MessageWriter<super::intent::Intent>,
    (searches, tools): (Res<super::entry_search::EntrySearches>, Res<Tools>),
) {
    let Some(mut t) = target else { return };
    // Drawn continuously: the frames are what is timed and captured.
    redraw.write(RequestRedraw);
    let now = Instant::now();
    let since_last = t.last_frame.replace(now).map(|last| (now - last).as_secs_f64());
    if t.first_frame.is_none() {
        t.first_frame = Some(now);
        info!("timing: launch to first frame {:.2} s", (now - t.launched).as_secs_f64());
    }
    // A failed load is also something to capture: the error dialog is on screen. A chosen tool's
    // vesselness is awaited, so that its preview shows.
    let mut ready = (study.volume.is_some() || notices.error.is_some())
        && jobs.load.is_none()
        && jobs.vesselness.is_none()
        && meshes.settled(&doc);
    if ready && let Some(name) = &t.show {
        let index = doc.doc.secondary_scans.iter().position(|s| &s.name == name);
        if index.is_none() {
            warn!("the plan has no fused scan named '{name}'");
        } else if study.fused.as_ref().map(|f| f.index) != index && notices.error.is_none() {
            // (A failure to show it is captured as it is: its error dialog on screen.)
            ready = false;
            if jobs.fuse.is_none() {
                intents.write(super::intent::Intent::ShowScan(index));
            }
        }
    }
    // The entry search is started once the surfaces are there, and awaited.
    if ready && t.search != SearchStage::None && !doc.doc.trajectories.is_empty() {
        if t.search == SearchStage::ToStart {
            t.search = SearchStage::Started;
            intents.write(super::intent::Intent::SearchEntries(0, tools.search.clone()));
        }
        ready = searches.running().is_none() && searches.shown.is_some();
    }
    if !ready {
        t.loading.extend(since_last);
        return;
    }
    if t.ready.is_none() {
        t.ready = Some(now);
        info!("timing: launch to scan and surfaces shown {:.2} s", (now - t.launched).as_secs_f64());
        info!("timing: {} frames while loading: {}", t.loading.len(), summary(&t.loading));
    }
    t.frames_after_load += 1;
    if t.frames_after_load > SETTLE_FRAMES && t.frame_times.len() < TIMED_FRAMES as usize {
        // The first intervals still hold frames drawn before the view moved.
        t.orbit_frames += 1;
        if t.view.is_none() {
            t.view = Some(orbit.clone());
        } else if t.orbit_frames > 3 {
            t.frame_times.extend(since_last);
        }
        orbit.rotate(ORBIT_STEP_PX, 0.0);
        if t.frame_times.len() == TIMED_FRAMES as usize {
            let triangles: usize = surfaces.iter().filter(|(_, v)| v.get()).map(|(s, _)| s.triangles()).sum();
            info!(
                "timing: frame time orbiting over {TIMED_FRAMES} frames: {} ({triangles} triangles shown)",
                summary(&t.frame_times)
            );
            if let Some(view) = t.view.take() {
                *orbit = view;
            }
        }
    }
    // The capture shows the view at rest, in full detail.
    let resting = motion.settle_in(now).is_none();
    t.resting_frames = if resting { t.resting_frames + 1 } else { 0 };
    if t.frame_times.len() == TIMED_FRAMES as usize && !t.requested && t.resting_frames > 2 {
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
            loading: Vec::new(),
            frame_times: Vec::new(),
            view: None,
            resting_frames: 0,
            orbit_frames: 0,
            show: std::env::var("TWINPLAN_SCREENSHOT_SHOW").ok(),
            search: if std::env::var_os("TWINPLAN_SCREENSHOT_SEARCH").is_some() {
                SearchStage::ToStart
            } else {
                SearchStage::None
            },
        })
        .insert_resource(FusionView {
            mode: std::env::var("TWINPLAN_SCREENSHOT_FUSION")
                .ok()
                .and_then(|m| FusionMode::ALL.into_iter().find(|f| f.name() == m))
                .unwrap_or_default(),
            ..FusionView::default()
        })
        .add_systems(Update, take);
        let tool = std::env::var("TWINPLAN_SCREENSHOT_TOOL")
            .ok()
            .and_then(|name| Tool::ALL.into_iter().find(|t| t.name() == name))
            .unwrap_or_default();
        let show_names = std::env::var_os("TWINPLAN_SCREENSHOT_NAMES").is_some();
        let show_studies = std::env::var_os("TWINPLAN_SCREENSHOT_STUDIES").is_some();
        let dialog = std::env::var("TWINPLAN_SCREENSHOT_DIALOG").ok().and_then(|d| match d.as_str() {
            "settings" => Some(Dialog::Settings),
            "about" => Some(Dialog::About),
            "shortcuts" => Some(Dialog::Shortcuts),
            _ => None,
        });
        // Rehearsing the first trajectory with the tip this deep (mm); searching picks it too.
        let rehearsal = std::env::var("TWINPLAN_SCREENSHOT_REHEARSE").ok().and_then(|d| d.parse::<f64>().ok());
        let searching = std::env::var_os("TWINPLAN_SCREENSHOT_SEARCH").is_some();
        let trajectory = (rehearsal.is_some() || searching).then_some(0);
        app.insert_resource(Tools {
            tool,
            show_names,
            show_studies,
            dialog,
            rehearsal,
            trajectory,
            ..Tools::default()
        });
        if std::env::var_os("TWINPLAN_SCREENSHOT_PRESENT").is_some() {
            let mut presenting = super::presentation::Presentation::default();
            presenting.slide = Some(0);
            app.insert_resource(presenting);
        }
    }
}
