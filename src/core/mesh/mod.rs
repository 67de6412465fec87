//! Surface meshes in patient space (LPS mm): extraction from volumes and label maps, smoothing,
//! decimation, measurements and export.

mod cases;
pub mod decimate;
pub mod export;
pub mod extract;
pub mod lod;
pub mod smooth;

use nalgebra::{Matrix4, Point3, Vector3};
use rayon::prelude::*;
use serde::Serialize;

pub use extract::{ExtractOptions, extract_iso, extract_mask};

use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::Mask;

/// Smoothing passes for a segment's surface: enough to take the voxel steps off without
/// shrinking thin vessels (Taubin does not shrink).
const SEGMENT_SMOOTH_ITERATIONS: usize = 12;

/// The surface of a segment as it is shown and checked against: closed at the scan's border,
/// smoothed. The workstation and clearance analysis use this one recipe, so what a surgeon sees
/// is what distances are measured to.
pub fn segment_surface(mask: &Mask, progress: &Progress) -> Result<Mesh, Cancelled> {
    let mut mesh = extract_mask(mask, ExtractOptions { close_border: true }, progress)?;
    smooth::taubin(&mut mesh, smooth::SmoothOptions::iterations(SEGMENT_SMOOTH_ITERATIONS));
    Ok(mesh)
}

/// An indexed triangle mesh: vertices shared between triangles, counter-clockwise seen from
/// outside (normals point out of the structure).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    pub positions: Vec<[f32; 3]>,
    pub triangles: Vec<[u32; 3]>,
}

fn v3(p: [f32; 3]) -> Vector3<f64> {
    Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64)
}

/// What a user asks of a surface: size, enclosed volume, extent and whether it is closed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MeshStats {
    pub triangles: usize,
    pub vertices: usize,
    pub area_mm2: f64,
    pub volume_mm3: f64,
    pub volume_ml: f64,
    pub bounds_min_mm: Point3<f64>,
    pub bounds_max_mm: Point3<f64>,
    pub components: usize,
    pub watertight: bool,
}

impl Mesh {
    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    fn corners(&self, t: &[u32; 3]) -> [Vector3<f64>; 3] {
        t.map(|i| v3(self.positions[i as usize]))
    }

    pub fn area_mm2(&self) -> f64 {
        self.triangles
            .par_iter()
            .map(|t| {
                let [a, b, c] = self.corners(t);
                (b - a).cross(&(c - a)).norm() / 2.0
            })
            .sum()
    }

    /// Enclosed volume by the divergence theorem (exact for a closed, consistently wound mesh;
    /// positive when normals point outward). Taken about the bounding-box centre for precision.
    pub fn volume_mm3(&self) -> f64 {
        let Some((lo, hi)) = self.bounds() else { return 0.0 };
        let o = (v3(lo) + v3(hi)) / 2.0;
        self.triangles
            .par_iter()
            .map(|t| {
                let [a, b, c] = self.corners(t).map(|p| p - o);
                a.dot(&b.cross(&c)) / 6.0
            })
            .sum()
    }

    pub fn bounds(&self) -> Option<([f32; 3], [f32; 3])> {
        let first = *self.positions.first()?;
        Some(self.positions.iter().fold((first, first), |(lo, hi), p| {
            (std::array::from_fn(|a| lo[a].min(p[a])), std::array::from_fn(|a| hi[a].max(p[a])))
        }))
    }

