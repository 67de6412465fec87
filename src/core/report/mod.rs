//! The plan report, what a surgeon hands on: the scan and its structures (volumes in mL), then
//! per trajectory its entry and target in LPS and RAS, length, entry angle, instrument, the
//! clearance to each critical structure with its depth and verdict, the clearance profile, and
//! pictures of the scan along the path and across it at the entry, half way and the target, and
//! of each fused scan along the path.
//! Written as PDF (real, searchable text) or HTML. With `anonymise`, nothing that identifies
//! the patient (name, ID, dates, UIDs, file names) is written.

mod anonymise;
pub(crate) mod html;
mod pdf;
pub mod raster;

pub use anonymise::Scrubber;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use nalgebra::Point3;

use crate::core::document::PlanDocument;
use crate::core::mesh::segment_surface;
use crate::core::planning::{CONFLICT_MM, PlanningError, PlanningScene, Trajectory, TrajectoryReport, conflicts};
use crate::core::progress::Progress;
use crate::core::stereotaxy::frame::ArcSetting;
use crate::core::volume::{Plane, Volume};
use raster::{Camera, Rgb, Shown};

/// The cross-sections: millimetres across and pixels a side.
const ACROSS_MM: f64 = 40.0;
const ACROSS_PX: usize = 220;
const ALONG_PX: usize = 420;
const VIEW_PX: usize = 360;

pub const NOTICE: &str = "Research software, not a medical device; not for clinical decisions.";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: expected a report name ending in .pdf, .html or .dcm (Encapsulated PDF)")]
    Format { path: std::path::PathBuf },
    #[error(transparent)]
    Write(#[from] crate::core::document::io::PlanIoError),
    #[error(transparent)]
    Planning(#[from] PlanningError),
}

pub struct StructureRow {
    pub name: String,
    pub category: &'static str,
    pub volume_ml: f64,
    pub critical: bool,
    pub margin_mm: f64,
}

/// A picture with what it shows.
pub struct Figure {
    pub caption: String,
    pub image: Rgb,
}

pub struct PathSection {
    pub trajectory: Trajectory,
    pub report: TrajectoryReport,
    /// What sets the frame for this path, where the plan has a frame or AC-PC landmarks: the
    /// target's frame coordinates (printed large), then the arc settings, the fit's residual and
    /// the AC-PC coordinates.
    pub stereotaxy: Option<(String, Vec<String>)>,
    /// The scan on the plane through the path, and across it at entry, half way and target.
    pub figures: Vec<Figure>,
}

pub struct Report {
    /// Name and ID; `None` when anonymised.
    pub patient: Option<(String, String)>,
    /// (what, value) lines about the scan.
    pub scan: Vec<(String, String)>,
    pub structures: Vec<StructureRow>,
    pub paths: Vec<PathSection>,
    pub conflicts: Vec<String>,
    pub warnings: Vec<String>,
    /// Software version, plan checksum and date, then the notice.
    pub footer: String,
}

/// What a report is made from: the plan on its scan, and the warnings the user has seen.
pub struct Input<'a> {
    pub doc: &'a PlanDocument,
    pub volume: &'a Volume,
    pub warnings: &'a [String],
    pub scene: &'a PlanningScene,
    /// The plan file's bytes (or the document as it would be saved), for the checksum.
    pub plan_bytes: &'a [u8],
    /// The plan's fused scans on its grid, by name, to picture along each path (see
    /// `document::io::all_fused`; those that could not be loaded belong in `warnings`).
    pub fused: &'a [(String, Arc<Volume>)],
}

