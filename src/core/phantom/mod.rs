//! The bundled synthetic head CT: deterministic, with exact truth.
//!
//! Each voxel's CT number is the mean tissue value over a 4x4x4 sub-sample where the voxel
//! straddles a boundary (partial volume, as a scanner would record it), plus deterministic noise.
//! Its truth label is the structure at the voxel centre.

pub mod anatomy;
pub mod frame;
pub mod mr;

use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Point3, Vector3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use anatomy::{Anatomy, Ellipsoid, Shape, Tissue, Tube};

use crate::core::dicom::write::{WriteOptions, write_series};
use crate::core::io::nifti;
use crate::core::volume::{Grid, Volume, VolumeMeta, VoxelData};

/// Truth labels: value, name, category.
pub const LABELS: [(u8, &str, &str); 8] = [
    (1, "Scalp", "skin"),
    (2, "Skull", "bone"),
    (3, "Brain", "brain"),
    (4, "Ventricles", "ventricle"),
    (5, "Tumour", "target"),
    (6, "Arteries", "vessel"),
    (7, "Superior sagittal sinus", "vessel"),
    (8, "Optic nerves", "nerve"),
];

/// Voxels per axis and spacing: 0.9 mm pixels, 1.25 mm slices (anisotropic on purpose).
pub const DIMS: [usize; 3] = [176, 216, 150];
pub const SPACING_MM: [f64; 3] = [0.9, 0.9, 1.25];
/// Centre of the volume in LPS mm (deliberately not the origin).
pub const CENTRE_MM: Point3<f64> = Point3::new(0.0, -15.0, 40.0);
/// Standard deviation of the added noise, in HU.
pub const NOISE_SD_HU: f64 = 6.0;
const SUBSAMPLES: usize = 4;
const SEED: u64 = 0x7477_696e_706c_616e; // "twinplan"

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthStructure {
    pub label: u8,
    pub name: String,
    pub category: String,
    /// CT number of the tissue(s) making up the structure.
    pub hu: Vec<f64>,
    /// Their signal on the MR (see [`mr`]), in the same order.
    pub t1: Vec<f64>,
    pub geometry: Shape,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub description: String,
    pub frame: String,
    pub dims: [usize; 3],
    /// Row-major 4x4, LPS mm.
    pub patient_from_voxel: [[f64; 4]; 4],
    pub noise_sd_hu: f64,
    pub structures: Vec<TruthStructure>,
    pub mr: MrTruth,
}

/// The MR series: its grid and the motion between the two patient spaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MrTruth {
    pub description: String,
    pub dims: [usize; 3],
    /// Row-major 4x4, the MR's patient space (LPS mm).
    pub patient_from_voxel: [[f64; 4]; 4],
    /// Row-major 4x4: maps a point of the MR's patient space to the CT's (LPS mm), which is the
    /// plan's `primary_from_secondary` for the MR.
    pub ct_from_mr: [[f64; 4]; 4],
    pub noise_sd: f64,
}

impl Truth {
    pub fn structure(&self, name: &str) -> Option<&TruthStructure> {
        self.structures.iter().find(|s| s.name == name)
    }
}

/// The generated phantom: CT volume (i16 HU), truth labels on the same grid, truth geometry.
pub struct Phantom {
    pub volume: Volume,
    pub labels: Vec<u8>,
    pub truth: Truth,
    pub anatomy: Anatomy,
}

pub fn grid() -> Grid {
    let origin = Point3::from(std::array::from_fn(|a| CENTRE_MM[a] - (DIMS[a] - 1) as f64 * SPACING_MM[a] / 2.0));
    Grid::axis_aligned(DIMS, origin, SPACING_MM)
}

/// splitmix64: a tiny, well-mixed, platform-independent generator (tests elsewhere draw their
/// deterministic samples from it too).
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Approximately normal noise from the sum of 12 uniforms (Irwin-Hall): integer arithmetic and
/// sums only, so every platform produces the same values. Seeded per voxel, so the result does
/// not depend on thread scheduling.
pub fn noise(seed: u64, index: usize) -> f64 {
    let mut s = splitmix(seed ^ index as u64);
    let mut sum = 0.0;
    for _ in 0..12 {
        s = splitmix(s);
        sum += (s >> 11) as f64 / (1u64 << 53) as f64;
    }
    sum - 6.0
}

