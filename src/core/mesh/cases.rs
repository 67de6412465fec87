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
    EDGE_CORNERS
        .iter()
        .position(|&(x, y)| (x, y) == (a, b) || (x, y) == (b, a))
        .expect("adjacent corners")
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
                for n in 1..lp.len() - 1 {
                    tris.push([lp[0] as u8, lp[n] as u8, lp[n + 1] as u8]);
                }
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
        let (u, v) = (
            [b[0] - a[0], b[1] - a[1], b[2] - a[2]],
            [c[0] - a[0], c[1] - a[1], c[2] - a[2]],
        );
        let n = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
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
            let crossings = EDGE_CORNERS
                .iter()
                .filter(|&&(a, b)| ((case >> a) & 1) != ((case >> b) & 1))
                .count();
            assert!(t[case].len() >= crossings / 3, "case {case}");
            let mut used = [false; 12];
            for tri in &t[case] {
                for &e in tri {
                    used[e as usize] = true;
                }
            }
            assert_eq!(
                used.iter().filter(|&&u| u).count(),
                crossings,
                "case {case} uses every crossed edge"
            );
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
