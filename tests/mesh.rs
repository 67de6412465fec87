//! Surface extraction against analytic shapes, an independent marching-cubes oracle, and real
//! data; smoothing and decimation that keep the shape.

mod common;

use nalgebra::{Matrix3, Matrix4, Point3, Rotation3, Vector3};
use twinplan::core::mesh::decimate::{DecimateOptions, decimate};
use twinplan::core::mesh::smooth::{SmoothOptions, taubin};
use twinplan::core::mesh::{ExtractOptions, Mesh, extract_iso, extract_mask};
use twinplan::core::progress::Progress;
use twinplan::core::segmentation::Mask;
use twinplan::core::volume::{Grid, Volume, VolumeMeta, VoxelData};

use std::f64::consts::PI;

/// An oblique, anisotropic grid centred on the origin.
fn oblique_grid(dims: [usize; 3], spacing: [f64; 3], shear: f64) -> Grid {
    let rot = Rotation3::from_euler_angles(0.4, -0.25, 0.7);
    let mut lin = rot.matrix() * Matrix3::from_diagonal(&Vector3::from(spacing));
    // Shear the slice axis sideways, as a gantry tilt does.
    let side = lin.column(1).into_owned() * shear;
    let mut c2 = lin.column_mut(2);
    c2 += side;
    let mut m = Matrix4::identity();
    m.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
    let centre = lin * Vector3::new(dims[0] as f64 - 1.0, dims[1] as f64 - 1.0, dims[2] as f64 - 1.0) / 2.0;
    m.fixed_view_mut::<3, 1>(0, 3).copy_from(&(-centre));
    Grid::new(dims, m)
}

fn field(grid: &Grid, f: impl Fn(&Point3<f64>) -> f64) -> Volume {
    let mut v = Vec::with_capacity(grid.voxel_count());
    for k in 0..grid.dims[2] {
        for j in 0..grid.dims[1] {
            for i in 0..grid.dims[0] {
                v.push(f(&grid.patient_point(Point3::new(i as f64, j as f64, k as f64))) as f32);
            }
        }
    }
    Volume { grid: grid.clone(), data: VoxelData::F32(v), meta: VolumeMeta::default(), warnings: vec![] }
}

fn capsule_distance(p: &Point3<f64>, a: &Point3<f64>, b: &Point3<f64>) -> f64 {
    let ab = b - a;
    let t = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
    (p - (a + ab * t)).norm()
}

fn extract(v: &Volume, iso: f64) -> Mesh {
    extract_iso(v, iso, ExtractOptions::default(), &Progress::new()).unwrap()
}

#[test]
fn sphere_and_tube_on_oblique_anisotropic_and_sheared_grids_match_the_formulas() {
    for (shear, name) in [(0.0, "oblique"), (0.35, "sheared")] {
        let grid = oblique_grid([60, 52, 40], [0.7, 0.9, 1.3], shear);
        let r = 15.0;
        let sphere = extract(&field(&grid, |p| r - p.coords.norm()), 0.0);
        assert!(sphere.is_watertight(), "{name}: sphere is closed");
        let (area, vol) = (sphere.area_mm2(), sphere.volume_mm3());
        assert!((area / (4.0 * PI * r * r) - 1.0).abs() < 0.01, "{name}: sphere area {area}");
        assert!((vol / (4.0 / 3.0 * PI * r.powi(3)) - 1.0).abs() < 0.01, "{name}: sphere volume {vol}");

        // Marching cubes inscribes the surface: its chord error falls as (spacing / radius)^2, so
        // the tube is 7 mm thick to be within 1% at 1.3 mm slices.
        let (a, b, rt) = (Point3::new(-12.0, -6.0, -4.0), Point3::new(10.0, 8.0, 5.0), 7.0);
        let tube = extract(&field(&grid, |p| rt - capsule_distance(p, &a, &b)), 0.0);
        let len = (b - a).norm();
        let (area, vol) = (tube.area_mm2(), tube.volume_mm3());
        assert!(tube.is_watertight(), "{name}: tube is closed");
        assert!((area / (2.0 * PI * rt * len + 4.0 * PI * rt * rt) - 1.0).abs() < 0.01, "{name}: tube area {area}");
        assert!(
            (vol / (PI * rt * rt * len + 4.0 / 3.0 * PI * rt.powi(3)) - 1.0).abs() < 0.01,
            "{name}: tube volume {vol}"
        );
    }
}