/// What a scanner records of `anatomy` on `grid`, whose patient space `anatomy_from_scan`
/// places in the anatomy's: each voxel's value is the tissue value at its centre, or the mean
/// over 4 x 4 x 4 sub-samples where it straddles a boundary (or is near a tube), plus noise of
/// standard deviation `noise_sd` seeded per voxel from `seed`; and the truth label at each
/// voxel centre.
fn record(
    grid: &Grid,
    anatomy: &Anatomy,
    anatomy_from_scan: &Isometry3<f64>,
    value: impl Fn(Tissue) -> f64 + Sync,
    noise_sd: f64,
    seed: u64,
) -> (Vec<f64>, Vec<u8>) {
    let [nx, ny, _] = grid.dims;
    // A voxel's edges in the anatomy's space, and the half extent of its bounding box.
    let edges = anatomy_from_scan.rotation.to_rotation_matrix().matrix() * grid.linear_mm();
    let half = Vector3::from_fn(|a, _| (0..3).map(|b| edges[(a, b)].abs() * 0.5).sum::<f64>());
    let offset = |u: f64, v: f64, w: f64| edges * Vector3::new(u, v, w);
    let boxes: Vec<_> = anatomy.tube_boxes().collect();
    let mut values = vec![0.0; grid.voxel_count()];
    let mut labels = vec![0u8; grid.voxel_count()];
    values.par_chunks_mut(nx * ny).zip(labels.par_chunks_mut(nx * ny)).enumerate().for_each(
        |(k, (value_slice, label_slice))| {
            for j in 0..ny {
                for i in 0..nx {
                    let c = anatomy_from_scan * grid.patient_point(Point3::new(i as f64, j as f64, k as f64));
                    let centre_tissue = anatomy.tissue(&c);
                    let near_tube =
                        boxes.iter().any(|(lo, hi)| (0..3).all(|a| c[a] + half[a] >= lo[a] && c[a] - half[a] <= hi[a]));
                    let corners_agree = (0..8).all(|n| {
                        let s = |bit: usize| if n & bit == 0 { -0.5 } else { 0.5 };
                        anatomy.tissue(&(c + offset(s(1), s(2), s(4)))) == centre_tissue
                    });
                    let mean = if corners_agree && !near_tube {
                        value(centre_tissue)
                    } else {
                        let f = |s: usize| (s as f64 + 0.5) / SUBSAMPLES as f64 - 0.5;
                        let mut sum = 0.0;
                        for sz in 0..SUBSAMPLES {
                            for sy in 0..SUBSAMPLES {
                                for sx in 0..SUBSAMPLES {
                                    sum += value(anatomy.tissue(&(c + offset(f(sx), f(sy), f(sz)))));
                                }
                            }
                        }
                        sum / (SUBSAMPLES * SUBSAMPLES * SUBSAMPLES) as f64
                    };
                    value_slice[i + nx * j] = mean + noise_sd * noise(seed, grid.index(i, j, k));
                    label_slice[i + nx * j] = anatomy.label(&c);
                }
            }
        },
    );
    (values, labels)
}

/// Generates the phantom's CT (a few seconds on two cores).
pub fn generate() -> Phantom {
    let grid = grid();
    let anatomy = Anatomy::new(CENTRE_MM);
    let (values, labels) = record(&grid, &anatomy, &Isometry3::identity(), Tissue::hu, NOISE_SD_HU, SEED);
    let hu = values.iter().map(|v| v.round().clamp(-1024.0, 3071.0) as i16).collect();
    let truth = truth_of(&anatomy, &grid);
    Phantom {
        volume: Volume { grid, data: VoxelData::I16(hu), meta: meta(), warnings: vec![] },
        labels,
        truth,
        anatomy,
    }
}

/// The phantom's identity: synthetic patient, study date, default brain window.
pub fn meta() -> VolumeMeta {
    let mut meta = VolumeMeta {
        series_uid: crate::core::dicom::write::uid_from_name("twinplan phantom v1/series"),
        study_uid: String::new(),
        modality: "CT".into(),
        description: "Synthetic head phantom (twinplan)".into(),
        patient_name: "Phantom Head".into(),
        patient_id: "TWINPLAN-PHANTOM-1".into(),
        study_date: "20260101".into(),
        unit: "HU".into(),
        window: Some((40.0, 80.0)),
        identifying: Vec::new(),
    };
    meta.identifying = [&meta.series_uid, &meta.description, &meta.patient_name, &meta.patient_id, &meta.study_date]
        .map(|s| s.clone())
        .to_vec();
    meta
}

