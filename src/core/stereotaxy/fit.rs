//! `frame_from_patient` from the localiser's dots. On every slice the three dots of an
//! N-localiser lie on one line, and the diagonal's dot divides the segment between the parallel
//! rods' dots in the same ratio as it divides the diagonal (Brown's N-localiser, exact for any
//! tilt of the slice): each such dot is a point known in both spaces. The parallel rods' dots
//! are known in the frame only as their rods' lines. The fit is least squares over all of them:
//! the diagonal dots to their points, the parallel dots to their lines (iterated closest points
//! from a start given by one slice's N-localisers).
//!
//! Which N-localiser a slice's triple belongs to, and which way round, is found by trying every
//! assignment on one slice and keeping the one that explains the most triples on all slices.

use nalgebra::{Isometry3, Point3, Vector3};
use serde::Serialize;

use super::detect::{Dot, Levels, MAX_DOT_MM, default_levels, dots};
use super::localizer::{Localizer, NLocalizer};
use crate::core::progress::{Cancelled, Progress};
use crate::core::registration::landmarks;
use crate::core::volume::Volume;

/// A dot this far (mm) off the line through its N-localiser's outer dots is not one of its three.
const IN_LINE_MM: f64 = 2.0;
/// The largest residual (mm) a fit may leave: a frame is set to tenths of a millimetre.
pub const MAX_RESIDUAL_MM: f64 = 1.0;
/// How far (mm) a triple may lie from its N-localiser under a trial fit and a final one.
const TRIAL_MM: f64 = 5.0;
const FINAL_MM: f64 = 2.0;

#[derive(Debug, Clone)]
pub struct FitSettings {
    /// The level the rods are above (see [`default_levels`] when `None`).
    pub level: Option<f64>,
    /// The largest angle between the rods and the slices' normal the fit accepts (degrees).
    pub max_tilt_deg: f64,
    /// Only the dots of these slices (first, last; the scan's slice numbers), when the user
    /// leaves out slices spoilt by artefacts (the frame's base, metal); `None`: every slice.
    pub slices: Option<(usize, usize)>,
}

impl Default for FitSettings {
    fn default() -> Self {
        FitSettings { level: None, max_tilt_deg: 15.0, slices: None }
    }
}

impl FitSettings {
    /// The first and last slice to fit on, of a scan of `nz` slices.
    fn range(&self, nz: usize) -> (usize, usize) {
        self.slices.unwrap_or((0, nz.saturating_sub(1)))
    }
}

/// A dot used by the fit.
#[derive(Debug, Clone, Serialize)]
pub struct Fiducial {
    pub slice: usize,
    pub patient_mm: [f64; 3],
    /// The rod it lies on (index in the localiser's list).
    pub rod: usize,
    /// A diagonal's dot (its frame point is known); else a parallel rod's (its line is).
    pub diagonal: bool,
    /// Its distance from where the fit puts it (mm).
    pub residual_mm: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameFit {
    pub localizer: String,
    pub frame: String,
    /// Maps LPS mm to frame mm.
    #[serde(skip)]
    pub frame_from_patient: Isometry3<f64>,
    pub fiducials: Vec<Fiducial>,
    pub residual_mean_mm: f64,
    pub residual_max_mm: f64,
    pub slices_used: Vec<usize>,
    /// The angle between the rods and the slices' normal (degrees).
    pub tilt_deg: f64,
    /// What the user should know: slices that show only part of the localiser.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Localizer(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Poor(String),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

impl crate::core::progress::Interrupted for FrameError {
    fn is_cancelled(&self) -> bool {
        matches!(self, FrameError::Cancelled(_))
    }
}

/// Three dots in a line on one slice: the outer two (`a`, `b`) and the middle one at fraction
/// `t` of the way from `a` to `b`.
#[derive(Debug, Clone, Copy)]
struct Triple {
    slice: usize,
    a: Point3<f64>,
    d: Point3<f64>,
    b: Point3<f64>,
    t: f64,
}

/// Which N-localiser a triple belongs to, and whether `a` is on its first rod.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Label {
    n: usize,
    a_on_first: bool,
}

/// What is known of a dot in the frame: its point, or its rod's line.
enum Target {
    Point(Point3<f64>),
    Line(usize),
}

struct Model<'a> {
    localizer: &'a Localizer,
    ns: Vec<NLocalizer>,
}

