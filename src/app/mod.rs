//! The workstation: Bevy draws the scene, egui the panels. It shows the document and turns the
//! user's clicks into work for `core`; it holds no domain logic of its own.

mod activity;
pub mod autosave;
pub mod document;
pub mod entry_search;
mod frames;
mod gpu;
mod intent;
mod job;
mod layout;
mod lod;
pub mod meshes;
mod notices;
pub mod planning;
mod presentation;
mod redraw;
mod scene;
mod screenshot;
mod sets;
pub mod settings;
mod slices;
pub mod studies;
mod study;
mod tasks;
pub mod tools;
mod ui;
mod vessel_preview;
mod volume_render;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bevy::prelude::*;
use bevy::window::WindowResolution;
use bevy_egui::EguiPlugin;

pub use document::{Doc, Edit};
pub use meshes::{ClipMaterial, SegmentMesh, SegmentMeshes};
pub use notices::Notices;
pub use planning::Planning;
pub use studies::Studies;
pub use study::Study;
pub use tasks::{Jobs, StartupPath};

/// The bundled sample plan (the phantom with its structures segmented): where an installed
/// package puts it (`../share/twinplan/` from the binary), else next to the sources when run
/// with cargo, else beside the working directory.
pub fn sample_scan() -> PathBuf {
    let plan = "sample_scans/phantom/phantom.twinplan.json";
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/twinplan").join(plan)))
        .filter(|p| p.is_file());
    let beside_sources = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(plan)).filter(|p| p.is_file());
    installed.or(beside_sources).unwrap_or_else(|| PathBuf::from(plan))
}

/// Everything of the workstation except the window and renderer, so that tests can run it with
/// `MinimalPlugins`.
pub fn plugin(app: &mut App) {
    app.add_plugins((
        tasks::plugin,
        study::plugin,
        document::plugin,
        meshes::plugin,
        tools::plugin,
        vessel_preview::plugin,
        planning::plugin,
        entry_search::plugin,
        notices::plugin,
        sets::plugin,
        studies::plugin,
        settings::plugin,
    ));
}

/// The shaders are built into the binary, so the app runs from any working directory.
fn shaders(app: &mut App) {
    let mut shaders = app.world_mut().resource_mut::<Assets<Shader>>();
    for (handle, source, path) in [
        (slices::SLICE_SHADER, include_str!("../../shaders/slice.wgsl"), "shaders/slice.wgsl"),
        (volume_render::VOLUME_SHADER, include_str!("../../shaders/volume.wgsl"), "shaders/volume.wgsl"),
        (meshes::CLIP_SHADER, include_str!("../../shaders/clip.wgsl"), "shaders/clip.wgsl"),
    ] {
        let _ = shaders.insert(&handle, Shader::from_wgsl(source, path));
    }
}

/// Opens the workstation window and runs until it is closed.
pub fn run(path: Option<PathBuf>) -> ExitCode {
    let path = path.unwrap_or_else(sample_scan);
    // Screenshots are made at the default size and leave the user's settings alone.
    let prefs = settings::Prefs::load(std::env::var_os("TWINPLAN_SCREENSHOT").is_some());
    let layout = prefs.settings.layout;
    let mut app = App::new();
    app.insert_resource(prefs);
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "twinplan".into(),
            resolution: WindowResolution::new(layout.width.round() as u32, layout.height.round() as u32),
            ..default()
        }),
        ..default()
    }))
    .add_plugins(EguiPlugin::default())
    .add_plugins((
        MaterialPlugin::<ClipMaterial>::default(),
        MaterialPlugin::<slices::SliceMaterial>::default(),
        MaterialPlugin::<volume_render::VolumeMaterial>::default(),
    ))
    .add_plugins((plugin, shaders, gpu::plugin, scene::plugin, slices::plugin, volume_render::plugin))
    .add_plugins((ui::plugin, intent::plugin, screenshot::plugin, planning::render_plugin, entry_search::render_plugin))
    .add_plugins((
        activity::plugin,
        autosave::plugin,
        redraw::plugin,
        lod::plugin,
        vessel_preview::render_plugin,
        presentation::plugin,
    ))
    .insert_resource(StartupPath(path));
    match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    }
}
