//! The workstation's logic without a window or renderer (`MinimalPlugins`): opening the bundled
//! plan, the segment surfaces as entities, and edits through the document with undo.

#![cfg(feature = "gui")]

mod common;

use nalgebra::Point3;
use std::path::Path;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use twinplan::app::{ClipMaterial, Doc, Edit, Jobs, Notices, SegmentMesh, SegmentMeshes, Study};
use twinplan::core::document::{Command, SegmentDisplay};
use twinplan::core::phantom::LABELS;
use twinplan::core::segmentation::{Category, Preset, Step};

fn app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Mesh>()
        .init_asset::<ClipMaterial>()
        .add_plugins(twinplan::app::plugin);
    app
}

/// Runs frames until `done` holds (background jobs finish on their own threads).
fn run_until(app: &mut App, what: &str, done: impl Fn(&mut World) -> bool) {
    let start = Instant::now();
    while !done(app.world_mut()) {
        assert!(start.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        if let Some(e) = &app.world().resource::<Notices>().error {
            panic!("while waiting for {what}: {e}");
        }
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn settled(w: &mut World) -> bool {
    let jobs = w.resource::<Jobs>();
    if jobs.load.is_some() || jobs.edit.is_some() || w.resource::<Study>().volume.is_none() {
        return false;
    }
    w.resource::<SegmentMeshes>().settled(w.resource::<Doc>())
}

fn surfaces(w: &mut World) -> Vec<(u16, usize, Visibility)> {
    let mut q = w.query::<(&SegmentMesh, &Visibility)>();
    let mut v: Vec<_> = q.iter(w).map(|(s, vis)| (s.label, s.triangles(), *vis)).collect();
    v.sort_by_key(|x| x.0);
    v
}

fn open_phantom(app: &mut App) {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/phantom.twinplan.json");
    app.world_mut().resource_mut::<Jobs>().open(plan, None);
    run_until(app, "the phantom plan and its surfaces", settled);
}

#[test]
fn the_phantom_plan_opens_segmented_with_a_surface_per_structure() {
    let mut app = app();
    open_phantom(&mut app);
    let w = app.world_mut();
    let doc = w.resource::<Doc>();
    let names: Vec<&str> = doc.doc.segmentation.segments.iter().map(|s| s.name.as_str()).collect();
    let expected: Vec<&str> = LABELS.iter().map(|l| l.1).collect();
    assert_eq!(names, expected);
    // The label map is the truth file's: every structure has its voxels.
    let truth = twinplan::core::io::nifti::read(&doc.doc.label_map.clone().unwrap()).unwrap();
    for (label, name, _) in LABELS {
        let want = truth.values.iter().filter(|&&v| v == f32::from(label)).count();
        assert_eq!(doc.doc.segmentation.labels.count(u16::from(label)), want, "{name}");
        assert!(want > 0, "{name}");
    }
    let s = surfaces(w);
    assert_eq!(s.len(), LABELS.len());
    for (label, triangles, vis) in s {
        assert!(triangles > 100, "label {label}: {triangles} triangles");
        // The brain is hidden so that what is inside it shows.
        let want = if label == 3 { Visibility::Hidden } else { Visibility::Inherited };
        assert_eq!(vis, want, "label {label}");
    }
}

#[test]
fn visibility_crosshair_and_a_threshold_with_its_undo() {
    let mut app = app();
    open_phantom(&mut app);

    // Hiding the skull hides its entity; undo shows it again.
    let skull = app.world().resource::<Doc>().doc.display_of(2);
    let hidden = SegmentDisplay { visible: false, ..skull };
    app.world_mut().write_message(Edit::run(Command::SetDisplay { label: 2, display: hidden }));
    app.update();
    app.update();
    let vis = |w: &mut World| surfaces(w).into_iter().find(|s| s.0 == 2).unwrap().2;
    assert_eq!(vis(app.world_mut()), Visibility::Hidden);
    app.world_mut().write_message(Edit::Undo);
    app.update();
    app.update();
    assert_eq!(vis(app.world_mut()), Visibility::Inherited);

    // Moving the crosshair changes the view, not the plan's history.
    let steps = app.world().resource::<Doc>().history.len();
    app.world_mut().write_message(Edit::run(Command::SetCrosshair { mm: Point3::new(10.0, -20.0, 30.0) }));
    app.update();
    let doc = app.world().resource::<Doc>();
    assert_eq!(doc.doc.view.crosshair_mm, Point3::new(10.0, -20.0, 30.0));
    assert_eq!(doc.history.len(), steps);

    // A bone threshold into a new segment takes exactly the voxels in range.
    let before = doc.doc.segmentation.labels.labels.clone();
    let add = Command::add_segment(&doc.doc, "Bone (threshold)", Category::Bone);
    let Command::AddSegment { segment, .. } = &add else { unreachable!() };
    let label = segment.label;
    app.world_mut().write_message(Edit::run(add));
    app.update();
    let (lo, hi) = Preset::Bone.range_hu();
    let volume = app.world().resource::<Study>().volume.clone().unwrap();
    let in_range = (0..volume.data.len()).filter(|&i| (lo..=hi).contains(&f64::from(volume.data.get(i)))).count();
    assert!(in_range > 10_000);
    let plan = app.world().resource::<Doc>().doc.clone();
    let step = Step::Threshold { lo, hi, scan: None };
    app.world_mut()
        .resource_scope(|w, mut jobs: Mut<Jobs>| jobs.segment(&plan, w.resource::<Study>(), label, step).unwrap());
    run_until(&mut app, "the threshold and the new surface", settled);
    let w = app.world_mut();
    assert_eq!(w.resource::<Doc>().doc.segmentation.labels.count(label), in_range);
    let s = surfaces(w);
    assert!(s.iter().any(|x| x.0 == label && x.1 > 1000), "a bone surface: {s:?}");

    // Undo the threshold, then the new segment: the label map is as it was, the entity gone.
    w.write_message(Edit::Undo);
    app.update();
    app.world_mut().write_message(Edit::Undo);
    app.update();
    run_until(&mut app, "the surfaces after undo", settled);
    let w = app.world_mut();
    assert!(w.resource::<Doc>().doc.segmentation.labels.labels == before, "undo restores every voxel");
    assert!(!surfaces(w).iter().any(|x| x.0 == label));
}

#[test]
fn a_dragged_target_is_rechecked_in_the_same_update() {
    use twinplan::app::Planning;
    use twinplan::core::planning::Verdict;
    let mut app = app();
    open_phantom(&mut app);
    app.update();
    let report = |app: &App| app.world().resource::<Planning>().reports[0].clone().unwrap();
    let before = report(&app);
    assert_eq!(before.verdict, Verdict::Clear, "the bundled biopsy is safe");
    assert_eq!(before.structures.len(), 3);
    // Move the target onto the arteries' trunk (its centre line runs through this point).
    let mut moved = app.world().resource::<Doc>().doc.trajectories[0].clone();
    moved.target_mm = Point3::new(10.0, -22.5, 5.0);
    let before_rev = app.world().resource::<Planning>().revision;
    app.world_mut().write_message(Edit::drag(Command::SetTrajectory { index: 0, trajectory: moved }, "place target"));
    app.update();
    assert!(app.world().resource::<Planning>().revision > before_rev, "checked in the same update");
    let after = report(&app);
    assert_eq!(after.verdict, Verdict::Collision);
    assert_eq!(after.structures[0].name, "Arteries");
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert_eq!(report(&app).verdict, Verdict::Clear, "undo puts the path back");
}

#[test]
fn an_entry_search_runs_in_the_background_and_its_best_entry_can_be_adopted() {
    use twinplan::app::Planning;
    use twinplan::app::entry_search::EntrySearches;
    use twinplan::core::planning::{SearchSettings, Verdict};
    let mut app = app();
    open_phantom(&mut app);
    let w = app.world_mut();
    w.resource_scope(|w, mut searches: Mut<EntrySearches>| {
        let (doc, meshes) = (w.resource::<Doc>(), w.resource::<SegmentMeshes>());
        searches.start(&doc.doc, meshes, 0, SearchSettings::default()).unwrap();
    });
    assert!(app.world().resource::<EntrySearches>().running().is_some(), "the search runs off the UI thread");
    run_until(&mut app, "the entry search", |w| w.resource::<EntrySearches>().shown.is_some());
    let searches = app.world().resource::<EntrySearches>();
    let search_error = &app.world().resource::<Notices>().search;
    assert!(search_error.is_none(), "{search_error:?}");
    let shown = searches.shown.as_ref().unwrap();
    assert!(shown.current(&app.world().resource::<Doc>().doc));
    assert_eq!(shown.result.vertex_risk_mm.len(), shown.skin.vertices().len(), "a risk per skin vertex");
    let best = shown.result.suggestions[0].clone();

    // Adopting it is one command: the path re-checks clear, with the risk the search gave it.
    let mut t = app.world().resource::<Doc>().doc.trajectories[0].clone();
    t.entry_mm = best.entry_mm;
    app.world_mut().write_message(Edit::run(Command::SetTrajectory { index: 0, trajectory: t }));
    app.update();
    let report = app.world().resource::<Planning>().reports[0].clone().unwrap();
    assert_eq!(report.verdict, Verdict::Clear);
    assert!(
        (report.risk_mm - best.report.risk_mm).abs() < 1e-9 && (report.length_mm - best.report.length_mm).abs() < 1e-9
    );

    // Moving the target makes the search stale.
    let mut t = app.world().resource::<Doc>().doc.trajectories[0].clone();
    t.target_mm[2] += 5.0;
    app.world_mut().write_message(Edit::run(Command::SetTrajectory { index: 0, trajectory: t }));
    app.update();
    let doc = &app.world().resource::<Doc>().doc;
    assert!(!app.world().resource::<EntrySearches>().shown.as_ref().unwrap().current(doc));
}

#[test]
fn changes_are_autosaved_for_recovery_and_a_clean_exit_removes_them() {
    use twinplan::app::autosave::{self, RecoveryRoot};
    let root = tempfile::tempdir().unwrap();
    let mut app = app();
    app.insert_resource(RecoveryRoot(root.path().to_owned())).add_plugins(autosave::plugin);
    open_phantom(&mut app);
    let session = root.path().join(format!("session-{}", std::process::id()));
    let plan = session.join("recovery.twinplan.json");
    for _ in 0..50 {
        app.update();
    }
    assert!(!plan.exists(), "a plan just opened has nothing to recover");
    let mut t = app.world().resource::<Doc>().doc.trajectories[0].clone();
    t.target_mm = Point3::new(28.0, -33.0, 58.0);
    app.world_mut().write_message(Edit::run(Command::SetTrajectory { index: 0, trajectory: t.clone() }));
    run_until(&mut app, "the autosave", |_| {
        twinplan::core::document::io::read(&plan).is_ok_and(|d| d.trajectories.first() == Some(&t))
    });
    let labels = twinplan::core::document::io::read(&plan).unwrap().label_map.unwrap();
    assert!(labels.is_file() && labels.starts_with(&session), "{}", labels.display());
    app.world_mut().write_message(AppExit::Success);
    app.update();
    assert!(!session.exists(), "a clean exit leaves nothing to recover");
}

#[test]
fn a_crashed_sessions_work_is_offered_and_recovered_into_its_own_plan_file() {
    use twinplan::app::autosave::{self, Autosave, RecoveryRoot};
    use twinplan::core::document::recovery::Session;
    let root = tempfile::tempdir().unwrap();
    let original = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/phantom.twinplan.json");
    let mut opened = twinplan::core::document::io::open(&original, &twinplan::core::progress::Progress::new()).unwrap();
    opened.doc.trajectories[0].name = "Biopsy, changed before the crash".into();
    Session::new(root.path()).write(&opened.doc, Some(&original), true).unwrap();
    // The session that wrote it has ended (a process that has exited stands for it).
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    let pid = ended.id();
    ended.wait().unwrap();
    // Its folder is named after it, as that session's own was.
    let written = std::fs::read_dir(root.path()).unwrap().next().unwrap().unwrap().path();
    let folder = root.path().join(format!("session-{pid}"));
    std::fs::rename(&written, &folder).unwrap();
    let about = folder.join("about.json");
    let mut a: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&about).unwrap()).unwrap();
    a["pid"] = pid.into();
    std::fs::write(&about, a.to_string()).unwrap();

    let mut app = app();
    app.insert_resource(RecoveryRoot(root.path().to_owned())).add_plugins(autosave::plugin);
    app.update();
    let offered = app.world().resource::<Autosave>().left_behind.clone();
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].about.original.as_deref(), Some(original.as_path()));
    app.world_mut().resource_scope(|w, mut autosave: Mut<Autosave>| {
        autosave.recover(0, &mut w.resource_mut::<Jobs>());
    });
    run_until(&mut app, "the recovered plan", settled);
    app.update();
    let doc = app.world().resource::<Doc>();
    assert_eq!(doc.doc.trajectories[0].name, "Biopsy, changed before the crash");
    assert_eq!(doc.path.as_deref(), Some(original.as_path()), "Save goes back to the plan's own file");
    assert!(!folder.exists(), "the old recovery is gone once this session holds the work");
}

