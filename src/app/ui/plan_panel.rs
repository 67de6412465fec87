//! The Plan panel: the plan's trajectories, the chosen one's instrument and end points, and its
//! clearances (verdicts per structure, the structures passed through, the clearance profile),
//! and the entry search for its target.

use bevy_egui::egui::{self, Color32, RichText, Stroke};

use crate::app::document::{Doc, Edit};
use crate::app::entry_search::{EntrySearches, risk_rgb};
use crate::app::intent::Intent;
use crate::app::planning::Planning;
use crate::app::scene::Orbit;
use crate::app::study::Study;
use crate::app::tools::{Tool, Tools};
use crate::core::document::Command;
use crate::core::planning::{
    CLEARANCE_NOTE, EntryRegion, Instrument, InstrumentKind, Trajectory, TrajectoryReport, Verdict,
};

fn verdict_color(v: Verdict) -> Color32 {
    let [r, g, b] = v.rgb();
    Color32::from_rgb(r, g, b)
}

/// What the panel shows.
pub struct PlanPanel<'a> {
    pub doc: &'a Doc,
    pub study: &'a Study,
    pub planning: &'a Planning,
    pub searches: &'a EntrySearches,
    /// Why the last search could not run.
    pub search_error: Option<&'a str>,
    /// The default instrument and the coordinates shown.
    pub settings: &'a crate::core::settings::Settings,
}

impl PlanPanel<'_> {
    /// The trajectory list; the chosen one's fields, report, rehearsal and entry search.
    pub fn show(&self, ui: &mut egui::Ui, tools: &mut Tools, orbit: &mut Orbit, out: &mut Vec<Intent>) {
        let PlanPanel { doc, study, planning, searches, search_error, settings } = *self;
        let paths = &doc.doc.trajectories;
        // Always one chosen while there are any, so its clearances are on screen.
        if tools.trajectory.is_none_or(|i| i >= paths.len()) {
            tools.trajectory =
                if paths.is_empty() { None } else { Some(tools.trajectory.unwrap_or(0).min(paths.len() - 1)) };
        }
        for (i, t) in paths.iter().enumerate() {
            let verdict = planning.reports.get(i).and_then(|r| r.as_ref().ok()).map(|r| r.verdict);
            ui.horizontal(|ui| {
                let dot = verdict.map_or(Color32::GRAY, verdict_color);
                let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                ui.painter().circle_filled(rect.center(), 5.0, dot);
                if ui.selectable_label(tools.trajectory == Some(i), &t.name).clicked() {
                    tools.trajectory = Some(i);
                }
            });
        }
        ui.horizontal(|ui| {
            if ui.button("New trajectory").on_hover_text("Target at the crosshair; then place the entry").clicked() {
                let target = doc.doc.view.crosshair_mm;
                let entry = target + nalgebra::Vector3::z() * 50.0;
                let name = format!("Trajectory {}", paths.len() + 1);
                let t = Trajectory::new(&name, entry, target, Instrument::preset(settings.instrument));
                out.push(Intent::Edit(Edit::run(Command::AddTrajectory { index: paths.len(), trajectory: t })));
                tools.trajectory = Some(paths.len());
                tools.tool = Tool::PlaceEntry;
            }
            if let Some(i) = tools.trajectory
                && ui.button("Remove").on_hover_text("Undo brings it back").clicked()
            {
                out.push(Intent::Edit(Edit::run(Command::RemoveTrajectory { index: i })));
            }
        });
        for w in &planning.warnings {
            ui.label(RichText::new(w).color(Color32::from_rgb(245, 170, 40)));
        }
        let chosen = tools.trajectory.and_then(|i| Some((i, paths.get(i)?)));
        let open = doc.doc.frame.is_some() || doc.doc.acpc.is_some() || tools.tool == Tool::AcPc;
        // Opened when the plan gains a frame or AC-PC (a new id then), closed by the user at will.
        let header = egui::CollapsingHeader::new("Stereotaxy (frame, AC-PC)").id_salt(("stereotaxy", open));
        header.default_open(open).show(ui, |ui| {
            let slices = study.volume.as_ref().map(|v| v.grid.dims[2]);
            super::stereotaxy_panel::stereotaxy_ui(ui, doc, slices, chosen, tools, out);
        });
        let Some((index, t)) = chosen else {
            if paths.is_empty() {
                ui.label("No trajectories yet.");
            }
            return;
        };
        ui.separator();
        edit_ui(ui, index, t, settings.coordinates, tools, out);
        ui.separator();
        match planning.reports.get(index) {
            Some(Ok(report)) => {
                report_ui(ui, report);
                egui::CollapsingHeader::new("Rehearse").default_open(false).show(ui, |ui| {
                    super::rehearsal::rehearsal_ui(ui, doc, study, t, report, tools, orbit);
                });
            }
            Some(Err(e)) => {
                ui.label(RichText::new(e).color(verdict_color(Verdict::Collision)));
            }
            None => {}
        }
        ui.separator();
        egui::CollapsingHeader::new("Entry search").default_open(true).show(ui, |ui| {
            search_ui(ui, doc, index, t, (searches, search_error), tools, out);
        });
    }
}

