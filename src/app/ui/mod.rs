//! The egui panels and the views' overlays. Each panel reads the state and returns what the user
//! asked for as [`Request`]s; one system applies them after all panels have drawn.

mod name_edit;
mod plan_panel;
mod rehearsal;

pub use rehearsal::SPAN_MM as REHEARSAL_SPAN_MM;
mod segments;
mod status;
mod study_panel;
mod tools_panel;
mod views;

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::window::FileDragAndDrop;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::autosave::Autosave;
use super::document::{Doc, Edit};
use super::entry_search::EntrySearches;
use super::meshes::SegmentMeshes;
use super::planning::Planning;
use super::scene::{MainCamera, Orbit};
use super::slices::SliceViews;
use super::study::Study;
use super::tasks::{Job, Jobs};
use super::tools::{ClickAt, Hover, Tools};
use crate::core::planning::SearchSettings;
use crate::core::segmentation::Step;

/// What a panel asks for; applied after all panels have drawn.
#[derive(Debug, Clone)]
pub enum Request {
    Dialog(DialogKind),
    Open(PathBuf, Option<String>),
    CancelJobs,
    DismissError,
    Quit,
    /// Save to the plan's own file, or ask where when it has none.
    Save,
    Edit(Edit),
    Click(ClickAt),
    /// Run a segmentation step on a segment in the background.
    Segment(u16, Step),
    /// Search entries for a trajectory's target in the background.
    SearchEntries(usize, SearchSettings),
    CancelSearch,
    /// The offer of a crashed session's work: open it, delete it, or keep it for later.
    Recover(usize),
    DiscardRecovery(usize),
    RecoverLater,
}

/// Native file dialogs the menus open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    OpenFolder,
    OpenFile,
    ImportLabels,
    Screenshot,
    SavePlan,
    /// The folder a plan's moved scan is in now.
    LocateScan,
    /// Where to write the plan's report (PDF or HTML); anonymised or not.
    Report {
        anonymise: bool,
    },
}

/// A native file dialog runs on its own thread so the window keeps drawing.
#[derive(Resource, Default)]
struct PendingDialog(Option<(DialogKind, Job<Option<PathBuf>>)>);

/// Where each view is on the window (logical pixels); `None` until laid out.
#[derive(Resource, Default, Clone, Copy, PartialEq)]
pub struct ViewRects {
    pub three_d: Option<egui::Rect>,
    pub slices: [Option<egui::Rect>; 3],
}

/// Frames per second, smoothed, for the diagnostics overlay.
#[derive(Default)]
struct FrameRate(f32);

