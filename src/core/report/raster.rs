//! Pictures of a plan drawn without a window: the scan on any plane in a window/level, each
//! visible segment tinted in its colour, with paths and marks drawn on top. The workstation's
//! rehearsal view and the report use the same pictures.

use nalgebra::Point3;

use crate::core::document::PlanDocument;
use crate::core::volume::{Plane, Volume};

/// An sRGB picture, row by row from the top.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[u8; 3]>,
}

impl Rgb {
    /// The scan on a square `plane` `span_mm` across, `n` pixels a side, in the plan's window,
    /// with each visible segment tinted in its display colour.
    pub fn of_plane(volume: &Volume, doc: &PlanDocument, plane: &Plane, n: usize, span_mm: f64) -> Rgb {
        let values = plane.sample(volume, n, span_mm);
        let labels = &doc.segmentation.labels;
        let cut = plane.sample_labels(&labels.grid, &labels.labels, n, span_mm);
        let view = &doc.view;
        let low = view.window_center - view.window_width / 2.0;
        let pixels = values
            .iter()
            .zip(&cut)
            .map(|(v, l)| {
                let grey =
                    if v.is_nan() { 0.0 } else { ((f64::from(*v) - low) / view.window_width).clamp(0.0, 1.0) * 255.0 };
                let mut px = [grey; 3];
                let display = doc.display_of(*l);
                if *l != 0 && display.visible {
                    for (c, s) in px.iter_mut().zip(display.color) {
                        *c = *c * 0.55 + f64::from(s) * 0.45;
                    }
                }
                px.map(|c| c.round() as u8)
            })
            .collect();
        Rgb { width: n, height: n, pixels }
    }

    /// The pixel (column, row) a patient point on `plane` falls in (fractional).
    pub fn pixel_of(&self, plane: &Plane, span_mm: f64, p: &Point3<f64>) -> (f64, f64) {
        let d = p - plane.centre_mm;
        let x = d.dot(&plane.right) / span_mm + 0.5;
        let y = 0.5 - d.dot(&plane.up) / span_mm;
        (x * self.width as f64, y * self.height as f64)
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[y as usize * self.width + x as usize] = c;
        }
    }

    /// A line `width` pixels thick between two pixel positions.
    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), width: f64, c: [u8; 3]) {
        let steps = ((b.0 - a.0).hypot(b.1 - a.1) * 2.0).ceil().max(1.0) as usize;
        let r = (width / 2.0).max(0.5);
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            self.disc((x, y), r, c);
        }
    }

    /// A filled disc.
    pub fn disc(&mut self, centre: (f64, f64), radius: f64, c: [u8; 3]) {
        let r = radius.ceil() as i64;
        let (cx, cy) = (centre.0.floor() as i64, centre.1.floor() as i64);
        for dy in -r..=r {
            for dx in -r..=r {
                let (px, py) = ((cx + dx) as f64 + 0.5, (cy + dy) as f64 + 0.5);
                if (px - centre.0).hypot(py - centre.1) <= radius {
                    self.put(cx + dx, cy + dy, c);
                }
            }
        }
    }

    /// A circle's outline.
    pub fn ring(&mut self, centre: (f64, f64), radius: f64, c: [u8; 3]) {
        let steps = (radius * 8.0).ceil().max(16.0) as usize;
        for i in 0..steps {
            let a = i as f64 / steps as f64 * std::f64::consts::TAU;
            self.put((centre.0 + radius * a.cos()).floor() as i64, (centre.1 + radius * a.sin()).floor() as i64, c);
        }
    }

    /// The picture as PNG.
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        // Writing to memory cannot fail; an empty picture gives an empty file.
        if let Ok(mut w) = e.write_header() {
            let _ = w.write_image_data(self.pixels.as_flattened());
        }
        out
    }
}
