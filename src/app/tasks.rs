//! The workstation's own long work (see [`Job`]): opening a scan or plan, segmenting, importing,
//! saving and writing reports; a system polls them every frame and hands each result on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;

use super::document::{Doc, Edit};
use super::job::{Job, JobError};
use super::notices::Notices;
use super::sets::Stage;
use super::study::{Fused, Study};
use crate::core::dicom::{self, Scan, Skipped};
use crate::core::document::dicom_out::{SegmentsAs, check_name, write_segments};
use crate::core::document::io as plan_io;
use crate::core::document::{Command, PlanDocument, ScanRef, SecondaryScan, StepChange, import_label_map};
use crate::core::segmentation::{Step, WithFused};
use crate::core::vessels::TreeSettings;
use crate::core::vessels::tree::Prepared;
use crate::core::volume::Volume;

/// What to open first: a path given on the command line, else the bundled phantom.
#[derive(Resource, Clone, Debug)]
pub struct StartupPath(pub PathBuf);

/// A finished load: the volume, the plan on it, and what else the folder held.
pub struct LoadResult {
    pub path: PathBuf,
    pub scan: Scan,
    pub volume: Volume,
    pub failed: Vec<Skipped>,
    pub doc: PlanDocument,
    /// The plan file, when a plan was opened.
    pub plan_path: Option<PathBuf>,
    /// Problems with the plan's label map (resampled, labels not in the table).
    pub warnings: Vec<String>,
}

/// Segmentation work whose result is a command (an edit of the label map, or new segments).
pub type EditJob = Job<Command>;

/// Vesselness computed for the Vessels tool on one scan's values (see `vessel_preview`).
#[derive(Clone)]
pub struct VesselsAtHand {
    /// The values it was computed on: the plan's scan, or a fused scan on its grid.
    pub source: Arc<Volume>,
    /// The fused scan's name (`None`: the plan's scan), as a step reading it records.
    pub scan: Option<String>,
    pub prepared: Arc<Prepared>,
}

impl VesselsAtHand {
    pub(super) fn fits(&self, source: &Arc<Volume>, settings: &TreeSettings) -> bool {
        Arc::ptr_eq(&self.source, source) && self.prepared.fits(settings)
    }
}

/// The Vessels tool's vesselness being computed, and what for.
pub struct VesselnessJob {
    pub job: Job<VesselsAtHand>,
    pub(super) source: Arc<Volume>,
    pub(super) settings: TreeSettings,
}

/// Jobs in flight.
#[derive(Resource, Default)]
pub struct Jobs {
    pub load: Option<Job<LoadResult>>,
    pub edit: Option<EditJob>,
    /// Saving the plan: where to, and the document as written.
    pub save: Option<Job<(PathBuf, PlanDocument)>>,
    /// Writing a file from the plan (its report, its segments as DICOM): what to say when done.
    pub writing: Option<Job<String>>,
    /// A plan that could not open because its scan has moved, until the user points to it.
    pub relink: Option<PathBuf>,
    /// A scan refused as another patient's, until the user confirms it is this one's or not.
    pub confirm_patient: Option<PathBuf>,
    /// An edit stopped because another began, for the status bar.
    pub stopped: Option<String>,
    /// The fused scan (index, name) the running edit will place: its result is applied only if
    /// that entry is still there.
    edit_places: Option<(usize, String)>,
    /// Loading a fused scan and resampling it onto the plan's grid, to show it.
    pub fuse: Option<Job<Fused>>,
    /// The Vessels tool's vesselness being computed, and the last one computed, which clicks
    /// grow from (see `vessel_preview`).
    pub vesselness: Option<VesselnessJob>,
    pub vessels: Option<VesselsAtHand>,
}