#[test]
fn a_plan_whose_scan_moved_is_reopened_from_the_folder_the_user_points_to() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, moved) = common::phantom_with_moved_scan(dir.path(), "elsewhere");
    let mut app = app();
    app.world_mut().resource_mut::<Jobs>().open(plan.clone(), None);
    let start = Instant::now();
    while app.world().resource::<Notices>().error.is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "no error for the missing scan");
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
    let error = &app.world().resource::<Notices>().error;
    assert!(error.as_ref().unwrap().contains("is not at"), "{error:?}");
    let jobs = app.world().resource::<Jobs>();
    assert_eq!(jobs.relink.as_deref(), Some(plan.as_path()));
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| jobs.relink_scan(moved.clone(), &mut w.resource_mut()));
    run_until(&mut app, "the plan from the new folder", settled);
    let doc = app.world().resource::<Doc>();
    assert_eq!(doc.doc.scan.path, moved, "saving keeps the new place");
    assert_eq!(doc.path.as_deref(), Some(plan.as_path()));
    assert_eq!(doc.doc.trajectories.len(), 1);
}

#[test]
fn the_report_is_written_from_the_workstation_in_the_background() {
    let mut app = app();
    open_phantom(&mut app);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.pdf");
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| {
        let (doc, study, meshes) = (w.resource::<Doc>(), w.resource::<Study>(), w.resource::<SegmentMeshes>());
        jobs.start_report(doc, study.volume.clone().unwrap(), &meshes.shapes, out.clone(), false);
    });
    run_until(&mut app, "the report", |w| w.resource::<Jobs>().writing.is_none());
    let notice = app.world().resource::<Notices>().done.clone().unwrap_or_default();
    assert!(notice.contains("Wrote the report"), "{notice}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(bytes.windows(20).any(|w| w == b"Biopsy, left frontal"));
}