fn truth_of(a: &Anatomy, grid: &Grid) -> Truth {
    let rows =
        |m: &nalgebra::Matrix4<f64>| -> [[f64; 4]; 4] { std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)])) };
    let shell =
        |outer: f64, inner: f64| Shape::EllipsoidShell { outer: a.head.shrunk(outer), inner: a.head.shrunk(inner) };
    let geometry = |label: u8| -> (Vec<Tissue>, Shape) {
        match label {
            1 => (vec![Tissue::Skin, Tissue::Fat], shell(0.0, anatomy::SKULL_OUTER_DEPTH_MM)),
            2 => (
                vec![Tissue::CorticalBone, Tissue::Diploe],
                shell(anatomy::SKULL_OUTER_DEPTH_MM, anatomy::SKULL_INNER_DEPTH_MM),
            ),
            3 => (
                vec![Tissue::Csf, Tissue::GreyMatter, Tissue::WhiteMatter],
                Shape::Ellipsoids { items: vec![a.head.shrunk(anatomy::SKULL_INNER_DEPTH_MM)] },
            ),
            4 => (vec![Tissue::Ventricle], Shape::Ellipsoids { items: a.ventricles.to_vec() }),
            5 => (
                vec![Tissue::TumourCore, Tissue::TumourRim],
                Shape::Sphere { centre: a.tumour_centre, radius_mm: a.tumour_radius_mm },
            ),
            6 => (vec![Tissue::Artery], Shape::Tubes { segments: a.arteries.clone() }),
            7 => (vec![Tissue::Sinus], Shape::Tubes { segments: a.sinus.clone() }),
            _ => (vec![Tissue::Nerve], Shape::Tubes { segments: a.nerves.clone() }),
        }
    };
    Truth {
        description: "twinplan synthetic head phantom: nested ellipsoid scalp/skull/brain, ventricles, a spherical tumour, \
                      contrast-filled arterial trees and a venous sinus (tubes), optic nerves (tubes without CT contrast). \
                      Structures overlap; each voxel's label is the highest-numbered structure containing its centre, \
                      except that nerves take precedence over vessels."
            .into(),
        frame: "LPS, millimetres".into(),
        dims: grid.dims,
        patient_from_voxel: rows(&grid.patient_from_voxel),
        noise_sd_hu: NOISE_SD_HU,
        structures: LABELS
            .iter()
            .map(|&(label, name, category)| {
                let (tissues, shape) = geometry(label);
                TruthStructure {
                    label,
                    name: name.into(),
                    category: category.into(),
                    hu: tissues.iter().map(|t| t.hu()).collect(),
                    t1: tissues.iter().map(|t| t.t1()).collect(),
                    geometry: shape,
                }
            })
            .collect(),
        mr: MrTruth {
            description: "The same head as a T1-weighted MR after gadolinium, on its own oblique grid, in a patient space \
                          moved from the CT's by ct_from_mr (the patient lay differently). Values: the magnitude of the \
                          tissue signal plus noise of the given standard deviation."
                .into(),
            dims: mr::MR_DIMS,
            patient_from_voxel: rows(&mr::grid().patient_from_voxel),
            ct_from_mr: rows(&mr::ct_from_mr().to_homogeneous()),
            noise_sd: mr::MR_NOISE_SD,
        },
    }
}

