//! Aligning two scans of one patient (image fusion): automatic rigid registration by Mattes mutual
//! information, coarse to fine, and landmark registration from point pairs.
//!
//! The result is `fixed_from_moving`: it maps a point of the moving scan's patient space (LPS mm)
//! to the fixed scan's. Internally the optimiser moves fixed samples into the moving scan, as ITK
//! does, and the result is inverted once at the end.

pub mod landmarks;
mod mattes;
mod pyramid;

use std::time::Instant;

use nalgebra::{Isometry3, Point3, Translation3, Vector3};
use serde::Serialize;

use crate::core::progress::{Cancelled, Interrupted, Progress};
use crate::core::segmentation::Mask;
use crate::core::volume::Volume;
pub use landmarks::{LandmarkFit, fit as fit_landmarks};
use mattes::{Moving, Samples, evaluate};
use pyramid::Level;

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("the scans belong to different patients (PatientID '{fixed}' and '{moving}')")]
    OtherPatient { fixed: String, moving: String },
    #[error("the scans do not overlap: {0}")]
    NoOverlap(String),
    #[error("{0}")]
    Unusable(String),
    #[error("landmarks: {0}")]
    Landmarks(String),
    /// The finest level did not converge: the motion found must not be used.
    #[error("no convergence after {iterations} iterations (mutual information {metric:.4})")]
    NotConverged { iterations: usize, metric: f64 },
    #[error("cancelled")]
    Cancelled,
}

impl From<Cancelled> for RegistrationError {
    fn from(_: Cancelled) -> Self {
        RegistrationError::Cancelled
    }
}

impl Interrupted for RegistrationError {
    fn is_cancelled(&self) -> bool {
        matches!(self, RegistrationError::Cancelled)
    }
}

/// How the optimiser works; the defaults suit head CT and MR.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Voxel spacing of each level, coarse to fine; 0 is the scan's own.
    pub levels_mm: Vec<f64>,
    /// Fixed-scan samples per level.
    pub samples: usize,
    /// First step of each level, in mm of motion at the samples' typical radius.
    pub first_step_mm: f64,
    /// A level ends when its step falls below this.
    pub min_step_mm: f64,
    /// What the step is multiplied by when the gradient turns back.
    pub relaxation: f64,
    pub max_iterations: usize,
    /// Register scans whose PatientID differs.
    pub allow_other_patient: bool,
    /// Only the fixed scan's voxels in this mask (on its grid) are compared: anatomy that keeps
    /// its shape between the scans and has edges to align on (the skull, not the jaw or the
    /// neck; a smooth region alone holds too little).
    #[serde(skip)]
    pub fixed_mask: Option<std::sync::Arc<Mask>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            levels_mm: vec![6.0, 3.0, 0.0],
            samples: 100_000,
            first_step_mm: 4.0,
            min_step_mm: 0.005,
            relaxation: 0.7,
            max_iterations: 300,
            allow_other_patient: false,
            fixed_mask: None,
        }
    }
}

/// Where the optimiser started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// The scans' own geometry: both in one patient space.
    Geometry,
    /// Shifted so that the scans' centres of mass meet.
    CentresOfMass,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    pub spacing_mm: [f64; 3],
    pub samples: usize,
    /// Of them, those inside the moving scan at the end.
    pub overlap: usize,
    pub iterations: usize,
    pub mutual_information: f64,
    /// The step fell below the minimum (rather than the iterations running out).
    pub converged: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub fixed_from_moving: Isometry3<f64>,
    /// Mattes mutual information at the end (higher is better aligned).
    pub metric: f64,
    pub iterations: usize,
    pub start: Start,
    pub levels: Vec<LevelReport>,
    /// The finest level converged; when false the result must not be used.
    pub converged: bool,
    pub time_s: f64,
}

impl Registration {
    /// The registration, if its motion may be used.
    pub fn converged(self) -> Result<Registration, RegistrationError> {
        if self.converged {
            Ok(self)
        } else {
            Err(RegistrationError::NotConverged { iterations: self.iterations, metric: self.metric })
        }
    }
}

/// The smallest share of the samples that must land in the moving scan.
const MIN_OVERLAP: f64 = 0.1;

