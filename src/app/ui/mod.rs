//! The egui panels and the views' overlays. Each panel reads the state and returns what the user
//! asked for as [`Intent`]s, carried out elsewhere (`intent.rs`) after all panels have drawn.

mod name_edit;
mod plan_panel;
mod preferences;
mod rehearsal;

mod segments;
mod status;
mod stereotaxy_panel;
mod study_browser;
mod study_panel;
mod tools_panel;
mod views;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::autosave::Autosave;
use super::document::{Doc, Edit};
use super::entry_search::EntrySearches;
use super::intent::{DialogKind, Intent};
use super::layout::ViewRects;
use super::meshes::SegmentMeshes;
use super::notices::Notices;
use super::planning::Planning;
use super::scene::{MainCamera, Orbit};
use super::slices::SliceViews;
use super::study::{FusionView, Study};
use super::tasks::Jobs;
use super::tools::{Hover, Tools};
use crate::core::document::Command;
use crate::core::document::dicom_out::SegmentsAs;
use crate::core::document::recovery::Found;

/// Frames per second, smoothed, for the diagnostics overlay.
#[derive(Default)]
struct FrameRate(f32);

#[allow(clippy::too_many_arguments)]
fn panels(
    mut contexts: EguiContexts,
    study: Res<Study>,
    (jobs, notices): (Res<Jobs>, Res<Notices>),
    doc: Res<Doc>,
    mut state: ParamSet<(ResMut<Tools>, ResMut<Orbit>, ResMut<SliceViews>, ResMut<Hover>)>,
    mut rects: ResMut<ViewRects>,
    mesh_state: Res<SegmentMeshes>,
    (planning, searches, autosave): (Res<Planning>, Res<EntrySearches>, Res<Autosave>),
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    surfaces: Query<(&super::meshes::SegmentMesh, &InheritedVisibility)>,
    (time, mut fps): (Res<Time>, Local<FrameRate>),
    mut requests: Local<Vec<Intent>>,
    mut apply: MessageWriter<Intent>,
    mut fusion_view: ResMut<FusionView>,
    mut presentation: ResMut<super::presentation::Presentation>,
    mut prefs: ResMut<super::settings::Prefs>,
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
    let mut fusion = *fusion_view;
    let mut settings = prefs.settings.clone();
    let coordinates = settings.coordinates;
    let mut present = false;
    if presentation.presenting() {
        present_keys(ctx, &doc, &mut presentation, &orbit, &mut requests);
    }
    let presenting = presentation.presenting();
    if !presenting {
        egui::Panel::top("menu").show(ui, |ui| menu(ui, &doc, &settings, &mut tools, &mut present, &mut requests));
    }
    if !presenting {
        egui::Panel::bottom("status")
            .show(ui, |ui| status::status_ui(ui, &jobs, &notices, &study, mesh_state.pending(), &mut requests));
    }
    if !presenting {
        let side = egui::Panel::left("side").default_size(settings.layout.side_panel_width).resizable(true);
        let shown = side.show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                egui::CollapsingHeader::new("Study").default_open(true).show(ui, |ui| {
                    study_panel::study_ui(
                        ui,
                        &study,
                        &doc,
                        jobs.edit.is_some(),
                        coordinates,
                        &mut fusion,
                        &mut requests,
                    );
                });
                egui::CollapsingHeader::new("Display").default_open(true).show(ui, |ui| {
                    tools_panel::display_ui(ui, &doc, &mut orbit, &mut tools, &mut requests);
                });
                egui::CollapsingHeader::new("Segments").default_open(true).show(ui, |ui| {
                    segments::segments_ui(ui, &doc, &settings, &mut tools, &mut requests);
                });
                egui::CollapsingHeader::new("Tools").default_open(true).show(ui, |ui| {
                    let reading = study.fused.as_ref().map(|f| f.scan.name.as_str());
                    let busy = jobs.edit.is_some();
                    tools_panel::tools_ui(ui, &doc, &mut tools, busy, reading, coordinates, &mut requests);
                });
                egui::CollapsingHeader::new("Plan").default_open(true).show(ui, |ui| {
                    let panel = plan_panel::PlanPanel {
                        doc: &doc,
                        study: &study,
                        planning: &planning,
                        searches: &searches,
                        search_error: notices.search.as_deref(),
                        settings: &settings,
                    };
                    panel.show(ui, &mut tools, &mut orbit, &mut requests);
                });
            });
        });
        // The width the user drags it to is kept for the next session.
        let width = shown.response.rect.width();
        if (width - settings.layout.side_panel_width).abs() >= 1.0 {
            settings.layout.side_panel_width = width;
        }
    }
    let area = ui.available_rect_before_wrap();
    let laid_out = if presenting { ViewRects { three_d: Some(area), slices: [None; 3] } } else { views::layout(area) };
    if *rects != laid_out {
        *rects = laid_out;
    }
    let dt = time.delta_secs();
    if dt > 0.0 {
        fps.0 = if fps.0 == 0.0 { 1.0 / dt } else { fps.0 * 0.95 + 0.05 / dt };
    }
    let diagnostics = tools.show_diagnostics.then(|| {
        let triangles: usize = surfaces.iter().filter(|(_, v)| v.get()).map(|(s, _)| s.triangles()).sum();
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
            centrelines: &mesh_state.centrelines,
            shapes: &mesh_state.shapes,
            project: &project,
            diagnostics,
            coordinates,
            presentation: &presentation,
            slide: presentation.slide.map(|n| {
                let views = &doc.doc.saved_views;
                match views.get(n) {
                    Some(v) => format!("{}   ({} / {})", v.name, n + 1, views.len()),
                    None => "No saved views: save some in the Display panel (Esc leaves)".to_owned(),
                }
            }),
        };
        views::views_ui(ui, &laid_out, &mut v, &mut requests);
        *state.p2() = slices;
        let mut h = state.p3();
        if h.viewport_px != hover.viewport_px {
            h.viewport_px = hover.viewport_px;
        }
    }
    if let Some(err) = &notices.error {
        error_dialog(ctx, err, jobs.relink.is_some(), jobs.confirm_patient.as_ref(), &mut requests);
    }
    if let Some(found) = autosave.left_behind.first() {
        recovery_dialog(ctx, found, autosave.left_behind.len() - 1, &mut requests);
    }
    preferences::settings_window(ctx, &mut tools, &mut settings);
    preferences::about_window(ctx, &mut tools);
    preferences::shortcuts_window(ctx, &mut tools);
    keyboard(ctx, &mut tools, &mut present, &mut requests);
    if present && !presenting {
        presentation.go_to(0, &doc.doc, &orbit);
        if let Some(v) = doc.doc.saved_views.first() {
            requests.push(Intent::Edit(Edit::run(Command::SetCrosshair { mm: v.crosshair_mm })));
        }
    }
    // Only write back what changed, so that systems watching for changes stay quiet.
    // Written back only when changed: the slice views redraw on a change.
    if *fusion_view != fusion {
        *fusion_view = fusion;
    }
    if *state.p0() != tools {
        *state.p0() = tools;
    }
    if prefs.settings != settings {
        prefs.settings = settings;
    }
    if state.p1().transform() != orbit.transform() {
        *state.p1() = orbit;
    }
    for r in requests.drain(..) {
        apply.write(r);
    }
    Ok(())
}

