//! Where the views are: the window's layout (each view's rectangle), the slice views' axes and
//! planes, and camera viewports. A leaf: it depends on no other module of the app.

use bevy::camera::Viewport;
use bevy::prelude::*;
use bevy_egui::egui;
use nalgebra::{Point3, Vector3};

/// Where each view is on the window (logical pixels); `None` until laid out.
#[derive(Resource, Default, Clone, Copy, PartialEq)]
pub struct ViewRects {
    pub three_d: Option<egui::Rect>,
    pub slices: [Option<egui::Rect>; 3],
}

/// The rehearsal view's width across the path, and the outline drawn at the tip in 3D (mm).
pub const REHEARSAL_SPAN_MM: f64 = 40.0;

/// The three slice views, each looking along one patient axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceAxis {
    Axial = 0,
    Coronal = 1,
    Sagittal = 2,
}

impl SliceAxis {
    pub const ALL: [SliceAxis; 3] = [SliceAxis::Axial, SliceAxis::Coronal, SliceAxis::Sagittal];

    pub fn name(self) -> &'static str {
        match self {
            SliceAxis::Axial => "Axial",
            SliceAxis::Coronal => "Coronal",
            SliceAxis::Sagittal => "Sagittal",
        }
    }

    /// The LPS axis the view looks along.
    pub fn normal_index(self) -> usize {
        match self {
            SliceAxis::Axial => 2,
            SliceAxis::Coronal => 1,
            SliceAxis::Sagittal => 0,
        }
    }

    /// Letters at the screen's left, right, top and bottom edges.
    pub fn edge_letters(self) -> [&'static str; 4] {
        match self {
            SliceAxis::Axial => ["R", "L", "A", "P"],
            SliceAxis::Coronal => ["R", "L", "S", "I"],
            SliceAxis::Sagittal => ["A", "P", "S", "I"],
        }
    }

    /// The plane through `crosshair` covering the scan's bounding box: patient point of the
    /// quad's top-left corner, the unit directions of screen right and down, and the size in mm.
    pub fn frame(self, lo: &Point3<f64>, hi: &Point3<f64>, crosshair: &Point3<f64>) -> SliceFrame {
        let (x, y, z) = (Vector3::x(), Vector3::y(), Vector3::z());
        let c = crosshair;
        match self {
            SliceAxis::Axial => SliceFrame {
                origin: Point3::new(lo.x, lo.y, c[2]),
                right: x,
                down: y,
                size_mm: [hi.x - lo.x, hi.y - lo.y],
            },
            SliceAxis::Coronal => SliceFrame {
                origin: Point3::new(lo.x, c[1], hi.z),
                right: x,
                down: -z,
                size_mm: [hi.x - lo.x, hi.z - lo.z],
            },
            SliceAxis::Sagittal => SliceFrame {
                origin: Point3::new(c[0], lo.y, hi.z),
                right: y,
                down: -z,
                size_mm: [hi.y - lo.y, hi.z - lo.z],
            },
        }
    }
}

/// A slice view's plane: its top-left corner, screen right and down, and its size.
#[derive(Debug, Clone, Copy)]
pub struct SliceFrame {
    pub origin: Point3<f64>,
    pub right: Vector3<f64>,
    pub down: Vector3<f64>,
    pub size_mm: [f64; 2],
}

/// A rectangle of the window (logical pixels) on whole physical pixels: the viewport a camera
/// draws into and where a picture of that size is shown 1:1.
pub fn pixel_rect(rect: egui::Rect, pixels_per_point: f32) -> egui::Rect {
    let snap = |p: egui::Pos2| egui::pos2((p.x * pixels_per_point).floor(), (p.y * pixels_per_point).floor());
    let (min, max) = (snap(rect.min), snap(rect.max));
    egui::Rect::from_min_max(min, max.max(min + egui::vec2(1.0, 1.0))) / pixels_per_point
}

/// Converts a rectangle of the window (logical pixels) to a camera viewport.
pub fn viewport_for(rect: egui::Rect, window: &Window) -> Viewport {
    let scale = window.scale_factor();
    let (w, h) = (window.physical_width(), window.physical_height());
    let r = pixel_rect(rect, scale);
    let x0 = ((r.min.x * scale).round().max(0.0) as u32).min(w.saturating_sub(1));
    let y0 = ((r.min.y * scale).round().max(0.0) as u32).min(h.saturating_sub(1));
    let x1 = ((r.max.x * scale).round() as u32).clamp(x0 + 1, w.max(x0 + 1));
    let y1 = ((r.max.y * scale).round() as u32).clamp(y0 + 1, h.max(y0 + 1));
    Viewport { physical_position: UVec2::new(x0, y0), physical_size: UVec2::new(x1 - x0, y1 - y0), ..default() }
}

/// Sets a camera's viewport only when it moved (a change re-creates render targets).
pub fn set_viewport(cam: &mut Camera, viewport: Viewport) {
    if cam.viewport.as_ref().map(|v| (v.physical_position, v.physical_size))
        != Some((viewport.physical_position, viewport.physical_size))
    {
        cam.viewport = Some(viewport);
    }
}