#[test]
fn a_mirrored_grid_still_gives_outward_normals() {
    let mut grid = oblique_grid([40, 40, 40], [1.0, 1.0, 1.0], 0.0);
    // Flip the slice axis (slices stored from head to feet), keeping the grid centred.
    let m = grid.patient_from_voxel;
    let (c0, c1, c2) = (
        m.fixed_view::<3, 1>(0, 0).into_owned(),
        m.fixed_view::<3, 1>(0, 1).into_owned(),
        m.fixed_view::<3, 1>(0, 2).into_owned(),
    );
    grid.patient_from_voxel.fixed_view_mut::<3, 1>(0, 2).copy_from(&(-c2));
    grid.patient_from_voxel.fixed_view_mut::<3, 1>(0, 3).copy_from(&(-(c0 + c1 - c2) * 19.5));
    assert!(grid.patient_from_voxel.fixed_view::<3, 3>(0, 0).determinant() < 0.0);
    let m = extract(&field(&grid, |p| 10.0 - (p - Point3::new(0.0, 0.0, -5.0)).norm()), 0.0);
    assert!(m.is_watertight());
    assert!(m.volume_mm3() > 0.0);
    assert!((m.volume_mm3() / (4.0 / 3.0 * PI * 1000.0) - 1.0).abs() < 0.01);
}

#[test]
fn thin_diagonal_tubes_stay_connected_and_closed() {
    // Radius 1.5 voxels, running diagonally through every axis: the case that breaks vessels.
    let grid = Grid::axis_aligned([48, 48, 48], Point3::origin(), [1.0; 3]);
    let (a, b) = (Point3::new(6.0, 7.0, 5.0), Point3::new(41.0, 40.0, 42.0));
    let mut mask = Mask::empty(&grid);
    for idx in 0..grid.voxel_count() {
        let [i, j, k] = grid.ijk(idx);
        mask.voxels[idx] = (capsule_distance(&Point3::new(i as f64, j as f64, k as f64), &a, &b) <= 1.5) as u8;
    }
    let m = extract_mask(&mask, ExtractOptions::default(), &Progress::new()).unwrap();
    assert_eq!(m.components().1, 1, "the tube is one piece");
    assert!(m.is_watertight());
    // Thin tubes on a sampled field too.
    let v = field(&grid, |p| 1.5 - capsule_distance(p, &a, &b));
    let m = extract(&v, 0.0);
    assert_eq!(m.components().1, 1);
    assert!(m.is_watertight());
}

#[test]
fn closing_the_border_makes_a_cut_object_watertight() {
    let grid = Grid::axis_aligned([30, 30, 30], Point3::origin(), [1.0; 3]);
    // A ball cut by the x = 0 face of the volume.
    let v = field(&grid, |p| 10.0 - (p - Point3::new(3.0, 15.0, 15.0)).norm());
    let open = extract(&v, 0.0);
    assert!(!open.is_watertight());
    let closed = extract_iso(&v, 0.0, ExtractOptions { close_border: true }, &Progress::new()).unwrap();
    assert!(closed.is_watertight());
    // The cap lies on the volume's outer boundary, half a voxel beyond the first voxel centres.
    let (lo, _) = closed.bounds().unwrap();
    assert!((lo[0] + 0.5).abs() < 1e-4, "{lo:?}");
}

