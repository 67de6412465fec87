//! Commands: the only way a plan changes. Each returns its own inverse, which is how undo works.

use nalgebra::{Isometry3, Point3};

use super::{ClipPlane, Placement, PlanDocument, PlanError, SavedView, SecondaryScan, SegmentDisplay, TransferPreset};
use crate::core::planning::Trajectory;
use crate::core::segmentation::{Category, LabelDiff, Segment, Step};

/// What an edit does to the segment's recipe: adds its step, takes the last one off (its
/// undo), or leaves the recipe alone (voxels restored with a segment).
#[derive(Debug, Clone, PartialEq)]
pub enum StepChange {
    Push(Step),
    Pop,
    Keep,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Adds a segment with the category's defaults (or restores one, on undo of a removal).
    AddSegment {
        segment: Segment,
        display: SegmentDisplay,
    },
    /// Removes a segment; its voxels (given as the diff that clears them) go back to no label.
    RemoveSegment {
        label: u16,
        clear: LabelDiff,
    },
    RenameSegment {
        label: u16,
        name: String,
    },
    SetCategory {
        label: u16,
        category: Category,
    },
    SetMargin {
        label: u16,
        margin_mm: f64,
    },
    SetCritical {
        label: u16,
        critical: bool,
    },
    SetDisplay {
        label: u16,
        display: SegmentDisplay,
    },
    /// A computed change of the label map (see `Segmentation::edit`) and its recipe step.
    EditLabels {
        label: u16,
        step: StepChange,
        diff: LabelDiff,
    },
    SetCrosshair {
        mm: Point3<f64>,
    },
    SetWindow {
        centre: f64,
        width: f64,
    },
    SetOverlayOpacity {
        opacity: f32,
    },
    SetClip {
        clip: Option<ClipPlane>,
        flip: bool,
    },
    SetVolumeRendering {
        preset: Option<TransferPreset>,
    },
    SetShowMeshes {
        show: bool,
    },
    /// Inserts a path at `index` (the end when past it).
    AddTrajectory {
        index: usize,
        trajectory: Trajectory,
    },
    RemoveTrajectory {
        index: usize,
    },
    /// Replaces a path (moving an end, changing the instrument, renaming).
    SetTrajectory {
        index: usize,
        trajectory: Trajectory,
    },
    /// Keeps a named 3D view (camera and crosshair) with the plan.
    AddSavedView {
        index: usize,
        view: SavedView,
    },
    RemoveSavedView {
        index: usize,
    },
    RenameSavedView {
        index: usize,
        name: String,
    },
    /// Fuses another scan of the patient into the plan.
    AddScan {
        index: usize,
        scan: SecondaryScan,
    },
    RemoveScan {
        index: usize,
    },
    /// Places a fused scan anew (registered, fitted to landmarks, moved by hand).
    SetScanPlacement {
        index: usize,
        primary_from_secondary: Isometry3<f64>,
        placement: Placement,
    },
    /// Pins a text label at `index` (the end when past it).
    AddAnnotation {
        index: usize,
        annotation: super::Annotation,
    },
    RemoveAnnotation {
        index: usize,
    },
    /// Changes a label's text or moves it.
    SetAnnotation {
        index: usize,
        annotation: super::Annotation,
    },
    /// Records (or forgets) the stereotactic frame fitted on the plan's scan.
    SetFrame {
        frame: Option<crate::core::stereotaxy::PlanFrame>,
    },
    /// Records (or forgets) the AC-PC landmarks.
    SetAcPc {
        acpc: Option<crate::core::stereotaxy::acpc::AcPc>,
    },
    /// Several commands as one undo step.
    Batch(Vec<Command>),
}

impl Command {
    /// A new segment with the defaults of its category, labelled after the existing ones.
    pub fn add_segment(doc: &PlanDocument, name: &str, category: Category) -> Command {
        Command::add_segment_with_margin(doc, name, category, category.default_margin_mm())
    }

    /// [`Command::add_segment`] with the safety margin the user prefers for its category.
    pub fn add_segment_with_margin(doc: &PlanDocument, name: &str, category: Category, margin_mm: f64) -> Command {
        let label = doc.segmentation.segments.iter().map(|s| s.label).max().unwrap_or(0) + 1;
        let segment = Segment {
            label,
            name: name.to_owned(),
            category,
            margin_mm,
            critical: category.is_critical(),
            overwrite: Default::default(),
            steps: Vec::new(),
        };
        Command::AddSegment { segment, display: SegmentDisplay::for_category(category) }
    }

