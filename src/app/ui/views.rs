//! The four views' rectangles, their mouse and keyboard handling, and what is drawn over them
//! (orientation marker, crosshair lines, side letters, measurements, what is under the pointer).

use bevy::prelude::{Quat, Vec2, Vec3};
use bevy_egui::egui::{self, Color32, Pos2, Rect, Sense, Stroke};
use nalgebra::{Point3, Vector3};

use super::{Intent, ViewRects};
use crate::app::document::{Doc, Edit};
use crate::app::frames::{world_dir_from_patient, world_from_patient};
use crate::app::layout::{SliceAxis, pixel_rect};
use crate::app::planning::Planning;
use crate::app::scene::{AXIS_COLORS, Orbit, StandardView};
use crate::app::slices::{SliceMapping, SliceViews, slice_step_mm};
use crate::app::study::Study;
use crate::app::tools::{ClickAt, Hover, Tool, Tools};
use crate::core::document::Command;

/// What the views read and change.
pub struct Views<'a> {
    pub study: &'a Study,
    pub doc: &'a Doc,
    pub orbit: &'a mut Orbit,
    pub slices: &'a mut SliceViews,
    pub tools: &'a Tools,
    pub hover: &'a mut Hover,
    pub planning: &'a Planning,
    /// Vessel segments' centreline trees, drawn while the Vessels tool is chosen.
    pub centrelines: &'a std::collections::BTreeMap<u16, crate::core::vessels::Centrelines>,
    /// Each segment's surface, for where its name goes when names are shown.
    pub shapes: &'a std::collections::BTreeMap<u16, crate::core::planning::SegmentShape>,
    /// Projects a world point to logical window pixels, if the 3D camera sees it.
    pub project: &'a dyn Fn(Vec3) -> Option<Vec2>,
    pub diagnostics: Option<String>,
    /// What patient coordinates are shown in.
    pub coordinates: crate::core::settings::Coordinates,
    /// While presenting: the slide's caption, shown large (the arrow keys step slides then).
    pub slide: Option<String>,
    /// The slides' opacities while presenting, which names follow as the surfaces do.
    pub presentation: &'a crate::app::presentation::Presentation,
}

const LABEL_BG: Color32 = Color32::from_rgba_premultiplied(0, 0, 0, 170);

/// Lays the views out in `area`: the 3D view on the left, the three slices stacked on the right.
pub fn layout(area: Rect) -> ViewRects {
    let split = area.left() + area.width() * 0.6;
    let three_d = Rect::from_min_max(area.min, egui::pos2(split - 1.0, area.bottom()));
    let h = area.height() / 3.0;
    let slices = std::array::from_fn(|i| {
        let top = area.top() + h * i as f32;
        Some(Rect::from_min_max(egui::pos2(split + 1.0, top + 1.0), egui::pos2(area.right(), top + h - 1.0)))
    });
    ViewRects { three_d: Some(three_d), slices }
}

fn text(painter: &egui::Painter, pos: Pos2, anchor: egui::Align2, s: &str, color: Color32) {
    let galley = painter.layout_no_wrap(s.to_owned(), egui::FontId::proportional(13.0), color);
    let rect = anchor.anchor_size(pos, galley.size()).expand(2.0);
    painter.rect_filled(rect, 2.0, LABEL_BG);
    painter.galley(rect.min + egui::vec2(2.0, 2.0), galley, color);
}

pub fn views_ui(ui: &mut egui::Ui, rects: &ViewRects, v: &mut Views, out: &mut Vec<Intent>) {
    if let Some(rect) = rects.three_d {
        three_d(ui, rect, v, out);
    }
    if let Some(volume) = &v.study.volume {
        let (lo, hi) = volume.grid.bounds_mm();
        for axis in SliceAxis::ALL {
            if let Some(rect) = rects.slices[axis as usize] {
                slice(ui, rect, axis, &lo, &hi, v, out);
            }
        }
    }
}

