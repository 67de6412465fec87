//! What is loaded: series, geometry, values, every warning the loader raised, and the scans fused
//! with it.

use bevy_egui::egui;

use crate::app::document::{Doc, Edit};
use crate::app::intent::Intent;
use crate::app::study::{FusionMode, FusionView, Study};
use crate::core::document::Command;

const WARN: egui::Color32 = egui::Color32::from_rgb(240, 180, 60);

/// `busy`: an edit is being computed (a registration is one), so another cannot start.
pub fn study_ui(
    ui: &mut egui::Ui,
    study: &Study,
    doc: &Doc,
    busy: bool,
    fusion: &mut FusionView,
    requests: &mut Vec<Intent>,
) {
    let Some(v) = &study.volume else {
        ui.label("No scan loaded.");
        return;
    };
    let m = &v.meta;
    ui.heading(if m.description.is_empty() { "Series" } else { &m.description });
    egui::Grid::new("series").num_columns(2).striped(true).show(ui, |ui| {
        let mut row = |k: &str, val: String| {
            ui.label(k);
            ui.label(val);
            ui.end_row();
        };
        row("Patient", format!("{} ({})", m.patient_name, m.patient_id));
        row("Modality", m.modality.clone());
        row("Study date", m.study_date.clone());
        let [x, y, z] = v.grid.dims;
        row("Voxels", format!("{x} x {y} x {z}"));
        let s = v.grid.spacing_mm();
        row("Spacing", format!("{:.3} x {:.3} x {:.3} mm", s[0], s[1], s[2]));
        let o = v.grid.origin_mm();
        row("Origin (LPS)", format!("{:.1}, {:.1}, {:.1} mm", o.x, o.y, o.z));
        if let Some((lo, hi)) = v.data.range() {
            row("Values", format!("{lo} .. {hi} {}", m.unit));
        }
        row("Series UID", m.series_uid.clone());
    });
    if !v.warnings.is_empty() {
        ui.separator();
        ui.label(egui::RichText::new(format!("⚠ {} warning(s)", v.warnings.len())).color(WARN).strong());
        for w in &v.warnings {
            ui.label(egui::RichText::new(w).color(WARN));
        }
    }
    let fused = &doc.doc.secondary_scans;
    if !fused.is_empty() {
        ui.separator();
        ui.label(egui::RichText::new(format!("Fused scans ({})", fused.len())).strong());
        let shown = study.fused.as_ref().map(|f| f.index);
        ui.horizontal_wrapped(|ui| {
            ui.label("Slices show");
            if ui.selectable_label(shown.is_none(), "plan's scan").clicked() && shown.is_some() {
                requests.push(Intent::ShowScan(None));
            }
            for (index, s) in fused.iter().enumerate() {
                if ui.selectable_label(shown == Some(index), &s.name).clicked() && shown != Some(index) {
                    requests.push(Intent::ShowScan(Some(index)));
                }
            }
        });
        for (index, s) in fused.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(&s.name).on_hover_text(s.scan.path.display().to_string());
                if ui
                    .small_button("Remove")
                    .on_hover_text("Take this scan out of the plan (undo brings it back)")
                    .clicked()
                {
                    requests.push(Intent::Edit(Edit::run(Command::RemoveScan { index })));
                }
                if ui
                    .add_enabled(!busy, egui::Button::new("Register").small())
                    .on_hover_text("Align it to the plan's scan by mutual information, in the background (undoable)")
                    .clicked()
                {
                    requests.push(Intent::RegisterScan(index));
                }
            });
            ui.label(egui::RichText::new(s.placement.describe()).small());
        }
        if shown.is_some() {
            ui.horizontal_wrapped(|ui| {
                ui.label("In the slices");
                for mode in FusionMode::ALL {
                    ui.selectable_value(&mut fusion.mode, mode, mode.name());
                }
            });
            match fusion.mode {
                FusionMode::Blend | FusionMode::Colour => {
                    ui.add(egui::Slider::new(&mut fusion.opacity, 0.0..=1.0).text("fused scan's opacity"));
                }
                FusionMode::Checkerboard => {
                    ui.add(egui::Slider::new(&mut fusion.checker_mm, 5.0..=50.0).text("square (mm)"));
                }
                FusionMode::Alone => {}
            }
            ui.label(
                egui::RichText::new("The slices and volume rendering show the fused scan, placed on the plan's grid (the window applies to it; the plan's scan keeps the window it had); the threshold and region growing read its values.")
                    .color(WARN),
            );
        }
    }
    if !study.other_series.is_empty() {
        ui.separator();
        ui.label("Other series in this folder:");
        for (id, desc) in &study.other_series {
            if ui.link(desc).on_hover_text(id).clicked()
                && let Some(src) = &study.source
            {
                requests.push(Intent::Open(src.clone(), Some(id.clone())));
            }
        }
    }
    if !study.skipped.is_empty() {
        ui.separator();
        egui::CollapsingHeader::new(format!("{} file(s) not used", study.skipped.len())).show(ui, |ui| {
            for s in &study.skipped {
                ui.label(format!("{}: {}", s.path.display(), s.reason));
            }
        });
    }
}