/// Constraints, the search button (progress and cancel while it runs), the proposals with one
/// click to adopt each, and the heat map's switch and legend.
fn search_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    index: usize,
    t: &Trajectory,
    (searches, search_error): (&EntrySearches, Option<&str>),
    tools: &mut Tools,
    out: &mut Vec<Intent>,
) {
    let settings = &mut tools.search;
    ui.horizontal(|ui| {
        ui.label("Max angle to skin");
        ui.add(egui::DragValue::new(&mut settings.max_angle_deg).range(5.0..=80.0).speed(0.5).suffix("°"));
        ui.label("Proposals");
        ui.add(egui::DragValue::new(&mut settings.count).range(1..=10));
    });
    ui.horizontal(|ui| {
        let mut near = settings.region.is_some();
        ui.checkbox(&mut near, "Only within").on_hover_text("of the current entry");
        let mut radius = settings.region.map_or(25.0, |r| r.radius_mm);
        ui.add_enabled(near, egui::DragValue::new(&mut radius).range(2.0..=200.0).speed(0.5).suffix(" mm"));
        ui.label("of the entry");
        settings.region = near.then_some(EntryRegion { centre_mm: t.entry_mm, radius_mm: radius });
    });
    if let Some((title, progress)) = searches.running() {
        ui.horizontal(|ui| {
            ui.add(egui::ProgressBar::new(progress.fraction()).desired_width(200.0).text(progress.stage()));
            if ui.button("Cancel").on_hover_text(title).clicked() {
                out.push(Intent::CancelSearch);
            }
        });
        ui.ctx().request_repaint();
    } else if ui
        .button("Suggest entries")
        .on_hover_text("Scores every point of the skin the instrument can reach from, checks the best exactly")
        .clicked()
    {
        out.push(Intent::SearchEntries(index, tools.search.clone()));
    }
    if let Some(e) = search_error {
        ui.label(RichText::new(e).color(verdict_color(Verdict::Warning)));
    }
    let Some(shown) = searches.shown.as_ref().filter(|s| s.trajectory == index) else { return };
    if !shown.current(&doc.doc) {
        ui.label("The target has moved since the last search: search again.");
        return;
    }
    let r = &shown.result;
    ui.label(format!(
        "{} skin points, {} reachable paths scored, {} checked exactly",
        r.surface_vertices, r.scored, r.checked
    ));
    for w in &r.warnings {
        ui.label(RichText::new(w).color(verdict_color(Verdict::Warning)));
    }
    egui::Grid::new("suggestions").striped(true).num_columns(5).show(ui, |ui| {
        for h in ["", "Risk", "Nearest", "Angle, length", ""] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for (i, s) in r.suggestions.iter().enumerate() {
            let rep = &s.report;
            ui.label(format!("{}.", i + 1));
            ui.label(format!("{:.2} mm", rep.risk_mm))
                .on_hover_text("Exposure: mm of path weighted by closeness to critical structures (0 beyond 10 mm)");
            ui.label(rep.structures.first().map_or("—".into(), |c| format!("{} {:.1} mm", c.name, c.min_clearance_mm)));
            ui.label(format!("{:.0}°, {:.0} mm", rep.entry_angle_deg.unwrap_or(f64::NAN), rep.length_mm));
            let adopted = s.entry_mm == t.entry_mm;
            if ui.add_enabled(!adopted, egui::Button::new(if adopted { "In use" } else { "Adopt" })).clicked() {
                let trajectory = Trajectory { entry_mm: s.entry_mm, ..t.clone() };
                out.push(Intent::Edit(Edit::run(Command::SetTrajectory { index, trajectory })));
            }
            ui.end_row();
        }
    });
    ui.horizontal(|ui| {
        ui.checkbox(&mut tools.risk_map, "Risk map on the skin");
        if tools.risk_map {
            legend(ui, shown.risk_scale);
        }
    });
}