fn three_d(ui: &mut egui::Ui, rect: Rect, v: &mut Views, out: &mut Vec<Intent>) {
    let resp = ui.interact(rect, egui::Id::new("view-3d"), Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    let pointer = resp.hover_pos().filter(|p| rect.contains(*p));
    v.hover.viewport_px = pointer.map(|p| Vec2::new(p.x, p.y));
    if resp.dragged_by(egui::PointerButton::Primary) {
        let d = resp.drag_delta();
        v.orbit.rotate(d.x, d.y);
    } else if resp.dragged_by(egui::PointerButton::Secondary) || resp.dragged_by(egui::PointerButton::Middle) {
        let d = resp.drag_delta();
        v.orbit.pan(d.x, d.y, rect.height());
    }
    if pointer.is_some() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            v.orbit.zoom((-scroll * 0.0025).exp());
        }
    }
    if resp.clicked()
        && let Some((_, mm)) = v.hover.hit
    {
        out.push(Intent::Click(ClickAt { mm, dragging: false }));
    }
    if v.slide.is_none() && (pointer.is_some() || !ui.ctx().egui_wants_keyboard_input()) {
        keyboard(ui, v.orbit);
    }
    if let Some(caption) = &v.slide {
        let galley = painter.layout_no_wrap(caption.clone(), egui::FontId::proportional(30.0), Color32::WHITE);
        let at = egui::Align2::CENTER_BOTTOM.anchor_size(rect.center_bottom() - egui::vec2(0.0, 24.0), galley.size());
        painter.rect_filled(at.expand(8.0), 6.0, LABEL_BG);
        painter.galley(at.min, galley, Color32::WHITE);
    }

    orientation_marker(&painter, rect, v.orbit.rotation());
    text(&painter, rect.left_top() + egui::vec2(8.0, 8.0), egui::Align2::LEFT_TOP, "3D", Color32::LIGHT_GRAY);
    if let Some(d) = &v.diagnostics {
        text(&painter, rect.right_top() + egui::vec2(-8.0, 8.0), egui::Align2::RIGHT_TOP, d, Color32::LIGHT_GREEN);
    }
    // The measurement: a line between the last two points, with its length.
    let pts: Vec<Pos2> = v
        .tools
        .measure
        .iter()
        .rev()
        .take(2)
        .filter_map(|p| (v.project)(world_from_patient(p)))
        .map(|p| egui::pos2(p.x, p.y))
        .collect();
    for p in &pts {
        painter.circle_filled(*p, 4.0, Color32::from_rgb(80, 220, 255));
    }
    if let ([a, b], Some(d)) = (pts.as_slice(), v.tools.distance_mm()) {
        painter.line_segment([*a, *b], Stroke::new(2.0, Color32::from_rgb(80, 220, 255)));
        text(&painter, a.lerp(*b, 0.5), egui::Align2::CENTER_BOTTOM, &format!("{d:.1} mm"), Color32::WHITE);
    }
    // Each shown vessel's centreline tree, its branch points marked, while the Vessels tool is on.
    if v.tools.tool == crate::app::tools::Tool::Vessels {
        for (label, lines) in v.centrelines {
            let display = v.doc.doc.display_of(*label);
            if !display.visible {
                continue;
            }
            let colour = lightened(display.color);
            for branch in &lines.branches {
                let pts: Vec<Pos2> = branch
                    .points
                    .iter()
                    .filter_map(|p| (v.project)(world_from_patient(&p.position_mm)))
                    .map(|p| egui::pos2(p.x, p.y))
                    .collect();
                if pts.len() >= 2 {
                    painter.add(egui::Shape::line(pts, Stroke::new(1.5, colour)));
                }
            }
            for p in lines.branch_points() {
                if let Some(p) = (v.project)(world_from_patient(&p)) {
                    painter.circle_filled(egui::pos2(p.x, p.y), 3.0, Color32::WHITE);
                }
            }
        }
    }
    // The Nerve tool's points so far, joined in order.
    let nerve: Vec<Pos2> = v
        .tools
        .nerve_points
        .iter()
        .filter_map(|p| (v.project)(world_from_patient(p)))
        .map(|p| egui::pos2(p.x, p.y))
        .collect();
    let yellow = Color32::from_rgb(245, 210, 40);
    for (n, p) in nerve.iter().enumerate() {
        painter.circle_filled(*p, 4.0, yellow);
        text(&painter, *p + egui::vec2(6.0, -6.0), egui::Align2::LEFT_BOTTOM, &(n + 1).to_string(), yellow);
    }
    if nerve.len() >= 2 {
        painter.add(egui::Shape::line(nerve, Stroke::new(1.5, yellow)));
    }
    // The plan's labels and, when asked, each shown segment's name, each with a leader from its
    // point (unless clipped away), placed so that they do not overlap.
    let doc = &v.doc.doc;
    let mut pinned: Vec<(Point3<f64>, String, Color32)> =
        doc.annotations.iter().map(|a| (a.point_mm, a.text.clone(), LABEL_COLOUR)).collect();
    if v.tools.show_names {
        for s in &doc.segmentation.segments {
            let Some(shape) = v.shapes.get(&s.label) else { continue };
            if crate::app::meshes::shown_opacity(doc, v.presentation, s.label) > 0.0 && doc.view.show_meshes {
                pinned.push((shape.anchor_mm, s.name.clone(), lightened(doc.display_of(s.label).color)));
            }
        }
    }
    let shown: Vec<(Pos2, std::sync::Arc<egui::Galley>)> = pinned
        .into_iter()
        .filter(|(p, _, _)| crate::app::meshes::unclipped(doc, p))
        .filter_map(|(p, text, colour)| {
            let at = (v.project)(world_from_patient(&p))?;
            Some((egui::pos2(at.x, at.y), painter.layout_no_wrap(text, egui::FontId::proportional(14.0), colour)))
        })
        .collect();
    let sizes: Vec<(Pos2, egui::Vec2)> = shown.iter().map(|(p, g)| (*p, g.size() + egui::vec2(6.0, 6.0))).collect();
    for ((at, galley), rect) in shown.into_iter().zip(place_labels(&sizes, rect)) {
        draw_label(&painter, at, rect, galley);
    }
    // Each path's closest approach, with its clearance, beside the marker drawn in the scene.
    for report in v.planning.reports.iter().flatten() {
        let Some(s) = report.structures.first() else { continue };
        let Some(p) = (v.project)(world_from_patient(&s.closest_on_structure_mm)) else { continue };
        let [r, g, b] = s.verdict.rgb();
        let label = format!("{}: {} {:.1} mm", report.name, s.name, s.min_clearance_mm);
        text(&painter, egui::pos2(p.x + 10.0, p.y), egui::Align2::LEFT_CENTER, &label, Color32::from_rgb(r, g, b));
    }
    if let (Some(p), Some((label, mm))) = (pointer, v.hover.hit) {
        let name = v.doc.doc.segmentation.segment(label).map_or("?", |s| s.name.as_str());
        let at = format!("{name}\n{}", v.coordinates.format(mm.into()));
        text(&painter, p + egui::vec2(14.0, 14.0), egui::Align2::LEFT_TOP, &at, Color32::WHITE);
    }
}