    /// Every edge shared by exactly two triangles that traverse it in opposite directions: a
    /// closed, orientable surface with no cracks. Linear in the mesh: each edge is filed under its
    /// lower vertex (counting, then placing, as a counting sort does), and each vertex's few edges
    /// are then checked on their own.
    pub fn is_watertight(&self) -> bool {
        if self.triangles.is_empty() {
            return false;
        }
        let n = self.positions.len();
        let mut start = vec![0u32; n + 1];
        for t in &self.triangles {
            for k in 0..3 {
                start[t[k].min(t[(k + 1) % 3]) as usize + 1] += 1;
            }
        }
        for v in 0..n {
            start[v + 1] += start[v];
        }
        // Per edge: the higher vertex, with the lowest bit saying which way the edge runs.
        let mut filed = vec![0u64; self.triangles.len() * 3];
        let mut next = start.clone();
        for t in &self.triangles {
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                let slot = &mut next[a.min(b) as usize];
                filed[*slot as usize] = (u64::from(a.max(b)) << 1) | u64::from(a < b);
                *slot += 1;
            }
        }
        (0..n).all(|v| {
            let edges = &mut filed[start[v] as usize..start[v + 1] as usize];
            edges.sort_unstable();
            // Sorted, each other vertex must appear exactly twice: once each way.
            edges
                .chunks(2)
                .all(|pair| pair.len() == 2 && pair[0] >> 1 == pair[1] >> 1 && pair[0] & 1 == 0 && pair[1] & 1 == 1)
        })
    }

    /// Connected components (triangles sharing a vertex): a component id per triangle, and the
    /// count. Union-find over the vertices, then one pass numbering the roots.
    pub fn components(&self) -> (Vec<u32>, usize) {
        let mut parent: Vec<u32> = (0..self.positions.len() as u32).collect();
        fn find(p: &mut [u32], mut a: u32) -> u32 {
            while p[a as usize] != a {
                p[a as usize] = p[p[a as usize] as usize];
                a = p[a as usize];
            }
            a
        }
        for t in &self.triangles {
            let r0 = find(&mut parent, t[0]);
            for &v in &t[1..] {
                let r = find(&mut parent, v);
                if r != r0 {
                    parent[r as usize] = r0;
                }
            }
        }
        let mut ids = vec![u32::MAX; self.positions.len()];
        let mut count = 0u32;
        let per_triangle = self
            .triangles
            .iter()
            .map(|t| {
                let root = find(&mut parent, t[0]) as usize;
                if ids[root] == u32::MAX {
                    ids[root] = count;
                    count += 1;
                }
                ids[root]
            })
            .collect();
        (per_triangle, count as usize)
    }

    /// Every statistic in time linear in the mesh; the two sequential passes (components and the
    /// watertight check) run beside each other and beside the parallel sums.
    pub fn stats(&self) -> MeshStats {
        let ((components, watertight), (area_mm2, volume_mm3, bounds)) = rayon::join(
            || rayon::join(|| self.components().1, || self.is_watertight()),
            || (self.area_mm2(), self.volume_mm3(), self.bounds()),
        );
        let (lo, hi) = bounds.unwrap_or(([0.0; 3], [0.0; 3]));
        MeshStats {
            triangles: self.triangles.len(),
            vertices: self.positions.len(),
            area_mm2,
            volume_mm3,
            volume_ml: volume_mm3 / 1000.0,
            bounds_min_mm: Point3::from(lo.map(f64::from)),
            bounds_max_mm: Point3::from(hi.map(f64::from)),
            components,
            watertight,
        }
    }

    /// The mesh of a surface built for distance queries (same vertices, same order).
    pub fn from_trimesh(surface: &parry3d::shape::TriMesh) -> Mesh {
        Mesh {
            positions: surface.vertices().iter().map(|v| [v.x, v.y, v.z]).collect(),
            triangles: surface.indices().to_vec(),
        }
    }

    /// Area-weighted vertex normals (unit length; zero for unused vertices).
    pub fn vertex_normals(&self) -> Vec<[f32; 3]> {
        let mut acc = vec![Vector3::<f64>::zeros(); self.positions.len()];
        for t in &self.triangles {
            let [a, b, c] = self.corners(t);
            let n = (b - a).cross(&(c - a));
            for &v in t {
                acc[v as usize] += n;
            }
        }
        acc.iter()
            .map(|n| {
                let len = n.norm();
                if len > 0.0 { [(n.x / len) as f32, (n.y / len) as f32, (n.z / len) as f32] } else { [0.0; 3] }
            })
            .collect()
    }

    /// The mesh with every vertex moved by an affine transform (winding kept when it preserves
    /// orientation, reversed when it mirrors).
    pub fn transformed(&self, m: &Matrix4<f64>) -> Mesh {
        let positions = self
            .positions
            .par_iter()
            .map(|p| {
                let q = m.transform_point(&Point3::from(v3(*p)));
                [q.x as f32, q.y as f32, q.z as f32]
            })
            .collect();
        let mirror = m.fixed_view::<3, 3>(0, 0).determinant() < 0.0;
        let triangles =
            if mirror { self.triangles.iter().map(|t| [t[0], t[2], t[1]]).collect() } else { self.triangles.clone() };
        Mesh { positions, triangles }
    }

    /// Drops connected pieces that enclose less than `min_mm3` (specks of noise), and the
    /// vertices no longer used. Meant for closed surfaces (see `ExtractOptions::close_border`).
    pub fn remove_small_components(&self, min_mm3: f64) -> Mesh {
        let (comp, n) = self.components();
        let mut vol = vec![0.0f64; n];
        for (t, &c) in self.triangles.iter().zip(&comp) {
            let [a, b, cc] = self.corners(t);
            vol[c as usize] += a.dot(&b.cross(&cc)) / 6.0;
        }
        let triangles = self
            .triangles
            .iter()
            .zip(&comp)
            .filter(|(_, c)| vol[**c as usize].abs() >= min_mm3)
            .map(|(t, _)| *t)
            .collect();
        Mesh { positions: self.positions.clone(), triangles }.compacted()
    }

    /// The mesh as parry3d's BVH-backed triangle mesh (the collision and distance boundary:
    /// parry speaks f32 glam vectors), with pseudo-normals so that it tells inside from outside
    /// (the surfaces are closed and wound outwards). `None` for an empty or degenerate mesh.
    pub fn trimesh(&self) -> Option<parry3d::shape::TriMesh> {
        if self.triangles.is_empty() {
            return None;
        }
        let vertices = self.positions.iter().map(|p| parry3d::math::Vector::new(p[0], p[1], p[2])).collect();
        parry3d::shape::TriMesh::with_flags(vertices, self.triangles.clone(), parry3d::shape::TriMeshFlags::ORIENTED)
            .ok()
    }

    /// Largest distance (mm) from the given points to this surface; infinite for an empty mesh.
    pub fn max_distance_from(&self, points: &[[f32; 3]]) -> f64 {
        use parry3d::query::PointQuery;
        let Some(tm) = self.trimesh() else { return f64::INFINITY };
        points
            .par_iter()
            .map(|p| tm.distance_to_local_point(parry3d::math::Vector::new(p[0], p[1], p[2]), false) as f64)
            .reduce(|| 0.0, f64::max)
    }

    /// Removes vertices no triangle uses, renumbering the rest.
    pub fn compacted(&self) -> Mesh {
        let mut map = vec![u32::MAX; self.positions.len()];
        let mut positions = Vec::new();
        let triangles = self
            .triangles
            .iter()
            .map(|t| {
                t.map(|v| {
                    if map[v as usize] == u32::MAX {
                        map[v as usize] = positions.len() as u32;
                        positions.push(self.positions[v as usize]);
                    }
                    map[v as usize]
                })
            })
            .collect();
        Mesh { positions, triangles }
    }
}

