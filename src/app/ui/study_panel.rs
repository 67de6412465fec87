//! What is loaded: series, geometry, values, every warning the loader raised, and the scans fused
//! with it.

use bevy_egui::egui;

use crate::app::document::{Doc, Edit};
use crate::app::intent::Intent;
use crate::app::study::{Fused, FusionMode, FusionView, Study};
use crate::core::document::{Command, Placement, SecondaryScan};

const WARN: egui::Color32 = egui::Color32::from_rgb(240, 180, 60);

/// `busy`: an edit is being computed (a registration is one), so another cannot start.
pub fn study_ui(
    ui: &mut egui::Ui,
    study: &Study,
    doc: &Doc,
    busy: bool,
    coordinates: crate::core::settings::Coordinates,
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
        row("Origin", coordinates.format(o));
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
                    .add_enabled(!busy, egui::Button::new("Remove").small())
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
            if let (Some(f), Some(plan_scan)) = (&study.fused, &study.volume)
                && let Some(entry) = fused.get(f.index)
            {
                let (lo, hi) = plan_scan.grid.bounds_mm();
                adjust_ui(ui, f, entry, &nalgebra::center(&lo, &hi), requests);
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

/// Moving the shown fused scan by hand: a shift along the patient's axes and turns about them
/// (roll, pitch, yaw about L, P and S as fixed axes), pivoting on the fused scan's point that the
/// shift carries away from the plan scan's centre, so a turn does not swing the scan away; typed
/// or dragged, each drag one undo step; the mutual information at the placement follows.
fn adjust_ui(
    ui: &mut egui::Ui,
    shown: &Fused,
    entry: &SecondaryScan,
    centre: &nalgebra::Point3<f64>,
    requests: &mut Vec<Intent>,
) {
    use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
    ui.label(egui::RichText::new("Adjust by hand").strong()).on_hover_text(
        "Shift along the patient's axes (mm) and turn (degrees: about L, then P, then S, the patient's fixed axes), pivoting on the fused scan's point that lay at the centre of the plan's scan before the shift; drag or type. Each drag is one undo step.",
    );
    let m = entry.primary_from_secondary;
    let c = centre.coords;
    // primary = R (p - c) + c + shift
    let shift = m.translation.vector - c + m.rotation * c;
    let (rx, ry, rz) = m.rotation.euler_angles();
    let mut values = [shift.x, shift.y, shift.z, rx.to_degrees(), ry.to_degrees(), rz.to_degrees()];
    let (mut changed, mut started) = (false, false);
    for (row, (what, unit)) in [("shift", "mm"), ("turn about", "°")].into_iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!("{what} ({unit})"));
            for (a, axis) in ["L", "P", "S"].into_iter().enumerate() {
                let value = &mut values[row * 3 + a];
                let r = ui.add(egui::DragValue::new(value).speed(0.05).fixed_decimals(2).prefix(format!("{axis} ")));
                changed |= r.changed();
                started |= r.drag_started() || r.gained_focus();
            }
        });
    }
    if started {
        requests.push(Intent::Edit(Edit::Seal));
    }
    if changed {
        let [sx, sy, sz, ax, ay, az] = values;
        let rotation = UnitQuaternion::from_euler_angles(ax.to_radians(), ay.to_radians(), az.to_radians());
        let t = Vector3::new(sx, sy, sz) + c - rotation * c;
        let placed = Isometry3::from_parts(Translation3::from(t), rotation);
        let command = Command::SetScanPlacement {
            index: shown.index,
            primary_from_secondary: placed,
            placement: Placement::Manual,
        };
        requests.push(Intent::Edit(Edit::drag(command, "adjust placement")));
    }
    let recorded = match entry.placement {
        Placement::Automatic { metric, .. } => format!(" (the registration ended at {metric:.4})"),
        _ => String::new(),
    };
    // The metric shown is for the placement the views show (it follows a change within moments).
    let text = match shown.metric {
        Some(mi) => format!("Mutual information here: {mi:.4}{recorded}; higher is better aligned."),
        None => "Too little of the scans overlap here for a mutual information.".to_owned(),
    };
    ui.label(egui::RichText::new(text).small());
}