    /// Removing a segment: clears its voxels.
    pub fn remove_segment(doc: &PlanDocument, label: u16) -> Result<Command, PlanError> {
        let seg = &doc.segmentation;
        seg.segment(label).ok_or(PlanError::NoSuchSegment(label))?;
        let empty = crate::core::segmentation::Mask::empty(&seg.labels.grid);
        Ok(Command::RemoveSegment { label, clear: seg.diff_for(label, &empty)? })
    }

    /// View settings are not undo steps: they change what is seen, not the plan.
    pub fn is_view_only(&self) -> bool {
        matches!(
            self,
            Command::SetCrosshair { .. }
                | Command::SetWindow { .. }
                | Command::SetOverlayOpacity { .. }
                | Command::SetClip { .. }
                | Command::SetVolumeRendering { .. }
                | Command::SetShowMeshes { .. }
        )
    }
}

/// What a command changed, so that views rebuild only what depends on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The segment table (names, categories, margins, membership).
    pub segments: bool,
    /// Labels whose voxels changed.
    pub labels: Vec<u16>,
    /// Labels whose display (colour, opacity, visibility) changed.
    pub display: Vec<u16>,
    pub view: bool,
    /// The planned paths.
    pub trajectories: bool,
    /// The fused scans or their placement.
    pub scans: bool,
    pub annotations: bool,
}

impl Changes {
    fn merge(&mut self, o: Changes) {
        self.segments |= o.segments;
        self.labels.extend(o.labels);
        self.display.extend(o.display);
        self.view |= o.view;
        self.trajectories |= o.trajectories;
        self.scans |= o.scans;
        self.annotations |= o.annotations;
    }
}

fn segment_mut(doc: &mut PlanDocument, label: u16) -> Result<&mut Segment, PlanError> {
    doc.segmentation.segment_mut(label).ok_or(PlanError::NoSuchSegment(label))
}

