//! Rehearsal of a trajectory: a slider advances the instrument's tip along the path; the panel
//! shows the scan and the structures on the plane perpendicular to the path at the tip, the
//! clearance there and the least so far; one button puts the 3D camera down the path.

use std::hash::{Hash, Hasher};

use bevy_egui::egui::{self, Color32, RichText, Stroke};

use crate::app::document::Doc;
use crate::app::frames::world_from_patient;
use crate::app::layout::REHEARSAL_SPAN_MM;
use crate::app::scene::Orbit;
use crate::app::study::Study;
use crate::app::tools::Tools;
use crate::core::planning::{Trajectory, TrajectoryReport, Verdict};
use crate::core::report::raster::Rgb;
use crate::core::volume::Plane;

/// The reformatted view: pixels across, and the millimetres they span.
const PIXELS: usize = 200;

pub fn rehearsal_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    study: &Study,
    t: &Trajectory,
    report: &TrajectoryReport,
    tools: &mut Tools,
    orbit: &mut crate::app::scene::Orbit,
) {
    ui.horizontal(|ui| {
        let mut on = tools.rehearsal.is_some();
        if ui.checkbox(&mut on, "Advance the tip").changed() {
            tools.rehearsal = on.then_some(0.0);
        }
        if ui
            .button("Probe's-eye view")
            .on_hover_text("The 3D camera looks down the path from behind the entry")
            .clicked()
        {
            probes_eye(orbit, t);
        }
    });
    let Some(depth) = tools.rehearsal.as_mut() else { return };
    let length = report.length_mm;
    *depth = depth.clamp(0.0, length);
    ui.add(egui::Slider::new(depth, 0.0..=length).suffix(" mm").text("depth from entry"));
    let depth = *depth;
    let (here, label) = clearance_at(report, depth);
    let so_far =
        report.profile.iter().filter(|p| p.depth_mm <= depth).map(|p| p.clearance_mm).fold(f64::INFINITY, f64::min);
    let name = doc.doc.segmentation.segment(label).map_or("—", |s| s.name.as_str());
    let margin = doc.doc.segmentation.segment(label).map_or(0.0, |s| s.margin_mm);
    let verdict = Verdict::for_clearance(here, margin);
    let [r, g, b] = verdict.rgb();
    ui.label(RichText::new(format!("At the tip: {here:.1} mm to {name}")).color(Color32::from_rgb(r, g, b)).strong());
    let inside = report
        .passes_through
        .iter()
        .find(|p| p.from_depth_mm <= depth && depth <= p.to_depth_mm)
        .map_or("outside the labelled structures", |p| p.name.as_str());
    if so_far.is_finite() {
        ui.label(format!("Least so far {so_far:.1} mm; the tip is in {inside}"));
    }
    let Some(volume) = study.volume.as_deref() else { return };
    let Ok(dir) = t.direction() else { return };
    let Some(plane) = Plane::perpendicular(t.at_depth(depth), &dir) else { return };
    let texture = slice_texture(ui, doc, volume, &plane, study.revision);
    let side = ui.available_width().min(300.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.image(
        texture.id(),
        rect,
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        Color32::WHITE,
    );
    // The instrument's cross-section at its real size, and a 10 mm scale bar.
    let px_per_mm = side / REHEARSAL_SPAN_MM as f32;
    painter.circle_stroke(rect.center(), t.instrument.radius_mm() as f32 * px_per_mm, Stroke::new(1.5, Color32::WHITE));
    let bar = egui::pos2(rect.left() + 8.0, rect.bottom() - 10.0);
    painter.line_segment([bar, bar + egui::vec2(10.0 * px_per_mm, 0.0)], Stroke::new(2.0, Color32::WHITE));
    let small = egui::FontId::proportional(10.0);
    painter.text(bar + egui::vec2(0.0, -4.0), egui::Align2::LEFT_BOTTOM, "10 mm", small.clone(), Color32::WHITE);
    painter.text(
        rect.center_top() + egui::vec2(0.0, 2.0),
        egui::Align2::CENTER_TOP,
        if plane.up.z.abs() >= plane.up.y.abs() { "towards S" } else { "towards A" },
        small,
        Color32::from_gray(200),
    );
}

/// Clearance to the nearest structure at a depth, between the profile's samples, and that
/// structure's label.
fn clearance_at(report: &TrajectoryReport, depth: f64) -> (f64, u16) {
    let p = &report.profile;
    match p.iter().position(|s| s.depth_mm >= depth) {
        None => p.last().map_or((f64::INFINITY, 0), |s| (s.clearance_mm, s.label)),
        Some(0) => (p[0].clearance_mm, p[0].label),
        Some(i) => {
            let (a, b) = (&p[i - 1], &p[i]);
            let f = (depth - a.depth_mm) / (b.depth_mm - a.depth_mm).max(1e-9);
            let nearest = if f < 0.5 { a.label } else { b.label };
            (a.clearance_mm + (b.clearance_mm - a.clearance_mm) * f, nearest)
        }
    }
}

/// The scan on the plane in the slice views' window, with each visible segment tinted in its
/// colour; made again only when something it shows has changed.
fn slice_texture(
    ui: &egui::Ui,
    doc: &Doc,
    volume: &crate::core::volume::Volume,
    plane: &Plane,
    study_rev: u64,
) -> egui::TextureHandle {
    let view = &doc.doc.view;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in plane.centre_mm.iter().chain(plane.up.iter()).chain(plane.right.iter()) {
        v.to_bits().hash(&mut h);
    }
    (
        view.window_centre.to_bits(),
        view.window_width.to_bits(),
        doc.generation,
        doc.labels_rev,
        doc.display_rev,
        study_rev,
    )
        .hash(&mut h);
    let key = h.finish();
    let id = egui::Id::new("rehearsal slice");
    if let Some((k, texture)) = ui.data(|d| d.get_temp::<(u64, egui::TextureHandle)>(id))
        && k == key
    {
        return texture;
    }
    let window = (doc.doc.view.window_centre, doc.doc.view.window_width);
    let rgb = Rgb::of_plane(volume, Some(&doc.doc), window, plane, PIXELS, REHEARSAL_SPAN_MM);
    let image = egui::ColorImage::from_rgb([PIXELS, PIXELS], rgb.pixels.as_flattened());
    let texture = ui.ctx().load_texture("rehearsal slice", image, egui::TextureOptions::LINEAR);
    ui.data_mut(|d| d.insert_temp(id, (key, texture.clone())));
    texture
}

/// Puts the 3D camera on the path's line behind the entry, looking down it at the target.
fn probes_eye(orbit: &mut Orbit, t: &Trajectory) {
    let Ok(dir) = t.direction() else { return };
    orbit.look(world_from_patient(&(t.entry_mm - dir * 120.0)), world_from_patient(&t.target_mm));
}