/// File > Export segments as DICOM SEG / RT Structure Set: written in the background from the
/// plan as it is on screen; the SEG read back holds each segment's name and voxel count.
#[test]
fn the_segments_are_written_as_dicom_from_the_workstation() {
    use twinplan::core::document::dicom_out::SegmentsAs;
    let mut app = app();
    open_phantom(&mut app);
    let dir = tempfile::tempdir().unwrap();
    for (kind, name, said) in [
        (SegmentsAs::Segmentation, "seg.dcm", "DICOM Segmentation"),
        (SegmentsAs::StructureSet, "rtstruct.dcm", "RT Structure Set"),
    ] {
        let out = dir.path().join(name);
        app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| {
            jobs.start_dicom_segments(&w.resource::<Doc>().doc, kind, out.clone());
        });
        run_until(&mut app, name, |w| w.resource::<Jobs>().writing.is_none());
        let notice = app.world().resource::<Notices>().done.clone().unwrap_or_default();
        assert!(notice.contains(&format!("Wrote {}", out.display())) && notice.contains(said), "{notice}");
    }
    let seg = twinplan::core::dicom::seg_read::read_segmentation(&dir.path().join("seg.dcm")).unwrap();
    let doc = &app.world().resource::<Doc>().doc;
    for (n, s) in doc.segmentation.segments.iter().enumerate() {
        let read = &seg.segments[n];
        let count = |labels: &[u16], label: u16| labels.iter().filter(|&&l| l == label).count();
        assert_eq!(read.name, s.name);
        assert_eq!(count(&seg.labels, read.number), count(&doc.segmentation.labels.labels, s.label), "{}", s.name);
    }
    // A name that is not a DICOM file's is refused by name, and nothing is written.
    let wrong = dir.path().join("segments.nii");
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| {
        jobs.start_dicom_segments(&w.resource::<Doc>().doc, SegmentsAs::Segmentation, wrong.clone());
    });
    run_until(&mut app, "the refusal", |w| w.resource::<Jobs>().writing.is_none());
    let error = app.world().resource::<Notices>().error.clone().unwrap_or_default();
    assert!(error.contains("expected a name ending in .dcm") && !wrong.exists(), "{error}");
}

