//! The active tool and what is under the pointer. Clicks in the views become tool actions here;
//! every change to the plan leaves as an [`Edit`].

use bevy::prelude::*;
use nalgebra::Point3;

use super::document::{Doc, Edit};
use super::frames::patient_from_world;
use super::meshes::{SegmentMeshes, unclipped};
use super::notices::Notices;
use super::scene::MainCamera;
use super::sets::Stage;
use super::study::Study;
use super::tasks::Jobs;
use crate::core::document::{Annotation, Command, SecondaryScan, StepChange};
use crate::core::planning::SearchSettings;
use crate::core::progress::Progress;
use crate::core::segmentation::{Connectivity, Preset, Step};
use crate::core::stereotaxy::acpc::AcPc;
use crate::core::vessels::TreeSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tool {
    /// Clicks move the crosshair.
    #[default]
    Navigate,
    Threshold,
    /// Click a seed: voxels in the range connected to it.
    Grow,
    /// Click an island of the active segment to keep it (and drop the others).
    KeepIsland,
    Brush,
    /// Click a vessel: the vessel tree through it, grown on vesselness.
    Vessels,
    /// Click points along a nerve; the nerve is traced through them as a tube.
    Nerve,
    /// Click two points (on surfaces or in slices) to measure their distance.
    Measure,
    /// Click the same features in the plan's scan and in the shown fused scan, to place the
    /// fused scan by them.
    Landmarks,
    /// Click to pin a text label to a point (or to move the label being moved).
    Label,
    /// Clicks (and drags) move the chosen trajectory's entry or target.
    PlaceEntry,
    PlaceTarget,
    /// Three clicks mark the anterior and posterior commissures and a midline point.
    AcPc,
}

impl Tool {
    pub const ALL: [Tool; 10] = [
        Tool::Navigate,
        Tool::Threshold,
        Tool::Grow,
        Tool::KeepIsland,
        Tool::Brush,
        Tool::Vessels,
        Tool::Nerve,
        Tool::Measure,
        Tool::Landmarks,
        Tool::Label,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Navigate => "Navigate",
            Tool::Threshold => "Threshold",
            Tool::Grow => "Region grow",
            Tool::KeepIsland => "Keep island",
            Tool::Brush => "Brush",
            Tool::Vessels => "Vessels",
            Tool::Nerve => "Nerve",
            Tool::Measure => "Measure",
            Tool::Landmarks => "Landmarks",
            Tool::Label => "Label",
            Tool::PlaceEntry => "Place entry",
            Tool::PlaceTarget => "Place target",
            Tool::AcPc => "Mark AC-PC",
        }
    }
}

#[derive(Resource, Debug, Clone, PartialEq)]
pub struct Tools {
    pub tool: Tool,
    /// The segment edits go to.
    pub active: Option<u16>,
    /// Threshold and region-growing range (scan units: HU on CT).
    pub range: (f64, f64),
    pub brush_radius_mm: f64,
    pub erase: bool,
    /// Measurement points (LPS mm): the last two are measured.
    pub measure: Vec<Point3<f64>>,
    pub show_diagnostics: bool,
    /// The study browser window (File > Studies).
    pub show_studies: bool,
    /// The Settings, About or Keyboard shortcuts window, when open.
    pub dialog: Option<Dialog>,
    /// Each shown segment's name in the 3D view.
    pub show_names: bool,
    /// The trajectory the plan panel and the placing tools work on (index into the plan's).
    pub trajectory: Option<usize>,
    /// Entry search: its constraints, and whether its heat map is on the skin.
    pub search: SearchSettings,
    pub risk_map: bool,
    /// Rehearsing the chosen trajectory: the instrument's tip this far from the entry (mm).
    pub rehearsal: Option<f64>,
    pub landmarks: Landmarks,
    /// How the Vessels tool grows a tree from a click.
    pub vessels: TreeSettings,
    /// The Nerve tool's points so far (LPS mm), in order, and the nerve's radius.
    pub nerve_points: Vec<Point3<f64>>,
    pub nerve_radius_mm: f64,
    /// The AC-PC tool's clicks so far: AC, then PC, then the midline point.
    pub acpc_points: Vec<Point3<f64>>,
    /// The slices (first, last) the frame fit is restricted to, when the user leaves some out.
    pub frame_slices: Option<(usize, usize)>,
    /// The Label tool's text for the next label, and the label its clicks move instead.
    pub label_text: String,
    pub moving_label: Option<usize>,
}

