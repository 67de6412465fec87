//! The 3D scene: camera, light, and the scan's extent. Patient space becomes Bevy's world here and
//! nowhere else.

use bevy::camera::visibility::RenderLayers;
use bevy::camera::{CameraOutputMode, Viewport};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiGlobalSettings, PrimaryEguiContext};
use nalgebra::Point3;

use super::study::Study;
use super::ui::FreeArea;

/// Bevy's world is Y-up and right-handed; patient space is LPS. World X = left, Y = superior,
/// Z = anterior (a proper rotation, so handedness and the sides are kept).
pub fn world_from_patient(p: &Point3<f64>) -> Vec3 {
    Vec3::new(p.x as f32, p.z as f32, -p.y as f32)
}

#[derive(Component)]
pub struct MainCamera;

fn setup(mut commands: Commands, mut egui_settings: ResMut<EguiGlobalSettings>) {
    // Colours are data here (a structure's colour means something): no tone mapping.
    commands.spawn((
        MainCamera,
        Camera3d::default(),
        Tonemapping::None,
        Transform::from_xyz(0.0, 0.0, 500.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    // egui draws on its own camera over the whole window, after the 3D view.
    egui_settings.auto_create_primary_context = false;
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
    commands.spawn((
        DirectionalLight { illuminance: 8000.0, ..default() },
        Transform::from_xyz(200.0, 300.0, 400.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.insert_resource(ClearColor(Color::srgb(0.08, 0.09, 0.11)));
}

/// Frames the camera on the scan whenever a new one arrives.
fn frame_study(study: Res<Study>, mut camera: Query<&mut Transform, With<MainCamera>>, mut seen: Local<u64>) {
    if study.revision == *seen {
        return;
    }
    *seen = study.revision;
    let Some(v) = &study.volume else { return };
    let (lo, hi) = v.grid.bounds_mm();
    let centre = world_from_patient(&nalgebra::center(&lo, &hi));
    let radius = (hi - lo).norm() as f32 / 2.0;
    for mut t in &mut camera {
        *t = Transform::from_translation(centre + Vec3::new(0.0, 0.0, radius * 2.6)).looking_at(centre, Vec3::Y);
    }
}

/// The scan's outline: the twelve edges of its voxel grid, exact for oblique and sheared grids.
fn draw_extent(study: Res<Study>, mut gizmos: Gizmos) {
    let Some(v) = &study.volume else { return };
    let c = v.grid.corners_mm().map(|p| world_from_patient(&p));
    for (a, b) in [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)] {
        gizmos.line(c[a], c[b], Color::srgb(0.45, 0.6, 0.8));
    }
}

/// The 3D view fills what the panels leave free.
fn fit_viewport(
    free: Res<FreeArea>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut cameras: Query<&mut Camera, With<MainCamera>>,
) {
    let Some(rect) = free.0 else { return };
    let scale = window.scale_factor();
    let (w, h) = (window.physical_width(), window.physical_height());
    let x0 = ((rect.min.x * scale).max(0.0) as u32).min(w.saturating_sub(1));
    let y0 = ((rect.min.y * scale).max(0.0) as u32).min(h.saturating_sub(1));
    let x1 = ((rect.max.x * scale) as u32).clamp(x0 + 1, w.max(x0 + 1));
    let y1 = ((rect.max.y * scale) as u32).clamp(y0 + 1, h.max(y0 + 1));
    let viewport =
        Viewport { physical_position: UVec2::new(x0, y0), physical_size: UVec2::new(x1 - x0, y1 - y0), ..default() };
    for mut cam in &mut cameras {
        if cam.viewport.as_ref().map(|v| (v.physical_position, v.physical_size))
            != Some((viewport.physical_position, viewport.physical_size))
        {
            cam.viewport = Some(viewport.clone());
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, setup).add_systems(Update, (frame_study, draw_extent, fit_viewport));
}
