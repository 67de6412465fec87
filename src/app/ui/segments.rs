//! The segment table: which structure edits go to, and each one's visibility, colour, opacity,
//! category and safety margin. Every change is a command.

use bevy_egui::egui;

use super::name_edit::name_edit;
use crate::app::document::{Doc, Edit};
use crate::app::intent::Intent;
use crate::app::tools::Tools;
use crate::core::document::{Command, SegmentDisplay};
use crate::core::segmentation::Category;

pub fn segments_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    settings: &crate::core::settings::Settings,
    tools: &mut Tools,
    out: &mut Vec<Intent>,
) {
    let d = &doc.doc;
    if d.segmentation.segments.is_empty() {
        ui.label("No segments yet: add one, then use a tool below.");
    }
    egui::Grid::new("segments").num_columns(5).spacing([6.0, 4.0]).striped(true).show(ui, |ui| {
        for s in &d.segmentation.segments {
            let label = s.label;
            let display = d.display_of(label);
            let mut set_display = |display: SegmentDisplay, key: Option<String>| {
                let command = Command::SetDisplay { label, display };
                out.push(Intent::Edit(match key {
                    Some(k) => Edit::drag(command, k),
                    None => Edit::run(command),
                }));
            };
            let mut visible = display.visible;
            if ui.checkbox(&mut visible, "").on_hover_text("Show").changed() {
                set_display(SegmentDisplay { visible, ..display }, None);
            }
            let mut color = display.color;
            if ui.color_edit_button_srgb(&mut color).changed() {
                set_display(SegmentDisplay { color, ..display }, Some(format!("color{label}")));
            }
            let active = tools.active == Some(label);
            let name = if s.critical { format!("{} ⚠", s.name) } else { s.name.clone() };
            // The volume counts every voxel: only when the tooltip shows, not in every frame.
            let hover = |ui: &mut egui::Ui| {
                let volume_ml = d.segmentation.volume_mm3(label) / 1000.0;
                ui.label(format!("{}, {volume_ml:.1} ml; click to edit it", s.category.name()));
            };
            if ui.selectable_label(active, name).on_hover_ui(hover).clicked() {
                tools.active = Some(label);
            }
            let mut opacity = display.opacity;
            let r = ui.add(egui::Slider::new(&mut opacity, 0.0..=1.0).show_value(false)).on_hover_text("Opacity");
            if r.changed() {
                set_display(SegmentDisplay { opacity, ..display }, Some(format!("opacity{label}")));
            }
            if r.drag_stopped() {
                out.push(Intent::Edit(Edit::Seal));
            }
            if ui.small_button("🗑").on_hover_text("Remove the segment (undo brings it back)").clicked()
                && let Ok(c) = Command::remove_segment(d, label)
            {
                out.push(Intent::Edit(Edit::run(c)));
            }
            ui.end_row();
        }
    });
    ui.horizontal(|ui| {
        let id = egui::Id::new("new-segment-category");
        let mut category = ui.data(|m| m.get_temp::<usize>(id)).unwrap_or(7);
        egui::ComboBox::from_id_salt("new-category").selected_text(Category::ALL[category].name()).show_ui(ui, |ui| {
            for (i, c) in Category::ALL.iter().enumerate() {
                ui.selectable_value(&mut category, i, c.name());
            }
        });
        ui.data_mut(|m| m.insert_temp(id, category));
        if ui.button("Add segment").clicked() {
            let c = Category::ALL[category];
            let name = format!("{} {}", capitalised(c.name()), d.segmentation.segments.len() + 1);
            let command = Command::add_segment_with_margin(d, &name, c, settings.margin_mm(c));
            if let Command::AddSegment { segment, .. } = &command {
                tools.active = Some(segment.label);
            }
            out.push(Intent::Edit(Edit::run(command)));
        }
    });
    // The active segment's properties.
    let Some(s) = tools.active.and_then(|l| d.segmentation.segment(l)) else { return };
    ui.separator();
    ui.label(egui::RichText::new(&s.name).strong());
    let label = s.label;
    egui::Grid::new("segment-props").num_columns(2).show(ui, |ui| {
        ui.label("Name");
        if let Some(name) = name_edit(ui, egui::Id::new(("segment name", label)), &s.name) {
            out.push(Intent::Edit(Edit::run(Command::RenameSegment { label, name })));
        }
        ui.end_row();
        ui.label("Category");
        let mut category = s.category;
        egui::ComboBox::from_id_salt("category").selected_text(category.name()).show_ui(ui, |ui| {
            for c in Category::ALL {
                ui.selectable_value(&mut category, c, c.name());
            }
        });
        if category != s.category {
            out.push(Intent::Edit(Edit::run(Command::SetCategory { label, category })));
        }
        ui.end_row();
        ui.label("Safety margin");
        let mut margin = s.margin_mm;
        let r = ui.add(egui::DragValue::new(&mut margin).range(0.0..=50.0).speed(0.1).suffix(" mm"));
        if r.changed() {
            out.push(Intent::Edit(Edit::drag(
                Command::SetMargin { label, margin_mm: margin },
                format!("margin{label}"),
            )));
        }
        if r.drag_stopped() || r.lost_focus() {
            out.push(Intent::Edit(Edit::Seal));
        }
        ui.end_row();
        ui.label("Critical");
        let mut critical = s.critical;
        if ui.checkbox(&mut critical, "checked for clearance").changed() {
            out.push(Intent::Edit(Edit::run(Command::SetCritical { label, critical })));
        }
        ui.end_row();
        ui.label("Recipe");
        ui.label(format!("{} step(s)", s.steps.len()));
        ui.end_row();
    });
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
