//! Quadric error decimation (Garland & Heckbert): collapse the edge whose merged vertex moves the
//! surface least, over and over, keeping the mesh manifold and never flipping a triangle. Each
//! vertex carries the sum of squared distances to the planes of its original triangles, so the
//! error of a collapse is measured against the original surface, not the last step's.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use nalgebra::{Matrix3, Vector3};

use super::Mesh;
use crate::core::progress::{Cancelled, Progress};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecimateOptions {
    /// Fraction of triangles to keep (0..1].
    pub target_ratio: f64,
    /// Stop before any collapse whose quadric error bound exceeds this distance (mm).
    pub max_error_mm: Option<f64>,
}

/// What decimation did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecimateReport {
    pub triangles_before: usize,
    pub triangles_after: usize,
    /// Largest quadric error bound of the collapses made (mm): the merged vertices lie within
    /// this distance of the planes of the original triangles around them.
    pub max_error_mm: f64,
}

/// A symmetric 4x4 quadric, stored as its 10 distinct entries.
#[derive(Clone, Copy, Default)]
struct Quadric([f64; 10]);

impl Quadric {
    fn plane(n: Vector3<f64>, d: f64, w: f64) -> Quadric {
        let (a, b, c) = (n.x, n.y, n.z);
        Quadric([a * a, a * b, a * c, a * d, b * b, b * c, b * d, c * c, c * d, d * d].map(|x| x * w))
    }

    fn add(&mut self, o: &Quadric) {
        for i in 0..10 {
            self.0[i] += o.0[i];
        }
    }

    fn sum(a: &Quadric, b: &Quadric) -> Quadric {
        let mut q = *a;
        q.add(b);
        q
    }

    fn error(&self, p: &Vector3<f64>) -> f64 {
        let q = &self.0;
        let (x, y, z) = (p.x, p.y, p.z);
        (q[0] * x * x
            + 2.0 * q[1] * x * y
            + 2.0 * q[2] * x * z
            + 2.0 * q[3] * x
            + q[4] * y * y
            + 2.0 * q[5] * y * z
            + 2.0 * q[6] * y
            + q[7] * z * z
            + 2.0 * q[8] * z
            + q[9])
            .max(0.0)
    }

    /// The point of least error, when the quadric is well conditioned.
    fn minimiser(&self) -> Option<Vector3<f64>> {
        let q = &self.0;
        let a = Matrix3::new(q[0], q[1], q[2], q[1], q[4], q[5], q[2], q[5], q[7]);
        if a.determinant().abs() < 1e-10 {
            return None;
        }
        a.try_inverse().map(|inv| -(inv * Vector3::new(q[3], q[6], q[8])))
    }
}