fn keyboard(ui: &egui::Ui, orbit: &mut Orbit) {
    use egui::Key;
    ui.input(|i| {
        let step = 12.0;
        if i.key_down(Key::ArrowLeft) {
            orbit.rotate(-step * 0.3, 0.0);
        }
        if i.key_down(Key::ArrowRight) {
            orbit.rotate(step * 0.3, 0.0);
        }
        if i.key_down(Key::ArrowUp) {
            orbit.rotate(0.0, -step * 0.3);
        }
        if i.key_down(Key::ArrowDown) {
            orbit.rotate(0.0, step * 0.3);
        }
        if i.key_down(Key::Plus) || i.key_down(Key::Equals) {
            orbit.zoom(0.97);
        }
        if i.key_down(Key::Minus) {
            orbit.zoom(1.03);
        }
        if i.key_pressed(Key::Home) {
            orbit.reset();
        }
        let keys = [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6];
        for (k, view) in keys.iter().zip(StandardView::ALL) {
            if i.key_pressed(*k) && !i.modifiers.any() {
                orbit.set_view(view);
            }
        }
    });
}

/// Patient axes as the camera sees them, with their letters; the far ends are drawn dimmer.
fn orientation_marker(painter: &egui::Painter, rect: Rect, camera_rotation: Quat) {
    let centre = rect.left_bottom() + egui::vec2(56.0, -56.0);
    painter.circle_filled(centre, 48.0, Color32::from_rgba_premultiplied(0, 0, 0, 120));
    let axes = [("L", "R", 0), ("P", "A", 1), ("S", "I", 2)];
    let mut ends = Vec::new();
    for (pos, neg, a) in axes {
        let mut d = Vector3::zeros();
        d[a] = 1.0;
        let cam = camera_rotation.inverse() * world_dir_from_patient(&d);
        ends.push((cam, pos, a));
        ends.push((-cam, neg, a));
    }
    // Far ends first, so the near ones are drawn over them.
    ends.sort_by(|x, y| x.0.z.total_cmp(&y.0.z));
    for (cam, letter, a) in ends {
        let tip = centre + egui::vec2(cam.x, -cam.y) * 36.0;
        let near = cam.z >= -0.05;
        let [r, g, b, _] = [AXIS_COLORS[2], AXIS_COLORS[1], AXIS_COLORS[0]][a].to_array();
        let color = if near { Color32::from_rgb(r, g, b) } else { Color32::from_rgb(r / 2, g / 2, b / 2) };
        painter.line_segment([centre, tip], Stroke::new(2.5, color));
        let font = egui::FontId::proportional(if near { 15.0 } else { 12.0 });
        painter.text(centre + egui::vec2(cam.x, -cam.y) * 44.0, egui::Align2::CENTER_CENTER, letter, font, color);
    }
}

