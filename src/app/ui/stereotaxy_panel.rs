//! Stereotaxy in the Plan panel: the frame found on the plan's scan (or the button that finds
//! it), AC-PC marked by three clicks, and the chosen trajectory's frame coordinates (large),
//! arc settings and AC-PC coordinates, its target typed in AC-PC or set from a preset.

use bevy_egui::egui::{self, Color32, RichText};
use nalgebra::Vector3;

use crate::app::document::{Doc, Edit};
use crate::app::intent::Intent;
use crate::app::tools::{Tool, Tools};
use crate::core::document::Command;
use crate::core::planning::Trajectory;
use crate::core::stereotaxy::Localizer;
use crate::core::stereotaxy::acpc::PRESETS;

const CAUTION: Color32 = Color32::from_rgb(245, 170, 40);

/// `slices`: how many the plan's scan has.
pub fn stereotaxy_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    slices: Option<usize>,
    chosen: Option<(usize, &Trajectory)>,
    tools: &mut Tools,
    out: &mut Vec<Intent>,
) {
    frame_ui(ui, doc, slices, chosen.map(|(_, t)| t), tools, out);
    ui.separator();
    acpc_ui(ui, doc, chosen, tools, out);
}

fn frame_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    slices: Option<usize>,
    chosen: Option<&Trajectory>,
    tools: &mut Tools,
    out: &mut Vec<Intent>,
) {
    let Some(frame) = &doc.doc.frame else {
        ui.label("No frame: find its localiser on the plan's scan to give the trajectories frame coordinates.");
        if let Some(n) = slices {
            slice_range_ui(ui, n, &mut tools.frame_slices);
        }
        ui.horizontal(|ui| {
            for name in Localizer::PRESETS {
                let label = Localizer::preset(name).map_or(name.to_owned(), |l| l.name);
                if ui.button(format!("Find the {label}")).clicked() {
                    out.push(Intent::FitFrame { preset: name.to_owned(), slices: tools.frame_slices });
                }
            }
        });
        return;
    };
    ui.label(format!("{} frame from the {}: {}", frame.frame, frame.localizer, frame.fit_summary()))
        .on_hover_text(&frame.convention);
    if ui.button("Forget the frame").on_hover_text("Undo brings it back").clicked() {
        out.push(Intent::Edit(Edit::run(Command::SetFrame { frame: None })));
    }
    let Some(t) = chosen else { return };
    let ft = frame.trajectory(t);
    let [x, y, z] = ft.target_mm;
    ui.label(RichText::new(format!("X {x:.1}   Y {y:.1}   Z {z:.1}")).strong().size(22.0));
    ui.label(format!("{}: target in the {} frame (mm)", t.name, frame.frame));
    if !ft.target_inside {
        ui.label(RichText::new("The target lies outside the frame's range (0-200 mm).").color(CAUTION));
    }
    for a in &ft.arcs {
        let text = RichText::new(a.describe());
        ui.label(if a.reachable { text.strong() } else { text.color(CAUTION) });
    }
}

/// "Only slices [a] to [b]": leaving out slices spoilt by artefacts, numbered as the slice views
/// and the fit's messages number them.
fn slice_range_ui(ui: &mut egui::Ui, n: usize, range: &mut Option<(usize, usize)>) {
    let last = n.saturating_sub(1);
    ui.horizontal(|ui| {
        let mut only = range.is_some();
        ui.checkbox(&mut only, "Only slices")
            .on_hover_text("Leave out slices spoilt by artefacts (the frame's base, metal) that a fit names");
        let (mut a, mut b) = range.unwrap_or((0, last));
        ui.add_enabled(only, egui::DragValue::new(&mut a).range(0..=last));
        ui.label("to");
        ui.add_enabled(only, egui::DragValue::new(&mut b).range(0..=last));
        ui.label(format!("of 0-{last}"));
        *range = only.then_some((a.min(b), a.max(b)));
    });
}

fn acpc_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    chosen: Option<(usize, &Trajectory)>,
    tools: &mut Tools,
    out: &mut Vec<Intent>,
) {
    if tools.tool == Tool::AcPc {
        let next = ["the anterior commissure (AC)", "the posterior commissure (PC)", "a midline point above them"];
        let n = tools.acpc_points.len().min(2);
        ui.label(RichText::new(format!("Click {} in a slice ({} of 3).", next[n], n + 1)).strong());
        if ui.button("Cancel").clicked() {
            tools.acpc_points.clear();
            tools.tool = Tool::Navigate;
        }
        return;
    }
    let Some(acpc) = &doc.doc.acpc else {
        if ui.button("Mark AC-PC").on_hover_text("Three clicks in the slices: AC, PC, a midline point").clicked() {
            tools.acpc_points.clear();
            tools.tool = Tool::AcPc;
        }
        return;
    };
    ui.label(format!("AC-PC length {:.1} mm.", acpc.length_mm())).on_hover_text(
        "AC-PC coordinates: origin at the mid-commissural point, x to the patient's right, y anterior (toward \
         AC), z up in the midsagittal plane",
    );
    ui.horizontal(|ui| {
        if ui.button("Mark again").clicked() {
            tools.acpc_points.clear();
            tools.tool = Tool::AcPc;
        }
        if ui.button("Forget AC-PC").on_hover_text("Undo brings it back").clicked() {
            out.push(Intent::Edit(Edit::run(Command::SetAcPc { acpc: None })));
        }
    });
    let Some((index, t)) = chosen else { return };
    let Ok(now) = acpc.acpc_from_patient(&t.target_mm) else { return };
    let mut typed = now;
    let mut dragging = false;
    ui.horizontal(|ui| {
        ui.label("Target AC-PC");
        for (c, axis) in typed.iter_mut().zip(["x (right +)", "y (anterior +)", "z (up +)"]) {
            dragging |= ui.add(egui::DragValue::new(c).speed(0.1).fixed_decimals(1)).on_hover_text(axis).dragged();
        }
        ui.label("mm");
    });
    let mut preset = None;
    ui.horizontal_wrapped(|ui| {
        ui.label("Target at");
        for p in &PRESETS {
            for (side, right) in [("left", false), ("right", true)] {
                if ui.button(format!("{} {side}", p.name)).on_hover_text(p.describe()).clicked() {
                    preset = Some(p.acpc(right, acpc));
                }
            }
        }
    });
    let wanted: Option<Vector3<f64>> = preset.or((typed != now).then_some(typed));
    if let Some(c) = wanted
        && let Ok(target_mm) = acpc.patient_from_acpc(&c)
    {
        let command = Command::SetTrajectory { index, trajectory: Trajectory { target_mm, ..t.clone() } };
        out.push(Intent::Edit(if dragging { Edit::drag(command, "acpc target") } else { Edit::run(command) }));
    }
}
