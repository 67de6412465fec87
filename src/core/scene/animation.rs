//! Animations of the plan's 3D scene for teaching, rendered without a window by the report's ray
//! caster (the same surfaces, colours and opacities, so it runs wherever the report does): a
//! turntable about the patient's superior axis, or the path through the saved views; written as
//! an animated GIF.

use std::path::Path;

use nalgebra::{Point3, Vector3};

use crate::core::document::PlanDocument;
use crate::core::progress::{Cancelled, Progress};
use crate::core::report::raster::{Camera, Rgb, Shown};

/// Frames per second of the animations.
pub const FPS: u32 = 10;
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
    #[error("{path}: cannot write the animation: {error}")]
    Write { path: std::path::PathBuf, error: String },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// The cameras of an animation lasting `seconds` about `centre_mm` (LPS).
pub fn cameras(
    doc: &PlanDocument,
    motion: Motion,
    seconds: f64,
    centre_mm: Point3<f64>,
) -> Result<Vec<Camera>, AnimationError> {
    let frames = ((seconds * f64::from(FPS)).round() as usize).max(2);
    let camera =
        |eye_mm: Point3<f64>, look_at_mm: Point3<f64>| Camera { eye_mm, look_at_mm, up: Vector3::z(), fov_deg: 34.0 };
    match motion {
        Motion::Turntable => Ok((0..frames)
            .map(|k| {
                // The face is anterior: -y in LPS. A full turn, the last frame one step short of it.
                let a = std::f64::consts::TAU * k as f64 / frames as f64;
                let e = ELEVATION_DEG.to_radians();
                let dir = Vector3::new(a.sin() * e.cos(), -a.cos() * e.cos(), e.sin());
                camera(centre_mm + dir * DISTANCE_MM, centre_mm)
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
                    camera(a.eye_mm + (b.eye_mm - a.eye_mm) * t, a.look_at_mm + (b.look_at_mm - a.look_at_mm) * t)
                })
                .collect())
        }
    }
}

/// Renders every camera's frame, `size` pixels square, with the trajectories drawn over.
pub fn render(
    doc: &PlanDocument,
    shown: &[Shown],
    cameras: &[Camera],
    size: usize,
    progress: &Progress,
) -> Result<Vec<Rgb>, AnimationError> {
    if shown.is_empty() {
        return Err(AnimationError::Empty);
    }
    progress.begin("Rendering frames", cameras.len() as u64);
    let mut frames = Vec::with_capacity(cameras.len());
    for camera in cameras {
        progress.check()?;
        let mut image = Rgb::render(shown, camera, size);
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

/// Writes the frames as an animated GIF that loops, at [`FPS`]; written under another name
/// first, so nothing is left half-written.
pub fn write_gif(frames: &[Rgb], path: &Path) -> Result<(), AnimationError> {
    let fail = |e: &dyn std::fmt::Display| AnimationError::Write { path: path.to_owned(), error: e.to_string() };
    let Some(first) = frames.first() else { return Err(fail(&"no frames")) };
    let (w, h) = (first.width as u16, first.height as u16);
    let partial = path.with_extension("gif.partial");
    let file = std::fs::File::create(&partial).map_err(|e| fail(&e))?;
    let mut encoder = gif::Encoder::new(std::io::BufWriter::new(file), w, h, &[]).map_err(|e| fail(&e))?;
    encoder.set_repeat(gif::Repeat::Infinite).map_err(|e| fail(&e))?;
    for image in frames {
        let rgb: Vec<u8> = image.pixels.iter().flatten().copied().collect();
        let mut frame = gif::Frame::from_rgb_speed(w, h, &rgb, 10);
        frame.delay = (100 / FPS) as u16;
        encoder.write_frame(&frame).map_err(|e| fail(&e))?;
    }
    drop(encoder);
    std::fs::rename(&partial, path).map_err(|e| fail(&e))
}
