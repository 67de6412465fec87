//! The egui panels. Each panel reads the study and returns what the user asked for; one system
//! applies those requests.

mod status;
mod study_panel;

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::window::FileDragAndDrop;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::study::Study;
use super::tasks::{Job, Jobs};

/// What a panel asks for; applied after all panels have drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    OpenDialog { folder: bool },
    Open(PathBuf, Option<String>),
    CancelJobs,
    DismissError,
    Quit,
}

/// A native file dialog runs on its own thread so the window keeps drawing.
#[derive(Resource, Default)]
struct PendingDialog(Option<Job<Option<PathBuf>>>);

/// The part of the window left to the 3D view after the panels, in logical pixels.
#[derive(Resource, Default, Clone, Copy, PartialEq)]
pub struct FreeArea(pub Option<egui::Rect>);

fn panels(
    mut contexts: EguiContexts,
    study: Res<Study>,
    jobs: Res<Jobs>,
    mut free: ResMut<FreeArea>,
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
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open DICOM folder…").clicked() {
                    requests.push(Request::OpenDialog { folder: true });
                }
                if ui.button("Open DICOM file…").clicked() {
                    requests.push(Request::OpenDialog { folder: false });
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    requests.push(Request::Quit);
                }
            });
        });
    });
    egui::Panel::bottom("status").show(ui, |ui| status::status_ui(ui, &jobs, &study, &mut requests));
    egui::Panel::left("study").default_size(320.0).resizable(true).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| study_panel::study_ui(ui, &study, &mut requests));
    });
    let area = Some(ui.available_rect_before_wrap());
    if free.0 != area {
        free.0 = area;
    }
    if let Some(err) = &jobs.error {
        egui::Window::new("Could not open")
            .collapsible(false)
            .resizable(true)
            .default_width(560.0)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| ui.label(err));
                ui.label("The scan on screen is unchanged.");
                if ui.button("OK").clicked() {
                    requests.push(Request::DismissError);
                }
            });
    }
    for r in requests.drain(..) {
        apply.write(UiRequest(r));
    }
    Ok(())
}

#[derive(Message)]
struct UiRequest(Request);

fn apply_requests(
    mut reader: MessageReader<UiRequest>,
    mut jobs: ResMut<Jobs>,
    mut dialog: ResMut<PendingDialog>,
    mut exit: MessageWriter<AppExit>,
) {
    for UiRequest(r) in reader.read() {
        match r {
            Request::OpenDialog { folder } => {
                let folder = *folder;
                dialog.0 = Some(Job::spawn("Choosing a scan".into(), move |_| {
                    let d = rfd::FileDialog::new().set_title("Open a DICOM scan");
                    Ok(if folder { d.pick_folder() } else { d.pick_file() })
                }));
            }
            Request::Open(path, series) => jobs.open(path.clone(), series.clone()),
            Request::CancelJobs => {
                if let Some(j) = &jobs.load {
                    j.progress.cancel();
                }
            }
            Request::DismissError => jobs.error = None,
            Request::Quit => {
                exit.write(AppExit::Success);
            }
        }
    }
}

fn poll_dialog(mut dialog: ResMut<PendingDialog>, mut jobs: ResMut<Jobs>) {
    let Some(result) = dialog.0.as_mut().and_then(Job::poll) else {
        return;
    };
    dialog.0 = None;
    if let Ok(Some(path)) = result {
        jobs.open(path, None);
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
        .init_resource::<FreeArea>()
        .add_message::<UiRequest>()
        .add_systems(EguiPrimaryContextPass, panels)
        .add_systems(Update, (apply_requests, poll_dialog, drag_and_drop));
}
