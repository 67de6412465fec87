//! Taubin smoothing: alternating shrink (λ > 0) and inflate (μ < 0) Laplacian steps, a low-pass
//! filter that removes voxel steps without shrinking the surface the way plain Laplacian
//! smoothing does. The pass band k_PB sets μ from λ: 1/λ + 1/μ = k_PB.

use rayon::prelude::*;

use super::Mesh;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothOptions {
    /// Pairs of (λ, μ) steps.
    pub iterations: usize,
    /// The pass-band frequency k_PB (0.01..0.1 typical: lower smooths more).
    pub pass_band: f64,
    pub lambda: f64,
}

impl SmoothOptions {
    pub fn iterations(n: usize) -> SmoothOptions {
        SmoothOptions { iterations: n, pass_band: 0.1, lambda: 0.5 }
    }

    pub fn mu(&self) -> f64 {
        1.0 / (self.pass_band - 1.0 / self.lambda)
    }
}

/// Neighbours of every vertex (compressed rows), and whether it lies on an open boundary.
fn neighbours(mesh: &Mesh) -> (Vec<usize>, Vec<u32>, Vec<bool>) {
    let n = mesh.positions.len();
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(mesh.triangles.len() * 6);
    for t in &mesh.triangles {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            pairs.push((a, b));
            pairs.push((b, a));
        }
    }
    pairs.par_sort_unstable();
    // An edge used once (in either direction) is a boundary edge.
    let mut boundary = vec![false; n];
    let mut start = vec![0usize; n + 1];
    let mut adj = Vec::with_capacity(pairs.len() / 2);
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j] == pairs[i] {
            j += 1;
        }
        let (a, b) = pairs[i];
        if j - i == 1 {
            boundary[a as usize] = true;
        }
        adj.push(b);
        start[a as usize + 1] += 1;
        i = j;
    }
    for v in 0..n {
        start[v + 1] += start[v];
    }
    (start, adj, boundary)
}

/// Smooths in place. Vertices on an open boundary stay where they are.
pub fn taubin(mesh: &mut Mesh, opts: SmoothOptions) {
    if opts.iterations == 0 || mesh.triangles.is_empty() {
        return;
    }
    let (start, adj, boundary) = neighbours(mesh);
    let mut next = mesh.positions.clone();
    let mu = opts.mu();
    for _ in 0..opts.iterations {
        for factor in [opts.lambda, mu] {
            let cur = &mesh.positions;
            next.par_iter_mut().enumerate().for_each(|(v, out)| {
                let ns = &adj[start[v]..start[v + 1]];
                if boundary[v] || ns.is_empty() {
                    *out = cur[v];
                    return;
                }
                let mut mean = [0f64; 3];
                for &n in ns {
                    for a in 0..3 {
                        mean[a] += cur[n as usize][a] as f64;
                    }
                }
                let k = ns.len() as f64;
                *out = std::array::from_fn(|a| (cur[v][a] as f64 + factor * (mean[a] / k - cur[v][a] as f64)) as f32);
            });
            std::mem::swap(&mut mesh.positions, &mut next);
        }
    }
}