/// Builds the report.
pub fn build(input: &Input, anonymise: bool) -> Result<Report, ReportError> {
    let Input { doc, volume, scene, plan_bytes, .. } = *input;
    let meta = &volume.meta;
    let seg = &doc.segmentation;
    let grid = &volume.grid;
    let [nx, ny, nz] = grid.dims;
    let sp = grid.spacing_mm();
    let mut scan = vec![
        ("Modality".to_owned(), meta.modality.clone()),
        ("Voxels".into(), format!("{nx} x {ny} x {nz}")),
        ("Spacing".into(), format!("{:.3} x {:.3} x {:.3} mm", sp[0], sp[1], sp[2])),
    ];
    if !anonymise {
        scan.push(("Description".into(), meta.description.clone()));
        scan.push(("Study date".into(), meta.study_date.clone()));
        scan.push(("Series UID".into(), meta.series_uid.clone()));
    }
    // Anonymised, a fused scan goes by its number: its name may be its series description.
    let fused_name = |n: usize, name: &str| if anonymise { format!("fused scan {}", n + 1) } else { name.to_owned() };
    for (n, s) in doc.secondary_scans.iter().enumerate() {
        scan.push(("Fused scan".into(), format!("{}, {}", fused_name(n, &s.name), s.placement.describe())));
    }
    let structures = seg
        .segments
        .iter()
        .map(|s| StructureRow {
            name: s.name.clone(),
            category: s.category.name(),
            volume_ml: seg.volume_mm3(s.label) / 1000.0,
            critical: s.critical,
            margin_mm: s.margin_mm,
        })
        .collect();
    let mut paths = Vec::new();
    let shown = if doc.trajectories.is_empty() { Vec::new() } else { shown_surfaces(doc, scene) };
    for t in &doc.trajectories {
        let report = scene.check(t, seg)?;
        let mut figures = figures(doc, volume, &shown, t, &report)?;
        for (name, fused) in input.fused {
            let n = doc.secondary_scans.iter().position(|s| s.name == *name).unwrap_or_default();
            figures.extend(fused_along(fused, t, &report, &fused_name(n, name)));
        }
        paths.push(PathSection { trajectory: t.clone(), report, figures, stereotaxy: stereotaxy(doc, t) });
    }
    let conflicts = conflicts(&doc.trajectories, CONFLICT_MM)
        .into_iter()
        .map(|(a, b, gap)| {
            format!("{} and {} come within {gap:.2} mm", doc.trajectories[a].name, doc.trajectories[b].name)
        })
        .collect();
    let mut warnings = volume.warnings.clone();
    warnings.extend(input.warnings.iter().cloned());
    warnings.extend(scene.warnings.iter().cloned());
    let mut crc = flate2::Crc::new();
    crc.update(plan_bytes);
    let footer = format!(
        "twinplan {} - plan CRC-32 {:08x} - {} UTC - {NOTICE}",
        env!("CARGO_PKG_VERSION"),
        crc.sum(),
        utc_now()
    );
    let patient = (!anonymise).then(|| (meta.patient_name.clone(), meta.patient_id.clone()));
    let mut report = Report { patient, scan, structures, paths, conflicts, warnings, footer };
    if anonymise {
        // The fused scans' headers where they were read, and what names each in the plan (a
        // warning about one that could not be read names it and its series).
        let named = doc.secondary_scans.iter().flat_map(|s| [s.name.clone(), s.scan.series_uid.clone()]);
        let scrubber = input.fused.iter().fold(Scrubber::new(meta), |s, (_, v)| s.and(&v.meta)).and_values(named);
        report.scrub(&scrubber);
    }
    Ok(report)
}

impl Report {
    /// Passes every text that can carry something of the scan or the user through the scrubber.
    fn scrub(&mut self, s: &Scrubber) {
        let mut all: Vec<&mut String> = Vec::new();
        all.extend(self.scan.iter_mut().flat_map(|(k, v)| [k, v]));
        all.extend(self.structures.iter_mut().map(|r| &mut r.name));
        all.extend(self.conflicts.iter_mut().chain(self.warnings.iter_mut()));
        for p in &mut self.paths {
            all.push(&mut p.trajectory.name);
            let r = &mut p.report;
            all.push(&mut r.name);
            all.extend(r.structures.iter_mut().map(|c| &mut c.name));
            all.extend(r.passes_through.iter_mut().map(|c| &mut c.name));
            all.extend(r.warnings.iter_mut());
            all.extend(p.figures.iter_mut().map(|f| &mut f.caption));
            if let Some((headline, lines)) = &mut p.stereotaxy {
                all.push(headline);
                all.extend(lines.iter_mut());
            }
        }
        for text in all {
            *text = s.text(text);
        }
    }
}

