//! Animations of the plan's 3D scene for teaching, rendered without a window by the report's ray
//! caster (the same surfaces, colours and opacities, so it runs wherever the report does): a
//! turntable about the patient's superior axis, or the path through the saved views with the
//! segments fading in and out as each view records them; written by `encode`.

use std::collections::BTreeMap;

use nalgebra::{Point3, Vector3};

use crate::core::document::{PlanDocument, SavedView};
use crate::core::progress::{Cancelled, Progress};
use crate::core::report::raster::{Camera, Rgb, Shown};
/// How far the turntable's camera is from the centre (mm), and how high it looks down (degrees).
const DISTANCE_MM: f64 = 420.0;
const ELEVATION_DEG: f64 = 20.0;

/// How the camera moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Motion {
    /// Once round the patient's superior axis, starting in front of the face.
    Turntable,
    /// From each saved view to the next.
    SavedViews,
}

#[derive(Debug, thiserror::Error)]
pub enum AnimationError {
    #[error("the plan has no surfaces to show: every segment is empty or hidden")]
    Empty,
    #[error("the plan has fewer than two saved views to move between ({0}): save some, or ask for a turntable")]
    TooFewViews(usize),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// One frame of an animation: where the camera is and how opaque each segment is.
pub struct Shot {
    pub camera: Camera,
    pub opacity: BTreeMap<u16, f32>,
}

/// The frames of an animation lasting `seconds` at `fps` about `centre_mm` (LPS).
pub fn shots(
    doc: &PlanDocument,
    motion: Motion,
    seconds: f64,
    fps: u32,
    centre_mm: Point3<f64>,
) -> Result<Vec<Shot>, AnimationError> {
    let frames = ((seconds * f64::from(fps)).round() as usize).max(2);
    let camera =
        |eye_mm: Point3<f64>, look_at_mm: Point3<f64>| Camera { eye_mm, look_at_mm, up: Vector3::z(), fov_deg: 34.0 };
    match motion {
        Motion::Turntable => Ok((0..frames)
            .map(|k| {
                // The face is anterior: -y in LPS. A full turn, the last frame one step short of it.
                let a = std::f64::consts::TAU * k as f64 / frames as f64;
                let e = ELEVATION_DEG.to_radians();
                let dir = Vector3::new(a.sin() * e.cos(), -a.cos() * e.cos(), e.sin());
                Shot { camera: camera(centre_mm + dir * DISTANCE_MM, centre_mm), opacity: doc.shown_opacities() }
            })
            .collect()),
        Motion::SavedViews => {
            let views = &doc.saved_views;
            if views.len() < 2 {
                return Err(AnimationError::TooFewViews(views.len()));
            }
            let legs = views.len() - 1;
            Ok((0..frames)
                .map(|k| {
                    let x = k as f64 / (frames - 1) as f64 * legs as f64;
                    let leg = (x.floor() as usize).min(legs - 1);
                    let f = x - leg as f64;
                    // Eased in and out at each view.
                    let t = f * f * (3.0 - 2.0 * f);
                    let (a, b) = (&views[leg], &views[leg + 1]);
                    let opacity = doc
                        .segmentation
                        .segments
                        .iter()
                        .map(|s| (s.label, SavedView::faded(doc, a, b, t as f32, s.label)))
                        .collect();
                    let eye = a.eye_mm + (b.eye_mm - a.eye_mm) * t;
                    Shot { camera: camera(eye, a.look_at_mm + (b.look_at_mm - a.look_at_mm) * t), opacity }
                })
                .collect())
        }
    }
}

/// The most opaque each segment is in any of the shots: those above 0 need a surface.
pub fn most_opaque(shots: &[Shot]) -> BTreeMap<u16, f32> {
    let mut most = BTreeMap::new();
    for (label, o) in shots.iter().flat_map(|s| &s.opacity) {
        let m = most.entry(*label).or_insert(0.0f32);
        *m = m.max(*o);
    }
    most
}

/// Renders every shot, `size` pixels square, with the trajectories drawn over.
pub fn render(
    doc: &PlanDocument,
    surfaces: &mut [Shown],
    shots: &[Shot],
    size: usize,
    progress: &Progress,
) -> Result<Vec<Rgb>, AnimationError> {
    if surfaces.is_empty() {
        return Err(AnimationError::Empty);
    }
    progress.begin("Rendering frames", shots.len() as u64);
    let mut frames = Vec::with_capacity(shots.len());
    for shot in shots {
        progress.check()?;
        for s in surfaces.iter_mut() {
            s.set_opacity(shot.opacity.get(&s.label).copied().unwrap_or(0.0));
        }
        let camera = &shot.camera;
        let mut image = Rgb::render(surfaces, camera, size);
        for t in &doc.trajectories {
            if let (Some(a), Some(b)) = (camera.project(&t.entry_mm, size), camera.project(&t.target_mm, size)) {
                image.line(a, b, 2.5, t.color);
                image.disc(b, 3.0, [255, 60, 60]);
            }
        }
        frames.push(image);
        progress.advance(1);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::segmentation::Category;

    /// Through three saved views over 9 frames: each leg's ends have its views' opacities, the
    /// middle of a leg is half way (the easing is symmetric), a segment a view does not name
    /// keeps the plan's opacity, and the camera passes through each view.
    #[test]
    fn saved_views_fade_each_segment_from_one_view_to_the_next() {
        let mut doc = PlanDocument::default();
        let skin = doc.segmentation.add("Skin", Category::Skin);
        let tumour = doc.segmentation.add("Tumour", Category::Target);
        let view = |x: f64, opacity: BTreeMap<u16, f32>| SavedView {
            name: "v".into(),
            eye_mm: Point3::new(x, -400.0, 0.0),
            look_at_mm: Point3::origin(),
            crosshair_mm: Point3::origin(),
            opacity,
        };
        doc.saved_views =
            vec![view(0.0, [(skin, 0.3)].into()), view(100.0, [(skin, 0.0)].into()), view(200.0, [(skin, 1.0)].into())];
        let made = shots(&doc, Motion::SavedViews, 0.9, 10, Point3::origin()).unwrap();
        assert_eq!(made.len(), 9);
        let skin_at: Vec<f32> = made.iter().map(|s| s.opacity[&skin]).collect();
        assert_eq!((skin_at[0], skin_at[4], skin_at[8]), (0.3, 0.0, 1.0));
        assert!((skin_at[2] - 0.15).abs() < 1e-6 && (skin_at[6] - 0.5).abs() < 1e-6, "{skin_at:?}");
        assert!(made.iter().all(|s| s.opacity[&tumour] == doc.shown_opacity(tumour)));
        assert_eq!(made[4].camera.eye_mm, Point3::new(100.0, -400.0, 0.0));
        assert_eq!(most_opaque(&made)[&skin], 1.0);
        doc.saved_views.truncate(1);
        assert!(matches!(
            shots(&doc, Motion::SavedViews, 1.0, 10, Point3::origin()),
            Err(AnimationError::TooFewViews(1))
        ));
    }
}
