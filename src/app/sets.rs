//! The order of the workstation's work in a frame, named for what each step does, so that a
//! system says where it belongs instead of naming another module's systems.

use bevy::prelude::*;

/// One frame's steps, in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Carry out what the user asked for in the panels, menus and dialogs.
    Intents,
    /// Turn pointer input (clicks and drags in the views) into edits.
    Input,
    /// Collect the results of background work (loads, segmentation, searches).
    Jobs,
    /// Apply this frame's edits to the plan document.
    Edit,
    /// Rebuild what depends on the document (surfaces, clearances, autosave).
    Rebuild,
    /// Draw what the rebuilt state shows (instruments, markers, heat map).
    Draw,
}

/// At start-up: the volume's GPU resources exist before the views that sample them.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GpuResources;

pub(super) fn plugin(app: &mut App) {
    app.configure_sets(
        Update,
        (Stage::Intents, Stage::Input, Stage::Jobs, Stage::Edit, Stage::Rebuild, Stage::Draw).chain(),
    );
}