impl Model<'_> {
    /// The diagonal's frame point of a triple under a label.
    fn diagonal_point(&self, tr: &Triple, l: Label) -> Point3<f64> {
        let t = if l.a_on_first { tr.t } else { 1.0 - tr.t };
        self.ns[l.n].diagonal_point(&self.localizer.rods, t)
    }

    fn outer_rods(&self, l: Label) -> (usize, usize) {
        let n = &self.ns[l.n];
        if l.a_on_first { (n.first, n.second) } else { (n.second, n.first) }
    }

    /// How far the triple lies from the N-localiser under `frame_from_patient` (mm).
    fn misfit(&self, tr: &Triple, l: Label, f: &Isometry3<f64>) -> f64 {
        let rods = &self.localizer.rods;
        let (ra, rb) = self.outer_rods(l);
        let d = (f * tr.d - self.diagonal_point(tr, l)).norm();
        d.max(rods[ra].line_distance(&(f * tr.a))).max(rods[rb].line_distance(&(f * tr.b)))
    }

    /// The best label of a triple within `tolerance`.
    fn label(&self, tr: &Triple, f: &Isometry3<f64>, tolerance: f64) -> Option<(Label, f64)> {
        (0..self.ns.len())
            .flat_map(|n| [true, false].map(|a_on_first| Label { n, a_on_first }))
            .map(|l| (l, self.misfit(tr, l, f)))
            .filter(|(_, e)| *e < tolerance)
            .min_by(|x, y| x.1.total_cmp(&y.1))
    }

    /// The dots of labelled triples with what the frame knows of them.
    fn observations(&self, labelled: &[(Triple, Label)]) -> Vec<(Point3<f64>, Target, usize, usize)> {
        let mut obs = Vec::new();
        for (tr, l) in labelled {
            let (ra, rb) = self.outer_rods(*l);
            obs.push((tr.d, Target::Point(self.diagonal_point(tr, *l)), self.ns[l.n].diagonal, tr.slice));
            obs.push((tr.a, Target::Line(ra), ra, tr.slice));
            obs.push((tr.b, Target::Line(rb), rb, tr.slice));
        }
        obs
    }

    /// Least squares: diagonal dots to their points, parallel dots to their lines.
    fn refine(&self, start: Isometry3<f64>, labelled: &[(Triple, Label)]) -> Option<Isometry3<f64>> {
        let obs = self.observations(labelled);
        let moving: Vec<Point3<f64>> = obs.iter().map(|o| o.0).collect();
        let mut f = start;
        for _ in 0..100 {
            let fixed: Vec<Point3<f64>> = obs
                .iter()
                .map(|(p, target, _, _)| match target {
                    Target::Point(q) => *q,
                    Target::Line(r) => self.localizer.rods[*r].nearest_on_line(&(f * p)),
                })
                .collect();
            let next = landmarks::fit(&fixed, &moving).ok()?.fixed_from_moving;
            let step = (next.to_homogeneous() - f.to_homogeneous()).abs().max();
            f = next;
            if step < 1e-9 {
                break;
            }
        }
        Some(f)
    }

    fn labelled(&self, triples: &[Triple], f: &Isometry3<f64>, tolerance: f64) -> Vec<(Triple, Label)> {
        // One triple per N-localiser and slice: the one that fits best.
        let mut best: std::collections::BTreeMap<(usize, usize), (Triple, Label, f64)> = Default::default();
        for tr in triples {
            if let Some((l, e)) = self.label(tr, f, tolerance) {
                let slot = best.entry((tr.slice, l.n)).or_insert((*tr, l, e));
                if e < slot.2 {
                    *slot = (*tr, l, e);
                }
            }
        }
        best.into_values().map(|(tr, l, _)| (tr, l)).collect()
    }
}

