//! The phantom's head in a stereotactic frame: a CT on a grid wide enough for the localiser box,
//! its rods drawn with partial volume (the fraction of each voxel inside the rod, from
//! 4 x 4 x 4 sub-samples), at a placement the caller chooses and so knows exactly.

use nalgebra::{Isometry3, Point3, Vector3};
use rayon::prelude::*;

use std::path::{Path, PathBuf};

use super::anatomy::{Anatomy, Tissue};
use super::{CENTRE_MM, NOISE_SD_HU, WriteError, biopsy, meta, record};
use crate::core::dicom::write::{WriteOptions, write_series};
use crate::core::document::{PlanDocument, ScanRef};
use crate::core::stereotaxy::Localizer;
use crate::core::stereotaxy::acpc::AcPc;
use crate::core::volume::{Grid, Volume, VoxelData};

/// The rods' radius (mm), CT number (HU) and T1 signal (the contrast fluid of MR localisers,
/// a little brighter than fat).
pub const ROD_RADIUS_MM: f64 = 1.5;
pub const ROD_HU: f64 = 1500.0;
pub const ROD_T1: f64 = 1200.0;

/// What the framed head is scanned with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Contrast {
    /// CT, with noise of this many HU.
    Ct(f64),
    /// T1-weighted MR (see `mr`), its noise.
    T1,
}
const SEED: u64 = 0x6672_616d_6563_7421;

/// The grid: 1 mm pixels, 2 mm slices, 240 x 250 x 70, centred on the head.
pub fn grid() -> Grid {
    let dims = [240, 250, 70];
    let spacing = [1.0, 1.0, 2.0];
    let centre = CENTRE_MM + Vector3::new(0.0, -10.0, 0.0);
    let origin = Point3::from(std::array::from_fn(|a| centre[a] - (dims[a] - 1) as f64 * spacing[a] / 2.0));
    Grid::axis_aligned(dims, origin, spacing)
}

/// A frame mounted straight on the head, its centre at the head's centre: X = 100 + L,
/// Y = 100 - P, Z = 100 - S from there (Leksell's convention).
pub fn straight_frame() -> Isometry3<f64> {
    let flip = Isometry3::rotation(Vector3::x() * std::f64::consts::PI);
    Isometry3::translation(100.0, 100.0, 100.0)
        * flip
        * Isometry3::translation(-CENTRE_MM.x, -CENTRE_MM.y, -CENTRE_MM.z)
}

/// The head on `grid` with the localiser's rods where `frame_from_patient` puts them (rods
/// listed in `hidden` are left out). The rods lie in air, outside the head: a voxel's value rises
/// from air's by the fraction of it inside a rod.
pub fn scan(
    grid: &Grid,
    localizer: &Localizer,
    frame_from_patient: &Isometry3<f64>,
    hidden: &[usize],
    contrast: Contrast,
) -> Volume {
    let anatomy = Anatomy::new(CENTRE_MM);
    let (value, noise_sd, rod, air): (fn(Tissue) -> f64, f64, f64, f64) = match contrast {
        Contrast::Ct(noise) => (Tissue::hu, noise, ROD_HU, Tissue::Air.hu()),
        Contrast::T1 => (Tissue::t1, super::mr::MR_NOISE_SD, ROD_T1, Tissue::Air.t1()),
    };
    let (mut values, _) = record(grid, &anatomy, &Isometry3::identity(), value, noise_sd, SEED);
    let patient_from_frame = frame_from_patient.inverse();
    let rods: Vec<(Point3<f64>, Point3<f64>)> = localizer
        .rods
        .iter()
        .enumerate()
        .filter(|(i, _)| !hidden.contains(i))
        .map(|(_, r)| (patient_from_frame * r.from(), patient_from_frame * r.to()))
        .collect();
    let [nx, ny, _] = grid.dims;
    let edges = grid.linear_mm();
    let reach = ROD_RADIUS_MM + 0.5 * (edges.column(0).norm() + edges.column(1).norm() + edges.column(2).norm());
    let inside = |p: &Point3<f64>| {
        rods.iter().any(|(a, b)| {
            let ab = b - a;
            let t = (p - a).dot(&ab) / ab.norm_squared();
            (0.0..=1.0).contains(&t) && (p - (a + ab * t)).norm() <= ROD_RADIUS_MM
        })
    };
    let near = |p: &Point3<f64>| {
        rods.iter().any(|(a, b)| {
            let ab = b - a;
            let t = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
            (p - (a + ab * t)).norm() <= reach
        })
    };
    values.par_chunks_mut(nx * ny).enumerate().for_each(|(k, slice)| {
        for j in 0..ny {
            for i in 0..nx {
                let c = grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
                if !near(&c) {
                    continue;
                }
                let f = |s: usize| (s as f64 + 0.5) / 4.0 - 0.5;
                let mut hits = 0;
                for sz in 0..4 {
                    for sy in 0..4 {
                        for sx in 0..4 {
                            hits += inside(&(c + edges * Vector3::new(f(sx), f(sy), f(sz)))) as usize;
                        }
                    }
                }
                let fraction = hits as f64 / 64.0;
                let v = &mut slice[i + nx * j];
                *v += fraction * (rod - air);
            }
        }
    });
    let (data, mut meta) = match contrast {
        Contrast::Ct(_) => (values.iter().map(|v| v.round().clamp(-1024.0, 3071.0) as i16).collect(), meta()),
        // The noisy signal's magnitude, as an MR scanner reconstructs it.
        Contrast::T1 => (values.iter().map(|v| v.abs().round().min(4095.0) as i16).collect(), super::mr::meta()),
    };
    meta.description = format!("Synthetic head phantom in a {} frame (twinplan)", localizer.frame);
    Volume { grid: grid.clone(), data: VoxelData::I16(data), meta, warnings: vec![] }
}

