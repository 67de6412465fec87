//! Closest approach of a line segment to a triangle mesh: a best-first walk of the mesh's BVH
//! with an exact segment-triangle test at the leaves. It is what every clearance check spends its
//! time in, and parry's general convex-convex (GJK) query per triangle is several times slower
//! than the closed-form test (closest points of Ericson, *Real-Time Collision Detection*, 5.1).

use parry3d::math::Vector;
use parry3d::partitioning::BvhNode;
use parry3d::shape::TriMesh;

/// Where a segment comes closest to a mesh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Approach {
    /// The segment passes through a triangle.
    Crosses,
    /// The segment stays `distance` from the mesh, closest between these two points.
    Near { distance: f32, on_segment: Vector, on_mesh: Vector },
}

/// The closest approach of segment `a`-`b` to `mesh`, if it comes within `max_distance`.
pub(super) fn closest_approach(mesh: &TriMesh, a: Vector, b: Vector, max_distance: f32) -> Option<Approach> {
    let seg_min = a.min(b);
    let seg_max = a.max(b);
    let node_bound = |node: &BvhNode, _best: f32| {
        // Two lower bounds of the distance from the segment to the box: the gap between the
        // segment's own box and it, and the distance to its centre less its half-diagonal.
        let gap = (node.mins() - seg_max).max(seg_min - node.maxs()).max(Vector::ZERO).length();
        let half = (node.maxs() - node.mins()) * 0.5;
        let around = point_segment(node.mins() + half, a, b).0 - half.length();
        gap.max(around)
    };
    let leaf = |i: u32, _best: f32| {
        let t = mesh.triangle(i);
        Some(segment_triangle(a, b, [t.a, t.b, t.c]))
    };
    let (_, (_, approach)) = mesh.bvh().find_best(max_distance, node_bound, leaf)?;
    Some(approach)
}

/// Distance between a segment and a triangle, and where it is reached (0 and `Crosses` when
/// the segment passes through it).
fn segment_triangle(a: Vector, b: Vector, tri: [Vector; 3]) -> (f32, Approach) {
    if crosses(a, b, tri) {
        return (0.0, Approach::Crosses);
    }
    // Apart, the closest pair has an end of the segment or a point on an edge of the triangle.
    let mut best = (f32::INFINITY, Approach::Crosses);
    let mut consider = |on_segment: Vector, on_mesh: Vector| {
        let distance = on_segment.distance(on_mesh);
        if distance < best.0 {
            best = (distance, Approach::Near { distance, on_segment, on_mesh });
        }
    };
    for end in [a, b] {
        if let Some(q) = point_triangle(end, tri) {
            consider(end, q);
        }
    }
    for k in 0..3 {
        let (on_segment, on_edge) = segment_segment(a, b, tri[k], tri[(k + 1) % 3]);
        consider(on_segment, on_edge);
    }
    best
}

/// Whether segment `a`-`b` passes through the triangle (Möller-Trumbore, ends included).
fn crosses(a: Vector, b: Vector, [p, q, r]: [Vector; 3]) -> bool {
    let dir = b - a;
    let (e1, e2) = (q - p, r - p);
    let h = dir.cross(e2);
    let det = e1.dot(h);
    if det.abs() <= f32::EPSILON * e1.length_squared().max(e2.length_squared()) * dir.length() {
        return false; // parallel to the plane (edges and ends cover what it touches)
    }
    let inv = 1.0 / det;
    let s = a - p;
    let u = s.dot(h) * inv;
    let qv = s.cross(e1);
    let v = dir.dot(qv) * inv;
    let t = e2.dot(qv) * inv;
    (0.0..=1.0).contains(&u) && v >= 0.0 && u + v <= 1.0 && (0.0..=1.0).contains(&t)
}