#[allow(clippy::too_many_arguments)]
fn panels(
    mut contexts: EguiContexts,
    study: Res<Study>,
    jobs: Res<Jobs>,
    doc: Res<Doc>,
    mut state: ParamSet<(ResMut<Tools>, ResMut<Orbit>, ResMut<SliceViews>, ResMut<Hover>)>,
    mut rects: ResMut<ViewRects>,
    mesh_state: Res<SegmentMeshes>,
    (planning, searches, autosave): (Res<Planning>, Res<EntrySearches>, Res<Autosave>),
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    surfaces: Query<(&super::meshes::SegmentMesh, &InheritedVisibility)>,
    (time, mut fps): (Res<Time>, Local<FrameRate>),
    mut requests: Local<Vec<Request>>,
    mut apply: MessageWriter<UiRequest>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = egui::Ui::new(
        ctx.clone(),
        "root".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );
    let ui = &mut root;
    let mut tools = state.p0().clone();
    let mut orbit = state.p1().clone();
    egui::Panel::top("menu").show(ui, |ui| menu(ui, &doc, &mut tools, &mut requests));
    egui::Panel::bottom("status").show(ui, |ui| {
        status::status_ui(ui, &jobs, &study, mesh_state.pending(), autosave.error.as_deref(), &mut requests)
    });
    egui::Panel::left("side").default_size(380.0).resizable(true).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::CollapsingHeader::new("Study").default_open(true).show(ui, |ui| {
                study_panel::study_ui(ui, &study, &mut requests);
            });
            egui::CollapsingHeader::new("Display").default_open(true).show(ui, |ui| {
                tools_panel::display_ui(ui, &doc, &mut orbit, &mut requests);
            });
            egui::CollapsingHeader::new("Segments").default_open(true).show(ui, |ui| {
                segments::segments_ui(ui, &doc, &mut tools, &mut requests);
            });
            egui::CollapsingHeader::new("Tools").default_open(true).show(ui, |ui| {
                tools_panel::tools_ui(ui, &doc, &mut tools, jobs.edit.is_some(), &mut requests);
            });
            egui::CollapsingHeader::new("Plan").default_open(true).show(ui, |ui| {
                let panel =
                    plan_panel::PlanPanel { doc: &doc, study: &study, planning: &planning, searches: &searches };
                panel.show(ui, &mut tools, &mut orbit, &mut requests);
            });
        });
    });
    let area = ui.available_rect_before_wrap();
    let laid_out = views::layout(area);
    if *rects != laid_out {
        *rects = laid_out;
    }
    let dt = time.delta_secs();
    if dt > 0.0 {
        fps.0 = if fps.0 == 0.0 { 1.0 / dt } else { fps.0 * 0.95 + 0.05 / dt };
    }
    let diagnostics = tools.show_diagnostics.then(|| {
        let triangles: usize = surfaces.iter().filter(|(_, v)| v.get()).map(|(s, _)| s.triangles).sum();
        format!("{:.0} fps ({:.1} ms)  {triangles} triangles", fps.0, 1000.0 / fps.0.max(1e-3))
    });
    let project = |w: Vec3| camera.single().ok().and_then(|(c, gt)| c.world_to_viewport(gt, w).ok());
    {
        let mut slices = std::mem::take(&mut *state.p2());
        let mut hover = state.p3().clone();
        let mut v = views::Views {
            study: &study,
            doc: &doc,
            orbit: &mut orbit,
            slices: &mut slices,
            tools: &tools,
            hover: &mut hover,
            planning: &planning,
            project: &project,
            diagnostics,
        };
        views::views_ui(ui, &laid_out, &mut v, &mut requests);
        *state.p2() = slices;
        let mut h = state.p3();
        if h.viewport_px != hover.viewport_px {
            h.viewport_px = hover.viewport_px;
        }
    }
    if let Some(err) = &jobs.error {
        egui::Window::new("Could not complete")
            .collapsible(false)
            .resizable(true)
            .default_width(560.0)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| ui.label(err));
                ui.label("What is on screen is unchanged.");
                ui.horizontal(|ui| {
                    if jobs.relink.is_some()
                        && ui
                            .button("Locate scan folder…")
                            .on_hover_text("Its series UID must match the plan's")
                            .clicked()
                    {
                        requests.push(Request::Dialog(DialogKind::LocateScan));
                    }
                    if ui.button("OK").clicked() {
                        requests.push(Request::DismissError);
                    }
                });
            });
    }
    if let Some(found) = autosave.left_behind.first() {
        egui::Window::new("Recover unsaved work?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                let what = found
                    .about
                    .original
                    .as_ref()
                    .map_or("a plan that was never saved".to_owned(), |p| p.display().to_string());
                let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
                ui.label(format!(
                    "twinplan did not close normally. The work on {what} was kept {}: {}, {}.",
                    super::autosave::age(found),
                    count(found.about.trajectories, "trajectory", "trajectories"),
                    count(found.about.segments, "segment", "segments")
                ));
                if autosave.left_behind.len() > 1 {
                    ui.label(format!("{} more recoveries after this one.", autosave.left_behind.len() - 1));
                }
                ui.horizontal(|ui| {
                    if ui.button("Recover").on_hover_text("Open it; Save writes it back to its plan file").clicked() {
                        requests.push(Request::Recover(0));
                    }
                    if ui.button("Discard").clicked() {
                        requests.push(Request::DiscardRecovery(0));
                    }
                    if ui.button("Later").on_hover_text("Keep it and ask again next time").clicked() {
                        requests.push(Request::RecoverLater);
                    }
                });
            });
    }
    keyboard(ctx, &mut tools, &mut requests);
    // Only write back what changed, so that systems watching for changes stay quiet.
    if *state.p0() != tools {
        *state.p0() = tools;
    }
    if state.p1().transform() != orbit.transform() {
        *state.p1() = orbit;
    }
    for r in requests.drain(..) {
        apply.write(UiRequest(r));
    }
    Ok(())
}