/// The error the user must read before going on; a plan whose scan moved offers to locate it, a
/// scan refused as another patient's can be added once the user confirms it is this patient's.
fn error_dialog(
    ctx: &egui::Context,
    err: &str,
    can_relink: bool,
    other_patient: Option<&std::path::PathBuf>,
    requests: &mut Vec<Intent>,
) {
    egui::Window::new("Could not complete")
        .collapsible(false)
        .resizable(true)
        .default_width(560.0)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| ui.label(err));
            ui.label("What is on screen is unchanged.");
            ui.horizontal(|ui| {
                if can_relink
                    && ui.button("Locate scan folder…").on_hover_text("Its series UID must match the plan's").clicked()
                {
                    requests.push(Intent::Dialog(DialogKind::LocateScan));
                }
                if let Some(scan) = other_patient
                    && ui
                        .button("It is this patient's: add it")
                        .on_hover_text(
                            "The IDs differ, as when a patient was registered twice; fuse only a scan of this patient",
                        )
                        .clicked()
                {
                    requests.push(Intent::AddScan(scan.clone(), true));
                    requests.push(Intent::DismissError);
                }
                if ui.button("OK").clicked() {
                    requests.push(Intent::DismissError);
                }
            });
        });
}

/// Work a crashed session left behind (the newest of `more + 1`): recover, discard or later.
fn recovery_dialog(ctx: &egui::Context, found: &Found, more: usize, requests: &mut Vec<Intent>) {
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
            if more > 0 {
                ui.label(format!("{more} more recoveries after this one."));
            }
            ui.horizontal(|ui| {
                if ui.button("Recover").on_hover_text("Open it; Save writes it back to its plan file").clicked() {
                    requests.push(Intent::Recover(0));
                }
                if ui.button("Discard").clicked() {
                    requests.push(Intent::DiscardRecovery(0));
                }
                if ui.button("Later").on_hover_text("Keep it and ask again next time").clicked() {
                    requests.push(Intent::RecoverLater);
                }
            });
        });
}