#[allow(clippy::too_many_arguments)]
fn slice(
    ui: &mut egui::Ui,
    rect: Rect,
    axis: SliceAxis,
    lo: &Point3<f64>,
    hi: &Point3<f64>,
    v: &mut Views,
    out: &mut Vec<Intent>,
) {
    let Some(volume) = v.study.shown() else { return };
    let view = &v.doc.doc.view;
    let i = axis as usize;
    let map = SliceMapping::new(axis.frame(lo, hi, &view.crosshair_mm), rect, &v.slices.nav[i]);
    let resp = ui.interact(rect, egui::Id::new(("slice", i)), Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    if let Some(picture) = v.slices.pictures[i] {
        let whole = Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        painter.image(picture, pixel_rect(rect, ui.ctx().pixels_per_point()), whole, Color32::WHITE);
    }
    let pointer = resp.hover_pos().filter(|p| rect.contains(*p));

    if let Some(p) = resp.interact_pointer_pos()
        && (resp.clicked_by(egui::PointerButton::Primary) || resp.dragged_by(egui::PointerButton::Primary))
    {
        let dragging = resp.dragged() && !resp.drag_started();
        out.push(Intent::Click(ClickAt { mm: map.patient_from_px(p).into(), dragging }));
    }
    if resp.drag_stopped() {
        out.push(Intent::Edit(Edit::Seal));
    }
    if resp.dragged_by(egui::PointerButton::Secondary) {
        // Window/level: right-drag sideways widens the window, up and down moves the level.
        let d = resp.drag_delta();
        let width = (view.window_width * (1.0 + d.x as f64 * 0.005)).max(1.0);
        let centre = view.window_centre + d.y as f64 * view.window_width * 0.004;
        out.push(Intent::Edit(Edit::run(Command::SetWindow { centre, width })));
    }
    if resp.dragged_by(egui::PointerButton::Middle) {
        let d = resp.drag_delta();
        v.slices.nav[i].pan += Vec2::new(-d.x, d.y) * map.mm_per_px as f32;
    }
    if pointer.is_some() {
        // Wheel notches, not smoothed pixels: one notch is one slice.
        let (scroll, zoom_key) = ui.input(|inp| {
            let wheel: f32 = inp
                .events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::MouseWheel { delta, .. } => Some(delta.y),
                    _ => None,
                })
                .sum();
            (wheel, inp.modifiers.command)
        });
        if scroll != 0.0 && zoom_key {
            let nav = &mut v.slices.nav[i];
            nav.zoom = (nav.zoom * (scroll * 0.004).exp()).clamp(0.2, 40.0);
        } else if scroll != 0.0 {
            let n = axis.normal_index();
            let mut mm = view.crosshair_mm;
            mm[n] = (mm[n] + scroll.signum() as f64 * slice_step_mm(&volume.grid, axis)).clamp(lo[n], hi[n]);
            out.push(Intent::Edit(Edit::run(Command::SetCrosshair { mm })));
        }
    }
    if resp.double_clicked() {
        v.slices.nav[i] = Default::default();
    }

    // Crosshair: the other two planes' lines, in their views' colours.
    let c = map.px_from_patient(&view.crosshair_mm);
    let n = axis.normal_index();
    for other in SliceAxis::ALL.into_iter().filter(|o| *o != axis) {
        let color = AXIS_COLORS[other as usize].gamma_multiply(0.8);
        let m = other.normal_index();
        // The other plane is vertical on screen when its normal runs along screen-right.
        let vertical = map.frame.right[m].abs() > 0.5;
        let stroke = Stroke::new(1.0, color);
        if vertical {
            painter.line_segment([egui::pos2(c.x, rect.top()), egui::pos2(c.x, c.y - 8.0)], stroke);
            painter.line_segment([egui::pos2(c.x, c.y + 8.0), egui::pos2(c.x, rect.bottom())], stroke);
        } else {
            painter.line_segment([egui::pos2(rect.left(), c.y), egui::pos2(c.x - 8.0, c.y)], stroke);
            painter.line_segment([egui::pos2(c.x + 8.0, c.y), egui::pos2(rect.right(), c.y)], stroke);
        }
    }
    trajectories_in_slice(&painter, &map, v);
    labels_in_slice(&painter, &map, v, 0.5 * slice_step_mm(&volume.grid, axis));
    landmarks_in_slice(&painter, &map, v);
    painter.rect_stroke(rect, 0.0, Stroke::new(1.5, AXIS_COLORS[i]), egui::StrokeKind::Inside);
    let [l, r, t, b] = axis.edge_letters();
    let gray = Color32::from_gray(210);
    text(&painter, egui::pos2(rect.left() + 6.0, rect.center().y), egui::Align2::LEFT_CENTER, l, gray);
    text(&painter, egui::pos2(rect.right() - 6.0, rect.center().y), egui::Align2::RIGHT_CENTER, r, gray);
    text(&painter, egui::pos2(rect.center().x, rect.top() + 6.0), egui::Align2::CENTER_TOP, t, gray);
    text(&painter, egui::pos2(rect.center().x, rect.bottom() - 6.0), egui::Align2::CENTER_BOTTOM, b, gray);
    let coord = ["x", "y", "z"][n];
    let mut title = format!("{}  {coord} = {:.1} mm", axis.name(), view.crosshair_mm[n]);
    if let Some(k) = volume.grid.slice_number(&view.crosshair_mm, n) {
        title += &format!("  slice {k} of 0-{}", volume.grid.dims[2] - 1);
    }
    text(&painter, rect.left_top() + egui::vec2(8.0, 8.0), egui::Align2::LEFT_TOP, &title, AXIS_COLORS[i]);
    let wl = format!("W {:.0}  L {:.0}", view.window_width, view.window_centre);
    text(&painter, rect.right_bottom() + egui::vec2(-8.0, -8.0), egui::Align2::RIGHT_BOTTOM, &wl, gray);

    if let Some(p) = pointer {
        let mm = map.patient_from_px(p);
        if v.tools.tool == Tool::Brush {
            let radius = (v.tools.brush_radius_mm / map.mm_per_px) as f32;
            let color = if v.tools.erase { Color32::from_rgb(255, 120, 80) } else { Color32::from_rgb(120, 220, 255) };
            painter.circle_stroke(p, radius, Stroke::new(1.5, color));
        }
        let voxel = volume.grid.voxel_point(&mm);
        // NaN: outside a fused scan's field of view.
        let value = voxel.and_then(|q| volume.sample_voxel(q)).filter(|v| !v.is_nan());
        let mut s = match value {
            Some(val) => format!("{val:.0} {}", volume.meta.unit),
            None => "outside the scan".to_owned(),
        };
        if let Some(q) = voxel {
            let idx = |x: f64, n: usize| (x.round() >= 0.0 && (x.round() as usize) < n).then_some(x.round() as usize);
            let [nx, ny, nz] = volume.grid.dims;
            if let (Some(a), Some(bb), Some(cc)) = (idx(q.x, nx), idx(q.y, ny), idx(q.z, nz)) {
                let labels = &v.doc.doc.segmentation.labels;
                let label = labels.labels.get(volume.grid.index(a, bb, cc)).copied().unwrap_or(0);
                if let Some(seg) = v.doc.doc.segmentation.segment(label) {
                    s.push_str(&format!("  {}", seg.name));
                }
            }
        }
        text(&painter, rect.left_bottom() + egui::vec2(8.0, -8.0), egui::Align2::LEFT_BOTTOM, &s, gray);
    }
}