/// The triples of one slice's dots whose outer dots lie about an N-localiser's width apart.
fn triples(slice: &[Dot], widths: &[f64], max_tilt_deg: f64) -> Vec<Triple> {
    let stretch = 1.0 / max_tilt_deg.to_radians().cos();
    let mut found = Vec::new();
    for (i, a) in slice.iter().enumerate() {
        for b in &slice[i + 1..] {
            let ab = b.centre_mm - a.centre_mm;
            let length = ab.norm();
            if !widths.iter().any(|w| length > w - MAX_DOT_MM / 2.0 && length < w * stretch + MAX_DOT_MM / 2.0) {
                continue;
            }
            let along: Vector3<f64> = ab / length;
            for d in slice {
                let ad = d.centre_mm - a.centre_mm;
                let t = ad.dot(&along) / length;
                if t > 0.02 && t < 0.98 && (ad - along * ad.dot(&along)).norm() < IN_LINE_MM {
                    found.push(Triple { slice: a.slice, a: a.centre_mm, d: d.centre_mm, b: b.centre_mm, t });
                }
            }
        }
    }
    found
}

/// Every way to give the triples distinct N-localisers, each either way round.
fn assignments(triples: usize, ns: usize) -> Vec<Vec<Label>> {
    let mut all = vec![vec![]];
    for _ in 0..triples {
        let mut next = Vec::new();
        for partial in &all {
            for n in 0..ns {
                if partial.iter().any(|l: &Label| l.n == n) {
                    continue;
                }
                for a_on_first in [true, false] {
                    let mut p = partial.clone();
                    p.push(Label { n, a_on_first });
                    next.push(p);
                }
            }
        }
        all = next;
    }
    all
}