#[test]
fn a_saved_plan_reopens_as_it_was_left() {
    let mut app = app();
    open_phantom(&mut app);
    // Change the plan: hide the skull, move the biopsy's target.
    let mut moved = app.world().resource::<Doc>().doc.trajectories[0].clone();
    moved.target_mm = Point3::new(28.0, -33.0, 58.0);
    let skull = SegmentDisplay { visible: false, ..app.world().resource::<Doc>().doc.display_of(2) };
    app.world_mut().write_message(Edit::run(Command::SetTrajectory { index: 0, trajectory: moved }));
    app.world_mut().write_message(Edit::run(Command::SetDisplay { label: 2, display: skull }));
    app.update();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("saved.twinplan.json");
    let before = app.world().resource::<Doc>().doc.clone();
    app.world_mut().resource_mut::<Jobs>().start_save(&before, plan.clone());
    run_until(&mut app, "the save", |w| w.resource::<Jobs>().save.is_none());
    assert_eq!(app.world().resource::<Doc>().path.as_deref(), Some(plan.as_path()));
    let labels = twinplan::core::document::io::read(&plan).unwrap().label_map.unwrap();
    assert!(labels.is_file() && labels.starts_with(dir.path()), "{}", labels.display());

    let mut again = self::app();
    again.world_mut().resource_mut::<Jobs>().open(plan, None);
    run_until(&mut again, "the saved plan", settled);
    let reopened = &again.world().resource::<Doc>().doc;
    assert_eq!(reopened.trajectories, before.trajectories);
    assert_eq!(reopened.display, before.display);
    assert_eq!(reopened.segmentation.segments, before.segmentation.segments);
    assert!(reopened.segmentation.labels.labels == before.segmentation.labels.labels, "every voxel");
}

/// A fused scan shown in the views is the scan placed on the plan's grid through its motion:
/// the phantom's own series fused one voxel (0.9 mm) to the patient's left reads, at each voxel,
/// the plan's scan one voxel to the right. Removing the fused scan from the plan drops what was
/// shown, and the views return to the plan's scan.
#[test]
fn a_fused_scan_is_shown_on_the_plans_grid_through_its_motion() {
    use twinplan::core::document::{ScanRef, SecondaryScan};
    let mut app = app();
    open_phantom(&mut app);
    let dicom = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/dicom");
    let primary = app.world().resource::<Study>().volume.clone().unwrap();
    let uid = primary.meta.series_uid.clone();
    let mut fused =
        SecondaryScan::by_geometry("CT again", ScanRef { path: dicom, series_uid: uid.clone(), series_id: uid });
    fused.primary_from_secondary = nalgebra::Isometry3::translation(0.9, 0.0, 0.0);
    app.world_mut().write_message(Edit::run(Command::AddScan { index: 0, scan: fused }));
    app.update();
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| jobs.show_fused(w.resource::<Doc>(), 0, primary.clone()));
    run_until(&mut app, "the fused scan", |w| w.resource::<Study>().fused.is_some());
    let shown = app.world().resource::<Study>().shown().unwrap().clone();
    assert_eq!(shown.grid, primary.grid);
    let [nx, ny, nz] = primary.grid.dims;
    let (i, j, k) = (nx / 2, ny / 2, nz / 2);
    for di in 0..20 {
        let (a, b) = (shown.at(i + di, j, k), primary.at(i + di - 1, j, k));
        assert!((a - b).abs() < 1e-3, "voxel {}: {a} where the plan's scan has {b} one voxel over", i + di);
    }

    // While it is shown, the tools read its values, and the step records which scan it read.
    let add = Command::add_segment(&app.world().resource::<Doc>().doc, "From the fused scan", Category::Bone);
    let Command::AddSegment { segment, .. } = &add else { unreachable!() };
    let label = segment.label;
    app.world_mut().write_message(Edit::run(add));
    app.update();
    let (lo, hi) = Preset::Bone.range_hu();
    let in_range = (0..shown.data.len()).filter(|&i| (lo..=hi).contains(&f64::from(shown.data.get(i)))).count();
    let plan = app.world().resource::<Doc>().doc.clone();
    let step = Step::Threshold { lo, hi, scan: None };
    app.world_mut()
        .resource_scope(|w, mut jobs: Mut<Jobs>| jobs.segment(&plan, w.resource::<Study>(), label, step).unwrap());
    run_until(&mut app, "the threshold on the fused scan", |w| {
        w.resource::<Doc>().doc.segmentation.labels.count(label) > 0
    });
    let doc = &app.world().resource::<Doc>().doc;
    assert_eq!(doc.segmentation.labels.count(label), in_range);
    assert_eq!(doc.segmentation.segment(label).unwrap().steps[0].scan(), Some("CT again"));

    // The scan cannot go while a segment is rebuilt from it; once that segment is gone, it can.
    app.world_mut().write_message(Edit::run(Command::RemoveScan { index: 0 }));
    app.update();
    assert_eq!(app.world().resource::<Doc>().doc.secondary_scans[0].name, "CT again", "refused: a segment reads it");
    app.world_mut().resource_mut::<Notices>().error = None;
    let remove = Command::remove_segment(&app.world().resource::<Doc>().doc, label).unwrap();
    app.world_mut().write_message(Edit::run(remove));
    app.world_mut().write_message(Edit::run(Command::RemoveScan { index: 0 }));
    app.update();
    app.update();
    let study = app.world().resource::<Study>();
    assert!(study.fused.is_none(), "a removed scan is not shown");
    assert!(std::sync::Arc::ptr_eq(study.shown().unwrap(), &primary));
}