/// The marching-cubes crate's per-cell kernel (`polygonise`) is unusable in 0.1.2: it tests the
/// edge mask inverted, indexes its triangle table off by three and always returns 0. Its tables
/// (Bourke's, which also join the inside corners of ambiguous faces) are sound, so the oracle is
/// a plain triangle soup over those tables, cell by cell, written here.
fn oracle(v: &Volume, iso: f32) -> (usize, f64) {
    use marching_cubes::tables::{EDGE_TABLE, TRI_TABLE};
    let g = &v.grid;
    let [nx, ny, nz] = g.dims;
    let at = |i: usize, j: usize, k: usize| v.data.get(g.index(i, j, k));
    // Bourke's corner order.
    const C: [[usize; 3]; 8] = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]];
    const E: [(usize, usize); 12] =
        [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)];
    let (mut count, mut area) = (0usize, 0.0f64);
    for k in 0..nz - 1 {
        for j in 0..ny - 1 {
            for i in 0..nx - 1 {
                let vals = C.map(|c| at(i + c[0], j + c[1], k + c[2]));
                let mut index = 0;
                for (n, &val) in vals.iter().enumerate() {
                    if val < iso {
                        index |= 1 << n;
                    }
                }
                if EDGE_TABLE[index] == 0 {
                    continue;
                }
                let vert = |e: usize| -> Vector3<f64> {
                    let (a, b) = E[e];
                    let t = ((iso - vals[a]) / (vals[b] - vals[a])) as f64;
                    let pa = g
                        .patient_point(Point3::new((i + C[a][0]) as f64, (j + C[a][1]) as f64, (k + C[a][2]) as f64))
                        .coords;
                    let pb = g
                        .patient_point(Point3::new((i + C[b][0]) as f64, (j + C[b][1]) as f64, (k + C[b][2]) as f64))
                        .coords;
                    pa + (pb - pa) * t
                };
                let tri = &TRI_TABLE[index];
                let mut n = 0;
                while tri[n] != -1 {
                    let (a, b, c) = (vert(tri[n] as usize), vert(tri[n + 1] as usize), vert(tri[n + 2] as usize));
                    area += (b - a).cross(&(c - a)).norm() / 2.0;
                    count += 1;
                    n += 3;
                }
            }
        }
    }
    (count, area)
}

#[test]
fn triangle_count_and_area_equal_the_marching_cubes_oracle() {
    let grid = oblique_grid([50, 44, 36], [0.8, 0.8, 1.2], 0.0);
    let shapes: Vec<(&str, Volume)> = vec![
        ("sphere", field(&grid, |p| 12.0 - p.coords.norm())),
        (
            "tube",
            field(&grid, |p| 3.0 - capsule_distance(p, &Point3::new(-14.0, -3.0, 2.0), &Point3::new(12.0, 9.0, -4.0))),
        ),
        // A bumpy field with many saddles and ambiguous faces.
        ("waves", field(&grid, |p| (p.x * 0.7).sin() + (p.y * 0.9).cos() * (p.z * 0.5).sin())),
    ];
    for (name, v) in shapes {
        let ours = extract(&v, 0.0);
        let (count, area) = oracle(&v, 0.0);
        assert_eq!(ours.triangles.len(), count, "{name}: triangle count");
        let rel = (ours.area_mm2() - area).abs() / area;
        assert!(rel < 2e-3, "{name}: area {} vs oracle {area} ({rel:.2e})", ours.area_mm2());
    }
}

#[test]
fn taubin_smoothing_removes_voxel_steps_without_shrinking() {
    let grid = Grid::axis_aligned([40, 40, 40], Point3::new(-20.0, -20.0, -20.0), [1.0; 3]);
    let r = 12.0;
    let mut mask = Mask::empty(&grid);
    for idx in 0..grid.voxel_count() {
        let [i, j, k] = grid.ijk(idx);
        mask.voxels[idx] = (grid.patient_point(Point3::new(i as f64, j as f64, k as f64)).coords.norm() <= r) as u8;
    }
    let blocky = extract_mask(&mask, ExtractOptions::default(), &Progress::new()).unwrap();
    let mut smooth = blocky.clone();
    taubin(&mut smooth, SmoothOptions::iterations(30));
    let (area, vol) = (4.0 * PI * r * r, 4.0 / 3.0 * PI * r.powi(3));
    // Voxel steps inflate the area; smoothing brings it close to the sphere's.
    assert!((blocky.area_mm2() / area - 1.0).abs() > 0.04, "blocky area {}", blocky.area_mm2());
    assert!((smooth.area_mm2() / area - 1.0).abs() < 0.02, "smoothed area {}", smooth.area_mm2());
    // Volume is kept (Laplacian smoothing would lose several percent).
    assert!(
        (smooth.volume_mm3() / blocky.volume_mm3() - 1.0).abs() < 0.01,
        "{} vs {}",
        smooth.volume_mm3(),
        blocky.volume_mm3()
    );
    assert!((smooth.volume_mm3() / vol - 1.0).abs() < 0.02);
    assert!(smooth.is_watertight());
}