/// Plans are JSON files; anything else is DICOM.
pub fn is_plan(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

impl Jobs {
    /// Loading, editing, saving or writing a file is under way.
    pub fn busy(&self) -> bool {
        self.load.is_some()
            || self.edit.is_some()
            || self.save.is_some()
            || self.writing.is_some()
            || self.fuse.is_some()
            || self.vesselness.is_some()
    }

    /// Starts opening `path` in the background: a plan with its scan and label map, or a DICOM
    /// folder or file (the largest series, or `series` when given) with a new, empty plan.
    pub fn open(&mut self, path: PathBuf, series: Option<String>) {
        self.open_with_scan(path, series, None);
    }

    /// Opens the plan whose scan had moved, from the folder the user points to (which answers the
    /// error that asked for it).
    pub fn relink_scan(&mut self, folder: PathBuf, notices: &mut Notices) {
        if let Some(plan) = self.relink.take() {
            notices.error = None;
            self.open_with_scan(plan, None, Some(folder));
        }
    }

    fn open_with_scan(&mut self, path: PathBuf, series: Option<String>, scan_folder: Option<PathBuf>) {
        if let Some(old) = &self.load {
            old.progress.cancel();
        }
        let title = format!("Opening {}", path.display());
        self.load = Some(Job::spawn(title, move |progress| {
            if is_plan(&path) {
                let plan_io::OpenedPlan { doc, scan, loaded, warnings } =
                    plan_io::open_with_scan(&path, scan_folder.as_deref(), progress).map_err(JobError::opening)?;
                let plan_path = Some(path.clone());
                return Ok(LoadResult {
                    path: doc.scan.path.clone(),
                    scan,
                    volume: loaded.volume,
                    failed: loaded.failed,
                    doc,
                    plan_path,
                    warnings,
                });
            }
            let (scan, loaded) = dicom::open_volume(&path, series.as_deref(), progress)?;
            let doc = PlanDocument::for_volume(ScanRef::of(&path, &loaded), &loaded.volume);
            Ok(LoadResult {
                path,
                scan,
                volume: loaded.volume,
                failed: loaded.failed,
                doc,
                plan_path: None,
                warnings: Vec::new(),
            })
        }));
    }

    /// Starts loading the plan's fused scan `index` onto `primary`'s grid, to show it.
    pub fn show_fused(&mut self, doc: &Doc, index: usize, primary: Arc<Volume>) {
        use crate::core::registration::{Probe, Settings};
        let Some(scan) = doc.doc.secondary_scans.get(index).cloned() else { return };
        let plan = doc.path.clone().unwrap_or_default();
        let window_before = (doc.doc.view.window_centre, doc.doc.view.window_width);
        self.fuse = Some(Job::spawn(format!("Loading {}", scan.name), move |progress| {
            let original = Arc::new(plan_io::load_secondary(&plan, &scan, progress)?);
            progress.begin("Placing it on the plan's grid", 1);
            let probe = Arc::new(Probe::new(&primary, &original, Settings::default().samples));
            let fused = Fused { index, scan, volume: original.clone(), original, probe, metric: None, window_before };
            placed(fused, &primary.grid)
        }));
    }

    /// Places a shown fused scan anew on `primary`'s grid after its placement changed (by hand,
    /// by a registration or by undo), from the scan already loaded.
    pub fn place_fused(&mut self, shown: &Fused, scan: SecondaryScan, primary: &Volume) {
        let fused = Fused { scan, volume: shown.original.clone(), ..shown.clone() };
        let grid = primary.grid.clone();
        self.fuse = Some(Job::spawn(format!("Placing {}", fused.scan.name), move |_| placed(fused, &grid)));
    }

    /// Computes a segmentation step on segment `label` in the background; the result arrives as
    /// an undoable edit. While a fused scan is shown the step reads its values (and records its
    /// name, so the plan rebuilds the segment from the same scan).
    /// Refused (with why) while the shown fused scan is still being placed anew: its values on
    /// screen are not yet where the plan puts it.
    pub fn segment(&mut self, doc: &PlanDocument, study: &Study, label: u16, step: Step) -> Result<(), String> {
        let Some(primary) = study.volume.clone() else { return Ok(()) };
        let (step, fused) = match &study.fused {
            Some(f) if doc.secondary_scans.get(f.index) != Some(&f.scan) => {
                return Err(format!(
                    "{} is being placed anew: segment from it once it is shown where the plan puts it.",
                    f.scan.name
                ));
            }
            Some(f) => (step.reading(&f.scan.name), vec![(f.scan.name.clone(), f.volume.clone())]),
            None => (step, Vec::new()),
        };
        // The vessels tool's vesselness, when it was computed on the values the step reads.
        let source = fused.first().map_or(&primary, |(_, v)| v);
        let vessels = self
            .vessels
            .as_ref()
            .filter(|v| Arc::ptr_eq(&v.source, source))
            .map(|v| (v.scan.clone(), v.prepared.clone()));
        let segmentation = doc.segmentation.clone();
        self.start_edit(Job::spawn(format!("Segmenting ({})", step_name(&step)), move |progress| {
            let values = WithFused { primary: &primary, fused, vessels };
            let diff = segmentation.edit(label, &step, &values, progress)?;
            Ok(Command::EditLabels { label, step: StepChange::Push(step), diff })
        }));
        Ok(())
    }

    /// Imports every label of a NIfTI label map as a new segment, in one undoable step.
    pub fn import(&mut self, doc: &PlanDocument, volume: Arc<Volume>, path: PathBuf) {
        let doc = doc.clone();
        self.start_edit(Job::spawn(format!("Importing {}", path.display()), move |progress| {
            Ok(import_label_map(&doc, &volume, &path, progress)?)
        }));
    }

    /// Saves a snapshot of the plan (and its label map) in the background.
    pub fn start_save(&mut self, doc: &PlanDocument, path: PathBuf) {
        let doc = doc.clone();
        self.save = Some(Job::spawn(format!("Saving {}", path.display()), move |_| {
            let saved = plan_io::save(&doc, &path)?;
            Ok((path, saved))
        }));
    }

    /// Writes the plan's report (PDF or HTML by the name) in the background, checked against
    /// the surfaces on screen.
    pub fn start_report(
        &mut self,
        doc: &Doc,
        volume: Arc<Volume>,
        shapes: &std::collections::BTreeMap<u16, crate::core::planning::SegmentShape>,
        path: PathBuf,
        anonymise: bool,
    ) {
        // The plan's file names it in messages about its fused scans (whose paths are absolute).
        let plan = doc.path.clone().unwrap_or_else(|| PathBuf::from("(unsaved plan)"));
        let doc = doc.doc.clone();
        let scene = crate::core::planning::PlanningScene::from_shapes(&doc.segmentation, shapes);
        self.writing = Some(Job::spawn(format!("Writing the report {}", path.display()), move |progress| {
            use crate::core::report;
            let bytes = plan_io::to_json(&doc, &path).into_bytes();
            let (fused, missing) = plan_io::all_fused(&plan, &doc, &volume.grid, progress)?;
            // The volume's own warnings are in the report already.
            let input = report::Input {
                doc: &doc,
                volume: &volume,
                warnings: &missing,
                scene: &scene,
                plan_bytes: &bytes,
                fused: &fused,
            };
            let r = report::build(&input, anonymise).map_err(|e| JobError::Failed(e.to_string()))?;
            report::write(&r, &path).map_err(|e| JobError::Failed(e.to_string()))?;
            Ok(format!("Wrote the report {}", path.display()))
        }));
    }

    /// Writes the plan's segments as a DICOM Segmentation or RT Structure Set in its scan's study,
    /// in the background: the scan's series is read again from its files for the study's
    /// attributes and the images the object refers to.
    pub fn start_dicom_segments(&mut self, doc: &PlanDocument, kind: SegmentsAs, path: PathBuf) {
        let doc = doc.clone();
        self.writing = Some(Job::spawn(format!("Writing {}", path.display()), move |progress| {
            let failed = |e: crate::core::dicom::DicomError| JobError::Failed(e.to_string());
            check_name(&path).map_err(failed)?;
            let (_, loaded) = plan_io::load_series(&doc.scan, progress).map_err(failed)?;
            let written = write_segments(&doc, &loaded.series, kind, &path).map_err(failed)?;
            let empty = if written.empty.is_empty() {
                String::new()
            } else {
                format!("; left out, having no voxels: {}", written.empty.join(", "))
            };
            Ok(format!("Wrote {} ({}){empty}", path.display(), written.describe()))
        }));
    }

    /// Fuses the scan at `path` (a DICOM folder or file, or a volume file) into the plan: loaded,
    /// checked (not the plan's own series; the same patient unless `allow_other_patient`) and
    /// registered to the plan's scan in the background; it arrives as one undoable addition.
    /// One that does not converge is not added.
    pub fn add_scan(&mut self, doc: &PlanDocument, primary: Arc<Volume>, path: PathBuf, allow_other_patient: bool) {
        use crate::core::document::{FuseRefused, fused_name, may_fuse};
        use crate::core::registration::{Registration, Settings, register};
        let (index, taken) = (doc.secondary_scans.len(), doc.secondary_scans.clone());
        let title = format!("Adding {}", path.display());
        self.start_edit(Job::spawn(title, move |progress| {
            let (_, loaded) = dicom::open_volume(&path, None, progress)?;
            let added = &loaded.volume;
            let refused = |e: FuseRefused| match e {
                FuseRefused::OtherPatient { .. } => {
                    JobError::OtherPatient { scan: path.clone(), message: format!("{}: {e}.", path.display()) }
                }
                FuseRefused::OwnScan(_) => JobError::Failed(format!("{}: {e}", path.display())),
            };
            may_fuse(&primary, added, allow_other_patient).map_err(refused)?;
            let settings = Settings { allow_other_patient: true, ..Settings::default() };
            let found = register(&primary, added, &settings, progress)
                .and_then(Registration::converged)
                .map_err(|e| JobError::from(e).context(&format!("registering {} (it is not added)", path.display())))?;
            let scan = SecondaryScan::registered(&fused_name(added, &taken), ScanRef::of(&path, &loaded), &found);
            Ok(Command::AddScan { index, scan })
        }));
    }

    /// Registers the plan's fused scan `index` to the plan's scan in the background (mutual
    /// information, from the scans' geometry and centres of mass); the result arrives as an
    /// undoable new placement. One that does not converge changes nothing and says so.
    pub fn register_fused(&mut self, doc: &Doc, index: usize, primary: Arc<Volume>) {
        use crate::core::document::Placement;
        use crate::core::registration::{Registration, Settings, register};
        let Some(scan) = doc.doc.secondary_scans.get(index).cloned() else { return };
        let plan = doc.path.clone().unwrap_or_default();
        let places = (index, scan.name.clone());
        self.start_edit(Job::spawn(format!("Registering {}", scan.name), move |progress| {
            let volume = plan_io::load_secondary(&plan, &scan, progress)?;
            let found =
                register(&primary, &volume, &Settings::default(), progress).and_then(Registration::converged).map_err(
                    |e| JobError::from(e).context(&format!("registering {} (its placement is unchanged)", scan.name)),
                )?;
            Ok(Command::SetScanPlacement {
                index,
                primary_from_secondary: found.fixed_from_moving,
                placement: Placement::Automatic { metric: found.metric, iterations: found.iterations },
            })
        }));
        self.edit_places = Some(places);
    }

    /// Finds the frame's localiser on the plan's scan (on `slices` only, when given) in the
    /// background; the fitted frame arrives as an undoable edit, a poor fit as an error that
    /// names the slices.
    pub fn fit_frame(
        &mut self,
        primary: Arc<Volume>,
        localizer: crate::core::stereotaxy::Localizer,
        slices: Option<(usize, usize)>,
    ) {
        use crate::core::stereotaxy::{FitSettings, PlanFrame, fit};
        self.start_edit(Job::spawn(format!("Finding the {}", localizer.name), move |progress| {
            let settings = FitSettings { slices, ..FitSettings::default() };
            let found = fit(&primary, &localizer, &settings, progress)
                .map_err(|e| JobError::from(e).context(&format!("the {} on the plan's scan", localizer.name)))?;
            Ok(Command::SetFrame { frame: Some(PlanFrame::new(&found, &localizer, &settings)) })
        }));
    }

    /// Starts an edit; one still running is stopped, and the user told so.
    fn start_edit(&mut self, job: EditJob) {
        if let Some(old) = &self.edit {
            old.progress.cancel();
            self.stopped = Some(format!("{} was stopped: {} started.", old.title, job.title));
        }
        self.edit = Some(job);
        self.edit_places = None;
    }
}

/// `fused` placed on `grid` through its entry's placement, with the metric there.
fn placed(fused: Fused, grid: &crate::core::volume::Grid) -> Result<Fused, JobError> {
    let volume = fused
        .scan
        .on_grid(&fused.original, grid)
        .ok_or_else(|| JobError::Failed(format!("{}: the scan's grid is flat", fused.scan.scan.path.display())))?;
    let metric = fused.probe.metric(&fused.scan.primary_from_secondary);
    Ok(Fused { volume: Arc::new(volume), metric, ..fused })
}

/// A tool's name as the user knows it.
pub fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Threshold { .. } => "threshold",
        Step::Grow { .. } => "region growing",
        Step::KeepLargest { .. } => "keep largest island",
        Step::KeepIslands { .. } => "keep island",
        Step::RemoveSmallIslands { .. } => "remove small islands",
        Step::Dilate { .. } => "grow by margin",
        Step::Erode { .. } => "shrink by margin",
        Step::Open { .. } => "open",
        Step::Close { .. } => "close",
        Step::FillHoles => "fill holes",
        Step::Shell { .. } => "shell",
        Step::Combine { .. } => "combine",
        Step::Brush { .. } => "brush",
        Step::Import { .. } => "import",
        Step::Vessels { .. } => "vessel tree",
        Step::Trace { .. } => "nerve trace",
        Step::ImportTracts { .. } => "tract import",
    }
}