/// Register in the Study panel: the bundled plan's MR, put back where the scanners' geometry
/// places it (about 19 mm off on average), is registered in the background and placed anew
/// within half a millimetre of the truth motion at points through the head; one undo puts it
/// back.
#[test]
fn registering_a_fused_scan_places_it_anew_undoably() {
    use twinplan::core::document::Placement;
    let mut app = app();
    open_phantom(&mut app);
    let unplaced = Command::SetScanPlacement {
        index: 0,
        primary_from_secondary: nalgebra::Isometry3::identity(),
        placement: Placement::Geometry,
    };
    // The optic nerves were grown on the MR: it cannot move while they stand.
    app.world_mut().write_message(Edit::run(unplaced.clone()));
    app.update();
    let refused = app.world_mut().resource_mut::<Notices>().error.take().unwrap_or_default();
    assert!(refused.contains("cannot move") && refused.contains("Optic nerves"), "{refused}");
    assert!(matches!(app.world().resource::<Doc>().doc.secondary_scans[0].placement, Placement::Automatic { .. }));
    without_segments_read_from_the_mr(&mut app);
    app.world_mut().write_message(Edit::run(unplaced));
    app.update();
    let primary = app.world().resource::<Study>().volume.clone().unwrap();
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| jobs.register_fused(w.resource::<Doc>(), 0, primary));
    let placed =
        |w: &mut World| matches!(w.resource::<Doc>().doc.secondary_scans[0].placement, Placement::Automatic { .. });
    run_until(&mut app, "the registration", placed);
    let truth: twinplan::core::phantom::Truth = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/truth.json"))
            .unwrap(),
    )
    .unwrap();
    let m = nalgebra::Matrix4::from_fn(|r, c| truth.mr.ct_from_mr[r][c]);
    let found = app.world().resource::<Doc>().doc.secondary_scans[0].primary_from_secondary.to_homogeneous();
    let c = twinplan::core::phantom::CENTRE_MM;
    for d in [[0.0, 0.0, 0.0], [60.0, 0.0, 0.0], [0.0, 75.0, 0.0], [0.0, 0.0, 65.0], [-40.0, -50.0, -40.0]] {
        let p = nalgebra::Vector4::new(c.x + d[0], c.y + d[1], c.z + d[2], 1.0);
        let error = ((found - m) * p).norm();
        assert!(error < 0.5, "{error:.3} mm off at {d:?}");
    }
    app.world_mut().write_message(Edit::Undo);
    app.update();
    let back = &app.world().resource::<Doc>().doc.secondary_scans[0];
    assert_eq!(
        (back.placement.clone(), back.primary_from_secondary),
        (Placement::Geometry, nalgebra::Isometry3::identity())
    );

    // Removed while it registers: the result is not applied to whatever entry is there now.
    let primary = app.world().resource::<Study>().volume.clone().unwrap();
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| jobs.register_fused(w.resource::<Doc>(), 0, primary));
    app.world_mut().write_message(Edit::run(Command::RemoveScan { index: 0 }));
    app.update();
    run_until_error(&mut app, |w| w.resource::<Jobs>().edit.is_none());
    let error = app.world().resource::<Notices>().error.clone().unwrap_or_default();
    assert!(error.contains("is not applied"), "{error}");
    assert!(app.world().resource::<Doc>().doc.secondary_scans.is_empty());
}

/// Moving a shown fused scan by hand: the views place it anew from the scan already loaded (it
/// stays shown), the mutual information there follows and falls for a 2 mm shift away from the
/// registered placement, and one undo brings back the placement and its metric.
#[test]
fn a_fused_scan_moved_by_hand_is_placed_anew_with_its_metric() {
    use twinplan::core::document::Placement;
    let mut app = app();
    open_phantom(&mut app);
    without_segments_read_from_the_mr(&mut app);
    let primary = app.world().resource::<Study>().volume.clone().unwrap();
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| jobs.show_fused(w.resource::<Doc>(), 0, primary.clone()));
    run_until(&mut app, "the fused MR", |w| w.resource::<Study>().fused.is_some());
    let registered = app.world().resource::<Study>().fused.as_ref().unwrap().clone();
    let at_registration = registered.metric.unwrap();
    let Placement::Automatic { metric: recorded, .. } = registered.scan.placement else { panic!() };
    assert!((at_registration - recorded).abs() < 1e-3, "{at_registration} vs {recorded}");

    let moved = nalgebra::Isometry3::translation(2.0, 0.0, 0.0) * registered.scan.primary_from_secondary;
    let command = Command::SetScanPlacement { index: 0, primary_from_secondary: moved, placement: Placement::Manual };
    app.world_mut().write_message(Edit::drag(command, "adjust placement"));
    let placed_at = |m: nalgebra::Isometry3<f64>| {
        move |w: &mut World| w.resource::<Study>().fused.as_ref().is_some_and(|f| f.scan.primary_from_secondary == m)
    };
    run_until(&mut app, "the MR placed anew", placed_at(moved));
    let shifted = app.world().resource::<Study>().fused.as_ref().unwrap().clone();
    assert!(shifted.metric.unwrap() < at_registration - 0.01, "{:?} vs {at_registration}", shifted.metric);
    assert!(!std::sync::Arc::ptr_eq(&shifted.volume, &registered.volume), "resampled anew");

    app.world_mut().write_message(Edit::Undo);
    run_until(&mut app, "the MR placed back", placed_at(registered.scan.primary_from_secondary));
    let back = app.world().resource::<Study>().fused.as_ref().unwrap().clone();
    assert_eq!(back.metric, registered.metric);
    assert_eq!(back.scan, registered.scan);
}

