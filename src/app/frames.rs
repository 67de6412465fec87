//! The one place patient space (LPS millimetres, `core`'s frame) meets Bevy's world.

use bevy::prelude::Vec3;
use nalgebra::{Point3, Vector3};

/// Bevy's world is Y-up and right-handed; patient space is LPS. World X = left, Y = superior,
/// Z = anterior (a proper rotation, so handedness and the sides are kept).
pub fn world_from_patient(p: &Point3<f64>) -> Vec3 {
    Vec3::new(p.x as f32, p.z as f32, -p.y as f32)
}

pub fn world_dir_from_patient(v: &Vector3<f64>) -> Vec3 {
    Vec3::new(v.x as f32, v.z as f32, -v.y as f32)
}

pub fn patient_from_world(w: Vec3) -> Point3<f64> {
    Point3::new(w.x as f64, -w.z as f64, w.y as f64)
}
