//! The user's intents: what the panels, menus, keys and dialogs ask for, as one message type
//! carried out in one place after the panels have drawn (panels never change the state they
//! show), in the frame's first step.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::window::FileDragAndDrop;

use super::autosave::Autosave;
use super::document::{Doc, Edit};
use super::entry_search::EntrySearches;
use super::job::Job;
use super::meshes::SegmentMeshes;
use super::notices::Notices;
use super::sets::Stage;
use super::study::Study;
use super::tasks::Jobs;
use super::tools::ClickAt;
use crate::core::document::dicom_out::SegmentsAs;
use crate::core::planning::SearchSettings;
use crate::core::segmentation::Step;

/// What the user asks for.
#[derive(Message, Debug, Clone)]
pub enum Intent {
    Dialog(DialogKind),
    Open(PathBuf, Option<String>),
    CancelJobs,
    DismissError,
    Quit,
    /// Save to the plan's own file, or ask where when it has none.
    Save,
    Edit(Edit),
    Click(ClickAt),
    /// Run a segmentation step on a segment in the background.
    Segment(u16, Step),
    /// Show a fused scan in the views (its index in the plan), or the plan's scan (`None`).
    ShowScan(Option<usize>),
    /// Register a fused scan (its index in the plan) to the plan's scan in the background.
    RegisterScan(usize),
    /// Find a stereotactic frame's localiser (a preset, by name) on the plan's scan in the
    /// background, on the slices given (first, last) or all.
    FitFrame {
        preset: String,
        slices: Option<(usize, usize)>,
    },
    /// Fuse the scan at this path into the plan (registered in the background); the flag is the
    /// user's confirmation that a scan with another PatientID is this patient's.
    AddScan(PathBuf, bool),
    /// Search entries for a trajectory's target in the background.
    SearchEntries(usize, SearchSettings),
    CancelSearch,
    /// The offer of a crashed session's work: open it, delete it, or keep it for later.
    Recover(usize),
    DiscardRecovery(usize),
    RecoverLater,
}

/// Native file dialogs the menus open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    OpenFolder,
    OpenFile,
    ImportLabels,
    Screenshot,
    SavePlan,
    /// The folder a plan's moved scan is in now.
    LocateScan,
    /// A scan to fuse into the plan.
    AddScan,
    /// Where to write the plan's report (PDF or HTML); anonymised or not.
    Report {
        anonymise: bool,
    },
    /// Where to write the plan's segments as DICOM (a Segmentation or an RT Structure Set).
    DicomSegments(SegmentsAs),
}

/// A native file dialog runs on its own thread so the window keeps drawing.
#[derive(Resource, Default)]
struct PendingDialog(Option<(DialogKind, Job<Option<PathBuf>>)>);

#[allow(clippy::too_many_arguments)]
fn carry_out(
    mut reader: MessageReader<Intent>,
    (mut jobs, mut notices): (ResMut<Jobs>, ResMut<Notices>),
    doc: Res<Doc>,
    mut study: ResMut<Study>,
    (meshes, mut searches, mut autosave): (Res<SegmentMeshes>, ResMut<EntrySearches>, ResMut<Autosave>),
    mut dialog: ResMut<PendingDialog>,
    mut edits: MessageWriter<Edit>,
    mut clicks: MessageWriter<ClickAt>,
    mut exit: MessageWriter<AppExit>,
) {
    for r in reader.read() {
        match r {
            Intent::Dialog(kind) => dialog.0 = Some((*kind, file_dialog(*kind))),
            Intent::Open(path, series) => jobs.open(path.clone(), series.clone()),
            Intent::CancelJobs => {
                for p in [
                    jobs.load.as_ref().map(|j| &j.progress),
                    jobs.edit.as_ref().map(|j| &j.progress),
                    jobs.fuse.as_ref().map(|j| &j.progress),
                    jobs.vesselness.as_ref().map(|j| &j.job.progress),
                ]
                .into_iter()
                .flatten()
                {
                    p.cancel();
                }
            }
            Intent::DismissError => {
                notices.error = None;
                jobs.relink = None;
                jobs.confirm_patient = None;
            }
            Intent::Save => match &doc.path {
                Some(path) => jobs.start_save(&doc.doc, path.clone()),
                None => dialog.0 = Some((DialogKind::SavePlan, file_dialog(DialogKind::SavePlan))),
            },
            Intent::Quit => {
                exit.write(AppExit::Success);
            }
            Intent::Edit(e) => {
                edits.write(e.clone());
            }
            Intent::Click(c) => {
                clicks.write(*c);
            }
            Intent::Segment(label, step) => {
                if let Err(e) = jobs.segment(&doc.doc, &study, *label, step.clone()) {
                    notices.error = Some(e);
                }
            }
            Intent::ShowScan(Some(index)) => {
                if let Some(v) = study.volume.clone() {
                    jobs.show_fused(&doc, *index, v);
                }
            }
            Intent::AddScan(path, allow_other_patient) => match study.volume.clone() {
                Some(v) => jobs.add_scan(&doc.doc, v, path.clone(), *allow_other_patient),
                None => notices.error = Some("Open a plan's scan before adding another scan to it.".into()),
            },
            Intent::RegisterScan(index) => {
                if let Some(v) = study.volume.clone() {
                    jobs.register_fused(&doc, *index, v);
                }
            }
            Intent::FitFrame { preset, slices } => {
                match (study.volume.clone(), crate::core::stereotaxy::Localizer::preset(preset)) {
                    (Some(v), Some(localizer)) => jobs.fit_frame(v, localizer, *slices),
                    (_, None) => notices.error = Some(format!("No localiser preset named {preset}")),
                    _ => {}
                }
            }
            Intent::ShowScan(None) => {
                // A fused scan still being loaded or placed is not shown after all.
                if let Some(job) = jobs.fuse.take() {
                    job.progress.cancel();
                }
                if let Some(f) = study.fused.take() {
                    study.revision += 1;
                    let (centre, width) = f.window_before;
                    edits.write(Edit::run(crate::core::document::Command::SetWindow { centre, width }));
                }
            }
            Intent::SearchEntries(index, settings) => {
                notices.search = searches.start(&doc.doc, &meshes, *index, settings.clone()).err();
            }
            Intent::CancelSearch => searches.cancel(),
            Intent::Recover(i) => autosave.recover(*i, &mut jobs),
            Intent::DiscardRecovery(i) => autosave.discard(*i),
            Intent::RecoverLater => autosave.later(),
        }
    }
}

