//! Pictures of a plan drawn without a window: the scan on any plane in a window/level, each
//! visible segment tinted in its colour, with paths and marks drawn on top. The workstation's
//! rehearsal view and the report use the same pictures.

use std::sync::Arc;

use nalgebra::Point3;
use parry3d::math::Vector;
use parry3d::query::Ray;
use parry3d::shape::TriMesh;

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
    /// The scan on a square `plane` `span_mm` across, `n` pixels a side, in `window` (centre,
    /// width), with each visible segment of `doc` tinted in its display colour when it is given.
    pub fn of_plane(
        volume: &Volume,
        doc: Option<&PlanDocument>,
        (centre, width): (f64, f64),
        plane: &Plane,
        n: usize,
        span_mm: f64,
    ) -> Rgb {
        let values = plane.sample(volume, n, span_mm);
        let cut = doc.map(|d| {
            let labels = &d.segmentation.labels;
            plane.sample_labels(&labels.grid, &labels.labels, n, span_mm)
        });
        let low = centre - width / 2.0;
        let pixels = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let grey = if v.is_nan() { 0.0 } else { ((f64::from(*v) - low) / width).clamp(0.0, 1.0) * 255.0 };
                let mut px = [grey; 3];
                if let (Some(doc), Some(cut)) = (doc, &cut)
                    && cut[i] != 0
                {
                    let display = doc.display_of(cut[i]);
                    if display.visible {
                        for (c, s) in px.iter_mut().zip(display.color) {
                            *c = *c * 0.55 + f64::from(s) * 0.45;
                        }
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

/// A camera for [`Rgb::render`]: where it is, what it looks at, which way is up (LPS mm), and
/// its vertical field of view.
pub struct Camera {
    pub eye_mm: Point3<f64>,
    pub look_at_mm: Point3<f64>,
    pub up: nalgebra::Vector3<f64>,
    pub fov_deg: f64,
}

impl Camera {
    /// The pixel a point projects to in an `n` x `n` picture; `None` behind the camera.
    pub fn project(&self, p: &Point3<f64>, n: usize) -> Option<(f64, f64)> {
        let (f, r, u) = self.frame();
        let d = p - self.eye_mm;
        let z = d.dot(&f);
        if z <= 1e-6 {
            return None;
        }
        let k = 1.0 / (self.fov_deg.to_radians() / 2.0).tan();
        let (x, y) = (d.dot(&r) / z * k, d.dot(&u) / z * k);
        Some(((x + 1.0) / 2.0 * n as f64, (1.0 - y) / 2.0 * n as f64))
    }

    /// Forward, right and up unit vectors.
    fn frame(&self) -> (nalgebra::Vector3<f64>, nalgebra::Vector3<f64>, nalgebra::Vector3<f64>) {
        let f = (self.look_at_mm - self.eye_mm).normalize();
        let r = f.cross(&self.up).try_normalize(1e-9).unwrap_or_else(|| f.cross(&nalgebra::Vector3::x()).normalize());
        (f, r, r.cross(&f))
    }
}

/// A surface as the 3D pictures draw it: the segment's mesh (the one the workstation shows and
/// clearances are measured to), its smooth vertex normals, its colour and opacity.
pub struct Shown {
    /// The segment's label.
    pub label: u16,
    mesh: Arc<TriMesh>,
    normals: Vec<Vector>,
    colour: [u8; 3],
    opacity: f32,
}

impl Shown {
    pub fn new(label: u16, mesh: Arc<TriMesh>, colour: [u8; 3], opacity: f32) -> Shown {
        // Area-weighted face normals summed at each corner.
        let mut normals = vec![Vector::ZERO; mesh.vertices().len()];
        for t in mesh.indices() {
            let [a, b, c] = t.map(|i| mesh.vertices()[i as usize]);
            let n = (b - a).cross(c - a);
            for i in t {
                normals[*i as usize] += n;
            }
        }
        normals.iter_mut().for_each(|n| *n = n.normalize_or_zero());
        Shown { label, mesh, normals, colour, opacity }
    }

    /// Shows the surface at another opacity (an animation fading it); at 0 it is not drawn.
    pub fn set_opacity(&mut self, opacity: f32) {
        self.opacity = opacity.clamp(0.0, 1.0);
    }

    /// Where the ray enters the structure (its surface faces out): distance along the ray and
    /// smooth normal. Leaving it again is not drawn, as a shell such as the skull is one layer
    /// to look through, not two.
    fn entries(&self, eye: Vector, dir: Vector, out: &mut Vec<(f32, Vector, [u8; 3], f32)>) {
        let ray = Ray::new(eye, dir);
        let (vertices, indices) = (self.mesh.vertices(), self.mesh.indices());
        for leaf in self.mesh.bvh().leaves(|node| node.cast_ray(&ray, f32::MAX) < f32::MAX) {
            let t = indices[leaf as usize];
            let [a, b, c] = t.map(|i| vertices[i as usize]);
            if (b - a).cross(c - a).dot(dir) >= 0.0 {
                continue;
            }
            if let Some((at, u, v)) = ray_triangle(eye, dir, a, b, c) {
                let [na, nb, nc] = t.map(|i| self.normals[i as usize]);
                let n = (na * (1.0 - u - v) + nb * u + nc * v).normalize_or_zero();
                out.push((at, n, self.colour, self.opacity));
            }
        }
    }
}

/// Where a ray meets a triangle (either side): distance along it and the barycentric u, v of
/// the second and third corners (Möller-Trumbore).
fn ray_triangle(eye: Vector, dir: Vector, a: Vector, b: Vector, c: Vector) -> Option<(f32, f32, f32)> {
    let (e1, e2) = (b - a, c - a);
    let h = dir.cross(e2);
    let det = e1.dot(h);
    if det.abs() < 1e-12 {
        return None;
    }
    let s = eye - a;
    let u = s.dot(h) / det;
    let q = s.cross(e1);
    let v = dir.dot(q) / det;
    let t = e2.dot(q) / det;
    ((0.0..=1.0).contains(&u) && v >= 0.0 && u + v <= 1.0 && t > 0.0).then_some((t, u, v))
}

impl Rgb {
    /// Surfaces seen from a camera, as the workstation shows them: each in its colour and
    /// opacity (a translucent skin lets what is inside show), smooth-shaded, lit from the eye.
    pub fn render(surfaces: &[Shown], camera: &Camera, n: usize) -> Rgb {
        use rayon::prelude::*;
        let (f, r, u) = camera.frame();
        let k = (camera.fov_deg.to_radians() / 2.0).tan();
        let f32v = |v: nalgebra::Vector3<f64>| Vector::new(v.x as f32, v.y as f32, v.z as f32);
        let eye = f32v(camera.eye_mm.coords);
        let pixels = (0..n * n)
            .into_par_iter()
            .map_init(Vec::new, |hits, i| {
                let (x, y) = ((i % n) as f64 + 0.5, (i / n) as f64 + 0.5);
                let dir = (f + r * ((x / n as f64) * 2.0 - 1.0) * k + u * (1.0 - (y / n as f64) * 2.0) * k).normalize();
                let dir = f32v(dir);
                hits.clear();
                for s in surfaces.iter().filter(|s| s.opacity > 0.0) {
                    s.entries(eye, dir, hits);
                }
                hits.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (mut colour, mut alpha) = ([0.0f32; 3], 0.0f32);
                for &(_, normal, c, opacity) in hits.iter() {
                    if alpha >= 0.98 {
                        break;
                    }
                    let shade = 0.3 + 0.7 * normal.dot(-dir).abs();
                    let a = opacity * (1.0 - alpha);
                    for (o, s) in colour.iter_mut().zip(c) {
                        *o += a * f32::from(s) * shade;
                    }
                    alpha += a;
                }
                // What shows through is the background's dark blue-grey.
                let bg = [24.0, 27.0, 34.0];
                [0, 1, 2].map(|c| (colour[c] + (1.0 - alpha) * bg[c]).round().clamp(0.0, 255.0) as u8)
            })
            .collect();
        Rgb { width: n, height: n, pixels }
    }
}