/// Registers `moving` to `fixed` by mutual information.
pub fn register(
    fixed: &Volume,
    moving: &Volume,
    settings: &Settings,
    progress: &Progress,
) -> Result<Registration, RegistrationError> {
    let started = Instant::now();
    if !settings.allow_other_patient {
        same_patient(fixed, moving)?;
    }
    for (what, v) in [("fixed", fixed), ("moving", moving)] {
        if v.grid.dims.iter().any(|&n| n < 4) || v.grid.voxel_from_patient().is_none() {
            return Err(RegistrationError::Unusable(format!(
                "the {what} scan ({} x {} x {} voxels) is too thin to register: 4 voxels a side at least",
                v.grid.dims[0], v.grid.dims[1], v.grid.dims[2]
            )));
        }
    }
    let (fixed_full, moving_full) = (full_level(fixed), full_level(moving));
    let mask = settings.fixed_mask.as_deref();
    if let Some(m) = mask {
        if !m.grid.same_as(&fixed.grid, 1e-3) {
            return Err(RegistrationError::Unusable("the mask is not on the fixed scan's grid".into()));
        }
        if m.is_empty() {
            return Err(RegistrationError::Unusable("the mask holds no voxel of the fixed scan".into()));
        }
    }
    let share = mask.map_or(1.0, |m| m.count() as f64 / m.voxels.len() as f64);
    let inside = |p: &Point3<f64>| mask.is_none_or(|m| m.grid.voxel_at(p).is_some_and(|i| m.voxels[i] != 0));
    progress.begin("Registering", settings.levels_mm.len() as u64 * settings.max_iterations as u64);

    let mut moving_from_fixed = Isometry3::identity();
    let mut start = Start::Geometry;
    let mut levels = Vec::new();
    for (n, &spacing_mm) in settings.levels_mm.iter().enumerate() {
        let shrink = |l: &Level| if spacing_mm > 0.0 { l.shrunk(spacing_mm) } else { l.clone() };
        let (f, m) = (shrink(&fixed_full), shrink(&moving_full));
        let samples = Samples::draw(&f, settings.samples, &inside, share);
        let moving_level =
            Moving::new(&m).ok_or_else(|| RegistrationError::Unusable("the moving scan's grid is flat".into()))?;
        let min_overlap = (samples.points.len() as f64 * MIN_OVERLAP).ceil() as usize;
        if n == 0 {
            let by_mass = Isometry3::from(Translation3::from(centre_of_mass(&m) - centre_of_mass(&f)));
            let mi =
                |t: &Isometry3<f64>| evaluate(&samples, &moving_level, t, min_overlap).map(|e| e.mutual_information);
            (moving_from_fixed, start) = match (mi(&moving_from_fixed), mi(&by_mass)) {
                (Some(g), Some(c)) if c > g => (by_mass, Start::CentresOfMass),
                (Some(_), _) => (moving_from_fixed, Start::Geometry),
                (None, Some(_)) => (by_mass, Start::CentresOfMass),
                (None, None) => {
                    return Err(RegistrationError::NoOverlap(format!(
                        "fewer than {:.0}% of the fixed scan's samples fall inside the moving scan, placed by the scans' \
                         geometry or by their centres of mass",
                        MIN_OVERLAP * 100.0
                    )));
                }
            };
        }
        let report = optimise(&samples, &moving_level, &mut moving_from_fixed, settings, min_overlap, progress)?;
        levels.push(LevelReport { spacing_mm: f.grid.spacing_mm(), samples: samples.points.len(), ..report });
        progress.advance(settings.max_iterations as u64);
    }
    let last = levels.last();
    Ok(Registration {
        fixed_from_moving: moving_from_fixed.inverse(),
        metric: last.map_or(0.0, |l| l.mutual_information),
        iterations: levels.iter().map(|l| l.iterations).sum(),
        start,
        converged: last.is_some_and(|l| l.converged),
        levels,
        time_s: started.elapsed().as_secs_f64(),
    })
}

fn full_level(v: &Volume) -> Level {
    Level::new(v.grid.clone(), (0..v.data.len()).map(|i| v.data.get(i)).collect())
}

/// The metric of placements made by hand, so that its value follows the user's changes: the
/// scans are read and sampled once, at full resolution as a registration's last level is, then
/// each placement costs one pass over the samples.
pub struct Probe {
    samples: Samples,
    moving: Level,
    min_overlap: usize,
}