/// The heat map's colour ramp with its ends.
fn legend(ui: &mut egui::Ui, scale: f32) {
    let color = |r: f32| {
        let [red, g, b] = risk_rgb(r, scale).map(|c| (c * 255.0).round() as u8);
        Color32::from_rgb(red, g, b)
    };
    ui.label("0");
    let (rect, _) = ui.allocate_exact_size(egui::vec2(90.0, 12.0), egui::Sense::hover());
    const STEPS: usize = 30;
    for k in 0..STEPS {
        let x0 = rect.left() + rect.width() * k as f32 / STEPS as f32;
        let x1 = rect.left() + rect.width() * (k + 1) as f32 / STEPS as f32;
        let piece = egui::Rect::from_min_max(egui::pos2(x0, rect.top()), egui::pos2(x1, rect.bottom()));
        ui.painter().rect_filled(piece, 0.0, color(scale * k as f32 / (STEPS - 1) as f32));
    }
    ui.label(format!("{scale:.1} mm"));
    let (dot, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
    ui.painter().rect_filled(dot, 0.0, color(f32::NAN));
    ui.label("no path");
}

/// Name, instrument and end points; every change is a command (a dragged value is one step).
fn edit_ui(
    ui: &mut egui::Ui,
    index: usize,
    t: &Trajectory,
    coordinates: crate::core::settings::Coordinates,
    tools: &mut Tools,
    out: &mut Vec<Intent>,
) {
    let mut next = t.clone();
    let mut dragging = false;
    ui.horizontal(|ui| {
        ui.label("Name");
        ui.text_edit_singleline(&mut next.name);
    });
    ui.horizontal(|ui| {
        ui.label("Instrument");
        egui::ComboBox::from_id_salt(("instrument", index)).selected_text(t.instrument.kind.name()).show_ui(ui, |ui| {
            for kind in InstrumentKind::PRESETS {
                if ui.selectable_label(t.instrument.kind == kind, kind.name()).clicked() {
                    next.instrument = Instrument::preset(kind);
                }
            }
        });
        let r =
            ui.add(egui::DragValue::new(&mut next.instrument.diameter_mm).range(0.1..=20.0).speed(0.02).suffix(" mm"));
        dragging |= r.dragged();
        if next.instrument.diameter_mm != t.instrument.diameter_mm {
            next.instrument.kind = InstrumentKind::Custom;
        }
    });
    for (label, point, tool) in
        [("Entry", &mut next.entry_mm, Tool::PlaceEntry), ("Target", &mut next.target_mm, Tool::PlaceTarget)]
    {
        ui.horizontal(|ui| {
            ui.label(label);
            // Edited as shown (LPS or RAS), kept in LPS.
            let mut shown = coordinates.shown(*point);
            for c in shown.iter_mut() {
                let r = ui.add(egui::DragValue::new(c).speed(0.2).fixed_decimals(1));
                dragging |= r.dragged();
            }
            if shown != coordinates.shown(*point) {
                *point = coordinates.shown(shown);
            }
            ui.label(format!("mm {}", coordinates.name()));
            ui.selectable_value(&mut tools.tool, tool, "Place")
                .on_hover_text("Click or drag in a slice or on a surface");
        });
    }
    if next != *t {
        let next_name_changed = next.name != t.name;
        let command = Command::SetTrajectory { index, trajectory: next };
        // A dragged value and a typed name are one undo step each, not one per frame or key.
        let key = if dragging { Some("trajectory field") } else { (next_name_changed).then_some("trajectory name") };
        out.push(Intent::Edit(match key {
            Some(k) => Edit::drag(command, k),
            None => Edit::run(command),
        }));
    }
    if ui.input(|i| i.pointer.any_released()) {
        out.push(Intent::Edit(Edit::Seal));
    }
}

fn report_ui(ui: &mut egui::Ui, r: &TrajectoryReport) {
    ui.label(RichText::new(r.verdict.name().to_uppercase()).strong().size(16.0).color(verdict_color(r.verdict)));
    let angle = r.entry_angle_deg.map_or("no skin crossing".to_owned(), |a| format!("{a:.1}°"));
    ui.label(format!("Length {:.1} mm, entry angle {angle}, {} {:.2} mm", r.length_mm, r.instrument, r.diameter_mm));
    egui::Grid::new("clearances").striped(true).num_columns(4).show(ui, |ui| {
        for h in ["Structure", "Clearance", "At depth", ""] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for s in &r.structures {
            ui.label(&s.name);
            ui.label(s.clearance_text()).on_hover_text(CLEARANCE_NOTE);
            ui.label(format!("{:.1} mm", s.depth_mm));
            ui.label(RichText::new(s.verdict.name()).color(verdict_color(s.verdict)))
                .on_hover_text(format!("safety margin {:.1} mm", s.margin_mm));
            ui.end_row();
        }
    });
    if !r.passes_through.is_empty() {
        ui.label(format!("Passes through: {}", r.passes_through_text()));
    }
    for w in &r.warnings {
        ui.label(RichText::new(w).color(Color32::from_rgb(245, 170, 40)));
    }
    profile_plot(ui, r);
}

/// Clearance to the nearest critical structure against depth, with the zero line.
fn profile_plot(ui: &mut egui::Ui, r: &TrajectoryReport) {
    if r.profile.len() < 2 {
        return;
    }
    let (rect, _) = ui.allocate_exact_size(egui::vec2(ui.available_width(), 120.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(25));
    let plot = rect.shrink2(egui::vec2(34.0, 12.0));
    let max_c = r.profile.iter().map(|p| p.clearance_mm).fold(5.0_f64, f64::max).min(40.0);
    let min_c = r.profile.iter().map(|p| p.clearance_mm).fold(0.0_f64, f64::min).max(-10.0);
    let x = |d: f64| plot.left() + (d / r.length_mm.max(1e-6)) as f32 * plot.width();
    let y = |c: f64| plot.bottom() - ((c.clamp(min_c, max_c) - min_c) / (max_c - min_c)) as f32 * plot.height();
    painter.line_segment(
        [egui::pos2(plot.left(), y(0.0)), egui::pos2(plot.right(), y(0.0))],
        Stroke::new(1.0, Color32::from_gray(120)),
    );
    let points: Vec<egui::Pos2> = r.profile.iter().map(|p| egui::pos2(x(p.depth_mm), y(p.clearance_mm))).collect();
    painter.add(egui::Shape::line(points, Stroke::new(1.5, Color32::from_rgb(120, 200, 255))));
    let small = egui::FontId::proportional(10.0);
    let gray = Color32::from_gray(170);
    painter.text(
        egui::pos2(rect.left() + 2.0, y(max_c)),
        egui::Align2::LEFT_CENTER,
        format!("{max_c:.0}"),
        small.clone(),
        gray,
    );
    painter.text(egui::pos2(rect.left() + 2.0, y(0.0)), egui::Align2::LEFT_CENTER, "0", small.clone(), gray);
    painter.text(
        rect.center_bottom(),
        egui::Align2::CENTER_BOTTOM,
        "depth from entry (mm) → clearance (mm)",
        small,
        gray,
    );
}