pub(super) fn apply(doc: &mut PlanDocument, command: Command) -> Result<(Changes, Command), PlanError> {
    let mut ch = Changes::default();
    let inverse = match command {
        Command::AddSegment { segment, display } => {
            let label = segment.label;
            if label == 0 || doc.segmentation.segment(label).is_some() {
                return Err(PlanError::Invalid(format!("label {label} is taken")));
            }
            if doc.segmentation.labels.count(label) > 0 {
                return Err(PlanError::Invalid(format!("label {label} still has voxels")));
            }
            doc.segmentation.segments.push(segment);
            doc.display.insert(label, display);
            ch.segments = true;
            ch.display.push(label);
            Command::RemoveSegment { label, clear: Default::default() }
        }
        Command::RemoveSegment { label, clear } => {
            let index = doc
                .segmentation
                .segments
                .iter()
                .position(|s| s.label == label)
                .ok_or(PlanError::NoSuchSegment(label))?;
            clear.apply(&mut doc.segmentation.labels)?;
            let segment = doc.segmentation.segments.remove(index);
            let display = doc.display.remove(&label).unwrap_or_else(|| SegmentDisplay::for_category(segment.category));
            ch.segments = true;
            ch.labels.push(label);
            ch.display.push(label);
            // Undo: put the segment back, then its voxels.
            Command::Batch(vec![
                Command::AddSegment { segment, display },
                Command::EditLabels { label, step: StepChange::Pop, diff: clear.reversed() }.without_recipe(),
            ])
        }
        Command::RenameSegment { label, name } => {
            let s = segment_mut(doc, label)?;
            let old = std::mem::replace(&mut s.name, name);
            ch.segments = true;
            Command::RenameSegment { label, name: old }
        }
        Command::SetCategory { label, category } => {
            let s = segment_mut(doc, label)?;
            let old = std::mem::replace(&mut s.category, category);
            ch.segments = true;
            Command::SetCategory { label, category: old }
        }
        Command::SetMargin { label, margin_mm } => {
            if !(margin_mm.is_finite() && margin_mm >= 0.0) {
                return Err(PlanError::Invalid(format!("a safety margin of {margin_mm} mm: expected 0 or more")));
            }
            let s = segment_mut(doc, label)?;
            let old = std::mem::replace(&mut s.margin_mm, margin_mm);
            ch.segments = true;
            Command::SetMargin { label, margin_mm: old }
        }
        Command::SetCritical { label, critical } => {
            let s = segment_mut(doc, label)?;
            let old = std::mem::replace(&mut s.critical, critical);
            ch.segments = true;
            Command::SetCritical { label, critical: old }
        }
        Command::SetDisplay { label, display } => {
            doc.segmentation.segment(label).ok_or(PlanError::NoSuchSegment(label))?;
            let old = doc.display_of(label);
            doc.display.insert(label, SegmentDisplay { opacity: display.opacity.clamp(0.0, 1.0), ..display });
            ch.display.push(label);
            Command::SetDisplay { label, display: old }
        }
        Command::EditLabels { label, step, diff } => {
            doc.segmentation.segment(label).ok_or(PlanError::NoSuchSegment(label))?;
            diff.apply(&mut doc.segmentation.labels)?;
            let s = segment_mut(doc, label)?;
            let undo_step = match step {
                StepChange::Push(st) => {
                    s.steps.push(st);
                    StepChange::Pop
                }
                StepChange::Pop => s.steps.pop().map_or(StepChange::Keep, StepChange::Push),
                StepChange::Keep => StepChange::Keep,
            };
            ch.labels.push(label);
            Command::EditLabels { label, step: undo_step, diff: diff.reversed() }
        }
        Command::SetCrosshair { mm } => {
            if mm.iter().any(|x| !x.is_finite()) {
                return Err(PlanError::Invalid("crosshair position is not a number".into()));
            }
            ch.view = true;
            Command::SetCrosshair { mm: std::mem::replace(&mut doc.view.crosshair_mm, mm) }
        }
        Command::SetWindow { centre, width } => {
            if !(centre.is_finite() && width.is_finite() && width > 0.0) {
                return Err(PlanError::Invalid(format!("window {centre}/{width}: the width must be above 0")));
            }
            ch.view = true;
            let old = Command::SetWindow { centre: doc.view.window_centre, width: doc.view.window_width };
            doc.view.window_centre = centre;
            doc.view.window_width = width;
            old
        }
        Command::SetOverlayOpacity { opacity } => {
            ch.view = true;
            Command::SetOverlayOpacity {
                opacity: std::mem::replace(&mut doc.view.overlay_opacity, opacity.clamp(0.0, 1.0)),
            }
        }
        Command::SetClip { clip, flip } => {
            ch.view = true;
            let old = Command::SetClip { clip: doc.view.clip, flip: doc.view.clip_flip };
            doc.view.clip = clip;
            doc.view.clip_flip = flip;
            old
        }
        Command::SetVolumeRendering { preset } => {
            ch.view = true;
            Command::SetVolumeRendering { preset: std::mem::replace(&mut doc.view.volume_rendering, preset) }
        }
        Command::SetShowMeshes { show } => {
            ch.view = true;
            Command::SetShowMeshes { show: std::mem::replace(&mut doc.view.show_meshes, show) }
        }
        Command::AddTrajectory { index, trajectory } => {
            ch.trajectories = true;
            Command::RemoveTrajectory { index: insert(&mut doc.trajectories, index, trajectory) }
        }
        Command::RemoveTrajectory { index } => {
            let trajectory = remove(&mut doc.trajectories, index, "trajectory")?;
            ch.trajectories = true;
            Command::AddTrajectory { index, trajectory }
        }
        Command::SetTrajectory { index, trajectory } => {
            let slot = item(&mut doc.trajectories, index, "trajectory")?;
            ch.trajectories = true;
            Command::SetTrajectory { index, trajectory: std::mem::replace(slot, trajectory) }
        }
        Command::AddSavedView { index, view } => {
            ch.view = true;
            Command::RemoveSavedView { index: insert(&mut doc.saved_views, index, view) }
        }
        Command::RemoveSavedView { index } => {
            let view = remove(&mut doc.saved_views, index, "saved view")?;
            ch.view = true;
            Command::AddSavedView { index, view }
        }
        Command::RenameSavedView { index, name } => {
            let view = item(&mut doc.saved_views, index, "saved view")?;
            ch.view = true;
            Command::RenameSavedView { index, name: std::mem::replace(&mut view.name, name) }
        }
        Command::AddScan { index, scan } => {
            // Segments name the scan whose values they read: names must say which.
            if doc.secondary_scans.iter().any(|s| s.name == scan.name) {
                return Err(PlanError::Invalid(format!("the plan already has a fused scan named '{}'", scan.name)));
            }
            ch.scans = true;
            Command::RemoveScan { index: insert(&mut doc.secondary_scans, index, scan) }
        }
        Command::RemoveScan { index } => {
            refuse_if_read(doc, index, "cannot go")?;
            let scan = remove(&mut doc.secondary_scans, index, "fused scan")?;
            ch.scans = true;
            Command::AddScan { index, scan }
        }
        Command::SetScanPlacement { index, primary_from_secondary, placement } => {
            // Its segments would stay where the old placement put them while their recipe
            // would rebuild them elsewhere.
            if doc.secondary_scans.get(index).is_some_and(|s| s.primary_from_secondary != primary_from_secondary) {
                refuse_if_read(doc, index, "cannot move")?;
            }
            let scan = item(&mut doc.secondary_scans, index, "fused scan")?;
            ch.scans = true;
            Command::SetScanPlacement {
                index,
                primary_from_secondary: std::mem::replace(&mut scan.primary_from_secondary, primary_from_secondary),
                placement: std::mem::replace(&mut scan.placement, placement),
            }
        }
        Command::AddAnnotation { index, annotation } => {
            annotation.check().map_err(PlanError::Invalid)?;
            ch.annotations = true;
            Command::RemoveAnnotation { index: insert(&mut doc.annotations, index, annotation) }
        }
        Command::RemoveAnnotation { index } => {
            let annotation = remove(&mut doc.annotations, index, "label")?;
            ch.annotations = true;
            Command::AddAnnotation { index, annotation }
        }
        Command::SetAnnotation { index, annotation } => {
            annotation.check().map_err(PlanError::Invalid)?;
            let slot = item(&mut doc.annotations, index, "label")?;
            ch.annotations = true;
            Command::SetAnnotation { index, annotation: std::mem::replace(slot, annotation) }
        }
        Command::SetFrame { frame } => {
            // The trajectories' frame coordinates follow.
            ch.trajectories = true;
            Command::SetFrame { frame: std::mem::replace(&mut doc.frame, frame) }
        }
        Command::SetAcPc { acpc } => {
            if let Some(a) = &acpc {
                a.axes().map_err(PlanError::Invalid)?;
            }
            ch.trajectories = true;
            Command::SetAcPc { acpc: std::mem::replace(&mut doc.acpc, acpc) }
        }
        Command::Batch(commands) => {
            let mut inverses = Vec::with_capacity(commands.len());
            for (n, c) in commands.into_iter().enumerate() {
                match apply(doc, c) {
                    Ok((c, inv)) => {
                        ch.merge(c);
                        inverses.push(inv);
                    }
                    Err(e) => {
                        // Leave the document as it was: undo what this batch did so far, and say
                        // so when that fails too (the plan is then partly changed).
                        let failed: Vec<String> = inverses
                            .into_iter()
                            .rev()
                            .filter_map(|inv| apply(doc, inv).err())
                            .map(|e| e.to_string())
                            .collect();
                        let step = format!("step {} of the batch: {e}", n + 1);
                        return Err(PlanError::Invalid(if failed.is_empty() {
                            step
                        } else {
                            format!(
                                "{step}; undoing its earlier steps failed as well ({}): the plan is partly changed",
                                failed.join("; ")
                            )
                        }));
                    }
                }
            }
            inverses.reverse();
            Command::Batch(inverses)
        }
    };
    Ok((ch, inverse))
}

