//! Presentation mode: the 3D view alone, full window, in large type, the plan's saved views as
//! slides stepped through with the arrow keys, the camera gliding from one to the next.

use bevy::prelude::*;
use bevy::window::RequestRedraw;

use super::frames::world_from_patient;
use super::scene::Orbit;
use crate::core::document::SavedView;

/// How long the camera takes from one slide to the next (s).
const GLIDE_S: f32 = 0.8;

#[derive(Resource, Default)]
pub struct Presentation {
    /// The slide shown (an index into the plan's saved views) while presenting.
    pub slide: Option<usize>,
    glide: Option<Glide>,
}

struct Glide {
    from: Orbit,
    to: Orbit,
    elapsed_s: f32,
}

impl Presentation {
    pub fn presenting(&self) -> bool {
        self.slide.is_some()
    }

    /// Starts (or moves) to slide `index` of `views`, gliding from `orbit`.
    pub fn go_to(&mut self, index: usize, views: &[SavedView], orbit: &Orbit) {
        self.slide = Some(index.min(views.len().saturating_sub(1)));
        let Some(view) = views.get(index) else { return };
        let mut to = orbit.clone();
        to.look(world_from_patient(&view.eye_mm), world_from_patient(&view.look_at_mm));
        // The shorter way round.
        let turn = (to.yaw - orbit.yaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
        to.yaw = orbit.yaw + turn;
        self.glide = Some(Glide { from: orbit.clone(), to, elapsed_s: 0.0 });
    }

    pub fn stop(&mut self) {
        *self = Presentation::default();
    }

    /// The camera `dt_s` further along the glide (`None` when not gliding).
    fn advance(&mut self, dt_s: f32) -> Option<Orbit> {
        let g = self.glide.as_mut()?;
        g.elapsed_s += dt_s;
        let x = (g.elapsed_s / GLIDE_S).clamp(0.0, 1.0);
        // Eased in and out.
        let t = x * x * (3.0 - 2.0 * x);
        let (a, b) = (&g.from, &g.to);
        let orbit = Orbit {
            target: a.target.lerp(b.target, t),
            yaw: a.yaw + (b.yaw - a.yaw) * t,
            pitch: a.pitch + (b.pitch - a.pitch) * t,
            distance: a.distance * (b.distance / a.distance).powf(t),
            home: b.home,
        };
        if x >= 1.0 {
            self.glide = None;
        }
        Some(orbit)
    }
}

fn glide(
    time: Res<Time>,
    mut presentation: ResMut<Presentation>,
    mut orbit: ResMut<Orbit>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    if presentation.glide.is_none() {
        return;
    }
    if let Some(next) = presentation.advance(time.delta_secs()) {
        *orbit = next;
        redraw.write(RequestRedraw);
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Presentation>().add_systems(Update, glide);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    /// The camera arrives where the slide's view was saved, by the short way round, in 0.8 s.
    #[test]
    fn the_camera_glides_to_the_saved_view() {
        let view = SavedView {
            name: "From the left".into(),
            eye_mm: Point3::new(400.0, 0.0, 40.0),
            look_at_mm: Point3::new(0.0, -15.0, 40.0),
            crosshair_mm: Point3::origin(),
        };
        let start = Orbit { yaw: 3.0, ..Orbit::default() };
        let mut p = Presentation::default();
        p.go_to(0, std::slice::from_ref(&view), &start);
        let mut end = start.clone();
        end.look(world_from_patient(&view.eye_mm), world_from_patient(&view.look_at_mm));
        let mut last = start.clone();
        for _ in 0..20 {
            if let Some(o) = p.advance(0.05) {
                last = o;
            }
        }
        assert!(p.glide.is_none() && p.slide == Some(0));
        let eye = last.transform().translation;
        assert!((eye - end.transform().translation).length() < 1e-2, "{eye} against {}", end.transform().translation);
        assert!((last.yaw - start.yaw).abs() <= std::f32::consts::PI + 1e-4, "the short way round");
    }
}
