//! The 3D scene: orbit camera, headlight, the scan's extent and the crosshair planes. Patient
//! space becomes Bevy's world here and nowhere else.

use std::f32::consts::{FRAC_PI_2, PI};

use bevy::camera::CameraOutputMode;
use bevy::camera::visibility::RenderLayers;
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiGlobalSettings, PrimaryEguiContext, egui};
use nalgebra::Point3;

use super::document::Doc;
use super::frames::world_from_patient;
use super::layout::{SliceAxis, ViewRects, set_viewport, viewport_for};
use super::study::Study;

#[derive(Component)]
pub struct MainCamera;

#[derive(Component)]
struct Headlight;

/// The six views a surgeon names by the side of the patient the camera looks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandardView {
    Anterior,
    Posterior,
    Left,
    Right,
    Superior,
    Inferior,
}

impl StandardView {
    pub const ALL: [StandardView; 6] = [
        StandardView::Anterior,
        StandardView::Posterior,
        StandardView::Left,
        StandardView::Right,
        StandardView::Superior,
        StandardView::Inferior,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StandardView::Anterior => "Anterior",
            StandardView::Posterior => "Posterior",
            StandardView::Left => "Left",
            StandardView::Right => "Right",
            StandardView::Superior => "Superior",
            StandardView::Inferior => "Inferior",
        }
    }

    /// (yaw, pitch) of the orbit: head up for the side views, anterior up from above and below.
    fn angles(self) -> (f32, f32) {
        match self {
            StandardView::Anterior => (0.0, 0.0),
            StandardView::Posterior => (PI, 0.0),
            StandardView::Left => (FRAC_PI_2, 0.0),
            StandardView::Right => (-FRAC_PI_2, 0.0),
            StandardView::Superior => (PI, -FRAC_PI_2),
            StandardView::Inferior => (0.0, FRAC_PI_2),
        }
    }
}

/// The 3D camera orbits a target point.
#[derive(Resource, Debug, Clone)]
pub struct Orbit {
    pub target: Vec3,
    pub yaw: f32,
    pub pitch: f32,
    pub distance: f32,
    /// Where "reset" goes back to.
    pub home: (Vec3, f32),
}

impl Default for Orbit {
    fn default() -> Self {
        Orbit { target: Vec3::ZERO, yaw: 0.0, pitch: 0.0, distance: 500.0, home: (Vec3::ZERO, 500.0) }
    }
}

impl Orbit {
    pub fn rotation(&self) -> Quat {
        Quat::from_rotation_y(self.yaw) * Quat::from_rotation_x(self.pitch)
    }

    pub fn transform(&self) -> Transform {
        let r = self.rotation();
        Transform { translation: self.target + r * Vec3::Z * self.distance, rotation: r, ..default() }
    }

    /// Puts the camera at `eye`, looking at `target` (world space; the orbit has no roll).
    pub fn look(&mut self, eye: Vec3, target: Vec3) {
        let back = eye - target;
        let distance = back.length();
        if distance <= 1e-3 {
            return;
        }
        let b = back / distance;
        self.target = target;
        self.pitch = -b.y.clamp(-1.0, 1.0).asin();
        self.yaw = b.x.atan2(b.z);
        self.distance = distance;
    }

    pub fn set_view(&mut self, v: StandardView) {
        (self.yaw, self.pitch) = v.angles();
    }

    pub fn reset(&mut self) {
        (self.target, self.distance) = self.home;
        self.set_view(StandardView::Anterior);
    }

    /// Turns by screen-space drag (pixels).
    pub fn rotate(&mut self, dx: f32, dy: f32) {
        self.yaw -= dx * 0.008;
        self.pitch = (self.pitch - dy * 0.008).clamp(-FRAC_PI_2, FRAC_PI_2);
    }

    /// Moves the target with the drag, at a speed that keeps the scene under the pointer.
    pub fn pan(&mut self, dx: f32, dy: f32, viewport_height_px: f32) {
        let mm_per_px = 2.0 * self.distance * (FOV_Y / 2.0).tan() / viewport_height_px.max(1.0);
        let r = self.rotation();
        self.target += (r * Vec3::X * -dx + r * Vec3::Y * dy) * mm_per_px;
    }

    pub fn zoom(&mut self, factor: f32) {
        self.distance = (self.distance * factor).clamp(5.0, 5000.0);
    }
}

/// The 3D view's vertical field of view.
pub const FOV_Y: f32 = PI / 5.0;

pub const AXIS_COLORS: [egui::Color32; 3] =
    [egui::Color32::from_rgb(230, 80, 80), egui::Color32::from_rgb(90, 200, 90), egui::Color32::from_rgb(230, 200, 60)];

fn setup(mut commands: Commands, mut egui_settings: ResMut<EguiGlobalSettings>) {
    // Colours are data here (a structure's colour means something): no tone mapping, no dither.
    commands.spawn((
        MainCamera,
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection { fov: FOV_Y, near: 1.0, far: 20000.0, ..default() }),
        Tonemapping::None,
        DebandDither::Disabled,
        Orbit::default().transform(),
    ));
    // egui draws on its own camera over the whole window, after every view.
    egui_settings.auto_create_primary_context = false;
    // egui smooths its own edges: multisampling and dithering the whole window would only add
    // full-window passes (the dearest work of a software renderer).
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        Msaa::Off,
        DebandDither::Disabled,
        RenderLayers::none(),
        Camera {
            order: 10,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
    commands.spawn((Headlight, DirectionalLight { illuminance: 9000.0, ..default() }, Transform::default()));
    commands.insert_resource(GlobalAmbientLight { brightness: 400.0, ..default() });
    commands.insert_resource(ClearColor(Color::srgb(0.08, 0.09, 0.11)));
}

