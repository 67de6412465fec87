//! The windows of the Edit and Help menus: Settings (kept between sessions), About, and every
//! keyboard and mouse binding in one list.

use bevy_egui::egui;

use crate::app::tools::{Dialog, Tools};
use crate::core::planning::InstrumentKind;
use crate::core::settings::{Coordinates, Settings};

/// Every binding of the workstation: (keys or mouse, what it does). The menus show their own
/// shortcuts too; a test checks that each key the code reads is listed here.
pub const SHORTCUTS: [(&str, &str); 21] = [
    ("Ctrl+S", "Save the plan"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Y or Ctrl+Shift+Z", "Redo"),
    ("F5", "Present the saved views (full window)"),
    ("Right, Space, Page Down", "While presenting: next saved view"),
    ("Left, Page Up", "While presenting: previous saved view"),
    ("Escape", "Leave the presentation"),
    ("F12", "Frame rate and triangle count"),
    ("Arrow keys", "3D view: turn (pointer over the 3D view)"),
    ("Plus (or =), Minus", "3D view: zoom in, out"),
    ("Home", "3D view: back to the starting view"),
    ("1 to 6", "3D view: from anterior, posterior, left, right, superior, inferior"),
    ("Left drag", "3D view: turn; slice: use the chosen tool"),
    ("Right or middle drag", "3D view: pan"),
    ("Wheel", "3D view: zoom"),
    ("Click on a surface", "3D view: use the chosen tool there"),
    ("Wheel", "Slice: next or previous slice"),
    ("Ctrl+wheel", "Slice: zoom"),
    ("Right drag", "Slice: window (sideways) and level (up, down)"),
    ("Middle drag", "Slice: pan"),
    ("Double click", "Study browser: open the series"),
];

/// Edit > Settings: changes apply at once and are kept for the next session.
pub fn settings_window(ctx: &egui::Context, tools: &mut Tools, settings: &mut Settings) {
    let mut open = tools.dialog == Some(Dialog::Settings);
    let mut next = settings.clone();
    egui::Window::new("Settings").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
        egui::Grid::new("settings").num_columns(2).spacing([16.0, 6.0]).show(ui, |ui| {
            ui.label("Coordinates shown");
            ui.horizontal(|ui| {
                ui.radio_value(&mut next.coordinates, Coordinates::Lps, "LPS (DICOM)")
                    .on_hover_text("x to the patient's left, y to posterior, z to superior");
                ui.radio_value(&mut next.coordinates, Coordinates::Ras, "RAS (3D Slicer)")
                    .on_hover_text("x to the patient's right, y to anterior, z to superior");
            });
            ui.end_row();
            ui.label("New trajectories use");
            egui::ComboBox::from_id_salt("default-instrument").selected_text(next.instrument.name()).show_ui(
                ui,
                |ui| {
                    for kind in InstrumentKind::PRESETS {
                        ui.selectable_value(&mut next.instrument, kind, kind.name());
                    }
                },
            );
            ui.end_row();
            ui.label("New vessels' safety margin");
            ui.add(egui::DragValue::new(&mut next.vessel_margin_mm).range(0.0..=20.0).speed(0.1).suffix(" mm"));
            ui.end_row();
            ui.label("New nerves' safety margin");
            ui.add(egui::DragValue::new(&mut next.nerve_margin_mm).range(0.0..=20.0).speed(0.1).suffix(" mm"));
            ui.end_row();
        });
        ui.label(
            egui::RichText::new("Plans, reports and exports stay in LPS; only what is shown changes.").small().weak(),
        );
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Back to the defaults").on_hover_text("Recent files and the network are kept").clicked() {
                next = Settings {
                    recent: next.recent.clone(),
                    network: next.network.clone(),
                    layout: next.layout,
                    ..Settings::default()
                };
            }
        });
    });
    if next != *settings {
        *settings = next;
    }
    if !open && tools.dialog == Some(Dialog::Settings) {
        tools.dialog = None;
    }
}

/// Help > About: what twinplan is and is not.
pub fn about_window(ctx: &egui::Context, tools: &mut Tools) {
    let mut open = tools.dialog == Some(Dialog::About);
    egui::Window::new("About twinplan").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
        ui.heading(format!("twinplan {}", env!("CARGO_PKG_VERSION")));
        ui.label(env!("CARGO_PKG_DESCRIPTION"));
        ui.label(format!("Licence: {}", env!("CARGO_PKG_LICENSE")));
        ui.separator();
        ui.label(egui::RichText::new("Not a medical device.").strong().color(egui::Color32::from_rgb(230, 150, 40)));
        ui.label(
            "twinplan is not certified for clinical use. Every clearance, coordinate and verdict must be checked \
             by the responsible clinician on the images themselves before it is relied on.",
        );
    });
    if !open && tools.dialog == Some(Dialog::About) {
        tools.dialog = None;
    }
}

/// Help > Keyboard shortcuts: [`SHORTCUTS`] as a table.
pub fn shortcuts_window(ctx: &egui::Context, tools: &mut Tools) {
    let mut open = tools.dialog == Some(Dialog::Shortcuts);
    egui::Window::new("Keyboard shortcuts and mouse").open(&mut open).collapsible(false).show(ctx, |ui| {
        egui::Grid::new("shortcuts").num_columns(2).striped(true).spacing([20.0, 4.0]).show(ui, |ui| {
            for (keys, action) in SHORTCUTS {
                ui.label(egui::RichText::new(keys).monospace());
                ui.label(action);
                ui.end_row();
            }
        });
    });
    if !open && tools.dialog == Some(Dialog::Shortcuts) {
        tools.dialog = None;
    }
}

#[cfg(test)]
mod tests {
    /// Each key the workstation's code reads (`Key::...`) is named in the shortcuts list.
    #[test]
    fn every_key_read_is_listed() {
        let listed: String = super::SHORTCUTS.iter().map(|(k, _)| format!("{k} ")).collect();
        let names = [
            ("ArrowLeft", "Arrow keys"),
            ("ArrowRight", "Arrow keys"),
            ("ArrowUp", "Arrow keys"),
            ("ArrowDown", "Arrow keys"),
            ("Plus", "Plus"),
            ("Equals", "="),
            ("Minus", "Minus"),
            ("Home", "Home"),
            ("Num1", "1 to 6"),
            ("Num2", "1 to 6"),
            ("Num3", "1 to 6"),
            ("Num4", "1 to 6"),
            ("Num5", "1 to 6"),
            ("Num6", "1 to 6"),
            ("F5", "F5"),
            ("F12", "F12"),
            ("Z", "Ctrl+Z"),
            ("Y", "Ctrl+Y"),
            ("S", "Ctrl+S"),
            ("Space", "Space"),
            ("PageDown", "Page Down"),
            ("PageUp", "Page Up"),
            ("Escape", "Escape"),
        ];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app");
        let mut files = vec![root.clone()];
        let mut read = Vec::new();
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p.extension().is_some_and(|e| e == "rs") && !p.ends_with("preferences.rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (at, _) in text.match_indices("Key::") {
                    let name: String =
                        text[at + 5..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>();
                    read.push((name, p.clone()));
                }
            }
        }
        assert!(read.len() > 20, "the keys read: {read:?}");
        for (name, file) in read {
            let (_, shown) = names
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("Key::{name} in {} is not in the shortcuts list", file.display()));
            assert!(listed.contains(shown), "{shown} (Key::{name}) missing from the list");
        }
    }
}