/// Landmarks picked for the shown fused scan that lie within 2 mm of the slice: numbered, cyan in
/// the plan's scan, magenta in the fused scan (where its placement now puts them).
fn landmarks_in_slice(painter: &egui::Painter, map: &SliceMapping, v: &Views) {
    let (Some(f), marks) = (&v.study.fused, &v.tools.landmarks) else { return };
    if !marks.are_for(&f.scan) {
        return;
    }
    let normal = map.frame.right.cross(&map.frame.down);
    let on_plane = v.doc.doc.view.crosshair_mm;
    for (n, pair) in marks.pairs.iter().enumerate() {
        let placed = [pair[0], pair[1].map(|p| f.scan.primary_from_secondary * p)];
        for (p, color) in placed.iter().zip([Color32::from_rgb(80, 220, 255), Color32::from_rgb(240, 90, 220)]) {
            let Some(p) = p else { continue };
            if (p - on_plane).dot(&normal).abs() > 2.0 {
                continue;
            }
            let at = map.px_from_patient(p);
            painter.circle_stroke(at, 5.0, Stroke::new(2.0, color));
            text(painter, at + egui::vec2(7.0, -7.0), egui::Align2::LEFT_BOTTOM, &(n + 1).to_string(), color);
        }
    }
}

const LABEL_COLOUR: Color32 = Color32::from_rgb(255, 230, 120);