fn menu(
    ui: &mut egui::Ui,
    doc: &Doc,
    settings: &crate::core::settings::Settings,
    tools: &mut Tools,
    present: &mut bool,
    requests: &mut Vec<Intent>,
) {
    use super::tools::Dialog;
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open DICOM folder…").clicked() {
                requests.push(Intent::Dialog(DialogKind::OpenFolder));
            }
            if ui.button("Open DICOM file or plan…").clicked() {
                requests.push(Intent::Dialog(DialogKind::OpenFile));
            }
            ui.menu_button("Open recent", |ui| {
                if settings.recent.is_empty() {
                    ui.label("Nothing opened yet");
                }
                for path in &settings.recent {
                    let name = path.file_name().map_or(path.display().to_string(), |n| n.to_string_lossy().into());
                    let there = path.exists();
                    let hover =
                        if there { path.display().to_string() } else { format!("{}: no longer there", path.display()) };
                    if ui.add_enabled(there, egui::Button::new(name)).on_hover_text(hover).clicked() {
                        requests.push(Intent::Open(path.clone(), None));
                        ui.close();
                    }
                }
            });
            if ui
                .button("Studies (local store, PACS)…")
                .on_hover_text("Studies received or retrieved over the DICOM network; receive, query and retrieve")
                .clicked()
            {
                tools.show_studies = true;
                ui.close();
            }
            if ui
                .button("Import segments (NIfTI label map, DICOM SEG)…")
                .on_hover_text("Each label, or each segment of a DICOM Segmentation with its name, category and colour")
                .clicked()
            {
                requests.push(Intent::Dialog(DialogKind::ImportLabels));
            }
            if ui
                .button("Add scan (fuse, registered)…")
                .on_hover_text("Another scan of this patient, aligned to the plan's scan by mutual information")
                .clicked()
            {
                requests.push(Intent::Dialog(DialogKind::AddScan));
            }
            ui.separator();
            if ui.add(egui::Button::new("Save plan").shortcut_text("Ctrl+S")).clicked() {
                requests.push(Intent::Save);
            }
            if ui.button("Save plan as…").clicked() {
                requests.push(Intent::Dialog(DialogKind::SavePlan));
            }
            ui.separator();
            if ui.button("Save report (PDF or HTML)…").clicked() {
                requests.push(Intent::Dialog(DialogKind::Report { anonymise: false }));
            }
            if ui
                .button("Save anonymised report…")
                .on_hover_text("Without the patient's name, ID, dates, UIDs, descriptions or file names")
                .clicked()
            {
                requests.push(Intent::Dialog(DialogKind::Report { anonymise: true }));
            }
            // DICOM objects need the plan's scan to be a DICOM series (its study, its images).
            let dicom_scan = !doc.doc.scan.series_uid.is_empty() && !doc.doc.segmentation.segments.is_empty();
            let why = "The plan's segments in its scan's study, for the PACS or a radiotherapy planning system \
                       (needs a DICOM scan and segments)";
            for (label, kind) in [
                ("Export segments as DICOM SEG…", SegmentsAs::Segmentation),
                ("Export segments as RT Structure Set…", SegmentsAs::StructureSet),
            ] {
                if ui.add_enabled(dicom_scan, egui::Button::new(label)).on_hover_text(why).clicked() {
                    requests.push(Intent::Dialog(DialogKind::DicomSegments(kind)));
                }
            }
            if ui.button("Save screenshot…").clicked() {
                requests.push(Intent::Dialog(DialogKind::Screenshot));
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                requests.push(Intent::Quit);
            }
        });
        ui.menu_button("Edit", |ui| {
            if ui.add_enabled(doc.history.can_undo(), egui::Button::new("Undo").shortcut_text("Ctrl+Z")).clicked() {
                requests.push(Intent::Edit(Edit::Undo));
            }
            if ui.add_enabled(doc.history.can_redo(), egui::Button::new("Redo").shortcut_text("Ctrl+Y")).clicked() {
                requests.push(Intent::Edit(Edit::Redo));
            }
            ui.separator();
            if ui.button("Settings…").on_hover_text("Coordinates shown, default instrument and margins").clicked() {
                tools.dialog = Some(Dialog::Settings);
                ui.close();
            }
        });
        ui.menu_button("View", |ui| {
            ui.checkbox(&mut tools.show_diagnostics, "Frame rate and triangles (F12)");
            if ui
                .add(egui::Button::new("Present the saved views").shortcut_text("F5"))
                .on_hover_text("The 3D view alone, full window; arrow keys step through the saved views, Esc leaves")
                .clicked()
            {
                *present = true;
            }
        });
        ui.menu_button("Help", |ui| {
            if ui.button("Keyboard shortcuts…").clicked() {
                tools.dialog = Some(Dialog::Shortcuts);
                ui.close();
            }
            if ui.button("About twinplan…").clicked() {
                tools.dialog = Some(Dialog::About);
                ui.close();
            }
        });
    });
}