/// A native file dialog on its own thread, so the window keeps drawing.
fn file_dialog(kind: DialogKind) -> Job<Option<PathBuf>> {
    Job::spawn("Choosing a file".into(), move |_| {
        let d = rfd::FileDialog::new();
        Ok(match kind {
            DialogKind::OpenFolder => d.set_title("Open a DICOM folder").pick_folder(),
            DialogKind::LocateScan => d.set_title("Locate the plan's scan folder").pick_folder(),
            DialogKind::AddScan => d.set_title("Add a scan of this patient (DICOM folder)").pick_folder(),
            DialogKind::Report { anonymise } => d
                .set_title(if anonymise { "Save the plan's anonymised report" } else { "Save the plan's report" })
                .add_filter("PDF", &["pdf"])
                .add_filter("HTML", &["html"])
                .set_file_name(if anonymise { "plan-report-anonymised.pdf" } else { "plan-report.pdf" })
                .save_file(),
            DialogKind::DicomSegments(kind) => {
                let (title, name) = match kind {
                    SegmentsAs::Segmentation => ("Save the segments as a DICOM Segmentation", "segments-seg.dcm"),
                    SegmentsAs::StructureSet => ("Save the segments as an RT Structure Set", "segments-rtstruct.dcm"),
                };
                d.set_title(title).add_filter("DICOM", &["dcm"]).set_file_name(name).save_file()
            }
            DialogKind::OpenFile => d
                .set_title("Open a DICOM file, a NIfTI or NRRD volume, or a plan")
                .add_filter("DICOM, NIfTI, NRRD or plan", &["dcm", "json", "DCM", "IMA", "nii", "gz", "nrrd", "nhdr"])
                .add_filter("Any file", &["*"])
                .pick_file(),
            DialogKind::ImportLabels => d
                .set_title("Import segments")
                .add_filter("NIfTI label map or DICOM SEG", &["nii", "gz", "dcm", "DCM"])
                .add_filter("Any file", &["*"])
                .pick_file(),
            DialogKind::SavePlan => d
                .set_title("Save the plan")
                .add_filter("twinplan plan", &["json"])
                .set_file_name("plan.twinplan.json")
                .save_file(),
            DialogKind::Screenshot => {
                d.set_title("Save a screenshot").add_filter("PNG", &["png"]).set_file_name("twinplan.png").save_file()
            }
        })
    })
}

fn poll_dialog(
    mut commands: Commands,
    mut dialog: ResMut<PendingDialog>,
    (mut jobs, mut notices): (ResMut<Jobs>, ResMut<Notices>),
    doc: Res<Doc>,
    study: Res<Study>,
    meshes: Res<SegmentMeshes>,
) {
    let Some(result) = dialog.0.as_mut().and_then(|(_, j)| j.poll()) else {
        return;
    };
    let Some((kind, _)) = dialog.0.take() else { return };
    let Ok(Some(path)) = result else { return };
    match kind {
        DialogKind::OpenFolder | DialogKind::OpenFile => jobs.open(path, None),
        DialogKind::LocateScan => jobs.relink_scan(path, &mut notices),
        DialogKind::AddScan => match study.volume.clone() {
            Some(v) => jobs.add_scan(&doc.doc, v, path, false),
            None => notices.error = Some("Open a plan's scan before adding another scan to it.".into()),
        },
        DialogKind::Report { anonymise } => match study.volume.clone() {
            Some(v) => jobs.start_report(&doc, v, &meshes.shapes, path, anonymise),
            None => notices.error = Some("Open a scan before writing a report.".into()),
        },
        DialogKind::DicomSegments(kind) => {
            let path = if path.extension().is_none() { path.with_extension("dcm") } else { path };
            jobs.start_dicom_segments(&doc.doc, kind, path);
        }
        DialogKind::ImportLabels => match study.volume.clone() {
            Some(v) => jobs.import(&doc.doc, v, path),
            None => notices.error = Some("Open a scan before importing a label map onto it.".into()),
        },
        DialogKind::SavePlan => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let path =
                if name.ends_with(".json") { path } else { path.with_file_name(format!("{name}.twinplan.json")) };
            jobs.start_save(&doc.doc, path);
        }
        DialogKind::Screenshot => {
            let path = if path.extension().is_none() { path.with_extension("png") } else { path };
            commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path));
        }
    }
}

/// Dropping a folder or file on the window opens it.
fn drag_and_drop(mut drops: MessageReader<FileDragAndDrop>, mut jobs: ResMut<Jobs>) {
    for d in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = d {
            jobs.open(path_buf.clone(), None);
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PendingDialog>()
        .add_message::<Intent>()
        .add_systems(Update, (carry_out, poll_dialog, drag_and_drop).in_set(Stage::Intents));
}