/// File > Add scan: another patient's scan is refused until the user confirms it is this
/// patient's (the dialog then offers to add it); the phantom's own MR, added again, is
/// registered in the background and arrives as one undoable addition within half a millimetre
/// of the plan's registered placement.
#[test]
fn a_scan_is_added_registered_and_another_patients_only_when_confirmed() {
    let mut app = app();
    open_phantom(&mut app);
    let primary = app.world().resource::<Study>().volume.clone().unwrap();
    let plan = app.world().resource::<Doc>().doc.clone();
    let other = common::data("mr-sagittal");
    app.world_mut().resource_mut::<Jobs>().add_scan(&plan, primary.clone(), other.clone(), false);
    let refused = |w: &mut World| w.resource::<Notices>().error.is_some();
    run_until_error(&mut app, refused);
    let error = app.world().resource::<Notices>().error.clone().unwrap();
    assert!(error.contains("different patients"), "{error}");
    assert_eq!(app.world().resource::<Jobs>().confirm_patient.as_ref(), Some(&other));
    assert_eq!(app.world().resource::<Doc>().doc.secondary_scans.len(), 1, "nothing added");
    app.world_mut().resource_mut::<Notices>().error = None;

    let mr = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/mr");
    app.world_mut().resource_mut::<Jobs>().add_scan(&plan, primary, mr, false);
    run_until(&mut app, "the added MR", |w| w.resource::<Doc>().doc.secondary_scans.len() == 2);
    let doc = &app.world().resource::<Doc>().doc;
    let (bundled, added) = (&doc.secondary_scans[0], &doc.secondary_scans[1]);
    assert_ne!(added.name, bundled.name);
    let c = twinplan::core::phantom::CENTRE_MM;
    for d in [[0.0, 0.0, 0.0], [60.0, 0.0, 0.0], [0.0, 75.0, 0.0], [0.0, 0.0, 65.0]] {
        let p = c + nalgebra::Vector3::from(d);
        let apart = (added.primary_from_secondary * p - bundled.primary_from_secondary * p).norm();
        assert!(apart < 0.5, "{apart:.3} mm from the plan's placement at {d:?}");
    }
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert_eq!(app.world().resource::<Doc>().doc.secondary_scans.len(), 1);
}

