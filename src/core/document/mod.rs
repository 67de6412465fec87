//! The plan document: the only saved state. Everything a user changes arrives as a [`Command`];
//! [`PlanDocument::apply`] changes the document and returns what changed and how to undo it.
//! Inputs and parameters are kept (the scan's identity, segment recipes, view settings); results
//! (meshes, distances) are caches rebuilt from them.

mod command;
pub mod dicom_out;
mod history;
mod import;
pub mod io;
pub mod recovery;
mod scans;

use std::collections::BTreeMap;
use std::path::PathBuf;

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

pub use command::{Changes, Command, StepChange};
pub use history::History;
pub use import::import_label_map;
pub(crate) use scans::rigid_rows;
pub use scans::{FuseRefused, Placement, SecondaryScan, fused_name, may_fuse};

use crate::core::planning::Trajectory;
use crate::core::segmentation::{Category, Segmentation, SegmentationError};

/// The schema version written by this build; older documents are migrated, newer refused.
/// Version 2 added secondary scans (a version 1 plan has none); version 3 lets a threshold or a
/// region growing read a fused scan's values (`scan` on the step), which a version 2 reader would
/// ignore, reading the plan's scan instead: so version 2 readers refuse version 3 files.
/// Version 4 adds the steps vessels, trace and import_tracts, which a version 3 reader would
/// refuse as a syntax error: it now says the plan is newer instead.
/// Version 7 has saved views record each segment's opacity, which a version 6 reader would drop.
pub const SCHEMA_VERSION: u32 = 7;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no segment with label {0}")]
    NoSuchSegment(u16),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Segmentation(#[from] SegmentationError),
}

/// Which scan the plan is made on: found again by its series UID under its path.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScanRef {
    pub path: PathBuf,
    pub series_uid: String,
    /// The loader's id (the UID, with `#n` when one UID held several volumes).
    pub series_id: String,
}

impl ScanRef {
    /// The series loaded from `path` (a folder or file).
    pub fn of(path: &std::path::Path, loaded: &crate::core::dicom::Loaded) -> ScanRef {
        ScanRef {
            path: path.to_owned(),
            series_uid: loaded.volume.meta.series_uid.clone(),
            series_id: loaded.series.id.clone(),
        }
    }
}

/// An opacity as a plan file may hold it: a number from 0 to 1. (A number beyond f32's range
/// would read as infinity and be written back as `null`, which no plan can be read from.)
fn unit_interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v as f32)
    } else {
        let shown = if v.abs() < 1e6 { format!("{v}") } else { format!("{v:e}") };
        Err(serde::de::Error::custom(format!("an opacity of {shown}: expected a number from 0 to 1")))
    }
}

fn unit_intervals<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u16, f32>, D::Error> {
    #[derive(Deserialize)]
    struct Opacity(#[serde(deserialize_with = "unit_interval")] f32);
    Ok(BTreeMap::<u16, Opacity>::deserialize(d)?.into_iter().map(|(k, Opacity(v))| (k, v)).collect())
}

/// How a segment is shown (kept apart from what it is).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentDisplay {
    /// sRGB.
    pub color: [u8; 3],
    /// 0 (invisible) to 1 (opaque).
    #[serde(deserialize_with = "unit_interval")]
    pub opacity: f32,
    pub visible: bool,
}

impl SegmentDisplay {
    pub fn for_category(category: Category) -> SegmentDisplay {
        // The skin is see-through by default so that what is under it shows.
        let opacity = if category == Category::Skin { 0.3 } else { 1.0 };
        SegmentDisplay { color: category.default_color(), opacity, visible: true }
    }
}

/// Planes the clipping tool cuts along, through the crosshair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipPlane {
    Axial,
    Coronal,
    Sagittal,
    /// Any plane through the crosshair, by its normal (LPS).
    Oblique {
        normal: Vector3<f64>,
    },
}

impl ClipPlane {
    /// Unit normal in LPS; the clipped-away side is the one the normal points to.
    pub fn normal(&self) -> Vector3<f64> {
        match self {
            ClipPlane::Axial => Vector3::z(),
            ClipPlane::Coronal => -Vector3::y(),
            ClipPlane::Sagittal => Vector3::x(),
            ClipPlane::Oblique { normal } => normal.try_normalize(0.0).unwrap_or_else(Vector3::z),
        }
    }
}

/// Transfer functions for volume rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferPreset {
    Bone,
    Vessels,
    Skin,
}

/// What the views show: saved with the plan so that it reopens as it was left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewState {
    pub crosshair_mm: Point3<f64>,
    // Plan files keep the key they were first written with (and DICOM's spelling).
    #[serde(rename = "window_center")]
    pub window_centre: f64,
    pub window_width: f64,
    #[serde(deserialize_with = "unit_interval")]
    pub overlay_opacity: f32,
    pub clip: Option<ClipPlane>,
    /// Flip the clipped side.
    pub clip_flip: bool,
    pub volume_rendering: Option<TransferPreset>,
    pub show_meshes: bool,
}

impl Default for ViewState {
    fn default() -> Self {
        ViewState {
            crosshair_mm: Point3::origin(),
            window_centre: 40.0,
            window_width: 400.0,
            overlay_opacity: 0.5,
            clip: None,
            clip_flip: false,
            volume_rendering: None,
            show_meshes: true,
        }
    }
}