fn menu(ui: &mut egui::Ui, doc: &Doc, tools: &mut Tools, requests: &mut Vec<Request>) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open DICOM folder…").clicked() {
                requests.push(Request::Dialog(DialogKind::OpenFolder));
            }
            if ui.button("Open DICOM file or plan…").clicked() {
                requests.push(Request::Dialog(DialogKind::OpenFile));
            }
            if ui.button("Import label map (NIfTI)…").clicked() {
                requests.push(Request::Dialog(DialogKind::ImportLabels));
            }
            ui.separator();
            if ui.add(egui::Button::new("Save plan").shortcut_text("Ctrl+S")).clicked() {
                requests.push(Request::Save);
            }
            if ui.button("Save plan as…").clicked() {
                requests.push(Request::Dialog(DialogKind::SavePlan));
            }
            ui.separator();
            if ui.button("Save report (PDF or HTML)…").clicked() {
                requests.push(Request::Dialog(DialogKind::Report { anonymise: false }));
            }
            if ui
                .button("Save anonymised report…")
                .on_hover_text("Without the patient's name, ID, dates, UIDs, descriptions or file names")
                .clicked()
            {
                requests.push(Request::Dialog(DialogKind::Report { anonymise: true }));
            }
            if ui.button("Save screenshot…").clicked() {
                requests.push(Request::Dialog(DialogKind::Screenshot));
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                requests.push(Request::Quit);
            }
        });
        ui.menu_button("Edit", |ui| {
            if ui.add_enabled(doc.history.can_undo(), egui::Button::new("Undo").shortcut_text("Ctrl+Z")).clicked() {
                requests.push(Request::Edit(Edit::Undo));
            }
            if ui.add_enabled(doc.history.can_redo(), egui::Button::new("Redo").shortcut_text("Ctrl+Y")).clicked() {
                requests.push(Request::Edit(Edit::Redo));
            }
        });
        ui.menu_button("View", |ui| {
            ui.checkbox(&mut tools.show_diagnostics, "Frame rate and triangles (F12)");
        });
    });
}

fn keyboard(ctx: &egui::Context, tools: &mut Tools, requests: &mut Vec<Request>) {
    use egui::{Key, KeyboardShortcut, Modifiers};
    ctx.input_mut(|i| {
        if i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z))
            || i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Y))
        {
            requests.push(Request::Edit(Edit::Redo));
        }
        if i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Z)) {
            requests.push(Request::Edit(Edit::Undo));
        }
        if i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::S)) {
            requests.push(Request::Save);
        }
        if i.key_pressed(Key::F12) {
            tools.show_diagnostics = !tools.show_diagnostics;
        }
    });
}

#[derive(Message)]
struct UiRequest(Request);

#[allow(clippy::too_many_arguments)]
fn apply_requests(
    mut reader: MessageReader<UiRequest>,
    mut jobs: ResMut<Jobs>,
    doc: Res<Doc>,
    study: Res<Study>,
    (meshes, mut searches, mut autosave): (Res<SegmentMeshes>, ResMut<EntrySearches>, ResMut<Autosave>),
    mut dialog: ResMut<PendingDialog>,
    mut edits: MessageWriter<Edit>,
    mut clicks: MessageWriter<ClickAt>,
    mut exit: MessageWriter<AppExit>,
) {
    for UiRequest(r) in reader.read() {
        match r {
            Request::Dialog(kind) => dialog.0 = Some((*kind, file_dialog(*kind))),
            Request::Open(path, series) => jobs.open(path.clone(), series.clone()),
            Request::CancelJobs => {
                for p in [jobs.load.as_ref().map(|j| &j.progress), jobs.edit.as_ref().map(|j| &j.progress)]
                    .into_iter()
                    .flatten()
                {
                    p.cancel();
                }
            }
            Request::DismissError => {
                jobs.error = None;
                jobs.relink = None;
            }
            Request::Save => match &doc.path {
                Some(path) => jobs.start_save(&doc.doc, path.clone()),
                None => dialog.0 = Some((DialogKind::SavePlan, file_dialog(DialogKind::SavePlan))),
            },
            Request::Quit => {
                exit.write(AppExit::Success);
            }
            Request::Edit(e) => {
                edits.write(e.clone());
            }
            Request::Click(c) => {
                clicks.write(*c);
            }
            Request::Segment(label, step) => {
                if let Some(v) = study.volume.clone() {
                    jobs.segment(&doc.doc, v, *label, step.clone());
                }
            }
            Request::SearchEntries(index, settings) => searches.start(&doc.doc, &meshes, *index, settings.clone()),
            Request::CancelSearch => searches.cancel(),
            Request::Recover(i) => autosave.recover(*i, &mut jobs),
            Request::DiscardRecovery(i) => autosave.discard(*i),
            Request::RecoverLater => autosave.later(),
        }
    }
}

