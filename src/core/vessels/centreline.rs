//! Centrelines of a vessel segment: a tree of branches, each a line of points with the radius
//! of the largest ball inside the vessel there (as VMTK defines it). Found as TEASAR does:
//! shortest paths inside the mask from a root, weighted to run through the middle (far from the
//! wall), taken from the farthest voxel not yet explained back to the tree, each path then
//! explaining the voxels within its radius. Exported as 3D Slicer curve markups and as CSV.

use nalgebra::Point3;
use serde::Serialize;

use super::paths::{Paths, shortest};
use crate::core::mesh::export::Frame;
use crate::core::progress::{Cancelled, Progress};
use crate::core::segmentation::Mask;
use crate::core::segmentation::morphology::depth_mm;

/// A path explains the voxels within this multiple of its radius, plus one voxel.
const EXPLAIN_SCALE: f64 = 1.5;
/// Pieces of a mask with fewer voxels than this have no centreline.
const MIN_PIECE_VOXELS: usize = 20;
/// Points averaged on each side when a branch is smoothed.
const SMOOTH_HALF_WIDTH: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CentrelinePoint {
    pub position_mm: Point3<f64>,
    pub radius_mm: f64,
}

/// One branch, from where it leaves its parent (or from the root) to its free end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    pub points: Vec<CentrelinePoint>,
    /// The branch it leaves from (`None` for a tree's first branch).
    pub parent: Option<usize>,
}

impl Branch {
    pub fn length_mm(&self) -> f64 {
        self.points.windows(2).map(|w| (w[1].position_mm - w[0].position_mm).norm()).sum()
    }
}

/// Every tree of a vessel segment (one per connected piece).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Centrelines {
    pub branches: Vec<Branch>,
}

impl Centrelines {
    /// Where branches meet: the first point of every branch that has a parent.
    pub fn branch_points(&self) -> Vec<Point3<f64>> {
        self.branches
            .iter()
            .filter(|b| b.parent.is_some())
            .filter_map(|b| b.points.first())
            .map(|p| p.position_mm)
            .collect()
    }

    pub fn points(&self) -> impl Iterator<Item = &CentrelinePoint> {
        self.branches.iter().flat_map(|b| &b.points)
    }

    /// One row per point: branch, its parent, point index, position in LPS and RAS, radius (mm).
    pub fn csv(&self) -> String {
        let mut out =
            "branch,parent,point,x_lps_mm,y_lps_mm,z_lps_mm,x_ras_mm,y_ras_mm,z_ras_mm,radius_mm\n".to_owned();
        for (b, branch) in self.branches.iter().enumerate() {
            let parent = branch.parent.map(|p| (p + 1).to_string()).unwrap_or_default();
            for (n, p) in branch.points.iter().enumerate() {
                let ras = Frame::Ras.point(&p.position_mm);
                let q = p.position_mm;
                out += &format!(
                    "{},{parent},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}\n",
                    b + 1,
                    n + 1,
                    q.x,
                    q.y,
                    q.z,
                    ras[0],
                    ras[1],
                    ras[2],
                    p.radius_mm
                );
            }
        }
        out
    }

    /// A 3D Slicer markups file with one open curve per branch (named `NAME branch N`), points
    /// in `frame`, each curve's length and mean radius as measurements.
    pub fn slicer_curves(&self, name: &str, colour: [u8; 3], frame: Frame) -> serde_json::Value {
        let markups: Vec<serde_json::Value> = self
            .branches
            .iter()
            .enumerate()
            .map(|(b, branch)| {
                let points: Vec<(String, Point3<f64>)> = branch
                    .points
                    .iter()
                    .enumerate()
                    .map(|(n, p)| (format!("{}-{}", b + 1, n + 1), p.position_mm))
                    .collect();
                let mean_radius =
                    branch.points.iter().map(|p| p.radius_mm).sum::<f64>() / branch.points.len().max(1) as f64;
                crate::core::planning::export::markup(
                    "Curve",
                    &format!("{name} branch {}", b + 1),
                    colour,
                    &points,
                    &[("length", branch.length_mm()), ("mean radius", mean_radius)],
                    frame,
                )
            })
            .collect();
        serde_json::json!({ "@schema": crate::core::planning::export::MARKUPS_SCHEMA, "markups": markups })
    }
}