/// The windows of the Edit and Help menus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    Settings,
    About,
    Shortcuts,
}

/// Landmark pairs being picked for one fused scan: each pair a point in the plan's scan (LPS mm)
/// and the same feature in the fused scan's own patient space.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Landmarks {
    /// The series they are for (its points are in its patient space, whichever plan entry shows
    /// it); picking on another series starts afresh.
    pub scan: Option<String>,
    pub pairs: Vec<[Option<Point3<f64>>; 2]>,
    /// Which side the next click picks: false the plan's scan, true the fused scan.
    pub in_fused: bool,
}

impl Landmarks {
    /// Puts `p` on `side` (0 the plan's scan, 1 the fused scan) of the first pair lacking it.
    pub fn pick(&mut self, side: usize, p: Point3<f64>) {
        match self.pairs.iter_mut().find(|pair| pair[side].is_none()) {
            Some(pair) => pair[side] = Some(p),
            None => {
                let mut pair = [None, None];
                pair[side] = Some(p);
                self.pairs.push(pair);
            }
        }
    }

    /// The complete pairs: (points in the plan's scan, the same in the fused scan).
    pub fn complete(&self) -> (Vec<Point3<f64>>, Vec<Point3<f64>>) {
        self.pairs.iter().filter_map(|[a, b]| Some(((*a)?, (*b)?))).unzip()
    }

    /// Whether they were picked on `scan`'s series.
    pub fn are_for(&self, scan: &SecondaryScan) -> bool {
        self.scan.as_deref() == Some(series_key(scan))
    }

    /// The plan's fused scan `index`, `scan`, placed by the complete pairs: the command, or why
    /// not.
    pub fn fit(&self, index: usize, scan: &SecondaryScan) -> Result<Command, String> {
        use crate::core::document::Placement;
        use crate::core::registration::fit_landmarks;
        if !self.are_for(scan) {
            return Err(format!("No landmarks are picked for {}.", scan.name));
        }
        let (plan, fused) = self.complete();
        let fit = fit_landmarks(&plan, &fused).map_err(|e| e.to_string())?;
        Ok(Command::SetScanPlacement {
            index,
            primary_from_secondary: fit.fixed_from_moving,
            placement: Placement::Landmarks { errors_mm: fit.errors_mm, fre_mm: fit.fre_mm },
        })
    }
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            tool: Tool::Navigate,
            active: None,
            range: Preset::Bone.range_hu(),
            brush_radius_mm: 3.0,
            erase: false,
            measure: Vec::new(),
            show_diagnostics: false,
            show_studies: false,
            dialog: None,
            show_names: false,
            trajectory: None,
            search: SearchSettings::default(),
            risk_map: true,
            rehearsal: None,
            landmarks: Landmarks::default(),
            vessels: TreeSettings::contrast_ct(),
            nerve_points: Vec::new(),
            acpc_points: Vec::new(),
            frame_slices: None,
            label_text: String::new(),
            moving_label: None,
            nerve_radius_mm: 1.5,
        }
    }
}

impl Tools {
    /// The measured distance (mm), once two points are picked.
    pub fn distance_mm(&self) -> Option<f64> {
        match self.measure.as_slice() {
            [.., a, b] => Some((a - b).norm()),
            _ => None,
        }
    }
}

/// The series a fused scan shows (its name where a volume file gave it no UID).
fn series_key(scan: &SecondaryScan) -> &str {
    if scan.scan.series_uid.is_empty() { &scan.name } else { &scan.scan.series_uid }
}

