//! Drawing on demand: a frame is drawn when the user does something (input and window events
//! wake the app), while background work runs (its progress bar moves), when the plan or what is
//! derived from it changed, while the renderer still compiles a pipeline (a new material shows
//! only once compiled), and when an autosave falls due. An idle workstation draws nothing,
//! which matters most on a software renderer, where every frame costs a core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::render_resource::PipelineCache;
use bevy::render::{Render, RenderApp, RenderSystems};
use bevy::window::RequestRedraw;
use bevy::winit::{UpdateMode, WinitSettings};
use bevy_egui::{EguiInput, EguiInputSet, EguiPreUpdateSet, egui};

use super::activity::{Busy, Motion};
use super::autosave::Autosave;
use super::document::Doc;
use super::entry_search::EntrySearches;
use super::meshes::SegmentMeshes;
use super::planning::Planning;
use super::sets::Stage;
use super::study::Study;
use super::tasks::Jobs;

/// The longest an idle, focused window sleeps (it still wakes at once for input).
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// What a frame shows besides input: a change to any of these needs one more frame.
type Shown = (u64, u64, u64, u64, u64);

/// Whether the renderer was still compiling pipelines in its last frame: what uses them is not
/// drawn yet. Shared by the main and render worlds.
#[derive(Resource, Clone, Default)]
pub struct RenderPending(Arc<AtomicBool>);

impl RenderPending {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

fn note_pending(pending: Res<RenderPending>, cache: Res<PipelineCache>) {
    pending.0.store(cache.waiting_pipelines().next().is_some(), Ordering::Relaxed);
}

fn draw_on_demand(
    (jobs, meshes, searches, autosave): (Res<Jobs>, Res<SegmentMeshes>, Res<EntrySearches>, Res<Autosave>),
    (doc, study, planning): (Res<Doc>, Res<Study>, Res<Planning>),
    (pending, motion): (Res<RenderPending>, Res<Motion>),
    mut settings: ResMut<WinitSettings>,
    mut drawing: ResMut<Busy>,
    mut seen: Local<Shown>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let shown = (
        doc.generation,
        // Every change to the plan, undo and redo included, bumps its revision.
        doc.doc.revision,
        study.revision,
        planning.revision,
        meshes.version,
    );
    let busy =
        jobs.busy() || meshes.pending() > 0 || searches.running().is_some() || autosave.writing() || pending.get();
    drawing.0 = busy;

    if busy || shown != *seen {
        *seen = shown;
        redraw.write(RequestRedraw);
    }
    // Wake when an autosave falls due, and when the view comes to rest (full detail returns).
    let now = Instant::now();
    let wait = [autosave.due_in(now), motion.settle_in(now)].into_iter().flatten().fold(IDLE_WAIT, Duration::min);
    let mode = UpdateMode::reactive(wait);
    if settings.focused_mode != mode {
        settings.focused_mode = mode;
    }
}

/// bevy_egui 0.42 hands egui the modifier keys as an event in every frame, and egui asks for
/// another frame after any event: the window would never rest. Only a real change goes on.
fn only_changed_modifiers(mut inputs: Query<&mut EguiInput>, mut last: Local<Option<egui::Modifiers>>) {
    for mut input in &mut inputs {
        input.events.retain(|e| match e {
            egui::Event::ModifiersChanged(m) => last.replace(*m) != Some(*m),
            _ => true,
        });
    }
}

pub(super) fn plugin(app: &mut App) {
    let pending = RenderPending::default();
    app.insert_resource(WinitSettings::desktop_app())
        .insert_resource(pending.clone())
        .add_systems(Update, draw_on_demand.after(Stage::Draw))
        .add_systems(
            PreUpdate,
            only_changed_modifiers.in_set(EguiPreUpdateSet::ProcessInput).after(EguiInputSet::WriteEguiEvents),
        );
    if let Some(render) = app.get_sub_app_mut(RenderApp) {
        render.insert_resource(pending).add_systems(Render, note_pending.in_set(RenderSystems::Cleanup));
    }
}
