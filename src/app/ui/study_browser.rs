//! File > Studies: the local study store by patient, study and series (a double click opens a
//! series), receiving from a PACS or scanner, and querying and retrieving from a PACS.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::intent::Intent;
use crate::app::studies::Studies;
use crate::app::tools::Tools;
use crate::core::pacs::store::Entry;

/// One series of the store: its folder, UID, modality, description and image count.
struct SeriesRow {
    folder: PathBuf,
    uid: String,
    modality: String,
    description: String,
    images: usize,
}

/// patient (ID, name) -> study (UID, date) -> series.
type Tree = BTreeMap<(String, String), BTreeMap<(String, String), Vec<SeriesRow>>>;

fn tree(root: &std::path::Path, entries: &BTreeMap<String, Entry>) -> Tree {
    let mut series: BTreeMap<(String, String, String, String, String), SeriesRow> = BTreeMap::new();
    for e in entries.values() {
        let key = (
            e.patient_id.clone(),
            e.patient_name.clone(),
            e.study_uid.clone(),
            e.study_date.clone(),
            e.series_uid.clone(),
        );
        let row = series.entry(key).or_insert_with(|| SeriesRow {
            folder: root.join(&e.path).parent().map(PathBuf::from).unwrap_or_default(),
            uid: e.series_uid.clone(),
            modality: e.modality.clone(),
            description: e.series_description.clone(),
            images: 0,
        });
        row.images += 1;
    }
    let mut tree = Tree::new();
    for ((pid, name, study, date, _), row) in series {
        tree.entry((pid, name)).or_default().entry((study, date)).or_default().push(row);
    }
    tree
}

fn browser(
    mut contexts: EguiContexts,
    mut tools: ResMut<Tools>,
    mut studies: ResMut<Studies>,
    mut intents: MessageWriter<Intent>,
) -> Result {
    if !tools.show_studies {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut open = true;
    egui::Window::new("Studies").open(&mut open).default_width(560.0).show(ctx, |ui| {
        if studies.entries.is_empty() {
            studies.refresh(false);
        }
        ui.horizontal(|ui| {
            let at = studies.store_dir.as_ref().map_or("no data folder".into(), |d| d.display().to_string());
            ui.label(format!("Local store: {at}"));
            if ui.small_button("Refresh").clicked() {
                studies.refresh(true);
            }
        });
        let root = studies.store_dir.clone().unwrap_or_default();
        egui::ScrollArea::vertical().max_height(260.0).id_salt("store").show(ui, |ui| {
            let tree = tree(&root, &studies.entries);
            if tree.is_empty() {
                ui.label("Nothing received yet.");
            }
            for ((pid, name), study_map) in &tree {
                egui::CollapsingHeader::new(format!("{name} ({pid})")).default_open(true).show(ui, |ui| {
                    for ((uid, date), rows) in study_map {
                        egui::CollapsingHeader::new(format!("Study {date}")).id_salt(uid).default_open(true).show(
                            ui,
                            |ui| {
                                for r in rows {
                                    let text = format!("{} {}: {} images", r.modality, r.description, r.images);
                                    let row = ui.selectable_label(false, text).on_hover_text("Double-click to open");
                                    if row.double_clicked() {
                                        intents.write(Intent::Open(r.folder.clone(), Some(r.uid.clone())));
                                    }
                                }
                            },
                        );
                    }
                });
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            let mut on = studies.receiving.is_some();
            let running = on;
            ui.checkbox(&mut on, "Receive (C-STORE) on 127.0.0.1 port");
            ui.add_enabled(!running, egui::DragValue::new(&mut studies.port).range(1..=65535));
            ui.label("as AE");
            ui.add_enabled(!running, egui::TextEdit::singleline(&mut studies.ae).desired_width(90.0));
            if on && !running {
                studies.start_receiving();
            } else if !on && running {
                studies.receiving = None;
            }
        });
        if let Some(r) = &studies.receiving {
            let last = r.last.lock().map(|l| l.clone()).unwrap_or_default();
            ui.label(format!(
                "Listening on {}: {} received. {last}",
                r.address,
                r.received.load(std::sync::atomic::Ordering::Relaxed)
            ));
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("PACS");
            ui.add(egui::TextEdit::singleline(&mut studies.pacs).hint_text("AE@HOST:PORT").desired_width(170.0));
            ui.label("Patient ID");
            ui.add(egui::TextEdit::singleline(&mut studies.patient_id).desired_width(100.0));
            if ui.add_enabled(studies.query.is_none(), egui::Button::new("Query")).clicked() {
                studies.query();
            }
        });
        for job in [
            studies.query.as_ref().map(|j| (&j.title, &j.progress)),
            studies.retrieve.as_ref().map(|j| (&j.title, &j.progress)),
        ]
        .into_iter()
        .flatten()
        {
            ui.horizontal(|ui| {
                ui.add(egui::ProgressBar::new(job.1.fraction()).text(job.0.as_str()).desired_width(300.0));
                if ui.button("Cancel").clicked() {
                    job.1.cancel();
                }
            });
        }
        let mut fetch = None;
        egui::Grid::new("found").striped(true).show(ui, |ui| {
            for f in &studies.results {
                ui.label(format!("{} ({})", f.patient_name, f.patient_id));
                ui.label(&f.study_date);
                ui.label(format!("{} {}", f.modality, f.study_description));
                ui.label(f.instances.map_or(String::new(), |n| format!("{n} images")));
                if ui
                    .add_enabled(studies.retrieve.is_none(), egui::Button::new("Retrieve"))
                    .on_hover_text("The PACS sends it to this AE title and port (it must know them)")
                    .clicked()
                {
                    fetch = Some(f.study_uid.clone());
                }
                ui.end_row();
            }
        });
        if let Some(uid) = fetch {
            studies.retrieve(uid);
        }
        if let Some(m) = &studies.message {
            ui.separator();
            ui.label(m);
        }
    });
    if !open {
        tools.show_studies = false;
    }
    Ok(())
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(EguiPrimaryContextPass, browser);
}
