//! The open plan: the document, its undo history and what changed since the views last looked.
//! Panels and tools send [`Edit`]s; one system applies them in order, so every change to the plan
//! goes through a command and can be undone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bevy::prelude::*;

use super::notices::Notices;
use super::sets::Stage;
use crate::core::document::{Changes, Command, History, PlanDocument};

#[derive(Resource, Default)]
pub struct Doc {
    pub doc: PlanDocument,
    pub history: History,
    /// The plan file it was opened from, if any.
    pub path: Option<PathBuf>,
    /// Per label, bumped when its voxels change (meshes rebuild from it).
    pub label_revs: BTreeMap<u16, u64>,
    /// Bumped when the whole label map is replaced (a new scan or plan).
    pub generation: u64,
    /// Bumped when any voxel, display setting or the view changes.
    pub labels_rev: u64,
    pub display_rev: u64,
    pub view_rev: u64,
    pub trajectories_rev: u64,
}

impl Doc {
    /// A freshly opened plan: no history, everything to be rebuilt.
    pub fn replace(&mut self, doc: PlanDocument, path: Option<PathBuf>) {
        self.doc = doc;
        self.history = History::default();
        self.path = path;
        self.generation += 1;
        self.label_revs.clear();
        self.labels_rev += 1;
        self.display_rev += 1;
        self.view_rev += 1;
        self.trajectories_rev += 1;
    }

    fn note(&mut self, changes: &Changes) {
        let rev = self.doc.revision;
        for &l in &changes.labels {
            self.label_revs.insert(l, rev);
        }
        if !changes.labels.is_empty() {
            self.labels_rev += 1;
        }
        if changes.segments || !changes.display.is_empty() {
            self.display_rev += 1;
        }
        if changes.view {
            self.view_rev += 1;
        }
        if changes.trajectories {
            self.trajectories_rev += 1;
        }
    }

    /// The revision a label's voxels were last changed at (0: as loaded).
    pub fn label_rev(&self, label: u16) -> u64 {
        self.label_revs.get(&label).copied().unwrap_or(0)
    }
}

/// A change to the plan, or a step through its history.
#[derive(Message, Debug, Clone)]
pub enum Edit {
    /// `merge`: commands with the same key until [`Edit::Seal`] are one undo step (a drag).
    Do {
        command: Command,
        merge: Option<String>,
    },
    Seal,
    Undo,
    Redo,
}

impl Edit {
    pub fn run(command: Command) -> Edit {
        Edit::Do { command, merge: None }
    }

    pub fn drag(command: Command, key: impl Into<String>) -> Edit {
        Edit::Do { command, merge: Some(key.into()) }
    }
}

pub(super) fn apply_edits(mut edits: MessageReader<Edit>, mut doc: ResMut<Doc>, mut notices: ResMut<Notices>) {
    for edit in edits.read() {
        let d = &mut *doc;
        let result = match edit.clone() {
            Edit::Do { command, merge } => d.history.execute(&mut d.doc, command, merge.as_deref()).map(Some),
            Edit::Seal => {
                d.history.seal();
                Ok(None)
            }
            Edit::Undo => d.history.undo(&mut d.doc),
            Edit::Redo => d.history.redo(&mut d.doc),
        };
        match result {
            Ok(Some(changes)) => d.note(&changes),
            Ok(None) => {}
            Err(e) => notices.error = Some(format!("The change was not made: {e}")),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Doc>().add_message::<Edit>().add_systems(Update, apply_edits.in_set(Stage::Edit));
}
