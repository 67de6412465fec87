//! The marching-cubes case table, built from first principles instead of copied: on each cube
//! face the iso-line segments come from marching squares, and an ambiguous face (inside corners
//! on a diagonal) always joins its inside corners. Both cubes sharing a face see the same corners
//! and make the same choice, so the surface has no cracks; joining the inside keeps thin bright
//! structures (contrast-filled vessels) connected across diagonal voxels. The face segments link
//! into closed loops around each cube, and each loop is fanned into triangles.
//!
//! Corner `c` of a cell is at offset (c & 1, c >> 1 & 1, c >> 2 & 1). Edges: 0..4 run along x
//! (at dy + 2 dz), 4..8 along y (at dx + 2 dz), 8..12 along z (at dx + 2 dy).

use std::sync::OnceLock;

/// Corners at the two ends of each edge.
pub const EDGE_CORNERS: [(usize, usize); 12] = {
    let mut e = [(0, 0); 12];
    let mut n = 0;
    while n < 4 {
        let (a, b) = (n & 1, n >> 1);
        e[n] = ((a << 1) | (b << 2), (a << 1) | (b << 2) | 1);
        e[4 + n] = (a | (b << 2), a | (b << 2) | 2);
        e[8 + n] = (a | (b << 1), a | (b << 1) | 4);
        n += 1;
    }
    e
};

fn corner(c: usize) -> [f64; 3] {
    [(c & 1) as f64, ((c >> 1) & 1) as f64, ((c >> 2) & 1) as f64]
}

fn edge_between(a: usize, b: usize) -> usize {
    EDGE_CORNERS.iter().position(|&(x, y)| (x, y) == (a, b) || (x, y) == (b, a)).expect("adjacent corners")
}

/// The six faces, each as its four corners counter-clockwise seen from outside the cube.
fn faces() -> Vec<[usize; 4]> {
    let mut out = Vec::new();
    for axis in 0..3 {
        for side in 0..2 {
            let corners: Vec<usize> = (0..8).filter(|&c| (c >> axis) & 1 == side).collect();
            let centre = [0.5; 3];
            let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
            // Angle around the outward normal: (u, v, axis) is right-handed, so for the +side face
            // increasing angle in (u, v) is counter-clockwise seen from outside.
            let mut sorted = corners.clone();
            sorted.sort_by(|&a, &b| {
                let ang = |c: usize| {
                    let p = corner(c);
                    let a = (p[v] - centre[v]).atan2(p[u] - centre[u]);
                    if side == 1 { a } else { -a }
                };
                ang(a).total_cmp(&ang(b))
            });
            out.push([sorted[0], sorted[1], sorted[2], sorted[3]]);
        }
    }
    out
}

/// Whether two cube edges lie on a common face.
fn share_face(a: usize, b: usize) -> bool {
    let (a0, a1) = EDGE_CORNERS[a];
    let (b0, b1) = EDGE_CORNERS[b];
    (0..3).any(|axis| {
        let side = (a0 >> axis) & 1;
        [a0, a1, b0, b1].iter().all(|c| (c >> axis) & 1 == side)
    })
}