/// What the pointer is over in the 3D view.
#[derive(Resource, Default, Debug, Clone)]
pub struct Hover {
    /// Pointer position (logical window pixels, as Bevy's viewport conversions take them) while
    /// it is over the 3D view.
    pub viewport_px: Option<Vec2>,
    pub hit: Option<(u16, Point3<f64>)>,
}

/// Casts the pointer's ray against the segment surfaces (parry3d, in patient space).
fn pick(
    mut hover: ResMut<Hover>,
    doc: Res<Doc>,
    meshes: Res<SegmentMeshes>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
) {
    hover.hit = None;
    let Some(px) = hover.viewport_px else { return };
    let Ok((cam, gt)) = camera.single() else { return };
    let Ok(ray) = cam.viewport_to_world(gt, px) else { return };
    let origin = patient_from_world(ray.origin);
    let dir = patient_from_world(*ray.direction) - patient_from_world(Vec3::ZERO);
    let shown: Vec<(u16, &parry3d::shape::TriMesh)> = meshes
        .shapes
        .iter()
        .filter(|(l, _)| doc.doc.view.show_meshes && doc.doc.display_of(**l).visible)
        .map(|(l, m)| (*l, m.surface.as_ref()))
        .collect();
    // A surface cut away by the clipping plane is not under the pointer: step past it.
    let mut start = origin;
    for _ in 0..8 {
        let Some((label, t)) = crate::core::mesh::first_hit(&shown, &start, &dir) else { return };
        let p = start + dir * t;
        if unclipped(&doc.doc, &p) {
            hover.hit = Some((label, p));
            return;
        }
        start = p + dir * 0.01;
    }
}

/// A click at a point (LPS mm) in any view, with the active tool.
#[derive(Message, Debug, Clone, Copy)]
pub struct ClickAt {
    pub mm: Point3<f64>,
    /// True while a drag continues (the brush paints along it).
    pub dragging: bool,
}