/// Frames the camera on the scan whenever a new one arrives.
fn frame_study(study: Res<Study>, mut orbit: ResMut<Orbit>, mut seen: Local<u64>) {
    if study.revision == *seen {
        return;
    }
    *seen = study.revision;
    let Some(v) = &study.volume else { return };
    let (lo, hi) = v.grid.bounds_mm();
    let centre = world_from_patient(&nalgebra::center(&lo, &hi));
    let radius = (hi - lo).norm() as f32 / 2.0;
    orbit.home = (centre, radius / (FOV_Y / 2.0).sin() * 1.05);
    orbit.reset();
}

/// The camera follows the orbit; the light comes from over the viewer's shoulder.
fn place_camera(
    orbit: Res<Orbit>,
    mut camera: Query<&mut Transform, (With<MainCamera>, Without<Headlight>)>,
    mut light: Query<&mut Transform, (With<Headlight>, Without<MainCamera>)>,
) {
    if !orbit.is_changed() {
        return;
    }
    let t = orbit.transform();
    for mut c in &mut camera {
        *c = t;
    }
    for mut l in &mut light {
        l.rotation = t.rotation * Quat::from_rotation_y(-0.35) * Quat::from_rotation_x(-0.45);
    }
}

/// The scan's outline (exact for oblique and sheared grids) and the three slice planes through
/// the crosshair, in the slice views' colours.
fn draw_extent(study: Res<Study>, doc: Res<Doc>, mut gizmos: Gizmos) {
    let Some(v) = &study.volume else { return };
    let c = v.grid.corners_mm().map(|p| world_from_patient(&p));
    for (a, b) in [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)] {
        gizmos.line(c[a], c[b], Color::srgba(0.45, 0.6, 0.8, 0.6));
    }
    let (lo, hi) = v.grid.bounds_mm();
    let x = doc.doc.view.crosshair_mm;
    for axis in SliceAxis::ALL {
        let n = axis.normal_index();
        let (u, w) = ((n + 1) % 3, (n + 2) % 3);
        let corner = |a: f64, b: f64| {
            let mut p = [0.0; 3];
            p[n] = x[n];
            p[u] = a;
            p[w] = b;
            world_from_patient(&Point3::from(p))
        };
        let q = [corner(lo[u], lo[w]), corner(hi[u], lo[w]), corner(hi[u], hi[w]), corner(lo[u], hi[w])];
        let [r, g, b, _] = AXIS_COLORS[axis as usize].to_array();
        let color = Color::srgb_u8(r, g, b);
        for i in 0..4 {
            gizmos.line(q[i], q[(i + 1) % 4], color);
        }
    }
}

/// Whether frames are drawn by a software rasterizer (Mesa's llvmpipe and the like).
pub fn drawn_in_software(info: &bevy::render::renderer::RenderAdapterInfo) -> bool {
    // wgpu's DeviceType is not re-exported by Bevy; its Debug name is stable.
    format!("{:?}", info.device_type) == "Cpu"
}

/// Multisampling triples the frame time of a software renderer (Mesa's lavapipe) on large
/// meshes; on a GPU it stays.
fn no_msaa_in_software(
    info: Option<Res<bevy::render::renderer::RenderAdapterInfo>>,
    mut cameras: Query<&mut Msaa, With<MainCamera>>,
    mut decided: Local<bool>,
) {
    let Some(info) = info else { return };
    if *decided {
        return;
    }
    *decided = true;
    if drawn_in_software(&info) {
        info!("software renderer ({}): multisampling off", info.name);
        for mut m in &mut cameras {
            *m = Msaa::Off;
        }
    }
}

/// The 3D view fills its rectangle of the layout.
fn fit_viewport(
    rects: Res<ViewRects>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut cameras: Query<&mut Camera, With<MainCamera>>,
) {
    let Some(rect) = rects.three_d else { return };
    for mut cam in &mut cameras {
        set_viewport(&mut cam, viewport_for(rect, &window));
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Orbit>()
        .add_systems(Startup, setup)
        .add_systems(Update, (frame_study, place_camera, draw_extent, fit_viewport, no_msaa_in_software).chain());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looking_from_a_point_puts_the_camera_there_facing_the_target() {
        let mut o = Orbit::default();
        for (eye, target) in
            [(Vec3::new(100.0, 50.0, -80.0), Vec3::new(1.0, 2.0, 3.0)), (Vec3::new(-5.0, -300.0, 10.0), Vec3::ZERO)]
        {
            o.look(eye, target);
            let t = o.transform();
            assert!((t.translation - eye).length() < 1e-3, "{:?} vs {eye:?}", t.translation);
            assert!((t.forward().as_vec3() - (target - eye).normalize()).length() < 1e-4);
        }
    }
}