/// Runs until `done`, with errors expected (unlike [`run_until`]).
fn run_until_error(app: &mut App, done: impl Fn(&mut World) -> bool) {
    let start = Instant::now();
    while !done(app.world_mut()) {
        assert!(start.elapsed() < Duration::from_secs(300), "timed out");
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The landmark tool: four features clicked in the plan's scan and then where the shown fused MR
/// has them (here, where the truth motion puts them under the placement shown) place the MR by
/// least squares on the truth motion exactly, with an FRE of nothing; a click with no fused scan
/// shown says what to do.
#[test]
fn landmarks_clicked_on_both_scans_place_the_fused_scan() {
    use twinplan::app::tools::{ClickAt, Tool, Tools};
    use twinplan::core::document::Placement;
    let mut app = app();
    open_phantom(&mut app);
    without_segments_read_from_the_mr(&mut app);
    app.world_mut().resource_mut::<Tools>().tool = Tool::Landmarks;
    let c = twinplan::core::phantom::CENTRE_MM;
    app.world_mut().write_message(ClickAt { mm: c, dragging: false });
    app.update();
    assert!(app.world().resource::<Notices>().error.as_deref().unwrap_or_default().contains("show a fused scan"));
    app.world_mut().resource_mut::<Notices>().error = None;

    let primary = app.world().resource::<Study>().volume.clone().unwrap();
    app.world_mut().resource_scope(|w, mut jobs: Mut<Jobs>| jobs.show_fused(w.resource::<Doc>(), 0, primary));
    run_until(&mut app, "the fused MR", |w| w.resource::<Study>().fused.is_some());
    let shown = app.world().resource::<Study>().fused.as_ref().unwrap().scan.primary_from_secondary;
    let truth: twinplan::core::phantom::Truth = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/truth.json"))
            .unwrap(),
    )
    .unwrap();
    let rows = truth.mr.ct_from_mr;
    let m = nalgebra::Matrix4::from_fn(|r, c| rows[r][c]);
    let mr_from_ct = |p: Point3<f64>| Point3::from_homogeneous(m.try_inverse().unwrap() * p.to_homogeneous()).unwrap();
    for d in [[30.0, -20.0, 20.0], [-40.0, 30.0, 0.0], [0.0, -60.0, -30.0], [10.0, 40.0, 50.0]] {
        let p = c + nalgebra::Vector3::from(d);
        app.world_mut().write_message(ClickAt { mm: p, dragging: false });
        app.update();
        app.world_mut().write_message(ClickAt { mm: shown * mr_from_ct(p), dragging: false });
        app.update();
    }
    let mr = app.world().resource::<Doc>().doc.secondary_scans[0].clone();
    let command = app.world().resource::<Tools>().landmarks.fit(0, &mr).unwrap();
    app.world_mut().write_message(Edit::run(command));
    app.update();
    let placed = &app.world().resource::<Doc>().doc.secondary_scans[0];
    let Placement::Landmarks { fre_mm, errors_mm } = &placed.placement else { panic!("{:?}", placed.placement) };
    assert!(*fre_mm < 1e-6 && errors_mm.len() == 4, "{fre_mm} {errors_mm:?}");
    assert!((placed.primary_from_secondary.to_homogeneous() - m).abs().max() < 1e-6);
}

/// Removes the bundled plan's optic nerves, grown on its MR, so that the MR may move.
fn without_segments_read_from_the_mr(app: &mut App) {
    let doc = &app.world().resource::<Doc>().doc;
    let nerves = doc.segmentation.segments.iter().find(|s| s.name == "Optic nerves").unwrap().label;
    let remove = Command::remove_segment(doc, nerves).unwrap();
    app.world_mut().write_message(Edit::run(remove));
    app.update();
}

/// The Vessels tool: a click on an artery, into a new vessel segment, grows that side's tree in
/// the background as one undoable step whose recipe is the vessels step, and its centreline tree
/// comes with its surface. The Nerve tool: clicks collect points in order; the step the panel's
/// Make nerve sends traces them into a nerve segment.
#[test]
fn the_vessels_tool_grows_a_tree_from_a_click_and_the_nerve_tool_traces_clicked_points() {
    use twinplan::app::tools::{ClickAt, Tool, Tools};
    use twinplan::core::phantom::{Shape, Truth};
    let mut app = app();
    open_phantom(&mut app);
    let truth: Truth = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom/truth.json"))
            .unwrap(),
    )
    .unwrap();
    let tubes = |name: &str| match &truth.structure(name).unwrap().geometry {
        Shape::Tubes { segments } => segments.clone(),
        other => panic!("{other:?}"),
    };
    let add_segment = |app: &mut App, name: &str, category: Category| {
        let add = Command::add_segment(&app.world().resource::<Doc>().doc, name, category);
        let Command::AddSegment { segment, .. } = &add else { unreachable!() };
        let label = segment.label;
        app.world_mut().write_message(Edit::run(add));
        app.update();
        label
    };

    let label = add_segment(&mut app, "Left arteries", Category::Vessel);
    {
        let mut tools = app.world_mut().resource_mut::<Tools>();
        tools.tool = Tool::Vessels;
        tools.active = Some(label);
    }
    // Choosing the tool computes the scan's vesselness in the background, for the slices'
    // preview and for the clicks to grow from.
    run_until(&mut app, "the vesselness", |w| w.resource::<Jobs>().vessels.is_some());
    let at_hand = app.world().resource::<Jobs>().vessels.clone().unwrap();
    assert!(at_hand.prepared.fits(&app.world().resource::<Tools>().vessels) && at_hand.scan.is_none());
    let root = &tubes("Arteries")[0];
    app.world_mut().write_message(ClickAt { mm: root.from + (root.to - root.from) * 0.5, dragging: false });
    app.update();
    run_until(&mut app, "the vessel tree and its surface", settled);
    let doc = &app.world().resource::<Doc>().doc;
    assert!(matches!(doc.segmentation.segment(label).unwrap().steps.as_slice(), [Step::Vessels { .. }]));
    // What the slices preview: the tree's core passes the threshold, every voxel of it.
    let Some(Step::Vessels { settings, .. }) = doc.segmentation.segment(label).unwrap().steps.first() else {
        unreachable!()
    };
    let tree = doc.segmentation.mask(label);
    let passing = (0..tree.voxels.len()).filter(|&n| at_hand.prepared.passes(n, settings)).count();
    let core = (0..tree.voxels.len()).filter(|&n| tree.voxels[n] != 0 && at_hand.prepared.passes(n, settings)).count();
    assert!(core > 300 && passing > core, "{core} of the tree's voxels pass, {passing} in all");
    // One side's tree: about half the truth's arteries (3,994 voxels for both sides).
    let voxels = doc.segmentation.labels.count(label);
    assert!((1500..3500).contains(&voxels), "{voxels} voxels");
    let lines = app.world().resource::<SegmentMeshes>().centrelines.get(&label).cloned().unwrap();
    assert!(lines.branches.len() >= 3 && lines.branch_points().len() >= 2, "{} branches", lines.branches.len());
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert_eq!(app.world().resource::<Doc>().doc.segmentation.labels.count(label), 0);
    // Changing the contrast asks for new vesselness; another tool lets it go.
    app.world_mut().resource_mut::<Tools>().vessels.contrast = 200.0;
    app.update();
    assert!(app.world().resource::<Jobs>().vessels.is_none() && app.world().resource::<Jobs>().vesselness.is_some());
    app.world_mut().resource_mut::<Tools>().tool = Tool::Threshold;
    app.update();
    assert!(app.world().resource::<Jobs>().vessels.is_none() && app.world().resource::<Jobs>().vesselness.is_none());
    app.world_mut().resource_mut::<Tools>().vessels.contrast = 250.0;

    let nerve = add_segment(&mut app, "Left optic nerve", Category::Nerve);
    app.world_mut().resource_mut::<Tools>().tool = Tool::Nerve;
    let optic = tubes("Optic nerves");
    for p in [optic[0].from, optic[0].to, optic[1].to] {
        app.world_mut().write_message(ClickAt { mm: p, dragging: false });
        app.update();
    }
    let points = app.world().resource::<Tools>().nerve_points.clone();
    assert_eq!(points, vec![optic[0].from, optic[0].to, optic[1].to]);
    let plan = app.world().resource::<Doc>().doc.clone();
    let step = Step::Trace { points_mm: points, radius_mm: 1.5, scan: None };
    app.world_mut()
        .resource_scope(|w, mut jobs: Mut<Jobs>| jobs.segment(&plan, w.resource::<Study>(), nerve, step).unwrap());
    run_until(&mut app, "the traced nerve", settled);
    // A 1.5 mm tube along about 60 mm of nerve: some 420 mm³.
    let volume = app.world().resource::<Doc>().doc.segmentation.volume_mm3(nerve);
    assert!((300.0..600.0).contains(&volume), "{volume} mm³");

    // Editing its points (as "Edit its points" loads them): without the last, a new trace replaces
    // the tube (its first stretch only) as one more step of the recipe; undo brings it back.
    let before = app.world().resource::<Doc>().doc.segmentation.mask(nerve);
    let plan = app.world().resource::<Doc>().doc.clone();
    let step = Step::Trace { points_mm: vec![optic[0].from, optic[0].to], radius_mm: 1.5, scan: None };
    app.world_mut()
        .resource_scope(|w, mut jobs: Mut<Jobs>| jobs.segment(&plan, w.resource::<Study>(), nerve, step).unwrap());
    run_until(&mut app, "the edited nerve", settled);
    let doc = &app.world().resource::<Doc>().doc;
    assert_eq!(doc.segmentation.segment(nerve).unwrap().steps.len(), 2);
    let shorter = doc.segmentation.volume_mm3(nerve);
    assert!(shorter < 0.7 * volume, "{shorter} mm³ against {volume} mm³");
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert!(app.world().resource::<Doc>().doc.segmentation.mask(nerve) == before);
}