#[test]
fn decimation_keeps_a_closed_surface_within_its_error_bound() {
    let grid = oblique_grid([50, 50, 50], [0.8, 0.8, 0.8], 0.0);
    let sphere = extract(&field(&grid, |p| 14.0 - p.coords.norm()), 0.0);
    let (small, report) =
        decimate(&sphere, DecimateOptions { target_ratio: 0.2, max_error_mm: None }, &Progress::new()).unwrap();
    assert!(small.is_watertight());
    assert!((small.triangles.len() as f64) <= 0.2 * sphere.triangles.len() as f64 + 2.0, "{report:?}");
    assert!((small.volume_mm3() / sphere.volume_mm3() - 1.0).abs() < 0.01);
    // Every original vertex lies close to the decimated surface (and on the true sphere).
    let worst = small.max_distance_from(&sphere.positions);
    assert!(worst < 0.25, "original vertices up to {worst} mm from the decimated surface");
    // With an error bound, it stops early instead of leaving the surface.
    let (bounded, r2) =
        decimate(&sphere, DecimateOptions { target_ratio: 0.01, max_error_mm: Some(0.05) }, &Progress::new()).unwrap();
    assert!(r2.max_error_mm <= 0.05);
    assert!(bounded.triangles.len() > small.triangles.len() / 4);
    assert!(bounded.max_distance_from(&sphere.positions) < 0.1);
}

/// Open edges (used by one triangle) of a mesh extracted from `grid`, with at least one end
/// inside the volume rather than on its outer faces.
fn open_edges_inside(m: &Mesh, grid: &Grid) -> usize {
    use std::collections::HashMap;
    let mut count: HashMap<(u32, u32), u32> = HashMap::new();
    for t in &m.triangles {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            *count.entry((a.min(b), a.max(b))).or_insert(0) += 1;
        }
    }
    let inv = grid.voxel_from_patient().unwrap();
    let on_border = |v: u32| {
        let p = m.positions[v as usize];
        let q = inv.transform_point(&Point3::new(p[0] as f64, p[1] as f64, p[2] as f64));
        (0..3).any(|a| q[a] < 1e-3 || q[a] > grid.dims[a] as f64 - 1.0 - 1e-3)
    };
    count.iter().filter(|(_, n)| **n == 1).filter(|((a, b), _)| !(on_border(*a) && on_border(*b))).count()
}

#[test]
fn bone_surface_of_the_ct_head_phantom_is_closed_away_from_the_border() {
    let (_, loaded) =
        twinplan::core::dicom::open_volume(&common::data("ct-head-phantom"), None, &Progress::new()).unwrap();
    let v = loaded.volume;
    let (iso, _) = twinplan::core::segmentation::Preset::Bone.range_hu();
    let m = extract(&v, iso);
    assert!(m.triangles.len() > 100_000, "{} triangles", m.triangles.len());
    assert_eq!(open_edges_inside(&m, &v.grid), 0, "cracks inside the volume");
    let closed = extract_iso(&v, iso, ExtractOptions { close_border: true }, &Progress::new()).unwrap();
    assert!(closed.is_watertight());
    assert!(closed.volume_mm3() > 0.0);
}

#[test]
fn the_aorta_mesh_encloses_the_label_maps_voxel_volume() {
    let (_, loaded) =
        twinplan::core::dicom::open_volume(&common::data("ct-body-j2k/dicom"), None, &Progress::new()).unwrap();
    let grid = loaded.volume.grid;
    let (labels, _) =
        twinplan::core::segmentation::import_labels(&common::data("ct-body-j2k/labels.nii.gz"), &grid).unwrap();
    let aorta = labels.mask(52);
    let voxel_volume = aorta.volume_mm3();
    // The aorta runs through the top and bottom slices: close it there.
    let m = extract_mask(&aorta, ExtractOptions { close_border: true }, &Progress::new()).unwrap();
    assert!(m.is_watertight());
    let ratio = m.volume_mm3() / voxel_volume;
    eprintln!("aorta: mesh {:.0} mm3, voxels {voxel_volume:.0} mm3 ({ratio:.4})", m.volume_mm3());
    assert!((ratio - 1.0).abs() < 0.03, "mesh volume / voxel volume = {ratio:.4}");
    let mut smooth = m.clone();
    taubin(&mut smooth, SmoothOptions::iterations(20));
    let ratio = smooth.volume_mm3() / voxel_volume;
    assert!((ratio - 1.0).abs() < 0.03, "after smoothing {ratio:.4}");
}