/// Fits the frame to the localiser's dots on `volume`.
pub fn fit(
    volume: &Volume,
    localizer: &Localizer,
    settings: &FitSettings,
    progress: &Progress,
) -> Result<FrameFit, FrameError> {
    let ns = localizer.n_localizers().map_err(FrameError::Localizer)?;
    let model = Model { localizer, ns };
    let levels = settings.level.map_or_else(|| default_levels(volume), Levels::at);
    let nz = volume.grid.dims[2];
    let (first, last) = settings.range(nz);
    if first > last || last >= nz {
        return Err(FrameError::NotFound(format!(
            "slices {first}-{last} asked for, but the scan's slices are 0-{}",
            nz.saturating_sub(1)
        )));
    }
    progress.begin("Finding the localiser's rods", 1);
    let all_dots = dots(volume, levels, first..=last);
    progress.check()?;
    let mut by_slice: Vec<Vec<Dot>> = vec![Vec::new(); nz];
    for d in &all_dots {
        by_slice[d.slice].push(*d);
    }
    let widths: Vec<f64> = model.ns.iter().map(|n| n.width_mm).collect();
    let per_slice: Vec<Vec<Triple>> = by_slice.iter().map(|s| triples(s, &widths, settings.max_tilt_deg)).collect();
    let all: Vec<Triple> = per_slice.iter().flatten().copied().collect();
    let n = model.ns.len();
    let with_dots = by_slice.iter().filter(|s| !s.is_empty()).count();

    // Reference slices: those with the most triples (at most one per N-localiser), middle first.
    let mut candidates: Vec<usize> = (0..nz).filter(|&k| per_slice[k].len() >= 2 && per_slice[k].len() <= n).collect();
    let mid = nz as f64 / 2.0;
    candidates.sort_by(|&x, &y| {
        per_slice[y].len().cmp(&per_slice[x].len()).then((x as f64 - mid).abs().total_cmp(&(y as f64 - mid).abs()))
    });
    candidates.truncate(5);
    if candidates.is_empty() {
        return Err(FrameError::NotFound(format!(
            "no slice shows two of the {} localiser's {n} N-localisers (three dots in a line, the outer two about {} mm \
             apart): {} dots above {} on {with_dots} of {nz} slices. Is the scan taken with this localiser, \
             whole, and is the level right?",
            localizer.name,
            {
                let mut distinct: Vec<String> = widths.iter().map(|w| format!("{w:.0}")).collect();
                distinct.sort();
                distinct.dedup();
                distinct.join(" or ")
            },
            all_dots.len(),
            levels.edge,
        )));
    }
    let mut fits: Vec<(usize, f64, Isometry3<f64>, Vec<(Triple, Label)>)> = Vec::new();
    for &k in &candidates {
        progress.check()?;
        for labels in assignments(per_slice[k].len(), n) {
            // A start from this slice alone: each parallel dot at its diagonal point's height.
            let mut fixed = Vec::new();
            let mut moving = Vec::new();
            for (tr, l) in per_slice[k].iter().zip(&labels) {
                let q = model.diagonal_point(tr, *l);
                let (ra, rb) = model.outer_rods(*l);
                fixed.extend([q, localizer.rods[ra].nearest_on_line(&q), localizer.rods[rb].nearest_on_line(&q)]);
                moving.extend([tr.d, tr.a, tr.b]);
            }
            let Ok(start) = landmarks::fit(&fixed, &moving) else { continue };
            if start.fre_mm > TRIAL_MM {
                continue;
            }
            let mut f = start.fixed_from_moving;
            let mut labelled = model.labelled(&all, &f, TRIAL_MM);
            for tolerance in [TRIAL_MM, FINAL_MM, FINAL_MM] {
                let Some(next) = model.refine(f, &labelled) else { break };
                f = next;
                labelled = model.labelled(&all, &f, tolerance);
            }
            if labelled.len() >= 2 {
                fits.push((labelled.len(), rms(&model, &f, &labelled), f, labelled));
            }
        }
    }
    // Of the fits that explain the dots about as well as the best, the one nearest the frame's
    // straight mounting; a different one as good is a warning.
    let most = fits.iter().map(|x| x.0).max().unwrap_or(0);
    let least_rms = fits.iter().filter(|x| x.0 == most).map(|x| x.1).fold(f64::INFINITY, f64::min);
    let straight = localizer.straight_rotation().map_err(FrameError::Localizer)?;
    let off_straight = |f: &Isometry3<f64>| (f.rotation.to_rotation_matrix() * straight.inverse()).angle();
    let good: Vec<_> = fits.into_iter().filter(|x| x.0 * 10 >= most * 9 && x.1 <= least_rms + 0.3).collect();
    let Some(chosen) = good.iter().min_by(|x, y| off_straight(&x.2).total_cmp(&off_straight(&y.2))) else {
        let mut tried = candidates.clone();
        tried.sort_unstable();
        return Err(FrameError::NotFound(format!(
            "dots in lines were found on slices {}, but no arrangement of them fits the {} localiser across the \
             scan: is the scan taken with this localiser, in axial slices?",
            ranges(&tried),
            localizer.name
        )));
    };
    let (_, _, f, labelled) = chosen.clone();
    unexplained(&labelled, &all)?;
    let other = good
        .iter()
        .map(|x| (x.2.rotation.to_rotation_matrix() * f.rotation.to_rotation_matrix().inverse()).angle().to_degrees())
        .fold(0.0, f64::max);
    let mut ambiguity = Vec::new();
    if other > 10.0 {
        ambiguity.push(format!(
            "the localiser's dots fit as well with the frame turned {other:.0} degrees: the fit takes the one \
             nearest the frame's straight mounting"
        ));
    }
    let mut found = summarise(&model, volume, f, &labelled, settings)?;
    found.warnings.extend(ambiguity);
    Ok(found)
}