/// A segment's colour half-way to white, to read over the dark view and over its own surface.
fn lightened(color: [u8; 3]) -> Color32 {
    let [r, g, b] = color.map(|c| c / 2 + 128);
    Color32::from_rgb(r, g, b)
}

/// A label pinned at `at`, its text in `rect`: a dot, a leader to the box's nearest point, the
/// text on a dark box.
fn draw_label(painter: &egui::Painter, at: Pos2, rect: Rect, galley: std::sync::Arc<egui::Galley>) {
    let colour = galley.job.sections.first().map_or(LABEL_COLOUR, |s| s.format.color);
    let end = rect.clamp(at);
    painter.circle_filled(at, 3.5, colour);
    painter.line_segment([at, end], Stroke::new(1.5, colour));
    painter.rect_filled(rect, 3.0, LABEL_BG);
    painter.galley(rect.min + egui::vec2(3.0, 3.0), galley, colour);
}

/// Boxes of the given sizes near their anchors that do not overlap one another (nor leave
/// `bounds`): each takes the first free place around its anchor, nearest first (up and to the
/// right first), in order of the anchors from top to bottom; one with no free place takes the
/// nearest.
fn place_labels(items: &[(Pos2, egui::Vec2)], bounds: Rect) -> Vec<Rect> {
    let directions =
        [(1.0, -1.0), (1.0, 1.0), (-1.0, -1.0), (-1.0, 1.0), (1.0, 0.0), (-1.0, 0.0), (0.0, -1.0), (0.0, 1.0)];
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[a].0.y.total_cmp(&items[b].0.y));
    let mut placed: Vec<Option<Rect>> = vec![None; items.len()];
    for i in order {
        let (anchor, size) = items[i];
        let candidates = [18.0, 40.0, 70.0, 110.0].into_iter().flat_map(|r: f32| {
            directions.map(move |(dx, dy): (f32, f32)| {
                let centre = anchor + egui::vec2(dx * (r + size.x / 2.0), dy * (r * 0.6 + size.y / 2.0));
                Rect::from_center_size(centre, size)
            })
        });
        let free =
            |c: &Rect| bounds.contains_rect(*c) && placed.iter().flatten().all(|p| !p.expand(2.0).intersects(*c));
        let nearest = candidates.clone().next();
        placed[i] = candidates.clone().find(free).or(nearest);
    }
    placed.into_iter().map(|r| r.unwrap_or(Rect::NOTHING)).collect()
}

