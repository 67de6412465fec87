//! The workstation: Bevy draws the scene, egui the panels. It shows the document and turns the
//! user's clicks into work for `core`; it holds no domain logic of its own.

mod scene;
mod screenshot;
mod study;
mod tasks;
mod ui;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bevy::prelude::*;
use bevy::window::WindowResolution;
use bevy_egui::EguiPlugin;

pub use study::Study;
pub use tasks::Jobs;

/// What to open first: a path given on the command line, else the bundled phantom.
#[derive(Resource, Clone, Debug)]
pub struct StartupPath(pub PathBuf);

/// The bundled sample scan: next to the sources when run with cargo, else beside the working
/// directory.
pub fn sample_scan() -> PathBuf {
    let beside_sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/dicom");
    if beside_sources.is_dir() { beside_sources } else { PathBuf::from("sample_scans/phantom/dicom") }
}

/// Everything of the workstation except the window and renderer, so that tests can run it with
/// `MinimalPlugins`.
pub fn plugin(app: &mut App) {
    app.add_plugins((tasks::plugin, study::plugin));
}

/// Opens the workstation window and runs until it is closed.
pub fn run(path: Option<PathBuf>) -> ExitCode {
    let path = path.unwrap_or_else(sample_scan);
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "twinplan".into(),
            resolution: WindowResolution::new(1600, 1000),
            ..default()
        }),
        ..default()
    }))
    .add_plugins(EguiPlugin::default())
    .add_plugins((plugin, scene::plugin, ui::plugin, screenshot::plugin))
    .insert_resource(StartupPath(path));
    match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    }
}
