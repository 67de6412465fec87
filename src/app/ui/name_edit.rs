//! A name field that edits a draft and gives the new name once, when the user is done (Enter or
//! clicking away), so that a rename is one command and one undo step, not one per keystroke.

use bevy_egui::egui;

/// Shows the field for `current`; returns the new name when an edit ends changed and not blank.
pub fn name_edit(ui: &mut egui::Ui, id: egui::Id, current: &str) -> Option<String> {
    let mut draft = ui.data(|d| d.get_temp::<String>(id)).unwrap_or_else(|| current.to_owned());
    let r = ui.add(egui::TextEdit::singleline(&mut draft).id(id).desired_width(160.0));
    if r.lost_focus() {
        ui.data_mut(|d| d.remove::<String>(id));
        let name = draft.trim();
        return (!name.is_empty() && name != current).then(|| name.to_owned());
    }
    if r.has_focus() {
        ui.data_mut(|d| d.insert_temp(id, draft));
    } else {
        // Not being edited: follow the document (undo, another panel).
        ui.data_mut(|d| d.remove::<String>(id));
    }
    None
}