#[derive(PartialEq)]
struct Candidate {
    cost: f64,
    a: u32,
    b: u32,
    stamp: (u32, u32),
    target: Vector3<f64>,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // Smallest cost first out of the max-heap.
        other.cost.total_cmp(&self.cost).then_with(|| (other.a, other.b).cmp(&(self.a, self.b)))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct State {
    pos: Vec<Vector3<f64>>,
    tris: Vec<[u32; 3]>,
    alive: Vec<bool>,
    incident: Vec<Vec<u32>>,
    quadric: Vec<Quadric>,
    stamp: Vec<u32>,
    removed: Vec<bool>,
}

impl State {
    fn neighbours(&self, v: u32) -> Vec<u32> {
        let mut out: Vec<u32> =
            self.incident[v as usize].iter().flat_map(|&t| self.tris[t as usize]).filter(|&u| u != v).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn candidate(&self, a: u32, b: u32) -> Candidate {
        let q = Quadric::sum(&self.quadric[a as usize], &self.quadric[b as usize]);
        let (pa, pb) = (self.pos[a as usize], self.pos[b as usize]);
        let mid = (pa + pb) / 2.0;
        let len = (pb - pa).norm();
        let mut best = [pa, pb, mid]
            .into_iter()
            .map(|p| (q.error(&p), p))
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .unwrap_or((0.0, mid));
        if let Some(p) = q.minimiser()
            && (p - mid).norm() <= 2.0 * len
        {
            let e = q.error(&p);
            if e < best.0 {
                best = (e, p);
            }
        }
        Candidate { cost: best.0, a, b, stamp: (self.stamp[a as usize], self.stamp[b as usize]), target: best.1 }
    }

    /// Collapsing a-b keeps the mesh manifold (link condition) and flips no triangle.
    fn can_collapse(&self, a: u32, b: u32, target: &Vector3<f64>) -> bool {
        let shared: Vec<u32> =
            self.incident[a as usize].iter().copied().filter(|t| self.tris[*t as usize].contains(&b)).collect();
        if shared.is_empty() || shared.len() > 2 {
            return false;
        }
        let na = self.neighbours(a);
        let nb = self.neighbours(b);
        let common = na.iter().filter(|v| nb.binary_search(v).is_ok()).count();
        if common != shared.len() {
            return false;
        }
        // Never reduce a closed piece below a tetrahedron.
        if na.len() <= 3 && nb.len() <= 3 {
            return false;
        }
        for &v in &[a, b] {
            for &t in &self.incident[v as usize] {
                if shared.contains(&t) {
                    continue;
                }
                let tri = self.tris[t as usize];
                let before = tri.map(|u| self.pos[u as usize]);
                let after = tri.map(|u| if u == a || u == b { *target } else { self.pos[u as usize] });
                let n0 = (before[1] - before[0]).cross(&(before[2] - before[0]));
                let n1 = (after[1] - after[0]).cross(&(after[2] - after[0]));
                if n1.norm() < 1e-12 || n0.dot(&n1) < 0.2 * n0.norm() * n1.norm() {
                    return false;
                }
            }
        }
        true
    }

    /// Merges b into a at `target`; returns the triangles removed.
    fn collapse(&mut self, a: u32, b: u32, target: Vector3<f64>) -> usize {
        let mut removed = 0;
        let b_tris = std::mem::take(&mut self.incident[b as usize]);
        for &t in &b_tris {
            let tri = &mut self.tris[t as usize];
            if tri.contains(&a) {
                self.alive[t as usize] = false;
                removed += 1;
                for &u in tri.iter() {
                    if u != b {
                        self.incident[u as usize].retain(|&x| x != t);
                    }
                }
            } else {
                for u in tri.iter_mut() {
                    if *u == b {
                        *u = a;
                    }
                }
                self.incident[a as usize].push(t);
            }
        }
        self.removed[b as usize] = true;
        self.pos[a as usize] = target;
        let qb = self.quadric[b as usize];
        self.quadric[a as usize].add(&qb);
        self.stamp[a as usize] += 1;
        for n in self.neighbours(a) {
            self.stamp[n as usize] += 1;
        }
        removed
    }
}

/// Decimates towards `opts.target_ratio` of the triangles (fewer collapses when the error bound
/// would be exceeded or no valid collapse is left).
pub fn decimate(mesh: &Mesh, opts: DecimateOptions, progress: &Progress) -> Result<(Mesh, DecimateReport), Cancelled> {
    let n_tris = mesh.triangles.len();
    let target = ((n_tris as f64) * opts.target_ratio.clamp(0.0, 1.0)).round() as usize;
    let mut s = State {
        pos: mesh.positions.iter().map(|p| Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64)).collect(),
        tris: mesh.triangles.clone(),
        alive: vec![true; n_tris],
        incident: vec![Vec::new(); mesh.positions.len()],
        quadric: vec![Quadric::default(); mesh.positions.len()],
        stamp: vec![0; mesh.positions.len()],
        removed: vec![false; mesh.positions.len()],
    };
    let mut edge_count = std::collections::HashMap::new();
    for (t, tri) in mesh.triangles.iter().enumerate() {
        let p = tri.map(|v| s.pos[v as usize]);
        let n = (p[1] - p[0]).cross(&(p[2] - p[0]));
        let len = n.norm();
        if len > 0.0 {
            let n = n / len;
            let q = Quadric::plane(n, -n.dot(&p[0]), 1.0);
            for &v in tri {
                s.quadric[v as usize].add(&q);
            }
        }
        for &v in tri {
            s.incident[v as usize].push(t as u32);
        }
        for (a, b) in [(tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])] {
            edge_count.entry((a.min(b), a.max(b))).or_insert((0u32, t)).0 += 1;
        }
    }
    // Open edges hold their place: a stiff plane through each, perpendicular to its triangle.
    for (&(a, b), &(count, t)) in &edge_count {
        if count == 1 {
            let p = s.tris[t].map(|v| s.pos[v as usize]);
            let face_n = (p[1] - p[0]).cross(&(p[2] - p[0]));
            let e = s.pos[b as usize] - s.pos[a as usize];
            let n = e.cross(&face_n);
            if n.norm() > 0.0 {
                let n = n.normalize();
                let q = Quadric::plane(n, -n.dot(&s.pos[a as usize]), 1000.0);
                s.quadric[a as usize].add(&q);
                s.quadric[b as usize].add(&q);
            }
        }
    }
    let mut heap: BinaryHeap<Candidate> = edge_count.keys().map(|&(a, b)| s.candidate(a, b)).collect();
    let limit = opts.max_error_mm.map(|e| e * e);
    let mut alive = n_tris;
    let mut worst = 0.0f64;
    progress.begin("Decimating", (n_tris - target.min(n_tris)) as u64);
    while alive > target {
        let Some(c) = heap.pop() else { break };
        if s.removed[c.a as usize]
            || s.removed[c.b as usize]
            || c.stamp != (s.stamp[c.a as usize], s.stamp[c.b as usize])
        {
            continue;
        }
        if limit.is_some_and(|l| c.cost > l) {
            break;
        }
        if !s.can_collapse(c.a, c.b, &c.target) {
            continue;
        }
        let gone = s.collapse(c.a, c.b, c.target);
        alive -= gone;
        worst = worst.max(c.cost);
        progress.advance(gone as u64);
        if alive % 4096 < 2 {
            progress.check()?;
        }
        for n in s.neighbours(c.a) {
            heap.push(s.candidate(c.a.min(n), c.a.max(n)));
        }
    }
    let triangles: Vec<[u32; 3]> = s.tris.iter().zip(&s.alive).filter(|(_, a)| **a).map(|(t, _)| *t).collect();
    let positions = s.pos.iter().map(|p| [p.x as f32, p.y as f32, p.z as f32]).collect();
    let out = Mesh { positions, triangles }.compacted();
    let report =
        DecimateReport { triangles_before: n_tris, triangles_after: out.triangles.len(), max_error_mm: worst.sqrt() };
    Ok((out, report))
}