/// Triangulates a loop of edge vertices, keeping its orientation. A diagonal between two
/// vertices on the same cube face would lie in that face, where the neighbouring cube's surface
/// can use the same diagonal and pinch the two sheets together; those are avoided, and among
/// the rest the shortest diagonals win (a minimum-weight triangulation, by dynamic programming).
fn triangulate(lp: &[usize], out: &mut Vec<[u8; 3]>) {
    let n = lp.len();
    let mid = |e: usize| {
        let (a, b) = EDGE_CORNERS[e];
        let (pa, pb) = (corner(a), corner(b));
        [(pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0, (pa[2] + pb[2]) / 2.0]
    };
    let weight = |i: usize, j: usize| -> f64 {
        if j == i + 1 || (i == 0 && j == n - 1) {
            return 0.0;
        }
        let (p, q) = (mid(lp[i]), mid(lp[j]));
        let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
        if share_face(lp[i], lp[j]) { d + 100.0 } else { d }
    };
    // cost[i][j]: best triangulation of the sub-polygon i..=j; split[i][j] its apex.
    let mut cost = vec![vec![0.0f64; n]; n];
    let mut split = vec![vec![0usize; n]; n];
    for len in 2..n {
        for i in 0..n - len {
            let j = i + len;
            let mut best = (f64::INFINITY, i + 1);
            for k in i + 1..j {
                let c = cost[i][k] + cost[k][j] + weight(i, k) + weight(k, j);
                if c < best.0 {
                    best = (c, k);
                }
            }
            cost[i][j] = best.0;
            split[i][j] = best.1;
        }
    }
    fn emit(lp: &[usize], split: &[Vec<usize>], i: usize, j: usize, out: &mut Vec<[u8; 3]>) {
        if j < i + 2 {
            return;
        }
        let k = split[i][j];
        out.push([lp[i] as u8, lp[k] as u8, lp[j] as u8]);
        emit(lp, split, i, k, out);
        emit(lp, split, k, j, out);
    }
    emit(lp, &split, 0, n - 1, out);
}

/// Triangles (as edge triples) for every case; case bit c set = corner c inside (value >= iso).
fn build() -> Vec<Vec<[u8; 3]>> {
    let faces = faces();
    (0..256usize)
        .map(|case| {
            let inside = |c: usize| (case >> c) & 1 == 1;
            // next[e] = the edge a segment starting at edge e (an exit) ends on.
            let mut next = [usize::MAX; 12];
            for f in &faces {
                let crossing: Vec<(usize, bool)> = (0..4)
                    .filter_map(|n| {
                        let (a, b) = (f[n], f[(n + 1) % 4]);
                        (inside(a) != inside(b)).then(|| (edge_between(a, b), inside(a)))
                    })
                    .collect();
                // Walking counter-clockwise, each exit (inside -> outside) pairs with the entry
                // that follows it: the outside corner between them is cut off, inside joins.
                for (n, &(edge, exit)) in crossing.iter().enumerate() {
                    if exit {
                        let entry = crossing[(n + 1) % crossing.len()];
                        debug_assert!(!entry.1);
                        next[edge] = entry.0;
                    }
                }
            }
            let mut seen = [false; 12];
            let mut tris = Vec::new();
            for start in 0..12 {
                if next[start] == usize::MAX || seen[start] {
                    continue;
                }
                let mut lp = Vec::new();
                let mut e = start;
                while !seen[e] {
                    seen[e] = true;
                    lp.push(e);
                    e = next[e];
                }
                triangulate(&lp, &mut tris);
            }
            tris
        })
        .collect()
}

/// The triangles of each case, as edge indices, wound so that normals point from inside
/// (values >= iso) to outside in voxel coordinates.
pub fn table() -> &'static [Vec<[u8; 3]>] {
    static TABLE: OnceLock<Vec<Vec<[u8; 3]>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = build();
        // Fix the global winding with case 1 (only corner 0 inside): its normal must point away
        // from corner 0.
        let mid = |e: u8| {
            let (a, b) = EDGE_CORNERS[e as usize];
            let (pa, pb) = (corner(a), corner(b));
            [(pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0, (pa[2] + pb[2]) / 2.0]
        };
        let [a, b, c] = t[1][0].map(mid);
        let (u, v) = ([b[0] - a[0], b[1] - a[1], b[2] - a[2]], [c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
        let n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
        if n[0] + n[1] + n[2] < 0.0 {
            for tris in &mut t {
                for tri in tris.iter_mut() {
                    tri.swap(1, 2);
                }
            }
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_forms_closed_loops_and_complements_mirror() {
        let t = table();
        assert!(t[0].is_empty() && t[255].is_empty());
        assert_eq!(t[1].len(), 1);
        for case in 1..255 {
            // Each crossed edge is used by the triangles of its loop; count per case:
            // triangles = crossings - 2 * loops, so at least crossings / 3 triangles.
            let crossings = EDGE_CORNERS.iter().filter(|&&(a, b)| ((case >> a) & 1) != ((case >> b) & 1)).count();
            assert!(t[case].len() >= crossings / 3, "case {case}");
            let mut used = [false; 12];
            for tri in &t[case] {
                for &e in tri {
                    used[e as usize] = true;
                }
            }
            assert_eq!(used.iter().filter(|&&u| u).count(), crossings, "case {case} uses every crossed edge");
        }
    }

    #[test]
    fn no_triangle_edge_lies_across_a_face_unless_it_is_the_faces_own_segment() {
        // Edges of the triangles that lie in a cube face must be face segments: each appears in
        // exactly one triangle of the case (the neighbouring cube supplies the other side).
        for (case, tris) in table().iter().enumerate() {
            let mut uses = std::collections::HashMap::new();
            for t in tris {
                for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
                    *uses.entry((a.min(b), a.max(b))).or_insert(0) += 1;
                }
            }
            for (&(a, b), &n) in &uses {
                if share_face(a as usize, b as usize) {
                    assert_eq!(n, 1, "case {case:08b}: edge {a}-{b} lies in a face and is shared inside the cube");
                }
            }
        }
    }

    #[test]
    fn ambiguous_faces_join_the_inside_corners() {
        // Corners 0 and 3 (diagonal on the z = 0 face) inside: one loop of six edges.
        assert_eq!(table()[0b0000_1001].len(), 4);
        // The complement: the two outside corners are cut off separately, two loops of three.
        assert_eq!(table()[0b1111_0110].len(), 2);
        // Corners 0 and 7 (opposite across the cube, no shared face): two separate corners.
        assert_eq!(table()[0b1000_0001].len(), 2);
        // Corners 0 and 6 share the x = 0 face diagonally: joined.
        assert_eq!(table()[0b0100_0001].len(), 4);
    }
}