/// The first surface a ray meets, among labelled meshes: (label, ray parameter `t`, so that the
/// hit is `origin_mm + t * dir`). Used to say what is under the pointer and where.
pub fn first_hit(
    meshes: &[(u16, &parry3d::shape::TriMesh)],
    origin_mm: &Point3<f64>,
    dir: &Vector3<f64>,
) -> Option<(u16, f64)> {
    use parry3d::query::RayCast;
    let v = |a: &Vector3<f64>| parry3d::math::Vector::new(a.x as f32, a.y as f32, a.z as f32);
    let ray = parry3d::query::Ray::new(v(&origin_mm.coords), v(dir));
    meshes
        .iter()
        .filter_map(|(label, m)| m.cast_local_ray(&ray, f32::MAX, false).map(|t| (*label, f64::from(t))))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tetrahedron() -> Mesh {
        Mesh {
            positions: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        }
    }

    #[test]
    fn tetrahedron_measures() {
        let t = tetrahedron();
        assert!((t.volume_mm3() - 1.0 / 6.0).abs() < 1e-9);
        let area = 1.5 + 3f64.sqrt() / 2.0;
        assert!((t.area_mm2() - area).abs() < 1e-6);
        assert!(t.is_watertight());
        assert_eq!(t.components().1, 1);
        let mirrored = t.transformed(&Matrix4::from_diagonal(&nalgebra::Vector4::new(-1.0, 1.0, 1.0, 1.0)));
        assert!((mirrored.volume_mm3() - 1.0 / 6.0).abs() < 1e-9, "winding follows a mirror");
        let mut open = t.clone();
        open.triangles.pop();
        assert!(!open.is_watertight());
        // One face turned over: its edges now run the same way as its neighbours'.
        let mut flipped = t.clone();
        flipped.triangles[3] = [1, 3, 2];
        assert!(!flipped.is_watertight());
        // A face twice over: three triangles on its edges.
        let mut doubled = t.clone();
        doubled.triangles.push([1, 2, 3]);
        assert!(!doubled.is_watertight());
        // Two closed pieces sharing no edge are still watertight.
        let mut two = t.clone();
        two.positions.extend(t.positions.iter().map(|p| [p[0] + 5.0, p[1], p[2]]));
        two.triangles.extend(t.triangles.iter().map(|tri| tri.map(|v| v + 4)));
        assert!(two.is_watertight());
        assert_eq!(two.components().1, 2);
    }

    #[test]
    fn small_components_go() {
        let mut two = tetrahedron();
        let big = tetrahedron().transformed(&Matrix4::new_scaling(10.0));
        let offset = two.positions.len() as u32;
        two.positions.extend(big.positions.iter().map(|p| [p[0] + 50.0, p[1], p[2]]));
        two.triangles.extend(big.triangles.iter().map(|t| t.map(|v| v + offset)));
        assert_eq!(two.components().1, 2);
        let kept = two.remove_small_components(1.0);
        assert_eq!(kept.components().1, 1);
        assert_eq!(kept.positions.len(), 4);
        assert!((kept.volume_mm3() - 1000.0 / 6.0).abs() < 1e-6);
    }
}