fn keyboard(ctx: &egui::Context, tools: &mut Tools, present: &mut bool, requests: &mut Vec<Intent>) {
    use egui::{Key, KeyboardShortcut, Modifiers};
    ctx.input_mut(|i| {
        if i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z))
            || i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Y))
        {
            requests.push(Intent::Edit(Edit::Redo));
        }
        if i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Z)) {
            requests.push(Intent::Edit(Edit::Undo));
        }
        if i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::S)) {
            requests.push(Intent::Save);
        }
        if i.key_pressed(Key::F12) {
            tools.show_diagnostics = !tools.show_diagnostics;
        }
        if i.key_pressed(Key::F5) {
            *present = true;
        }
    });
}

/// While presenting: Right, Space or Page Down for the next saved view, Left or Page Up for the
/// one before, Esc to leave; each slide also moves the crosshair where its view kept it.
fn present_keys(
    ctx: &egui::Context,
    doc: &Doc,
    presentation: &mut super::presentation::Presentation,
    orbit: &super::scene::Orbit,
    requests: &mut Vec<Intent>,
) {
    use egui::Key;
    let views = &doc.doc.saved_views;
    let (next, back, leave) = ctx.input(|i| {
        (
            i.key_pressed(Key::ArrowRight) || i.key_pressed(Key::Space) || i.key_pressed(Key::PageDown),
            i.key_pressed(Key::ArrowLeft) || i.key_pressed(Key::PageUp),
            i.key_pressed(Key::Escape),
        )
    });
    if leave {
        presentation.stop();
        return;
    }
    let Some(slide) = presentation.slide else { return };
    let to = if next {
        (slide + 1).min(views.len().saturating_sub(1))
    } else if back {
        slide.saturating_sub(1)
    } else {
        return;
    };
    if to != slide {
        presentation.go_to(to, &doc.doc, orbit);
        requests.push(Intent::Edit(Edit::run(Command::SetCrosshair { mm: views[to].crosshair_mm })));
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ViewRects>().add_systems(EguiPrimaryContextPass, panels).add_plugins(study_browser::plugin);
}