/// A fit on one N-localiser alone, or one that leaves other N-localisers' dots unexplained, is
/// refused: the localiser file does not describe the box scanned (or the box has moved on the
/// frame), and a fit on part of it would put a target far from its plates wrong without showing
/// it in the residual.
fn unexplained(labelled: &[(Triple, Label)], all: &[Triple]) -> Result<(), FrameError> {
    let used: std::collections::BTreeSet<usize> = labelled.iter().map(|(_, l)| l.n).collect();
    let slices = slices_of(labelled);
    if used.len() < 2 {
        return Err(FrameError::Poor(format!(
            "only one of its N-localisers fits the dots (slices {}): the others' dots lie more than {FINAL_MM} mm \
             from where the localiser puts them. Is it this box's localiser, and is the box seated on the frame?",
            ranges(&slices)
        )));
    }
    // Dots in lines on the fitted slices that share no dot with the N-localisers the fit found.
    let shares = |x: &Triple, y: &Triple| [x.a, x.d, x.b].iter().any(|p| [y.a, y.d, y.b].contains(p));
    let mut spare: Vec<usize> = all
        .iter()
        .filter(|x| {
            let mut on_slice = labelled.iter().filter(|(y, _)| y.slice == x.slice);
            slices.binary_search(&x.slice).is_ok() && on_slice.all(|(y, _)| !shares(x, y))
        })
        .map(|x| x.slice)
        .collect();
    spare.dedup();
    if spare.len() * 10 > slices.len() {
        return Err(FrameError::Poor(format!(
            "on slices {}, three dots in a line that none of its N-localisers explains where the fit puts them: \
             the box scanned has an N-localiser elsewhere than the localiser says",
            ranges(&spare)
        )));
    }
    Ok(())
}

/// The slices the labelled triples lie on, in order, each once.
fn slices_of(labelled: &[(Triple, Label)]) -> Vec<usize> {
    let mut slices: Vec<usize> = labelled.iter().map(|(t, _)| t.slice).collect();
    slices.sort_unstable();
    slices.dedup();
    slices
}

fn rms(model: &Model, f: &Isometry3<f64>, labelled: &[(Triple, Label)]) -> f64 {
    let r = residuals(model, f, labelled);
    (r.iter().map(|x| x.3 * x.3).sum::<f64>() / r.len().max(1) as f64).sqrt()
}

/// Each dot of the labelled triples: (slice, patient point, rod and whether diagonal, residual).
fn residuals(
    model: &Model,
    f: &Isometry3<f64>,
    labelled: &[(Triple, Label)],
) -> Vec<(usize, Point3<f64>, (usize, bool), f64)> {
    model
        .observations(labelled)
        .into_iter()
        .map(|(p, target, rod, slice)| match target {
            Target::Point(q) => (slice, p, (rod, true), (f * p - q).norm()),
            Target::Line(r) => (slice, p, (rod, false), model.localizer.rods[r].line_distance(&(f * p))),
        })
        .collect()
}

