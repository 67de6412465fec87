//! Presentation mode: the 3D view alone, full window, in large type, the plan's saved views as
//! slides stepped through with the arrow keys, the camera gliding from one to the next and the
//! segments fading to the opacity each view recorded. The plan itself is not changed.

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy::window::RequestRedraw;

use super::frames::world_from_patient;
use super::scene::Orbit;
use crate::core::document::PlanDocument;

/// How long the camera takes from one slide to the next (s).
const GLIDE_S: f32 = 0.8;

#[derive(Resource, Default)]
pub struct Presentation {
    /// The slide shown (an index into the plan's saved views) while presenting.
    pub slide: Option<usize>,
    glide: Option<Glide>,
    /// Each segment's opacity as the slides show it now.
    shown: BTreeMap<u16, f32>,
    /// Counts changes of `shown` (and the end of presenting), for the surfaces to follow.
    pub rev: u64,
}

struct Glide {
    from: Orbit,
    to: Orbit,
    fade_from: BTreeMap<u16, f32>,
    fade_to: BTreeMap<u16, f32>,
    elapsed_s: f32,
}

impl Presentation {
    pub fn presenting(&self) -> bool {
        self.slide.is_some()
    }

    /// The segment's opacity on the slides, while presenting (else the plan's own applies).
    pub fn opacity(&self, label: u16) -> Option<f32> {
        self.slide.and(self.shown.get(&label).copied())
    }

    /// Starts (or moves) to slide `index` of the plan's saved views, gliding from `orbit` and
    /// fading from what is shown now.
    pub fn go_to(&mut self, index: usize, doc: &PlanDocument, orbit: &Orbit) {
        let views = &doc.saved_views;
        let fade_from = if self.presenting() { self.shown.clone() } else { doc.shown_opacities() };
        self.slide = Some(index.min(views.len().saturating_sub(1)));
        self.shown = fade_from.clone();
        self.rev += 1;
        let Some(view) = views.get(index) else { return };
        let fade_to = doc.segmentation.segments.iter().map(|s| (s.label, view.opacity_of(doc, s.label))).collect();
        let mut to = orbit.clone();
        to.look(world_from_patient(&view.eye_mm), world_from_patient(&view.look_at_mm));
        // The shorter way round.
        let turn = (to.yaw - orbit.yaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI;
        to.yaw = orbit.yaw + turn;
        self.glide = Some(Glide { from: orbit.clone(), to, fade_from, fade_to, elapsed_s: 0.0 });
    }

    pub fn stop(&mut self) {
        *self = Presentation { rev: self.rev + 1, ..Presentation::default() };
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
        let faded = |label: &u16, to: &f32| {
            let from = g.fade_from.get(label).copied().unwrap_or(*to);
            (*label, from + (to - from) * t)
        };
        self.shown = g.fade_to.iter().map(|(l, o)| faded(l, o)).collect();
        self.rev += 1;
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
    use crate::core::document::SavedView;
    use nalgebra::Point3;

    /// The camera arrives where the slide's view was saved, by the short way round, in 0.8 s;
    /// the segment the view hid fades out on the way, the one it does not name keeps the plan's
    /// opacity; leaving the presentation gives the plan's own back.
    #[test]
    fn the_camera_glides_to_the_saved_view_and_segments_fade() {
        use crate::core::segmentation::Category;
        let mut doc = PlanDocument::default();
        let skin = doc.segmentation.add("Skin", Category::Skin);
        let other = doc.segmentation.add("Artery", Category::Vessel);
        let skin_was = doc.shown_opacity(skin);
        assert!(skin_was > 0.0);
        let view = SavedView {
            name: "From the left".into(),
            eye_mm: Point3::new(400.0, 0.0, 40.0),
            look_at_mm: Point3::new(0.0, -15.0, 40.0),
            crosshair_mm: Point3::origin(),
            opacity: [(skin, 0.0)].into(),
        };
        doc.saved_views = vec![view.clone()];
        let start = Orbit { yaw: 3.0, ..Orbit::default() };
        let mut p = Presentation::default();
        p.go_to(0, &doc, &start);
        assert_eq!(p.opacity(skin), Some(skin_was), "fades from what was shown");
        p.advance(0.4);
        let half = p.opacity(skin).unwrap();
        assert!(half > 0.0 && half < skin_was, "{half} half way");
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
        assert_eq!(p.opacity(skin), Some(0.0));
        assert_eq!(p.opacity(other), Some(doc.shown_opacity(other)));
        let rev = p.rev;
        p.stop();
        assert!(p.opacity(skin).is_none() && p.rev > rev);
    }
}