/// The lines that set the frame for `t` (see [`PathSection::stereotaxy`]).
fn stereotaxy(doc: &PlanDocument, t: &Trajectory) -> Option<(String, Vec<String>)> {
    let mut lines = Vec::new();
    let headline = match &doc.frame {
        Some(f) => {
            let ft = f.trajectory(t);
            let [x, y, z] = ft.target_mm;
            lines.extend(ft.arcs.iter().map(ArcSetting::describe));
            let [ex, ey, ez] = ft.entry_mm;
            lines.push(format!("Entry in the frame: X {ex:.1}  Y {ey:.1}  Z {ez:.1} mm"));
            if !ft.target_inside {
                lines.push("The target lies outside the frame's coordinate range (0-200 mm).".into());
            }
            lines.push(format!("Frame fitted from the {} on the plan's scan: {}.", f.localizer, f.fit_summary()));
            if !f.convention.is_empty() {
                lines.push(f.convention.clone());
            }
            format!("{} target  X {x:.1}   Y {y:.1}   Z {z:.1} mm", f.frame)
        }
        None => String::new(),
    };
    if let Some(a) = &doc.acpc {
        match a.trajectory(t) {
            Ok(c) => {
                let [x, y, z] = c.target_mm;
                lines.push(format!(
                    "AC-PC target: x {x:.1} (right +), y {y:.1} (anterior +), z {z:.1} (up +) mm from the mid-commissural \
                     point; AC-PC length {:.1} mm",
                    c.acpc_length_mm
                ));
            }
            Err(e) => lines.push(format!("AC-PC: {e}")),
        }
    }
    (!lines.is_empty()).then_some((headline, lines))
}

/// The plan's visible segments as its 3D pictures draw them: the scene's surfaces where it
/// holds them (every one the workstation has; the critical ones and the skin from the command
/// line), the others made by the same recipe.
pub fn shown_surfaces(doc: &PlanDocument, scene: &PlanningScene) -> Vec<Shown> {
    surfaces_at(doc, scene, |label| doc.shown_opacity(label))
}

/// Each segment's surface at the opacity `opacity` gives it; those it gives 0 are left out.
pub fn surfaces_at(doc: &PlanDocument, scene: &PlanningScene, opacity: impl Fn(u16) -> f32) -> Vec<Shown> {
    let seg = &doc.segmentation;
    let mut shown = Vec::new();
    for s in &seg.segments {
        let o = opacity(s.label);
        if o <= 0.0 {
            continue;
        }
        let made = || segment_surface(&seg.mask(s.label), &Progress::new()).ok()?.trimesh().map(std::sync::Arc::new);
        if let Some(mesh) = scene.surface(s.label).cloned().or_else(made) {
            shown.push(Shown::new(s.label, mesh, doc.display_of(s.label).color, o));
        }
    }
    shown
}

/// The scan along the path (its plane holding the path and the direction nearest superior) and
/// across it at the entry, half way and the target, with the path and the instrument drawn.
fn figures(
    doc: &PlanDocument,
    volume: &Volume,
    shown: &[Shown],
    t: &Trajectory,
    r: &TrajectoryReport,
) -> Result<Vec<Figure>, ReportError> {
    let dir = t.direction()?;
    let colour = r.verdict.rgb();
    let length = t.length_mm();
    let mut out = Vec::new();
    let window = (doc.view.window_centre, doc.view.window_width);
    if let Some((image, span)) = along(volume, Some(doc), window, t, colour) {
        out.push(Figure { caption: format!("Along the path ({span:.0} mm across; entry white, target red)"), image });
    }
    for (what, depth) in [("entry", 0.0), ("middle", length / 2.0), ("target", length)] {
        let at: Point3<f64> = t.at_depth(depth);
        let Some(plane) = Plane::perpendicular(at, &dir) else { continue };
        let mut image = Rgb::of_plane(volume, Some(doc), window, &plane, ACROSS_PX, ACROSS_MM);
        let centre = image.pixel_of(&plane, ACROSS_MM, &at);
        image.ring(centre, t.instrument.radius_mm() / ACROSS_MM * ACROSS_PX as f64, [255, 255, 255]);
        image.ring(centre, t.instrument.radius_mm() / ACROSS_MM * ACROSS_PX as f64 + 1.0, colour);
        out.push(Figure {
            caption: format!("Across, at the {what}: {depth:.1} mm deep, {ACROSS_MM:.0} mm square"),
            image,
        });
    }
    // The whole plan seen from the front, above and the path's side, and down the path from
    // behind its entry, with the path drawn over the surfaces.
    let side = if dir.x >= 0.0 { 1.0 } else { -1.0 };
    let (lo, hi) = volume.grid.bounds_mm();
    let head = nalgebra::center(&lo, &hi);
    let overview = Camera {
        eye_mm: head + nalgebra::Vector3::new(0.55 * side, -0.75, 0.45).normalize() * 420.0,
        look_at_mm: head,
        up: nalgebra::Vector3::z(),
        fov_deg: 34.0,
    };
    let up = Plane::perpendicular(t.target_mm, &dir).map_or(nalgebra::Vector3::z(), |p| p.up);
    let probe = Camera { eye_mm: t.entry_mm - dir * 90.0, look_at_mm: t.target_mm, up, fov_deg: 40.0 };
    for (camera, caption) in [
        (overview, "3D overview (segments as shown in the plan; the path in its verdict's colour)".to_owned()),
        (probe, format!("Probe's-eye view: down the path from {:.0} mm behind the entry", 90.0)),
    ] {
        let mut image = Rgb::render(shown, &camera, VIEW_PX);
        if let (Some(a), Some(b)) = (camera.project(&t.entry_mm, VIEW_PX), camera.project(&t.target_mm, VIEW_PX)) {
            image.line(a, b, 3.0, colour);
            image.disc(b, 4.0, [255, 60, 60]);
        }
        out.push(Figure { caption, image });
    }
    Ok(out)
}