fn summarise(
    model: &Model,
    volume: &Volume,
    f: Isometry3<f64>,
    labelled: &[(Triple, Label)],
    settings: &FitSettings,
) -> Result<FrameFit, FrameError> {
    let localizer = model.localizer;
    let slices_used = slices_of(labelled);
    if slices_used.len() < 3 {
        return Err(FrameError::NotFound(format!(
            "the {} localiser was found on {} slice(s) ({}): at least 3 are needed",
            localizer.name,
            slices_used.len(),
            slices_used.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let fiducials: Vec<Fiducial> = residuals(model, &f, labelled)
        .into_iter()
        .map(|(slice, p, (rod, diagonal), residual_mm)| Fiducial {
            slice,
            patient_mm: p.coords.into(),
            rod,
            diagonal,
            residual_mm,
        })
        .collect();
    let residual_mean_mm = fiducials.iter().map(|x| x.residual_mm).sum::<f64>() / fiducials.len() as f64;
    let residual_max_mm = fiducials.iter().map(|x| x.residual_mm).fold(0.0, f64::max);
    // The rods' direction in the patient, against the slices' normal.
    let first = &localizer.rods[model.ns[0].first];
    let rod_in_patient = f.inverse_transform_vector(&(first.to() - first.from()).normalize());
    let tilt_deg = rod_in_patient.dot(&volume.grid.slice_normal()).abs().min(1.0).acos().to_degrees();
    if tilt_deg > settings.max_tilt_deg {
        return Err(FrameError::Poor(format!(
            "the frame is tilted {tilt_deg:.1} degrees against the slices, more than the {:.0} degrees the fit accepts",
            settings.max_tilt_deg
        )));
    }
    if residual_max_mm > MAX_RESIDUAL_MM {
        let mut poor: Vec<usize> =
            fiducials.iter().filter(|x| x.residual_mm > MAX_RESIDUAL_MM).map(|x| x.slice).collect();
        poor.dedup();
        return Err(FrameError::Poor(format!(
            "it fits with a residual of up to {residual_max_mm:.2} mm (mean {residual_mean_mm:.2} mm), \
             above {MAX_RESIDUAL_MM} mm, on {} {}: the frame may have moved during the scan, or the slices are \
             distorted; if those slices hold artefacts (the frame's base, metal), fit on a range of slices without \
             them",
            if poor.len() == 1 { "slice" } else { "slices" },
            ranges(&poor)
        )));
    }
    // Fewer N-localisers than most slices show, away from where the rods end: hidden rods.
    let seen = |k: usize| labelled.iter().filter(|(t, _)| t.slice == k).count();
    let mut counts: Vec<usize> = slices_used.iter().map(|&k| seen(k)).collect();
    counts.sort_unstable();
    let n = counts[counts.len() / 2];
    let (first, last) = (slices_used[0], slices_used[slices_used.len() - 1]);
    let partial: Vec<usize> =
        slices_used.iter().copied().filter(|&k| seen(k) < n && k > first + 2 && k + 2 < last).collect();
    let mut warnings = Vec::new();
    if !partial.is_empty() {
        warnings.push(format!(
            "slices {} show fewer of the localiser's N-localisers than the {n} most slices show: rods are hidden \
             or blurred there",
            ranges(&partial)
        ));
    }
    // Reaching the scan's first or last slice (not a bound the user chose).
    let nz = volume.grid.dims[2];
    let (lo, hi) = settings.range(nz);
    let (cut_first, cut_last) = (lo == 0 && first <= 1, hi + 1 == nz && last + 2 >= nz);
    if cut_first || cut_last {
        warnings.push(format!(
            "the localiser runs off the scan ({}): the fit uses the {} slices that show it",
            if cut_first && cut_last {
                "at both ends"
            } else if cut_first {
                "at its first slices"
            } else {
                "at its last slices"
            },
            slices_used.len()
        ));
    }
    Ok(FrameFit {
        localizer: localizer.name.clone(),
        frame: localizer.frame.clone(),
        frame_from_patient: f,
        fiducials,
        residual_mean_mm,
        residual_max_mm,
        slices_used,
        tilt_deg,
        warnings,
    })
}

/// Slice numbers as runs: "3-7, 12".
pub fn ranges(slices: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < slices.len() {
        let mut j = i;
        while j + 1 < slices.len() && slices[j + 1] == slices[j] + 1 {
            j += 1;
        }
        out.push(if j > i { format!("{}-{}", slices[i], slices[j]) } else { slices[i].to_string() });
        i = j + 1;
    }
    out.join(", ")
}