/// Stereotaxy in the workstation: the frame found on the plan's scan in the background arrives
/// as one undoable edit (on the slices the user chose, recorded with it); the AC-PC tool's three
/// clicks record the landmarks as one more; the frame coordinates follow the fitted frame.
#[test]
fn the_frame_is_found_in_the_background_and_three_clicks_mark_acpc() {
    use twinplan::app::tools::{ClickAt, Tool, Tools};
    use twinplan::core::phantom::frame;
    let tmp = tempfile::tempdir().unwrap();
    let files = frame::write(tmp.path()).unwrap();
    let mut app = app();
    app.world_mut().resource_mut::<Jobs>().open(files.plan.clone(), None);
    run_until(&mut app, "the framed plan", settled);
    let volume = app.world().resource::<Study>().volume.clone().unwrap();
    let leksell = twinplan::core::stereotaxy::Localizer::preset("leksell-g-ct").unwrap();
    app.world_mut().resource_mut::<Jobs>().fit_frame(volume, leksell, Some((2, 60)));
    run_until(&mut app, "the frame", |w| w.resource::<Doc>().doc.frame.is_some());
    let doc = &app.world().resource::<Doc>().doc;
    let fitted = doc.frame.clone().unwrap();
    assert_eq!(fitted.slices, Some((2, 60)));
    let t = &doc.trajectories[0];
    let off = (fitted.frame_from_patient * t.target_mm - frame::example_placement() * t.target_mm).norm();
    assert!(off < 0.3 && fitted.residual_max_mm < 0.2, "{off} mm");

    app.world_mut().resource_mut::<Tools>().tool = Tool::AcPc;
    let marks = frame::acpc_landmarks();
    for p in [marks.ac_mm, marks.pc_mm, marks.midline_mm] {
        app.world_mut().write_message(ClickAt { mm: p, dragging: false });
        app.update();
    }
    assert_eq!(app.world().resource::<Doc>().doc.acpc.as_ref(), Some(&marks));
    assert_eq!(app.world().resource::<Tools>().tool, Tool::Navigate);
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert!(app.world().resource::<Doc>().doc.acpc.is_none());
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert!(app.world().resource::<Doc>().doc.frame.is_none());
}

/// The Label tool: a click pins the typed text there (one undoable step); while a label is
/// being moved, a press and its drag move it as one more step; without text, a click says so.
#[test]
fn the_label_tool_pins_moves_and_refuses_an_empty_label() {
    use twinplan::app::tools::{ClickAt, Tool, Tools};
    let mut app = app();
    open_phantom(&mut app);
    {
        let mut tools = app.world_mut().resource_mut::<Tools>();
        tools.tool = Tool::Label;
        tools.label_text = " Tumour ".into();
    }
    let at = nalgebra::Point3::new(20.0, -30.0, 45.0);
    app.world_mut().write_message(ClickAt { mm: at, dragging: false });
    app.update();
    let labels = app.world().resource::<Doc>().doc.annotations.clone();
    assert_eq!((labels.len(), labels[0].text.as_str(), labels[0].point_mm), (1, "Tumour", at));
    app.world_mut().resource_mut::<Tools>().moving_label = Some(0);
    let to = [nalgebra::Point3::new(22.0, -30.0, 45.0), nalgebra::Point3::new(25.0, -28.0, 44.0)];
    app.world_mut().write_message(ClickAt { mm: to[0], dragging: false });
    app.update();
    app.world_mut().write_message(ClickAt { mm: to[1], dragging: true });
    app.update();
    app.world_mut().write_message(Edit::Seal);
    app.update();
    assert_eq!(app.world().resource::<Doc>().doc.annotations[0].point_mm, to[1]);
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert_eq!(app.world().resource::<Doc>().doc.annotations[0].point_mm, at, "the move is one step");
    app.world_mut().write_message(Edit::Undo);
    app.update();
    assert!(app.world().resource::<Doc>().doc.annotations.is_empty());
    {
        let mut tools = app.world_mut().resource_mut::<Tools>();
        tools.moving_label = None;
        tools.label_text.clear();
    }
    app.world_mut().write_message(ClickAt { mm: at, dragging: false });
    app.update();
    let error = app.world().resource::<Notices>().error.clone().unwrap_or_default();
    assert!(error.contains("a label needs some text"), "{error}");
    assert!(app.world().resource::<Doc>().doc.annotations.is_empty());
}

/// The study browser: receiving on a port, the 140 images of ct-head-phantom that twinplan's own
/// `send` delivers are listed in one series of the local store, and opening that series (what a
/// double click does) loads it whole; stopping frees the port.
#[test]
fn the_study_browser_receives_a_series_and_opens_it() {
    use twinplan::core::pacs::{Node, scu};
    let tmp = tempfile::tempdir().unwrap();
    let mut app = app();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    {
        let mut studies = app.world_mut().resource_mut::<twinplan::app::Studies>();
        studies.store_dir = Some(tmp.path().join("store"));
        studies.port = port;
        studies.start_receiving();
        assert!(studies.receiving.is_some(), "{:?}", studies.message);
    }
    let images: Vec<_> = std::fs::read_dir(common::data("ct-head-phantom"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('I')))
        .collect();
    let node = Node { ae_title: "TWINPLAN".into(), host: "127.0.0.1".into(), port };
    let sent = std::thread::spawn(move || scu::send(&images, &node, "SCANNER", &Default::default()));
    run_until(&mut app, "the 140 images in the store", |w| w.resource::<twinplan::app::Studies>().entries.len() == 140);
    assert_eq!(sent.join().unwrap().unwrap(), 140);
    let studies = app.world().resource::<twinplan::app::Studies>();
    let entry = studies.entries.values().next().unwrap().clone();
    let folder = tmp.path().join("store").join(&entry.path).parent().unwrap().to_owned();
    assert!(studies.entries.values().all(|e| e.series_uid == entry.series_uid && e.modality == "CT"));
    app.world_mut().resource_mut::<Jobs>().open(folder, Some(entry.series_uid.clone()));
    run_until(&mut app, "the received series open", |w| w.resource::<Study>().volume.is_some());
    let volume = app.world().resource::<Study>().volume.clone().unwrap();
    assert_eq!(volume.grid.dims, [512, 512, 140]);
    assert_eq!(volume.meta.series_uid, entry.series_uid);
    app.world_mut().resource_mut::<twinplan::app::Studies>().receiving = None;
    std::thread::sleep(Duration::from_millis(200));
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "the port is free again");
}