/// A native file dialog on its own thread, so the window keeps drawing.
fn file_dialog(kind: DialogKind) -> Job<Option<PathBuf>> {
    Job::spawn("Choosing a file".into(), move |_| {
        let d = rfd::FileDialog::new();
        Ok(match kind {
            DialogKind::OpenFolder => d.set_title("Open a DICOM folder").pick_folder(),
            DialogKind::LocateScan => d.set_title("Locate the plan's scan folder").pick_folder(),
            DialogKind::Report { anonymise } => d
                .set_title(if anonymise { "Save the plan's anonymised report" } else { "Save the plan's report" })
                .add_filter("PDF", &["pdf"])
                .add_filter("HTML", &["html"])
                .set_file_name(if anonymise { "plan-report-anonymised.pdf" } else { "plan-report.pdf" })
                .save_file(),
            DialogKind::OpenFile => d
                .set_title("Open a DICOM file, a NIfTI or NRRD volume, or a plan")
                .add_filter("DICOM, NIfTI, NRRD or plan", &["dcm", "json", "DCM", "IMA", "nii", "gz", "nrrd", "nhdr"])
                .add_filter("Any file", &["*"])
                .pick_file(),
            DialogKind::ImportLabels => {
                d.set_title("Import a label map").add_filter("NIfTI", &["nii", "gz"]).pick_file()
            }
            DialogKind::SavePlan => d
                .set_title("Save the plan")
                .add_filter("twinplan plan", &["json"])
                .set_file_name("plan.twinplan.json")
                .save_file(),
            DialogKind::Screenshot => {
                d.set_title("Save a screenshot").add_filter("PNG", &["png"]).set_file_name("twinplan.png").save_file()
            }
        })
    })
}

fn poll_dialog(
    mut commands: Commands,
    mut dialog: ResMut<PendingDialog>,
    mut jobs: ResMut<Jobs>,
    doc: Res<Doc>,
    study: Res<Study>,
    meshes: Res<SegmentMeshes>,
) {
    let Some(result) = dialog.0.as_mut().and_then(|(_, j)| j.poll()) else {
        return;
    };
    let Some((kind, _)) = dialog.0.take() else { return };
    let Ok(Some(path)) = result else { return };
    match kind {
        DialogKind::OpenFolder | DialogKind::OpenFile => jobs.open(path, None),
        DialogKind::LocateScan => jobs.relink_scan(path),
        DialogKind::Report { anonymise } => match study.volume.clone() {
            Some(v) => jobs.start_report(&doc.doc, v, &meshes.shapes, path, anonymise),
            None => jobs.error = Some("Open a scan before writing a report.".into()),
        },
        DialogKind::ImportLabels => match study.volume.clone() {
            Some(v) => jobs.import(&doc.doc, v, path),
            None => jobs.error = Some("Open a scan before importing a label map onto it.".into()),
        },
        DialogKind::SavePlan => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let path =
                if name.ends_with(".json") { path } else { path.with_file_name(format!("{name}.twinplan.json")) };
            jobs.start_save(&doc.doc, path);
        }
        DialogKind::Screenshot => {
            let path = if path.extension().is_none() { path.with_extension("png") } else { path };
            commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path));
        }
    }
}

/// Dropping a folder or file on the window opens it.
fn drag_and_drop(mut drops: MessageReader<FileDragAndDrop>, mut jobs: ResMut<Jobs>) {
    for d in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = d {
            jobs.open(path_buf.clone(), None);
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PendingDialog>()
        .init_resource::<ViewRects>()
        .add_message::<UiRequest>()
        .add_systems(EguiPrimaryContextPass, panels)
        .add_systems(Update, (apply_requests.before(crate::app::tools::on_click), poll_dialog, drag_and_drop));
}