/// Files written by [`write`].
pub struct PhantomFiles {
    pub dicom_dir: PathBuf,
    /// The MR series (see [`mr`]).
    pub mr_dir: PathBuf,
    pub labels: PathBuf,
    pub truth: PathBuf,
    pub readme: PathBuf,
    /// A plan on the phantom with every truth structure as a segment: what the workstation opens
    /// first.
    pub plan: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Dicom(#[from] crate::core::dicom::DicomError),
    #[error(transparent)]
    Nifti(#[from] nifti::NiftiError),
    #[error(transparent)]
    Plan(#[from] crate::core::document::io::PlanIoError),
    #[error("registering the phantom's MR to its CT: {0}")]
    Registration(#[from] crate::core::registration::RegistrationError),
    // The cause is part of the message, not a `source`: an error chain would print it twice.
    #[error("{path}: cannot write: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

/// Writes the phantom under `dir`: `dicom/` (the CT series), `mr/` (the MR series),
/// `truth_labels.nii.gz`, `truth.json`, `README.md` and the plan (see [`plan`]).
pub fn write(phantom: &Phantom, dir: &Path) -> Result<PhantomFiles, WriteError> {
    let files = PhantomFiles {
        dicom_dir: dir.join("dicom"),
        mr_dir: dir.join("mr"),
        labels: dir.join("truth_labels.nii.gz"),
        truth: dir.join("truth.json"),
        readme: dir.join("README.md"),
        plan: dir.join("phantom.twinplan.json"),
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| WriteError::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    write_series(&phantom.volume, &files.dicom_dir, &WriteOptions::new("twinplan phantom v1"))?;
    let mr = mr::generate(&phantom.anatomy);
    write_series(&mr, &files.mr_dir, &WriteOptions::new("twinplan phantom v1 mr"))?;
    let labels: Vec<u16> = phantom.labels.iter().map(|&l| l as u16).collect();
    nifti::write_labels(&files.labels, &phantom.volume.grid, &labels, "twinplan phantom truth labels")?;
    let json = serde_json::to_string_pretty(&phantom.truth)
        .map_err(|e| WriteError::Io { path: files.truth.clone(), error: e.into() })?;
    std::fs::write(&files.truth, json + "\n").map_err(io(&files.truth))?;
    std::fs::write(&files.readme, readme()).map_err(io(&files.readme))?;
    crate::core::document::io::save(&plan(phantom, &mr, &files)?, &files.plan)?;
    Ok(files)
}

/// The fused MR's name in the plan.
pub const MR_NAME: &str = "T1 MR";

/// The plan that the workstation opens first: the MR fused by registration (not by the truth
/// motion), every structure a segment imported from the truth label map except the optic
/// nerves, grown from seeds on the MR where they show, and a needle biopsy of the tumour. Shown
/// so that the inner structures are visible (see-through scalp and skull, brain hidden).
fn plan(
    phantom: &Phantom,
    mr: &Volume,
    files: &PhantomFiles,
) -> Result<crate::core::document::PlanDocument, WriteError> {
    use crate::core::document::{PlanDocument, ScanRef, SecondaryScan, SegmentDisplay, ViewState};
    use crate::core::progress::Progress;
    use crate::core::registration::{Settings, register};
    use crate::core::segmentation::{Category, Connectivity, Segment, Step, WithFused};
    let ct = &phantom.volume;
    let scan_ref =
        |path: &Path, uid: &str| ScanRef { path: path.to_owned(), series_uid: uid.into(), series_id: uid.into() };
    let mut doc = PlanDocument { scan: scan_ref(&files.dicom_dir, &ct.meta.series_uid), ..Default::default() };
    let progress = Progress::new();
    let registration = register(ct, mr, &Settings::default(), &progress)?;
    let fused = SecondaryScan::registered(MR_NAME, scan_ref(&files.mr_dir, &mr.meta.series_uid), &registration);
    let mr_on_ct = fused.on_grid(mr, &ct.grid).ok_or_else(|| WriteError::Io {
        path: files.mr_dir.clone(),
        error: std::io::Error::other("the MR's grid is flat"),
    })?;
    doc.secondary_scans.push(fused);
    // The nerves look thinner than they are after the MR's partial volume and the resampling
    // onto the CT: a level 30% of the way from the white matter's signal to the nerves' (rather
    // than halfway) errs toward a thicker nerve, the safe side for clearance. Fat is the bound
    // above.
    let wm = Tissue::WhiteMatter.t1();
    let nerve_range = (wm + 0.3 * (Tissue::Nerve.t1() - wm), Tissue::Fat.t1());
    let nerve_seeds: Vec<Point3<f64>> =
        phantom.anatomy.nerves.iter().step_by(2).map(|t| nalgebra::center(&t.from, &t.to)).collect();
    for &(label, name, category) in &LABELS {
        let category = Category::parse(category).unwrap_or(Category::Other);
        let step = match category {
            Category::Nerve => Step::Grow {
                seeds_mm: nerve_seeds.clone(),
                lo: nerve_range.0,
                hi: nerve_range.1,
                connectivity: Connectivity::Six,
                scan: Some(MR_NAME.into()),
            },
            _ => Step::Import { file: files.labels.clone(), label: label as u32 },
        };
        doc.segmentation.segments.push(Segment {
            label: label as u16,
            name: name.to_owned(),
            category,
            margin_mm: category.default_margin_mm(),
            critical: category.is_critical(),
            overwrite: Default::default(),
            steps: vec![step],
        });
        let mut display = SegmentDisplay::for_category(category);
        match category {
            Category::Skin => display.opacity = 0.25,
            Category::Bone => display.opacity = 0.35,
            Category::Brain => display.visible = false,
            _ => {}
        }
        doc.display.insert(label as u16, display);
    }
    let values = WithFused { primary: ct, fused: vec![(MR_NAME.into(), std::sync::Arc::new(mr_on_ct))], vessels: None };
    doc.segmentation.rebuild(&values, &progress).map_err(crate::core::document::io::PlanIoError::from)?;
    let tumour = phantom.anatomy.tumour_centre;
    doc.trajectories.push(biopsy(&phantom.anatomy));
    doc.view = ViewState { crosshair_mm: tumour, window_centre: 40.0, window_width: 80.0, ..Default::default() };
    Ok(doc)
}

/// A needle biopsy of the tumour, entering where the line from the head's centre through the
/// tumour leaves the scalp (a short, near-perpendicular path).
pub(super) fn biopsy(anatomy: &anatomy::Anatomy) -> crate::core::planning::Trajectory {
    use crate::core::planning::{Instrument, InstrumentKind, Trajectory};
    let (c, t, a) = (anatomy.head.centre, anatomy.tumour_centre, anatomy.head.semi_axes_mm);
    let d = t - c;
    let s = 1.0 / (0..3).map(|i| (d[i] / a[i]).powi(2)).sum::<f64>().sqrt();
    // Rounded to 0.1 mm, as a surgeon would type it.
    let entry = (c + d * s).map(|x| (x * 10.0).round() / 10.0);
    Trajectory::new("Biopsy, left frontal", entry, t, Instrument::preset(InstrumentKind::BiopsyNeedle))
}

fn readme() -> String {
    let labels: String = LABELS.iter().map(|(l, n, c)| format!("| {l} | {n} | {c} |\n")).collect();
    let [mx, my, mz] = mr::MR_DIMS;
    let [msx, _, msz] = mr::MR_SPACING_MM;
    format!(
        "# twinplan synthetic head phantom\n\n\
         A deterministic CT and MR of a synthetic head, written by `twinplan phantom --out DIR` (source:\n\
         `src/core/phantom/`). Regenerating it gives byte-identical files; a test checks that.\n\n\
         - `dicom/`: {nz} axial CT slices, {nx} x {ny} pixels of {px} mm, {sz} mm apart, explicit VR little\n  \
         endian, 12 bits stored with RescaleIntercept -1024 (HU). Patient name and ID are synthetic.\n\
         - `mr/`: the same head as a T1-weighted MR after gadolinium, {mz} slices of {mx} x {my} pixels of\n  \
         {msx} mm, {msz} mm apart, tilted {tilt} degrees about the left-right axis, scanned the next day with\n  \
         the patient lying differently: its patient space is moved from the CT's by `ct_from_mr` in\n  \
         `truth.json` (about 12 degrees and 15 mm). Its field of view leaves out the bottom of the head.\n\
         - `truth_labels.nii.gz`: the structure at each CT voxel centre (NIfTI, RAS affine).\n\
         - `truth.json`: each structure's name, category, CT numbers, MR signal and exact geometry in LPS\n  \
         mm (ellipsoid centres and semi-axes, tube centre-lines and radii); the MR's grid and `ct_from_mr`.\n\
         - `phantom.twinplan.json` (with its label map beside it): the plan the workstation opens by\n  \
         default. The MR is fused by twinplan's own registration (not by the truth motion); every\n  \
         structure is imported from the truth label map except the optic nerves, which are grown from\n  \
         seeds on the fused MR, where they show; a needle biopsy of the tumour (`twinplan check` reports\n  \
         its clearances).\n\n\
         ## How it was made\n\
         Every voxel whose corners do not all lie in one tissue (or that is near a tube) is sampled at\n\
         4 x 4 x 4 points and gets the mean value (partial volume), like a scanner's finite voxel.\n\
         Noise with a standard deviation of {noise} HU on the CT and {mr_noise} on the MR (whose values are\n\
         the magnitude, as MR reconstructs them) is added: the sum of 12 uniforms from splitmix64, seeded\n\
         per voxel, so every platform gives the same numbers.\n\
         Nerves carry no contrast on the CT (34 HU, like the brain around them): as in a real CT, they\n\
         are not in the image. On the MR they are brighter than the white matter; arteries and the\n\
         sinus are dark (flow voids), as is cortical bone.\n\n\
         | label | structure | category |\n|---|---|---|\n{labels}\n\
         Not anatomy to learn from: shapes are simplified on purpose so their truth is exact.\n",
        nx = DIMS[0],
        ny = DIMS[1],
        nz = DIMS[2],
        px = SPACING_MM[0],
        sz = SPACING_MM[2],
        noise = NOISE_SD_HU,
        mr_noise = mr::MR_NOISE_SD,
        tilt = mr::MR_TILT_DEG,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_unit_variance_and_zero_mean() {
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|i| noise(SEED, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }
}