/// The scan on the plane holding the path and the direction nearest superior, the path drawn in
/// `colour` (entry white, target red), with the plan's segments tinted when `doc` is given; and
/// how many mm it spans.
fn along(
    volume: &Volume,
    doc: Option<&PlanDocument>,
    window: (f64, f64),
    t: &Trajectory,
    colour: [u8; 3],
) -> Option<(Rgb, f64)> {
    let dir = t.direction().ok()?;
    let length = t.length_mm();
    let mid = t.at_depth(length / 2.0);
    let plane = Plane { centre_mm: mid, right: dir, up: Plane::perpendicular(mid, &dir)?.up };
    let span = length + 40.0;
    let mut image = Rgb::of_plane(volume, doc, window, &plane, ALONG_PX, span);
    let (a, b) = (image.pixel_of(&plane, span, &t.entry_mm), image.pixel_of(&plane, span, &t.target_mm));
    let width = (t.instrument.diameter_mm / span * ALONG_PX as f64).max(2.0);
    image.line(a, b, width, colour);
    image.disc(a, 4.0, [255, 255, 255]);
    image.disc(b, 4.0, [255, 60, 60]);
    Some((image, span))
}

/// A fused scan (on the plan's grid) along the path, over its own values' window and without the
/// segments, so that what only it shows can be seen beside the path.
fn fused_along(fused: &Volume, t: &Trajectory, r: &TrajectoryReport, name: &str) -> Option<Figure> {
    let window = fused.value_window()?;
    let (image, span) = along(fused, None, window, t, r.verdict.rgb())?;
    Some(Figure {
        caption: format!("Along the path on {name}, as fused ({span:.0} mm across; entry white, target red)"),
        image,
    })
}

/// A point as the report prints it: to 0.1 mm.
fn point_text(p: &Point3<f64>) -> String {
    format!("({:.1}, {:.1}, {:.1})", p.x, p.y, p.z)
}

/// Writes the report as PDF or HTML, by the file's extension, under a temporary name first.
/// The report as PDF bytes (for a file, or to encapsulate in DICOM).
pub fn pdf_bytes(report: &Report) -> Vec<u8> {
    pdf::render(report)
}

pub fn write(report: &Report, path: &Path) -> Result<(), ReportError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let bytes = match ext.as_deref() {
        Some("pdf") => pdf::render(report),
        Some("html" | "htm") => html::render(report).into_bytes(),
        _ => return Err(ReportError::Format { path: path.to_owned() }),
    };
    Ok(crate::core::document::io::write_atomically(path, &bytes)?)
}

/// The current UTC date and time, `YYYY-MM-DD HH:MM`.
fn utc_now() -> String {
    let [y, m, d, hh, mm, _] = utc_civil_now();
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
}

/// The current UTC year, month, day, hour, minute and second.
pub(crate) fn utc_civil_now() -> [i64; 6] {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, (secs % 86_400) as i64);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    [y, m, d, rest / 3600, rest % 3600 / 60, rest % 60]
}
