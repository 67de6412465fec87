//! The Vessels tool's vesselness, computed in the background when the tool is chosen on the
//! scan the slices show (again when its scales, contrast, polarity or bone level change, once the
//! mouse is let go). The slices preview the voxels above the threshold as the slider moves, and
//! a click grows its tree from it without computing it again. It is dropped when another tool is
//! chosen: it takes 6 bytes per voxel.

use std::sync::Arc;

use bevy::prelude::*;
use rayon::prelude::*;

use super::gpu::{VolumeTextures, preview_image};
use super::job::{Job, JobError};
use super::notices::Notices;
use super::study::Study;
use super::tasks::{Jobs, VesselnessJob, VesselsAtHand};
use super::tools::{Tool, Tools};
use crate::core::vessels::TreeSettings;
use crate::core::vessels::tree::prepare;

fn keep(
    tools: Res<Tools>,
    study: Res<Study>,
    mut jobs: ResMut<Jobs>,
    mut notices: ResMut<Notices>,
    mouse: Option<Res<ButtonInput<MouseButton>>>,
    mut declined: Local<Option<TreeSettings>>,
) {
    if let Some(result) = jobs.vesselness.as_mut().and_then(|j| j.job.poll()) {
        let settings = jobs.vesselness.take().map(|j| j.settings);
        match result {
            Ok(at_hand) => jobs.vessels = Some(at_hand),
            Err(JobError::Cancelled) => *declined = settings,
            Err(e) => notices.error = Some(format!("Vesselness for the Vessels tool: {e}")),
        }
    }
    let settings = &tools.vessels;
    let wanted = study.shown().filter(|_| tools.tool == Tool::Vessels && settings.check().is_ok());
    let Some(source) = wanted else {
        if let Some(j) = jobs.vesselness.take() {
            j.job.progress.cancel();
        }
        jobs.vessels = None;
        *declined = None;
        return;
    };
    if jobs.vessels.as_ref().is_some_and(|v| v.fits(source, settings)) {
        return;
    }
    if let Some(j) = &jobs.vesselness {
        if Arc::ptr_eq(&j.source, source) && j.settings.same_vesselness(settings) {
            return;
        }
        j.job.progress.cancel();
        jobs.vesselness = None;
    }
    // Dragging a value changes it every frame: start once it is let go.
    let dragging = mouse.is_some_and(|m| m.get_pressed().next().is_some());
    if dragging || declined.as_ref().is_some_and(|d| d.same_vesselness(settings)) {
        return;
    }
    *declined = None;
    jobs.vessels = None;
    let scan = study.fused.as_ref().filter(|f| Arc::ptr_eq(&f.volume, source)).map(|f| f.scan.name.clone());
    let (source, settings) = (source.clone(), settings.clone());
    let job = Job::spawn("Vesselness for the Vessels tool".into(), {
        let (source, settings) = (source.clone(), settings.clone());
        move |progress| {
            let prepared = Arc::new(prepare(&source, &settings, progress)?);
            Ok(VesselsAtHand { source, scan, prepared })
        }
    });
    jobs.vesselness = Some(VesselnessJob { job, source, settings });
}

/// Keeps the preview texture in step: the square root of the vesselness where the best scale
/// is at least the minimum radius (the shader compares it with the threshold's square root, which
/// is fine where thresholds lie), and bone kept out; one voxel when there is nothing to show,
/// never a preview of other settings or another scan.
fn draw(
    tools: Res<Tools>,
    study: Res<Study>,
    jobs: Res<Jobs>,
    mut tex: ResMut<VolumeTextures>,
    mut images: ResMut<Assets<Image>>,
    // The vesselness (by address) and the minimum radius the texture shows.
    mut drawn: Local<Option<(usize, u64)>>,
) {
    let settings = &tools.vessels;
    let at_hand = jobs
        .vessels
        .as_ref()
        .filter(|v| tools.tool == Tool::Vessels && study.shown().is_some_and(|s| v.fits(s, settings)));
    let key = at_hand.map(|v| (Arc::as_ptr(&v.prepared) as usize, settings.min_radius_mm.to_bits()));
    if *drawn == key {
        return;
    }
    let texels = at_hand.map(|at_hand| {
        let (v, bone) = (&at_hand.prepared.vesselness, &at_hand.prepared.bone);
        let texels: Vec<u8> = (0..v.values.len())
            .into_par_iter()
            .flat_map_iter(|n| {
                let value = if v.radius_mm(n) >= settings.min_radius_mm { v.values[n].max(0.0).sqrt() } else { 0.0 };
                [(value * 255.0).round() as u8, if bone.voxels[n] != 0 { 255 } else { 0 }]
            })
            .collect();
        (v.grid.clone(), texels)
    });
    let _ = images.insert(&tex.vesselness, preview_image(texels));
    tex.vesselness_shown = key.is_some();
    tex.revision += 1;
    *drawn = key;
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, keep);
}

pub(super) fn render_plugin(app: &mut App) {
    app.add_systems(Update, draw.after(keep));
}