/// A text label pinned to a point of the anatomy (LPS mm): what an educator points out, shown in
/// 3D and in the slices and exported as a Slicer point list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub text: String,
    pub point_mm: Point3<f64>,
}

impl Annotation {
    /// Refuses an empty label (or one of spaces) and a point that is not a number.
    pub fn check(&self) -> Result<(), String> {
        if self.text.trim().is_empty() {
            return Err("a label needs some text".into());
        }
        if !self.point_mm.iter().all(|c| c.is_finite()) {
            return Err(format!("the label '{}' has a coordinate that is not a number", self.text));
        }
        Ok(())
    }
}

/// A named 3D view kept with the plan, to come back to or show again (LPS mm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedView {
    pub name: String,
    pub eye_mm: Point3<f64>,
    pub look_at_mm: Point3<f64>,
    pub crosshair_mm: Point3<f64>,
    /// Each segment's opacity when the view was saved (0: hidden), so that a presentation fades
    /// segments in and out from one view to the next. A segment it does not name (a view saved
    /// before version 7, or a segment added since) shows as the plan shows it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "unit_intervals")]
    pub opacity: BTreeMap<u16, f32>,
}

impl SavedView {
    /// The segment's opacity in this view.
    pub fn opacity_of(&self, doc: &PlanDocument, label: u16) -> f32 {
        self.opacity.get(&label).copied().unwrap_or_else(|| doc.shown_opacity(label))
    }

    /// The segment's opacity a fraction `t` (0 to 1) of the way from view `a` to view `b`.
    pub fn faded(doc: &PlanDocument, a: &SavedView, b: &SavedView, t: f32, label: u16) -> f32 {
        let (from, to) = (a.opacity_of(doc, label), b.opacity_of(doc, label));
        from + (to - from) * t.clamp(0.0, 1.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDocument {
    pub version: u32,
    pub scan: ScanRef,
    #[serde(default)]
    pub segmentation: Segmentation,
    #[serde(default)]
    pub display: BTreeMap<u16, SegmentDisplay>,
    #[serde(default)]
    pub view: ViewState,
    /// Other scans of the patient fused with the primary (`scan`), each placed in its space.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_scans: Vec<SecondaryScan>,
    /// Planned instrument paths, in LPS mm.
    #[serde(default)]
    pub trajectories: Vec<Trajectory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saved_views: Vec<SavedView>,
    /// The stereotactic frame fitted on the plan's scan, for the trajectories' frame coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<crate::core::stereotaxy::PlanFrame>,
    /// The anterior and posterior commissures and a midline point, for AC-PC coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acpc: Option<crate::core::stereotaxy::acpc::AcPc>,
    /// Text labels pinned to points of the anatomy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// The label map side file (NIfTI on the scan's grid); without one, segments are re-created
    /// from their recipes.
    #[serde(default)]
    pub label_map: Option<PathBuf>,
    /// Bumped on every change; caches compare against it.
    #[serde(skip)]
    pub revision: u64,
}

impl Default for PlanDocument {
    fn default() -> Self {
        PlanDocument {
            version: SCHEMA_VERSION,
            scan: ScanRef::default(),
            segmentation: Segmentation::default(),
            display: BTreeMap::new(),
            view: ViewState::default(),
            secondary_scans: Vec::new(),
            trajectories: Vec::new(),
            saved_views: Vec::new(),
            frame: None,
            acpc: None,
            annotations: Vec::new(),
            label_map: None,
            revision: 0,
        }
    }
}

impl PlanDocument {
    /// A new plan on a scan whose label map starts empty.
    pub fn new(scan: ScanRef, labels: crate::core::segmentation::LabelMap) -> PlanDocument {
        let mut doc = PlanDocument { scan, ..Default::default() };
        doc.segmentation.labels = labels;
        doc
    }

    /// A new plan on a loaded scan: the crosshair at the scan's centre, and for scans without a
    /// calibrated unit (MR and others; CT keeps the brain window) a window over the values.
    pub fn for_volume(scan: ScanRef, volume: &crate::core::volume::Volume) -> PlanDocument {
        let mut doc = PlanDocument::new(scan, crate::core::segmentation::LabelMap::empty(&volume.grid));
        let (lo, hi) = volume.grid.bounds_mm();
        doc.view.crosshair_mm = nalgebra::center(&lo, &hi);
        if volume.meta.modality != "CT"
            && let Some((centre, width)) = volume.value_window()
        {
            (doc.view.window_centre, doc.view.window_width) = (centre, width);
        }
        doc
    }

    pub fn display_of(&self, label: u16) -> SegmentDisplay {
        self.display.get(&label).copied().unwrap_or_else(|| {
            SegmentDisplay::for_category(self.segmentation.segment(label).map_or(Category::Other, |s| s.category))
        })
    }

    /// The segment's opacity as shown now: 0 when hidden.
    pub fn shown_opacity(&self, label: u16) -> f32 {
        let d = self.display_of(label);
        if d.visible { d.opacity } else { 0.0 }
    }

    /// Every segment's opacity as shown now, as a saved view records it.
    pub fn shown_opacities(&self) -> BTreeMap<u16, f32> {
        self.segmentation.segments.iter().map(|s| (s.label, self.shown_opacity(s.label))).collect()
    }

    /// Applies a command; on success returns what changed and the command that undoes it.
    pub fn apply(&mut self, command: Command) -> Result<(Changes, Command), PlanError> {
        let result = command::apply(self, command)?;
        self.revision += 1;
        Ok(result)
    }
}
