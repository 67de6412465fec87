//! Which copy of each surface the 3D view draws (see `core::mesh::lod`): the coarsest whose grid
//! cell still projects to at most a pixel, so a structure small on screen or far away costs
//! little; and while the view moves, or frames follow each other for background work, on a
//! software renderer, coarser copies until the scene fits a triangle budget. When the view
//! rests and the work is done, the detail comes back. Clearances and picking always
//! use the full surfaces.

use std::time::Instant;

use bevy::prelude::*;
use bevy::render::renderer::RenderAdapterInfo;

use super::activity::{Busy, Motion};
use super::layout::ViewRects;
use super::meshes::{SegmentMesh, ShownLevel};
use super::scene::{FOV_Y, Orbit, drawn_in_software};
use super::sets::Stage;

/// Triangles a software renderer draws in about 60 ms (Mesa's llvmpipe, two cores).
const SOFTWARE_BUDGET: usize = 40_000;
/// The largest projected cell (pixels) tried in turn while fitting the budget.
const CELL_PX: [f32; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, f32::INFINITY];

/// The coarsest level whose cell projects to at most `max_cell_px` (the full one if none does).
fn level_for(levels: &[ShownLevel], px_per_mm: f32, max_cell_px: f32) -> usize {
    levels.iter().rposition(|l| l.cell_mm as f32 * px_per_mm <= max_cell_px).unwrap_or(0)
}

fn choose_levels(
    orbit: Res<Orbit>,
    rects: Res<ViewRects>,
    info: Option<Res<RenderAdapterInfo>>,
    mut motion: ResMut<Motion>,
    busy: Res<Busy>,
    mut surfaces: Query<(&mut SegmentMesh, &mut Mesh3d, &InheritedVisibility)>,
) {
    let now = Instant::now();
    if orbit.is_changed() {
        motion.moved(now);
    }
    let Some(rect) = rects.three_d else { return };
    let software = info.is_some_and(|i| drawn_in_software(&i));
    let budget = if software && (motion.settle_in(now).is_some() || busy.0) { SOFTWARE_BUDGET } else { usize::MAX };
    let eye = orbit.transform().translation;
    let px_per_mm = |centre: Vec3| rect.height() / (2.0 * (eye - centre).length().max(1.0) * (FOV_Y / 2.0).tan());
    let total = |max_cell_px: f32| -> usize {
        surfaces
            .iter()
            .filter(|(_, _, v)| v.get())
            .map(|(s, _, _)| s.levels[level_for(&s.levels, px_per_mm(s.centre), max_cell_px)].triangles)
            .sum()
    };
    let max_cell_px = CELL_PX.into_iter().find(|&px| total(px) <= budget).unwrap_or(f32::INFINITY);
    for (mut s, mut mesh, _) in &mut surfaces {
        let want = level_for(&s.levels, px_per_mm(s.centre), max_cell_px);
        if s.shown != want {
            s.shown = want;
            mesh.0 = s.levels[want].mesh.clone();
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, choose_levels.in_set(Stage::Draw));
}
