//! What the user must be told, kept in one place: anything may write a notice, and the panels
//! show them (a failure in a dialog until it is dismissed; autosave trouble and the last thing
//! done, and settings trouble, in the status bar; why an entry search could not run in the Plan panel).

use bevy::prelude::*;

#[derive(Resource, Default)]
pub struct Notices {
    /// A failure, shown in a dialog until dismissed; what is on screen stays as it was.
    pub error: Option<String>,
    /// Autosave cannot keep the work for crash recovery.
    pub autosave: Option<String>,
    /// The settings file was unreadable or could not be written.
    pub settings: Option<String>,
    /// Why the last entry search could not run.
    pub search: Option<String>,
    /// The last thing done the user should know of ("Saved ...").
    pub done: Option<String>,
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Notices>();
}