/// The placement `twinplan phantom --framed` writes: the straight frame turned by about two
/// degrees and shifted a few millimetres.
pub fn example_placement() -> Isometry3<f64> {
    straight_frame() * Isometry3::new(Vector3::new(3.0, -4.0, 5.0), Vector3::new(0.02, -0.015, 0.03))
}

/// Where the phantom puts the commissures and a midline point (LPS mm): it has no commissures
/// of its own, so these are nominal points 25 mm apart on its midline below the ventricles.
pub fn acpc_landmarks() -> AcPc {
    let at = |d: [f64; 3]| CENTRE_MM + Vector3::from(d);
    AcPc { ac_mm: at([0.0, -10.0, -5.0]), pc_mm: at([0.0, 15.0, -5.0]), midline_mm: at([0.0, 0.0, 40.0]) }
}

/// What `write` records of the framed CT.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FramedTruth {
    pub description: String,
    pub localizer: String,
    /// Row-major 4x4: frame mm from LPS mm.
    pub frame_from_patient: [[f64; 4]; 4],
    /// The plan's trajectory: its target and entry in LPS mm and in frame mm.
    pub target_mm: [f64; 3],
    pub entry_mm: [f64; 3],
    pub target_frame_mm: [f64; 3],
    pub entry_frame_mm: [f64; 3],
    pub acpc: AcPc,
}

/// What `write` wrote.
pub struct FramedFiles {
    pub dicom_dir: PathBuf,
    pub plan: PathBuf,
    pub truth: PathBuf,
}

/// Writes the head in the Leksell G frame at [`example_placement`] under `dir`: `dicom/`, a plan
/// on it with the phantom's biopsy trajectory (`framed.twinplan.json`, no segments, no frame yet)
/// and `truth.json`.
pub fn write(dir: &Path) -> Result<FramedFiles, WriteError> {
    let localizer = Localizer::preset("leksell-g-ct").expect("the preset parses");
    let placement = example_placement();
    let volume = scan(&grid(), &localizer, &placement, &[], Contrast::Ct(NOISE_SD_HU));
    let files = FramedFiles {
        dicom_dir: dir.join("dicom"),
        plan: dir.join("framed.twinplan.json"),
        truth: dir.join("truth.json"),
    };
    write_series(&volume, &files.dicom_dir, &WriteOptions::new("twinplan phantom v1 framed"))?;
    let loaded = crate::core::dicom::open_volume(&files.dicom_dir, None, &crate::core::progress::Progress::new())
        .map_err(|e| WriteError::Io { path: files.dicom_dir.clone(), error: std::io::Error::other(e.to_string()) })?
        .1;
    let scan = ScanRef::of(&files.dicom_dir, &loaded);
    let mut doc = PlanDocument::new(scan, crate::core::segmentation::LabelMap::empty(&loaded.volume.grid));
    let trajectory = biopsy(&Anatomy::new(CENTRE_MM));
    doc.view.crosshair_mm = trajectory.target_mm;
    let m = placement.to_homogeneous();
    let truth = FramedTruth {
        description: "The phantom's head in a Leksell G frame with its CT indicator box; frame_from_patient maps \
                      LPS mm to Leksell frame mm (X to the left, Y anterior, Z inferior, centre 100, 100, 100)"
            .into(),
        localizer: localizer.name.clone(),
        frame_from_patient: std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)])),
        target_mm: trajectory.target_mm.coords.into(),
        entry_mm: trajectory.entry_mm.coords.into(),
        target_frame_mm: (placement * trajectory.target_mm).coords.into(),
        entry_frame_mm: (placement * trajectory.entry_mm).coords.into(),
        acpc: acpc_landmarks(),
    };
    doc.trajectories.push(trajectory);
    crate::core::document::io::save(&doc, &files.plan)?;
    let json = serde_json::to_string_pretty(&truth).expect("plain numbers serialise");
    std::fs::write(&files.truth, json + "\n").map_err(|error| WriteError::Io { path: files.truth.clone(), error })?;
    Ok(files)
}