/// The centrelines of a mask. The first tree starts from the mask voxel nearest `root_mm` (a
/// vessel's seed) when given, every other piece from its deepest voxel.
pub fn centrelines(mask: &Mask, root_mm: Option<Point3<f64>>, progress: &Progress) -> Result<Centrelines, Cancelled> {
    let Some(depth) = depth_mm(mask) else {
        return Ok(Centrelines::default());
    };
    let grid = &mask.grid;
    let sp = grid.spacing_mm();
    let voxel_mm = sp.iter().copied().fold(f64::INFINITY, f64::min);
    let bd = depth.dims;
    let n = bd[0] * bd[1] * bd[2];
    let inside = |v: usize| depth.values[v] > 0.0;
    let to_grid = |v: usize| {
        let (i, j, k) = (v % bd[0], (v / bd[0]) % bd[1], v / (bd[0] * bd[1]));
        // Only voxels inside the mask are asked for, never the box's outer layer.
        [i as isize + depth.origin[0], j as isize + depth.origin[1], k as isize + depth.origin[2]]
    };
    let position = |v: usize| {
        let [i, j, k] = to_grid(v);
        grid.patient_point(Point3::new(i as f64, j as f64, k as f64))
    };
    // The radius of the largest ball about the voxel's centre holding no voxel centre outside.
    let radius = |v: usize| f64::from(depth.values[v]);

    let mut done = vec![false; n];
    let mut on_tree: Vec<Option<(usize, usize)>> = vec![None; n];
    let mut branches: Vec<Branch> = Vec::new();
    let mut first_root = root_mm.and_then(|p| {
        (0..n).filter(|&v| inside(v)).min_by(|&a, &b| (position(a) - p).norm().total_cmp(&(position(b) - p).norm()))
    });
    // Other pieces start from their deepest voxel: the deepest not yet reached, in one pass.
    let mut by_depth: Vec<usize> = (0..n).filter(|&v| inside(v)).collect();
    by_depth.sort_by(|&a, &b| depth.values[b].total_cmp(&depth.values[a]));
    let mut next_deepest = by_depth.iter();
    // Work areas over the box, reused piece after piece and cleared where a piece touched them.
    let mut paths = Paths::new(n);
    let mut along = vec![0f64; n];
    let mut explained = vec![false; n];
    let mut marked: Vec<usize> = Vec::new();
    progress.begin("Centrelines", by_depth.len() as u64);
    loop {
        progress.check()?;
        let Some(root) = first_root.take().or_else(|| next_deepest.by_ref().copied().find(|&v| !done[v])) else {
            break;
        };
        // Shortest paths from the root, each step costing its length over the squared depth.
        shortest(&mut paths, bd, sp, root, None, |_, w, len| {
            let d = f64::from(depth.values[w]);
            if d > 0.0 && !done[w] { len / (d * d) } else { f64::INFINITY }
        });
        let (reached, previous) = (&paths.settled, &paths.previous);
        for &v in reached {
            along[v] = if previous[v] == usize::MAX {
                0.0
            } else {
                along[previous[v]] + (position(v) - position(previous[v])).norm()
            };
        }
        reached.iter().for_each(|&v| done[v] = true);
        progress.advance(reached.len() as u64);
        if reached.len() < MIN_PIECE_VOXELS {
            continue;
        }
        marked.iter().for_each(|&v| explained[v] = false);
        marked.clear();
        // Farthest first; each path runs back to the tree (or to the root).
        let mut order = reached.clone();
        order.sort_by(|&a, &b| along[b].total_cmp(&along[a]));
        let tree_start = branches.len();
        for &end in &order {
            if explained[end] {
                continue;
            }
            let mut path = vec![end];
            let mut v = end;
            while on_tree[v].is_none() && previous[v] != usize::MAX {
                v = previous[v];
                path.push(v);
            }
            let parent = on_tree[v].map(|(b, _)| b);
            path.reverse();
            for &p in &path {
                explain(&mut explained, &mut marked, p, radius(p) * EXPLAIN_SCALE + voxel_mm, &depth.dims, sp);
            }
            // A stub shorter than the vessel is wide where it leaves is the wall's bump, not a branch.
            let length: f64 = path.windows(2).map(|w| (position(w[1]) - position(w[0])).norm()).sum();
            let is_first = branches.len() == tree_start;
            if !is_first && length < EXPLAIN_SCALE * radius(path[0]) + 2.0 * voxel_mm {
                continue;
            }
            let b = branches.len();
            for (i, &p) in path.iter().enumerate() {
                if on_tree[p].is_none() {
                    on_tree[p] = Some((b, i));
                }
            }
            let points =
                path.iter().map(|&p| CentrelinePoint { position_mm: position(p), radius_mm: radius(p) }).collect();
            branches.push(Branch { points: smooth(points), parent: if is_first { None } else { parent } });
        }
    }
    Ok(Centrelines { branches })
}