fn start_with_startup_path(mut jobs: ResMut<Jobs>, path: Option<Res<StartupPath>>) {
    if let Some(p) = path {
        info!("opening {}", p.0.display());
        jobs.open(p.0.clone(), None);
    }
}

fn poll_jobs(
    mut jobs: ResMut<Jobs>,
    mut study: ResMut<Study>,
    mut doc: ResMut<Doc>,
    mut notices: ResMut<Notices>,
    mut edits: MessageWriter<Edit>,
    mut prefs: ResMut<super::settings::Prefs>,
) {
    if let Some(result) = jobs.save.as_mut().and_then(Job::poll) {
        jobs.save = None;
        match result {
            Ok((path, saved)) => {
                // The plan now lives there, with its label map beside it.
                doc.doc.label_map = saved.label_map;
                notices.done = Some(format!("Saved {}", path.display()));
                prefs.settings.remember(&path);
                doc.path = Some(path);
            }
            Err(JobError::Cancelled) => {}
            Err(e) => notices.error = Some(format!("The plan was not saved: {e}")),
        }
    }
    if let Some(result) = jobs.writing.as_mut().and_then(Job::poll) {
        let title = jobs.writing.take().map(|j| j.title).unwrap_or_default();
        match result {
            Ok(done) => notices.done = Some(done),
            Err(JobError::Cancelled) => {}
            Err(e) => notices.error = Some(format!("{title} failed: {e}")),
        }
    }
    if let Some(result) = jobs.fuse.as_mut().and_then(Job::poll) {
        jobs.fuse = None;
        match result {
            Ok(mut fused) => {
                // A CT keeps the window in use; other scans are shown over their values (once:
                // a scan placed anew keeps the window the user has set).
                let again = study.fused.as_ref().is_some_and(|f| f.index == fused.index);
                // The plan's scan keeps the window it had before any fused scan was shown.
                if let Some(shown) = &study.fused {
                    fused.window_before = shown.window_before;
                }
                if !again
                    && fused.volume.meta.modality != "CT"
                    && let Some((centre, width)) = fused.volume.value_window()
                {
                    edits.write(Edit::run(Command::SetWindow { centre, width }));
                }
                study.fused = Some(fused);
                study.revision += 1;
            }
            Err(JobError::Cancelled) => {}
            Err(e) => notices.error = Some(format!("The fused scan cannot be shown: {e}")),
        }
    }
    // A fused scan shown follows its plan entry: placed anew when only its placement changed
    // (shown as it was meanwhile), dropped when the entry changes otherwise or goes.
    if let Some(f) = &study.fused {
        match doc.doc.secondary_scans.get(f.index) {
            Some(entry) if *entry == f.scan => {}
            Some(entry) if entry.name == f.scan.name && entry.scan == f.scan.scan => {
                if jobs.fuse.is_none()
                    && let Some(primary) = &study.volume
                {
                    let (entry, primary) = (entry.clone(), primary.clone());
                    jobs.place_fused(f, entry, &primary);
                }
            }
            _ => {
                study.fused = None;
                study.revision += 1;
            }
        }
    }
    if let Some(stopped) = jobs.stopped.take() {
        notices.done = Some(stopped);
    }
    if let Some(result) = jobs.edit.as_mut().and_then(Job::poll) {
        jobs.edit = None;
        let places = jobs.edit_places.take();
        match result {
            // The plan's fused scans changed under a registration (undo, another plan): its
            // result would place another entry.
            Ok(_)
                if places
                    .as_ref()
                    .is_some_and(|(i, name)| doc.doc.secondary_scans.get(*i).map(|s| &s.name) != Some(name)) =>
            {
                let name = places.map(|(_, n)| n).unwrap_or_default();
                notices.error = Some(format!(
                    "The registration of {name} is not applied: the plan's fused scans changed while it ran."
                ));
            }
            Ok(command) => {
                edits.write(Edit::run(command));
            }
            Err(JobError::Cancelled) => {}
            Err(JobError::OtherPatient { scan, message }) => {
                jobs.confirm_patient = Some(scan);
                notices.error = Some(message);
            }
            Err(e) => notices.error = Some(e.to_string()),
        }
    }
    let Some(result) = jobs.load.as_mut().and_then(Job::poll) else {
        return;
    };
    jobs.load = None;
    match result {
        Ok(r) => {
            let id = r.volume.meta.series_uid.clone();
            study.other_series = r
                .scan
                .series
                .iter()
                .filter(|s| s.series_uid != id)
                .map(|s| {
                    let h = s.first();
                    let [x, y, z] = s.grid.dims;
                    (s.id.clone(), format!("{} {} ({x} x {y} x {z})", h.modality, h.series_description))
                })
                .collect();
            study.skipped = r.scan.skipped.into_iter().chain(r.failed).collect();
            study.source = Some(r.path);
            let mut volume = r.volume;
            volume.warnings.extend(r.warnings);
            study.volume = Some(Arc::new(volume));
            study.fused = None;
            study.revision += 1;
            notices.done = None;
            // Work begun on the plan before belongs to it: none of it lands on this one.
            for job in
                [jobs.edit.take().map(|j| j.progress), jobs.fuse.take().map(|j| j.progress)].into_iter().flatten()
            {
                job.cancel();
            }
            jobs.edit_places = None;
            // File > Open recent lists the plan, or the scan opened without one.
            if let Some(opened) = r.plan_path.as_deref().or(study.source.as_deref()) {
                prefs.settings.remember(opened);
            }
            doc.replace(r.doc, r.plan_path);
        }
        // Either way the current study stays as it was.
        Err(JobError::Cancelled) => {}
        Err(JobError::ScanMissing { plan, message }) => {
            notices.error = Some(message);
            jobs.relink = Some(plan);
        }
        Err(e @ (JobError::Failed(_) | JobError::OtherPatient { .. })) => notices.error = Some(e.to_string()),
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Jobs>()
        .add_systems(Startup, start_with_startup_path)
        .add_systems(Update, poll_jobs.in_set(Stage::Jobs));
}