/// The labels whose points lie within half a slice of the slice's plane.
fn labels_in_slice(painter: &egui::Painter, map: &SliceMapping, v: &Views, half_mm: f64) {
    let normal = map.frame.right.cross(&map.frame.down);
    for a in &v.doc.doc.annotations {
        if (a.point_mm - v.doc.doc.view.crosshair_mm).dot(&normal).abs() <= half_mm {
            let at = map.px_from_patient(&a.point_mm);
            let galley = painter.layout_no_wrap(a.text.clone(), egui::FontId::proportional(14.0), LABEL_COLOUR);
            let rect = place_labels(&[(at, galley.size() + egui::vec2(6.0, 6.0))], painter.clip_rect())[0];
            draw_label(painter, at, rect, galley);
        }
    }
}

/// Each path projected onto a slice (thin line, entry ring, target dot), and where it pierces the
/// slice's plane (a ring the instrument's size, in the colour of its clearance there).
fn trajectories_in_slice(painter: &egui::Painter, map: &SliceMapping, v: &Views) {
    let normal = map.frame.right.cross(&map.frame.down);
    let on_plane = v.doc.doc.view.crosshair_mm;
    for (n, t) in v.doc.doc.trajectories.iter().enumerate() {
        let [r, g, b] = t.color;
        let color = Color32::from_rgb(r, g, b);
        let (e, q) = (map.px_from_patient(&t.entry_mm), map.px_from_patient(&t.target_mm));
        let chosen = v.tools.trajectory == Some(n);
        painter.line_segment([e, q], Stroke::new(if chosen { 2.0 } else { 1.0 }, color));
        painter.circle_stroke(e, 4.0, Stroke::new(1.5, color));
        painter.circle_filled(q, 3.5, color);
        // The crossing of the slice plane, if the path reaches it.
        let (de, dq) = ((t.entry_mm - on_plane).dot(&normal), (t.target_mm - on_plane).dot(&normal));
        if de * dq > 0.0 || de == dq {
            continue;
        }
        let depth = t.length_mm() * de / (de - dq);
        let at = map.px_from_patient(&t.at_depth(depth));
        let report = v.planning.reports.get(n).and_then(|r| r.as_ref().ok());
        let clearance = report.and_then(|r| {
            r.profile.iter().min_by(|a, b| (a.depth_mm - depth).abs().total_cmp(&(b.depth_mm - depth).abs()))
        });
        let ring = clearance.map_or(color, |c| {
            let [r, g, b] = c.verdict(&v.doc.doc.segmentation).rgb();
            Color32::from_rgb(r, g, b)
        });
        let radius = (t.instrument.radius_mm() / map.mm_per_px).max(3.0) as f32;
        painter.circle_stroke(at, radius, Stroke::new(2.0, ring));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels at one point, or crowded, each get a box of their own within the view.
    #[test]
    fn labels_do_not_overlap() {
        let bounds = Rect::from_min_size(egui::pos2(0.0, 0.0), egui::vec2(800.0, 600.0));
        let size = egui::vec2(120.0, 20.0);
        let items: Vec<(Pos2, egui::Vec2)> =
            (0..12).map(|i| (egui::pos2(400.0 + (i % 3) as f32 * 5.0, 300.0), size)).collect();
        let rects = place_labels(&items, bounds);
        for (a, ra) in rects.iter().enumerate() {
            assert!(bounds.contains_rect(*ra), "{ra:?}");
            for rb in &rects[a + 1..] {
                assert!(!ra.intersects(*rb), "{ra:?} and {rb:?}");
            }
        }
    }
}