pub(super) fn on_click(
    mut clicks: MessageReader<ClickAt>,
    mut tools: ResMut<Tools>,
    doc: Res<Doc>,
    study: Res<Study>,
    mut jobs: ResMut<Jobs>,
    mut notices: ResMut<Notices>,
    mut edits: MessageWriter<Edit>,
) {
    for click in clicks.read() {
        let Some(volume) = study.volume.clone() else { continue };
        let label = tools.active.filter(|l| doc.doc.segmentation.segment(*l).is_some());
        let (lo, hi) = tools.range;
        let c = Connectivity::Six;
        match (tools.tool, label) {
            (Tool::Navigate, _) | (Tool::Threshold, _) => {
                edits.write(Edit::run(Command::SetCrosshair { mm: click.mm }));
            }
            (Tool::Measure, _) => {
                if !click.dragging {
                    tools.measure.push(click.mm);
                }
            }
            (Tool::Landmarks, _) if !click.dragging => {
                let Some(f) = &study.fused else {
                    notices.error = Some("Landmarks: show a fused scan first (Study panel, \"Slices show\").".into());
                    continue;
                };
                let marks = &mut tools.landmarks;
                if !marks.are_for(&f.scan) {
                    *marks = Landmarks { scan: Some(series_key(&f.scan).to_owned()), ..Landmarks::default() };
                }
                // A click on the fused scan is where its feature lies in its own space, under the
                // placement shown now.
                let (side, p) = if marks.in_fused {
                    (1, f.scan.primary_from_secondary.inverse() * click.mm)
                } else {
                    (0, click.mm)
                };
                marks.pick(side, p);
                marks.in_fused = !marks.in_fused;
            }
            (Tool::PlaceEntry | Tool::PlaceTarget, _) => {
                let entry = tools.tool == Tool::PlaceEntry;
                let Some((index, t)) = tools.trajectory.and_then(|i| Some((i, doc.doc.trajectories.get(i)?))) else {
                    if !click.dragging {
                        notices.error = Some("Choose or add a trajectory in the Plan panel first.".into());
                    }
                    continue;
                };
                let mut moved = t.clone();
                *(if entry { &mut moved.entry_mm } else { &mut moved.target_mm }) = click.mm;
                // A press starts a new undo step and its drag joins it; clearances follow in the
                // same frame.
                if !click.dragging {
                    edits.write(Edit::Seal);
                }
                let key = if entry { "place entry" } else { "place target" };
                edits.write(Edit::drag(Command::SetTrajectory { index, trajectory: moved }, key));
            }
            (Tool::Grow | Tool::KeepIsland | Tool::Vessels, Some(label)) if !click.dragging => {
                let seeds_mm = vec![click.mm];
                let step = match tools.tool {
                    Tool::Grow => Step::Grow { seeds_mm, lo, hi, connectivity: c, scan: None },
                    Tool::KeepIsland => Step::KeepIslands { seeds_mm, connectivity: c },
                    _ => Step::Vessels { seeds_mm, settings: tools.vessels.clone(), scan: None },
                };
                if let Err(e) = jobs.segment(&doc.doc, &study, label, step) {
                    notices.error = Some(e);
                }
            }
            (Tool::Nerve, _) => {
                if !click.dragging {
                    tools.nerve_points.push(click.mm);
                }
            }
            (Tool::Label, _) => {
                // A press places a new label; while one is being moved, a press or a drag moves
                // it (a drag is one undo step).
                let moving = tools.moving_label.filter(|&i| i < doc.doc.annotations.len());
                let index = match moving {
                    Some(i) => i,
                    None if click.dragging => continue,
                    None => {
                        let annotation = Annotation { text: tools.label_text.trim().to_owned(), point_mm: click.mm };
                        match annotation.check() {
                            Ok(()) => {
                                let index = doc.doc.annotations.len();
                                edits.write(Edit::run(Command::AddAnnotation { index, annotation }));
                            }
                            Err(e) => notices.error = Some(format!("{e}: type it in the Tools panel first.")),
                        }
                        continue;
                    }
                };
                if let Some(a) = doc.doc.annotations.get(index) {
                    if !click.dragging {
                        edits.write(Edit::Seal);
                    }
                    let moved = Annotation { point_mm: click.mm, ..a.clone() };
                    edits.write(Edit::drag(Command::SetAnnotation { index, annotation: moved }, "move label"));
                }
            }
            (Tool::AcPc, _) if !click.dragging => {
                tools.acpc_points.push(click.mm);
                // The third click records the three as one undoable step.
                if let [ac, pc, midline] = tools.acpc_points[..] {
                    let acpc = AcPc { ac_mm: ac, pc_mm: pc, midline_mm: midline };
                    tools.acpc_points.clear();
                    match acpc.axes() {
                        Ok(_) => {
                            edits.write(Edit::run(Command::SetAcPc { acpc: Some(acpc) }));
                            tools.tool = Tool::Navigate;
                        }
                        Err(e) => {
                            notices.error = Some(format!("AC-PC not recorded: {e}; mark the three points again."))
                        }
                    }
                }
            }
            (Tool::Brush, Some(label)) => {
                let step = Step::Brush { centre_mm: click.mm, radius_mm: tools.brush_radius_mm, erase: tools.erase };
                // A dab is small and immediate; a stroke is one undo step.
                match doc.doc.segmentation.edit(label, &step, volume.as_ref(), &Progress::new()) {
                    Ok(diff) if !diff.is_empty() => {
                        edits.write(Edit::drag(
                            Command::EditLabels { label, step: StepChange::Push(step), diff },
                            "brush",
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => notices.error = Some(e.to_string()),
                }
            }
            _ => {
                if !click.dragging {
                    notices.error = Some(format!("{}: choose or add a segment to edit first.", tools.tool.name()));
                }
            }
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Tools>()
        .init_resource::<Hover>()
        .add_message::<ClickAt>()
        .add_systems(Update, (pick, on_click).in_set(Stage::Input));
}
