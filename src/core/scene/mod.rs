//! The plan's 3D scene for viewers students have: binary glTF 2.0 (`.glb`), or an HTML page that
//! shows it offline (`html`); each segment a mesh
//! in its colour and opacity, each trajectory a tube of its instrument's radius, each label a
//! named node at its point. glTF is in metres with +Y up; twinplan maps LPS mm to it as
//! X = L, Y = S, Z = A (so +Z, glTF's front, is the patient's anterior): x = L / 1000,
//! y = S / 1000, z = -P / 1000, a rotation (no mirroring).

pub mod animation;
pub mod encode;
mod glb;
mod html;

use nalgebra::{Point3, Vector3};

use crate::core::document::PlanDocument;
use crate::core::mesh::decimate::{DecimateOptions, decimate};
use crate::core::mesh::{Mesh, segment_surface};
use crate::core::progress::{Cancelled, Progress};

pub use glb::write_glb;
pub use html::write_html;

/// Sides of a trajectory's tube.
const TUBE_SIDES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("the plan has no surfaces to show: every segment is empty or hidden")]
    Empty,
    #[error(
        "the scene needs at least {needed} triangles ({fixed} for the trajectories and 4 per shown segment's \
         surface at its coarsest), more than the {limit} asked for"
    )]
    TooLarge { needed: usize, fixed: usize, limit: usize },
    #[error("decimation left {got} triangles, more than the {limit} asked for: ask for more")]
    NotReached { got: usize, limit: usize },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// One mesh of the scene, in LPS mm, with how it is drawn.
pub struct Part {
    pub name: String,
    pub mesh: Mesh,
    /// sRGB.
    pub color: [u8; 3],
    pub opacity: f32,
}

/// A named point (a label).
pub struct Marker {
    pub name: String,
    pub point_mm: Point3<f64>,
}

pub struct Scene {
    pub name: String,
    pub parts: Vec<Part>,
    pub markers: Vec<Marker>,
}

/// glTF's coordinates (m) of an LPS point (mm).
pub fn gltf_from_lps(p: &Point3<f64>) -> [f32; 3] {
    let v = gltf_direction(&p.coords);
    [(v[0] * 0.001) as f32, (v[1] * 0.001) as f32, (v[2] * 0.001) as f32]
}

/// glTF's direction of an LPS direction (no scaling).
pub fn gltf_direction(v: &Vector3<f64>) -> [f64; 3] {
    [v.x, v.z, -v.y]
}

impl Scene {
    /// The plan's scene: each shown segment's surface (LPS mm, as the workstation extracts it),
    /// each trajectory as a tube, each label as a marker; decimated so that the triangles are at
    /// most `max_triangles` when given.
    pub fn of_plan(doc: &PlanDocument, max_triangles: Option<usize>, progress: &Progress) -> Result<Scene, SceneError> {
        let mut parts: Vec<Part> = Vec::new();
        for segment in &doc.segmentation.segments {
            let d = doc.display_of(segment.label);
            if !d.visible || d.opacity <= 0.0 {
                continue;
            }
            let mesh = segment_surface(&doc.segmentation.mask(segment.label), progress)?;
            if !mesh.is_empty() {
                parts.push(Part { name: segment.name.clone(), mesh, color: d.color, opacity: d.opacity });
            }
        }
        if parts.is_empty() {
            return Err(SceneError::Empty);
        }
        let tubes: Vec<Part> = doc
            .trajectories
            .iter()
            .map(|t| Part {
                name: format!("Trajectory: {}", t.name),
                mesh: tube(&t.entry_mm, &t.target_mm, t.instrument.radius_mm()),
                color: t.color,
                opacity: 1.0,
            })
            .collect();
        if let Some(limit) = max_triangles {
            fit(&mut parts, tubes.iter().map(|t| t.mesh.triangles.len()).sum(), limit, progress)?;
        }
        parts.extend(tubes);
        let markers = doc.annotations.iter().map(|a| Marker { name: a.text.clone(), point_mm: a.point_mm }).collect();
        Ok(Scene { name: "twinplan plan".into(), parts, markers })
    }

    pub fn triangles(&self) -> usize {
        self.parts.iter().map(|p| p.mesh.triangles.len()).sum()
    }
}

/// Decimates the surfaces, each by the same share, so that they and `fixed` triangles are at
/// most `limit`.
fn fit(parts: &mut [Part], fixed: usize, limit: usize, progress: &Progress) -> Result<(), SceneError> {
    // A closed surface needs at least 4 triangles.
    let needed = fixed + 4 * parts.len();
    if needed > limit {
        return Err(SceneError::TooLarge { needed, fixed, limit });
    }
    let total: usize = parts.iter().map(|p| p.mesh.triangles.len()).sum();
    if total + fixed <= limit {
        return Ok(());
    }
    // Decimation may stop short of its target: aim lower until the whole fits, a few times.
    let mut share = (limit - fixed) as f64 / total as f64;
    for _ in 0..4 {
        let decimated: Vec<Mesh> = parts
            .iter()
            .map(|p| {
                decimate(&p.mesh, DecimateOptions { target_ratio: share, max_error_mm: None }, progress).map(|d| d.0)
            })
            .collect::<Result<_, _>>()?;
        let got: usize = decimated.iter().map(|m| m.triangles.len()).sum::<usize>() + fixed;
        if got <= limit {
            for (p, m) in parts.iter_mut().zip(decimated) {
                p.mesh = m;
            }
            return Ok(());
        }
        share *= 0.9 * limit as f64 / got as f64;
    }
    Err(SceneError::NotReached { got: total + fixed, limit })
}

/// A closed tube of `radius_mm` from `a` to `b` (LPS mm), with flat ends.
pub fn tube(a: &Point3<f64>, b: &Point3<f64>, radius_mm: f64) -> Mesh {
    let axis = (b - a).try_normalize(1e-9).unwrap_or_else(Vector3::z);
    let helper = if axis.x.abs() < 0.9 { Vector3::x() } else { Vector3::y() };
    let u = axis.cross(&helper).normalize();
    let w = axis.cross(&u);
    let ring = |c: &Point3<f64>| -> Vec<[f32; 3]> {
        (0..TUBE_SIDES)
            .map(|k| {
                let t = std::f64::consts::TAU * k as f64 / TUBE_SIDES as f64;
                let p = c + (u * t.cos() + w * t.sin()) * radius_mm;
                [p.x as f32, p.y as f32, p.z as f32]
            })
            .collect()
    };
    let mut positions = ring(a);
    positions.extend(ring(b));
    positions.push([a.x as f32, a.y as f32, a.z as f32]);
    positions.push([b.x as f32, b.y as f32, b.z as f32]);
    let (ca, cb) = (2 * TUBE_SIDES as u32, 2 * TUBE_SIDES as u32 + 1);
    let n = TUBE_SIDES as u32;
    let mut triangles = Vec::new();
    for k in 0..n {
        let k1 = (k + 1) % n;
        // Outward: the ring at `a` goes round u -> w, which faces along the axis.
        triangles.push([k, n + k1, n + k]);
        triangles.push([k, k1, n + k1]);
        triangles.push([ca, k1, k]);
        triangles.push([cb, n + k, n + k1]);
    }
    Mesh { positions, triangles }
}