impl Probe {
    /// `samples`: fixed-scan samples (the more, the steadier the value; a registration uses
    /// [`Settings::default`]'s).
    pub fn new(fixed: &Volume, moving: &Volume, samples: usize) -> Probe {
        let samples = Samples::draw(&full_level(fixed), samples, &|_| true, 1.0);
        let min_overlap = (samples.points.len() as f64 * MIN_OVERLAP).ceil() as usize;
        Probe { samples, moving: full_level(moving), min_overlap }
    }

    /// Mattes mutual information with the moving scan placed by `fixed_from_moving` (higher is
    /// better aligned); `None` when too few samples fall inside the moving scan.
    pub fn metric(&self, fixed_from_moving: &Isometry3<f64>) -> Option<f64> {
        let moving = Moving::new(&self.moving)?;
        evaluate(&self.samples, &moving, &fixed_from_moving.inverse(), self.min_overlap).map(|e| e.mutual_information)
    }
}

/// Refuses two scans whose PatientIDs are both known and differ.
pub fn same_patient(fixed: &Volume, moving: &Volume) -> Result<(), RegistrationError> {
    let (a, b) = (fixed.meta.patient_id.trim(), moving.meta.patient_id.trim());
    if !a.is_empty() && !b.is_empty() && a != b {
        return Err(RegistrationError::OtherPatient { fixed: a.to_owned(), moving: b.to_owned() });
    }
    Ok(())
}

/// Regular-step gradient ascent (as ITK's): a step of fixed length along the gradient, shortened
/// by the relaxation factor whenever the gradient turns back, until it is below the minimum.
fn optimise(
    samples: &Samples,
    moving: &Moving,
    moving_from_fixed: &mut Isometry3<f64>,
    settings: &Settings,
    min_overlap: usize,
    progress: &Progress,
) -> Result<LevelReport, RegistrationError> {
    let radius = samples.radius_mm;
    let mut step = settings.first_step_mm;
    let mut previous: Option<(Vector3<f64>, Vector3<f64>)> = None;
    let mut report = LevelReport {
        spacing_mm: [0.0; 3],
        samples: 0,
        overlap: 0,
        iterations: 0,
        mutual_information: 0.0,
        converged: false,
    };
    while report.iterations < settings.max_iterations {
        progress.check()?;
        let Some(e) = evaluate(samples, moving, moving_from_fixed, min_overlap) else {
            // The motion left the moving scan: stop here, not converged.
            return Ok(report);
        };
        report.mutual_information = e.mutual_information;
        report.overlap = e.overlap;
        // In mm of motion: a turn moves the samples by about `radius` per radian.
        let (gr, gt) = (e.d_rotation / radius, e.d_translation);
        let norm = (gr.norm_squared() + gt.norm_squared()).sqrt();
        if norm == 0.0 || !norm.is_finite() {
            report.converged = true;
            return Ok(report);
        }
        let (dr, dt) = (gr / norm, gt / norm);
        if let Some((pr, pt)) = previous
            && pr.dot(&dr) + pt.dot(&dt) < 0.0
        {
            step *= settings.relaxation;
        }
        if step < settings.min_step_mm {
            report.converged = true;
            return Ok(report);
        }
        previous = Some((dr, dt));
        let centre: Point3<f64> = *moving_from_fixed * samples.centre;
        let turn = Isometry3::rotation(dr * (step / radius));
        *moving_from_fixed = Translation3::from(centre.coords + dt * step)
            * turn
            * Translation3::from(-centre.coords)
            * *moving_from_fixed;
        report.iterations += 1;
    }
    Ok(report)
}

/// Centre of mass of the values above the scan's minimum (air and background weigh nothing).
fn centre_of_mass(level: &Level) -> Vector3<f64> {
    let (lo, _) = level.range();
    let (mut sum, mut weight) = (Vector3::zeros(), 0.0);
    for (i, v) in level.values.iter().enumerate() {
        let w = f64::from(v - lo);
        if w > 0.0 {
            sum += level.grid.patient_point(Point3::from(level.grid.ijk(i).map(|c| c as f64))).coords * w;
            weight += w;
        }
    }
    if weight > 0.0 { sum / weight } else { Vector3::zeros() }
}