/// Marks the box voxels within `r_mm` of voxel `v` (listing the newly marked in `marked`).
fn explain(explained: &mut [bool], marked: &mut Vec<usize>, v: usize, r_mm: f64, dims: &[usize; 3], sp: [f64; 3]) {
    let c = [v % dims[0], (v / dims[0]) % dims[1], v / (dims[0] * dims[1])];
    let reach: [usize; 3] = std::array::from_fn(|a| (r_mm / sp[a]).floor() as usize);
    for k in c[2].saturating_sub(reach[2])..=(c[2] + reach[2]).min(dims[2] - 1) {
        for j in c[1].saturating_sub(reach[1])..=(c[1] + reach[1]).min(dims[1] - 1) {
            for i in c[0].saturating_sub(reach[0])..=(c[0] + reach[0]).min(dims[0] - 1) {
                let d2 = ((i as f64 - c[0] as f64) * sp[0]).powi(2)
                    + ((j as f64 - c[1] as f64) * sp[1]).powi(2)
                    + ((k as f64 - c[2] as f64) * sp[2]).powi(2);
                let w = i + dims[0] * (j + dims[1] * k);
                if d2 <= r_mm * r_mm && !explained[w] {
                    explained[w] = true;
                    marked.push(w);
                }
            }
        }
    }
}

/// A moving average along the branch: voxel-centre steps become a smooth line. The ends stay.
fn smooth(points: Vec<CentrelinePoint>) -> Vec<CentrelinePoint> {
    let n = points.len();
    (0..n)
        .map(|i| {
            if i == 0 || i + 1 == n {
                return points[i];
            }
            let h = SMOOTH_HALF_WIDTH.min(i).min(n - 1 - i);
            let window = &points[i - h..=i + h];
            let m = window.len() as f64;
            CentrelinePoint {
                position_mm: Point3::from(
                    window.iter().map(|p| p.position_mm.coords).sum::<nalgebra::Vector3<f64>>() / m,
                ),
                radius_mm: window.iter().map(|p| p.radius_mm).sum::<f64>() / m,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::volume::Grid;

    /// A T of two straight tubes: one trunk, one branch, each point's radius near the truth.
    #[test]
    fn a_t_junction_gives_a_trunk_and_one_branch() {
        let grid = Grid::axis_aligned([60, 40, 30], Point3::origin(), [0.5, 0.5, 0.5]);
        let mut mask = Mask::empty(&grid);
        for k in 0..30 {
            for j in 0..40 {
                for i in 0..60 {
                    let p = grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
                    let trunk = ((p.y - 10.0).powi(2) + (p.z - 7.5).powi(2)).sqrt() < 3.0 && p.x > 2.0 && p.x < 27.0;
                    let branch = ((p.x - 15.0).powi(2) + (p.z - 7.5).powi(2)).sqrt() < 2.0 && p.y >= 10.0 && p.y < 18.0;
                    mask.voxels[grid.index(i, j, k)] = (trunk || branch) as u8;
                }
            }
        }
        let c = centrelines(&mask, Some(Point3::new(3.0, 10.0, 7.5)), &Progress::new()).unwrap();
        assert_eq!(c.branches.len(), 2, "{:?}", c.branches.iter().map(|b| b.length_mm()).collect::<Vec<_>>());
        assert_eq!(c.branches[0].parent, None);
        assert_eq!(c.branches[1].parent, Some(0));
        let trunk = &c.branches[0];
        assert!(trunk.length_mm() > 18.0, "trunk {}", trunk.length_mm());
        let middle = &trunk.points[trunk.points.len() / 2];
        assert!((middle.position_mm.y - 10.0).abs() < 0.5 && (middle.position_mm.z - 7.5).abs() < 0.5, "{middle:?}");
        assert!((middle.radius_mm - 3.0).abs() < 0.5, "{middle:?}");
        let junction = c.branch_points()[0];
        assert!((junction - Point3::new(15.0, 10.0, 7.5)).norm() < 2.0, "{junction}");
        let csv = c.csv();
        assert_eq!(csv.lines().count(), 1 + c.points().count());
    }

    /// Two separate tubes among hundreds of specks: one tree each, the specks skipped, each tree
    /// found whole though the work areas are shared between pieces.
    #[test]
    fn separate_pieces_each_get_their_own_tree() {
        let grid = Grid::axis_aligned([60, 60, 40], Point3::origin(), [0.5, 0.5, 0.5]);
        let mut mask = Mask::empty(&grid);
        for k in 0..40 {
            for j in 0..60 {
                for i in 0..60 {
                    let p = grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
                    let a = ((p.y - 7.0).powi(2) + (p.z - 10.0).powi(2)).sqrt() < 2.0 && p.x > 2.0 && p.x < 27.0;
                    let b = ((p.y - 22.0).powi(2) + (p.z - 10.0).powi(2)).sqrt() < 2.0 && p.x > 2.0 && p.x < 27.0;
                    let speck = i % 4 == 0 && j % 4 == 0 && k % 4 == 0 && (k < 12 || k > 28);
                    mask.voxels[grid.index(i, j, k)] = (a || b || speck) as u8;
                }
            }
        }
        let c = centrelines(&mask, None, &Progress::new()).unwrap();
        assert_eq!(c.branches.len(), 2, "{:?}", c.branches.iter().map(|b| b.length_mm()).collect::<Vec<_>>());
        for b in &c.branches {
            assert_eq!(b.parent, None);
            assert!(b.length_mm() > 18.0, "{}", b.length_mm());
        }
    }
}