impl Command {
    /// An `EditLabels` that restores voxels without touching the recipe (used when a removed
    /// segment comes back with its steps already in place).
    fn without_recipe(self) -> Command {
        match self {
            Command::EditLabels { label, diff, .. } => Command::EditLabels { label, step: StepChange::Keep, diff },
            other => other,
        }
    }
}

/// Inserts at `index`, or at the end when the list is shorter; returns where it went.
/// Refuses to change the fused scan `index` (`what`: "cannot go") while segments are made from
/// its values, naming them.
fn refuse_if_read(doc: &PlanDocument, index: usize, what: &str) -> Result<(), PlanError> {
    let Some(name) = doc.secondary_scans.get(index).map(|s| &s.name) else { return Ok(()) };
    let readers: Vec<&str> = doc
        .segmentation
        .segments
        .iter()
        .filter(|s| s.steps.iter().any(|step| step.scan() == Some(name)))
        .map(|s| s.name.as_str())
        .collect();
    if readers.is_empty() {
        return Ok(());
    }
    Err(PlanError::Invalid(format!(
        "the fused scan '{name}' {what}: {} {} made from its values and would not follow it; remove {} first \
         (and make {} again afterwards)",
        readers.join(", "),
        if readers.len() == 1 { "is" } else { "are" },
        if readers.len() == 1 { "that segment" } else { "those segments" },
        if readers.len() == 1 { "it" } else { "them" },
    )))
}

fn insert<T>(list: &mut Vec<T>, index: usize, item: T) -> usize {
    let index = index.min(list.len());
    list.insert(index, item);
    index
}

/// Item `index`; an error naming `what` when there is none.
fn item<'a, T>(list: &'a mut [T], index: usize, what: &str) -> Result<&'a mut T, PlanError> {
    list.get_mut(index).ok_or_else(|| PlanError::Invalid(format!("no {what} number {}", index + 1)))
}

/// Removes item `index`; an error naming `what` when there is none.
fn remove<T>(list: &mut Vec<T>, index: usize, what: &str) -> Result<T, PlanError> {
    item(list, index, what)?;
    Ok(list.remove(index))
}