/// The point of the triangle nearest `p`, by the Voronoi region `p` lies in; `None` for a
/// triangle without area (its edges stand for it).
fn point_triangle(p: Vector, [a, b, c]: [Vector; 3]) -> Option<Vector> {
    let (ab, ac, ap) = (b - a, c - a, p - a);
    let (d1, d2) = (ab.dot(ap), ac.dot(ap));
    if d1 <= 0.0 && d2 <= 0.0 {
        return Some(a);
    }
    let bp = p - b;
    let (d3, d4) = (ab.dot(bp), ac.dot(bp));
    if d3 >= 0.0 && d4 <= d3 {
        return Some(b);
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        return Some(a + ab * (d1 / (d1 - d3)));
    }
    let cp = p - c;
    let (d5, d6) = (ab.dot(cp), ac.dot(cp));
    if d6 >= 0.0 && d5 <= d6 {
        return Some(c);
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        return Some(a + ac * (d2 / (d2 - d6)));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && d4 - d3 >= 0.0 && d5 - d6 >= 0.0 {
        return Some(b + (c - b) * ((d4 - d3) / ((d4 - d3) + (d5 - d6))));
    }
    let denom = va + vb + vc;
    (denom > 0.0).then(|| a + ab * (vb / denom) + ac * (vc / denom))
}

/// Distance from `p` to segment `a`-`b`, and the nearest point on it.
fn point_segment(p: Vector, a: Vector, b: Vector) -> (f32, Vector) {
    let ab = b - a;
    let len2 = ab.length_squared();
    let t = if len2 > 0.0 { ((p - a).dot(ab) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let q = a + ab * t;
    (p.distance(q), q)
}

/// The closest points of segments `p1`-`q1` and `p2`-`q2`.
fn segment_segment(p1: Vector, q1: Vector, p2: Vector, q2: Vector) -> (Vector, Vector) {
    let (d1, d2, r) = (q1 - p1, q2 - p2, p1 - p2);
    let (a, e, f) = (d1.length_squared(), d2.length_squared(), d2.dot(r));
    if a <= f32::EPSILON && e <= f32::EPSILON {
        return (p1, p2);
    }
    if a <= f32::EPSILON {
        return (p1, point_segment(p1, p2, q2).1);
    }
    let c = d1.dot(r);
    if e <= f32::EPSILON {
        return (point_segment(p2, p1, q1).1, p2);
    }
    let b = d1.dot(d2);
    let denom = a * e - b * b;
    let mut s = if denom > 0.0 { ((b * f - c * e) / denom).clamp(0.0, 1.0) } else { 0.0 };
    let mut t = (b * s + f) / e;
    if t < 0.0 {
        t = 0.0;
        s = (-c / a).clamp(0.0, 1.0);
    } else if t > 1.0 {
        t = 1.0;
        s = ((b - c) / a).clamp(0.0, 1.0);
    }
    (p1 + d1 * s, p2 + d2 * t)
}

#[cfg(test)]
mod tests {
    use parry3d::math::Pose;
    use parry3d::query::{ClosestPoints, PointQuery, closest_points};
    use parry3d::shape::{Ball, Segment};

    use super::*;

    /// A closed, finely tessellated sphere: the shape the test segments are measured against.
    fn sphere(radius: f32, centre: Vector) -> TriMesh {
        let (vertices, indices) = Ball::new(radius).to_trimesh(40, 20);
        let vertices = vertices.into_iter().map(|v| v + centre).collect();
        TriMesh::new(vertices, indices).unwrap()
    }

    /// Deterministic pseudo-random points in a 60 mm box.
    fn points(n: usize) -> Vec<Vector> {
        let mut state = 2u64;
        let mut next = move || {
            state = crate::core::phantom::splitmix(state);
            (state >> 40) as f32 / (1u64 << 24) as f32 * 60.0 - 30.0
        };
        (0..n).map(|_| Vector::new(next(), next(), next())).collect()
    }

    /// Against parry's general query (GJK per triangle) on the same mesh, for segments that
    /// miss, graze and pass through it.
    #[test]
    fn matches_parrys_closest_points() {
        let mesh = sphere(12.0, Vector::new(1.0, -2.0, 3.0));
        let ends = points(800);
        let (mut crossed, mut missed) = (0, 0);
        for pair in ends.chunks(2) {
            let (a, b) = (pair[0], pair[1]);
            let theirs = closest_points(&Pose::IDENTITY, &Segment::new(a, b), &Pose::IDENTITY, &mesh, f32::MAX);
            let ours = closest_approach(&mesh, a, b, f32::MAX);
            match (theirs.unwrap(), ours.unwrap()) {
                (ClosestPoints::Intersecting, Approach::Crosses) => crossed += 1,
                (ClosestPoints::WithinMargin(p, q), Approach::Near { distance, on_segment, on_mesh }) => {
                    missed += 1;
                    // GJK stops within its tolerance (micrometres here); the closed form may only be
                    // closer, and its points are checked to lie on the segment and on the mesh.
                    let gjk = p.distance(q);
                    assert!(distance <= gjk + 1e-5 && gjk - distance < 5e-3, "{a} {b}: {gjk} vs {distance}");
                    assert!((on_segment.distance(on_mesh) - distance).abs() < 1e-4);
                    assert!(point_segment(on_segment, a, b).0 < 1e-4, "the point lies on the segment");
                    assert!(mesh.distance_to_local_point(on_mesh, true) < 1e-4, "the point lies on the mesh");
                }
                (theirs, ours) => panic!("{a} {b}: parry says {theirs:?}, this {ours:?}"),
            }
        }
        assert!(crossed > 50 && missed > 50, "both kinds tried: {crossed} crossed, {missed} missed");
    }

    #[test]
    fn respects_the_distance_limit() {
        let mesh = sphere(5.0, Vector::ZERO);
        let (a, b) = (Vector::new(-10.0, 8.0, 0.0), Vector::new(10.0, 8.0, 0.0));
        let Some(Approach::Near { distance, on_mesh, .. }) = closest_approach(&mesh, a, b, 4.0) else {
            panic!("a segment 3 mm from the sphere is within 4 mm");
        };
        assert!((distance - 3.0).abs() < 0.05, "{distance}");
        assert!((on_mesh.y - 5.0).abs() < 0.05);
        assert_eq!(closest_approach(&mesh, a, b, 2.5), None);
    }

    #[test]
    fn degenerate_triangles_and_segments() {
        let flat = [Vector::ZERO, Vector::X, Vector::X * 2.0];
        let (d, _) = segment_triangle(Vector::new(1.0, 1.0, 0.0), Vector::new(1.0, 2.0, 0.0), flat);
        assert!((d - 1.0).abs() < 1e-6, "a triangle without area is its edges: {d}");
        let tri = [Vector::ZERO, Vector::X, Vector::Y];
        let p = Vector::new(0.25, 0.25, 2.0);
        let (d, _) = segment_triangle(p, p, tri);
        assert!((d - 2.0).abs() < 1e-6, "a segment without length is its point: {d}");
    }
}
