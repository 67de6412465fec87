//! The outlines of a mask on one slice, traced along the pixels' edges: closed polygons whose
//! corners lie halfway between pixel centres, so that no pixel centre lies on an outline and
//! filling them by the even-odd rule (an outline inside another is a hole) gives back exactly
//! the mask's pixels. An RT Structure Set holds a segment this way.

use std::collections::HashMap;

/// A corner between pixels: (a, b) is the point (a - 0.5, b - 0.5) in pixel coordinates, the
/// corner shared by pixels (a - 1, b - 1), (a, b - 1), (a - 1, b) and (a, b).
pub type Corner = (i64, i64);

/// The closed outlines of the pixels where `inside(i, j)` holds on an nx x ny slice, each a
/// list of corners with no two consecutive edges in line (the closing edge runs from the last
/// corner back to the first). Outer borders run one way round, holes the other.
pub fn outlines(nx: usize, ny: usize, inside: impl Fn(usize, usize) -> bool) -> Vec<Vec<Corner>> {
    let at =
        |i: i64, j: i64| i >= 0 && j >= 0 && (i as usize) < nx && (j as usize) < ny && inside(i as usize, j as usize);
    // Each pixel's sides that face an outside pixel, all oriented the same way round the pixel,
    // so that the sides two inside pixels share never appear and the rest join into loops.
    let mut edges: Vec<(Corner, Corner)> = Vec::new();
    for j in 0..ny as i64 {
        for i in 0..nx as i64 {
            if !at(i, j) {
                continue;
            }
            if !at(i, j - 1) {
                edges.push(((i, j), (i + 1, j)));
            }
            if !at(i + 1, j) {
                edges.push(((i + 1, j), (i + 1, j + 1)));
            }
            if !at(i, j + 1) {
                edges.push(((i + 1, j + 1), (i, j + 1)));
            }
            if !at(i - 1, j) {
                edges.push(((i, j + 1), (i, j)));
            }
        }
    }
    let mut leaving: HashMap<Corner, Vec<usize>> = HashMap::new();
    for (e, (from, _)) in edges.iter().enumerate() {
        leaving.entry(*from).or_default().push(e);
    }
    let mut used = vec![false; edges.len()];
    let mut loops = Vec::new();
    for first in 0..edges.len() {
        if used[first] {
            continue;
        }
        let mut corners = Vec::new();
        let mut e = first;
        loop {
            used[e] = true;
            let (from, to) = edges[e];
            corners.push(from);
            // Where two pixels touch only at this corner two edges leave it: take the turn
            // towards the pixel this edge borders, which keeps the two pixels in separate loops.
            let direction = (to.0 - from.0, to.1 - from.1);
            let inward = (-direction.1, direction.0);
            let next = leaving[&to].iter().copied().filter(|n| !used[*n]).max_by_key(|n| {
                let (a, b) = edges[*n];
                let d = (b.0 - a.0, b.1 - a.1);
                (d == inward, d == direction)
            });
            match next {
                Some(n) => e = n,
                None => break,
            }
        }
        loops.push(without_straight_corners(corners));
    }
    loops
}

/// Drops the corners where an outline goes straight on.
fn without_straight_corners(corners: Vec<Corner>) -> Vec<Corner> {
    let n = corners.len();
    (0..n)
        .filter(|&k| {
            let (p, c, q) = (corners[(k + n - 1) % n], corners[k], corners[(k + 1) % n]);
            (c.0 - p.0) * (q.1 - c.1) != (c.1 - p.1) * (q.0 - c.0)
        })
        .map(|k| corners[k])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Even-odd filling of the outlines at pixel centres, written separately from the tracer:
    /// a ray along the row crosses the vertical edges to the right of the centre.
    fn filled(loops: &[Vec<Corner>], nx: usize, ny: usize) -> Vec<bool> {
        let mut on = vec![false; nx * ny];
        for j in 0..ny {
            for i in 0..nx {
                let (x, y) = (i as f64 + 0.5, j as f64 + 0.5);
                let mut odd = false;
                for l in loops {
                    for k in 0..l.len() {
                        let (a, b) = (l[k], l[(k + 1) % l.len()]);
                        let (ay, by) = (a.1 as f64, b.1 as f64);
                        if (ay < y) != (by < y) && a.0 as f64 > x {
                            odd = !odd;
                        }
                    }
                }
                on[j * nx + i] = odd;
            }
        }
        on
    }

    #[test]
    fn a_square_is_four_corners_and_a_ring_two_loops() {
        let square = outlines(6, 6, |i, j| (1..4).contains(&i) && (2..5).contains(&j));
        assert_eq!(square, vec![vec![(1, 2), (4, 2), (4, 5), (1, 5)]]);
        let ring = outlines(7, 7, |i, j| (1..6).contains(&i) && (1..6).contains(&j) && !(i == 3 && j == 3));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4]);
        let diagonal = outlines(3, 3, |i, j| i == j && i < 2);
        assert_eq!(diagonal, vec![vec![(0, 0), (1, 0), (1, 1), (0, 1)], vec![(1, 1), (2, 1), (2, 2), (1, 2)]]);
    }

    /// Masks with holes, islands, pixels touching at a corner and pixels on the border: filling
    /// the outlines gives every pixel back, and no outline has a straight corner.
    #[test]
    fn filling_the_outlines_gives_back_the_mask() {
        let (nx, ny) = (23, 17);
        let masks: Vec<Box<dyn Fn(usize, usize) -> bool>> = vec![
            Box::new(|i, j| (i + j) % 2 == 0),
            Box::new(|i, j| {
                let (x, y) = (i as f64 - 11.0, j as f64 - 8.0);
                let r = (x * x + y * y).sqrt();
                (3.0..7.5).contains(&r) || r < 1.5
            }),
            Box::new(|i, j| i == 0 || j == 16 || (i * 7 + j * 13) % 5 == 0),
            Box::new(|_, _| true),
            Box::new(|_, _| false),
        ];
        for (m, mask) in masks.iter().enumerate() {
            let loops = outlines(nx, ny, mask);
            let got = filled(&loops, nx, ny);
            for j in 0..ny {
                for i in 0..nx {
                    assert_eq!(got[j * nx + i], mask(i, j), "mask {m}, pixel ({i}, {j})");
                }
            }
            for l in &loops {
                assert!(l.len() >= 4, "mask {m}: {l:?}");
                assert_eq!(without_straight_corners(l.clone()), *l);
            }
        }
    }
}
