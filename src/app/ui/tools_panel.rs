//! Display settings (window/level, overlay, 3D options) and the segmentation tools.

use bevy_egui::egui;

use super::name_edit::name_edit;
use crate::app::document::{Doc, Edit};
use crate::app::frames::{patient_from_world, world_from_patient};
use crate::app::intent::Intent;
use crate::app::scene::{Orbit, StandardView};
use crate::app::tools::{Tool, Tools};
use crate::core::document::{Annotation, ClipPlane, Command, Placement, SavedView, TransferPreset};
use crate::core::segmentation::{Connectivity, Preset, Step};
use crate::core::settings::Coordinates;
use crate::core::vessels::{Polarity, Vesselness};

/// Window/level presets (centre, width) in HU.
const WINDOWS: [(&str, f64, f64); 5] = [
    ("Brain", 40.0, 80.0),
    ("Soft tissue", 40.0, 400.0),
    ("Bone", 500.0, 2000.0),
    ("CTA", 200.0, 700.0),
    ("Lung", -600.0, 1500.0),
];

/// Named views kept with the plan: save the current one, go back to one, forget one.
fn saved_views_ui(ui: &mut egui::Ui, doc: &Doc, orbit: &mut Orbit, out: &mut Vec<Intent>) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Saved views");
        for (i, v) in doc.doc.saved_views.iter().enumerate() {
            let r = ui.button(&v.name).on_hover_text("Go to this view (right-click: rename or forget it)");
            if r.clicked() {
                orbit.look(world_from_patient(&v.eye_mm.into()), world_from_patient(&v.look_at_mm.into()));
                out.push(Intent::Edit(Edit::run(Command::SetCrosshair { mm: v.crosshair_mm })));
            }
            r.context_menu(|ui| {
                ui.label("Name (Enter to keep)");
                if let Some(name) = name_edit(ui, egui::Id::new(("saved view name", i)), &v.name) {
                    out.push(Intent::Edit(Edit::run(Command::RenameSavedView { index: i, name })));
                    ui.close();
                }
                if ui.button("Forget this view").on_hover_text("Undo brings it back").clicked() {
                    out.push(Intent::Edit(Edit::run(Command::RemoveSavedView { index: i })));
                    ui.close();
                }
            });
        }
        if ui
            .small_button("+ Save view")
            .on_hover_text("Keep this 3D view, the crosshair and which segments show with the plan")
            .clicked()
        {
            let index = doc.doc.saved_views.len();
            let view = SavedView {
                name: format!("View {}", index + 1),
                eye_mm: patient_from_world(orbit.transform().translation).into(),
                look_at_mm: patient_from_world(orbit.target).into(),
                crosshair_mm: doc.doc.view.crosshair_mm,
                opacity: doc.doc.shown_opacities(),
            };
            out.push(Intent::Edit(Edit::run(Command::AddSavedView { index, view })));
        }
    });
}

pub fn display_ui(ui: &mut egui::Ui, doc: &Doc, orbit: &mut Orbit, tools: &mut Tools, out: &mut Vec<Intent>) {
    let view = &doc.doc.view;
    ui.horizontal_wrapped(|ui| {
        ui.label("Window");
        for (name, centre, width) in WINDOWS {
            let on = (view.window_centre - centre).abs() < 0.5 && (view.window_width - width).abs() < 0.5;
            if ui.selectable_label(on, name).clicked() {
                out.push(Intent::Edit(Edit::run(Command::SetWindow { centre, width })));
            }
        }
    });
    let mut opacity = view.overlay_opacity;
    if ui.add(egui::Slider::new(&mut opacity, 0.0..=1.0).text("Label overlay")).changed() {
        out.push(Intent::Edit(Edit::run(Command::SetOverlayOpacity { opacity })));
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("3D view");
        for v in StandardView::ALL {
            if ui.small_button(&v.name()[..1]).on_hover_text(format!("{} view", v.name())).clicked() {
                orbit.set_view(v);
            }
        }
        if ui.small_button("Reset").on_hover_text("Home").clicked() {
            orbit.reset();
        }
    });
    saved_views_ui(ui, doc, orbit, out);
    ui.horizontal(|ui| {
        let mut show = view.show_meshes;
        if ui.checkbox(&mut show, "Surfaces").changed() {
            out.push(Intent::Edit(Edit::run(Command::SetShowMeshes { show })));
        }
        ui.checkbox(&mut tools.show_names, "Names").on_hover_text("Each shown segment's name in the 3D view");
        let mut preset = view.volume_rendering;
        let name = |p: Option<TransferPreset>| match p {
            None => "Off",
            Some(TransferPreset::Bone) => "Bone",
            Some(TransferPreset::Vessels) => "Vessels (CTA)",
            Some(TransferPreset::Skin) => "Skin",
        };
        egui::ComboBox::from_label("Volume").selected_text(name(preset)).show_ui(ui, |ui| {
            for p in [None, Some(TransferPreset::Bone), Some(TransferPreset::Vessels), Some(TransferPreset::Skin)] {
                ui.selectable_value(&mut preset, p, name(p));
            }
        });
        if preset != view.volume_rendering {
            out.push(Intent::Edit(Edit::run(Command::SetVolumeRendering { preset })));
        }
    });
    ui.horizontal(|ui| {
        let mut clip = view.clip;
        let name = |c: Option<ClipPlane>| match c {
            None => "Off",
            Some(ClipPlane::Axial) => "Axial",
            Some(ClipPlane::Coronal) => "Coronal",
            Some(ClipPlane::Sagittal) => "Sagittal",
            Some(ClipPlane::Oblique { .. }) => "Oblique (view)",
        };
        // The oblique plane faces the viewer: it cuts away what is between the eye and the
        // crosshair.
        let facing = {
            let d = orbit.rotation() * bevy::prelude::Vec3::Z;
            let p = patient_from_world(d) - patient_from_world(bevy::prelude::Vec3::ZERO);
            ClipPlane::Oblique { normal: p }
        };
        egui::ComboBox::from_label("Clip").selected_text(name(clip)).show_ui(ui, |ui| {
            for c in [None, Some(ClipPlane::Axial), Some(ClipPlane::Coronal), Some(ClipPlane::Sagittal), Some(facing)] {
                ui.selectable_value(&mut clip, c, name(c));
            }
        });
        let mut flip = view.clip_flip;
        ui.checkbox(&mut flip, "Flip");
        if clip != view.clip || flip != view.clip_flip {
            out.push(Intent::Edit(Edit::run(Command::SetClip { clip, flip })));
        }
    });
}

/// `reading`: the fused scan on show, whose values the threshold and region growing read.
pub fn tools_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    tools: &mut Tools,
    busy: bool,
    reading: Option<&str>,
    coordinates: Coordinates,
    out: &mut Vec<Intent>,
) {
    ui.horizontal_wrapped(|ui| {
        for t in Tool::ALL {
            ui.selectable_value(&mut tools.tool, t, t.name());
        }
    });
    let active = tools.active.and_then(|l| doc.doc.segmentation.segment(l));
    let target = active.map_or("no segment chosen".to_owned(), |s| format!("into {}", s.name));
    let range = |ui: &mut egui::Ui, tools: &mut Tools| {
        ui.label(match reading {
            Some(name) => format!("Values from the fused scan '{name}' (as the slices show it)."),
            None => "Values from the plan's scan.".to_owned(),
        });
        ui.horizontal(|ui| {
            ui.label("Range");
            ui.add(egui::DragValue::new(&mut tools.range.0).speed(5.0));
            ui.label("to");
            ui.add(egui::DragValue::new(&mut tools.range.1).speed(5.0));
        });
        // The presets are CT numbers.
        if reading.is_none() {
            ui.horizontal_wrapped(|ui| {
                for p in Preset::ALL {
                    if ui.small_button(p.name()).clicked() {
                        tools.range = p.range_hu();
                    }
                }
            });
        }
    };
    let run = |out: &mut Vec<Intent>, step: Step| {
        if let Some(s) = active {
            out.push(Intent::Segment(s.label, step));
        }
    };
    match tools.tool {
        Tool::Navigate => {
            ui.label("Click a slice or a surface to move the crosshair. Slices: scroll to page, right-drag for window/level, Ctrl+scroll to zoom, middle-drag to pan. 3D: drag to turn, right-drag to pan, scroll to zoom, keys 1-6 for the standard views.");
        }
        Tool::Threshold => {
            ui.label("The preview (cyan) shows the voxels in range.");
            range(ui, tools);
            if ui.add_enabled(active.is_some() && !busy, egui::Button::new(format!("Apply {target}"))).clicked() {
                run(out, Step::Threshold { lo: tools.range.0, hi: tools.range.1, scan: None });
            }
        }
        Tool::Grow => {
            ui.label(format!("Click a seed in a slice or on a surface: voxels in range connected to it go {target}."));
            range(ui, tools);
        }
        Tool::KeepIsland => {
            ui.label(format!("Click an island of the segment to keep it ({target})."));
            if ui.add_enabled(active.is_some() && !busy, egui::Button::new("Keep the largest island")).clicked() {
                run(out, Step::KeepLargest { connectivity: Connectivity::Six });
            }
        }
        Tool::Brush => {
            ui.label(format!("Paint in a slice view {target}; each stroke is one undo step."));
            ui.add(egui::Slider::new(&mut tools.brush_radius_mm, 0.5..=25.0).text("radius (mm)"));
            ui.checkbox(&mut tools.erase, "Erase");
        }
        Tool::PlaceEntry | Tool::PlaceTarget => {
            ui.label("Placing a trajectory's end: see the Plan panel.");
        }
        Tool::AcPc => {
            ui.label("Marking AC-PC: see Stereotaxy in the Plan panel.");
        }
        Tool::Measure => {
            ui.label("Click two points on surfaces or in slices.");
            match tools.distance_mm() {
                Some(d) => ui.label(egui::RichText::new(format!("Distance: {d:.1} mm")).strong()),
                None => ui.label(format!("{} point(s) picked", tools.measure.len())),
            };
            if ui.button("Clear").clicked() {
                tools.measure.clear();
            }
        }
        Tool::Landmarks => landmarks_ui(ui, doc, tools, reading, coordinates, out),
        Tool::Label => labels_ui(ui, doc, tools, out),
        Tool::Vessels => {
            ui.label(format!(
                "Click a vessel in a slice or on a surface: the vessel tree through it ({target}). Vesselness \
                 (Frangi, scales in mm) above the threshold, connected to the click, widened to the wall. The 3D \
                 view shows each vessel's centrelines, branch points in white."
            ));
            ui.label(
                "The slices preview the voxels above the threshold in cyan, bone kept out in orange, once the \
                 vesselness is computed (in the background, when the tool is chosen or its radii, contrast or \
                 bone change).",
            );
            vessels_ui(ui, tools, reading);
        }
        Tool::Nerve => {
            ui.label(format!(
                "Click points along the nerve, in order, in slices or on surfaces. Make nerve traces the cheapest \
                 path through them by the nerve's look and makes it a tube {target}."
            ));
            ui.add(egui::Slider::new(&mut tools.nerve_radius_mm, 0.5..=5.0).text("radius (mm)"));
            let mut remove = None;
            for (n, p) in tools.nerve_points.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(format!("{}: {}", n + 1, coordinates.format(*p))).small());
                    if ui.small_button("x").on_hover_text("Remove this point").clicked() {
                        remove = Some(n);
                    }
                });
            }
            if let Some(n) = remove {
                tools.nerve_points.remove(n);
            }
            // A traced nerve's points come back for editing; Make nerve then replaces the tube
            // (a new step of its recipe, one undo step).
            let traced = active.and_then(|s| match s.steps.last() {
                Some(Step::Trace { points_mm, radius_mm, .. }) => Some((points_mm.clone(), *radius_mm)),
                _ => None,
            });
            if let Some((points, radius)) = traced
                && ui
                    .button("Edit its points")
                    .on_hover_text("Load the chosen nerve's points and radius: remove, add, then Make nerve again")
                    .clicked()
            {
                tools.nerve_points = points;
                tools.nerve_radius_mm = radius;
            }
            ui.horizontal(|ui| {
                let ready = active.is_some() && !busy && tools.nerve_points.len() >= 2;
                if ui.add_enabled(ready, egui::Button::new("Make nerve")).clicked() {
                    let points_mm = std::mem::take(&mut tools.nerve_points);
                    run(out, Step::Trace { points_mm, radius_mm: tools.nerve_radius_mm, scan: None });
                }
                if ui.button("Clear").clicked() {
                    tools.nerve_points.clear();
                }
            });
        }
    }
    if active.is_some()
        && matches!(tools.tool, Tool::Threshold | Tool::Grow | Tool::KeepIsland | Tool::Brush | Tool::Vessels)
    {
        ui.horizontal_wrapped(|ui| {
            ui.label("Clean up:");
            for (name, step) in [
                ("Fill holes", Step::FillHoles),
                ("Close 1 mm", Step::Close { mm: 1.0 }),
                ("Smooth (open 1 mm)", Step::Open { mm: 1.0 }),
                (
                    "Drop islands < 100 mm³",
                    Step::RemoveSmallIslands { min_mm3: 100.0, connectivity: Connectivity::Six },
                ),
            ] {
                if ui.add_enabled(!busy, egui::Button::new(name).small()).clicked() {
                    run(out, step);
                }
            }
        });
    }
}

/// The Vessels tool's settings: the radii it looks for (five scales between them), the vessels'
/// contrast, the vesselness threshold, the thinnest vessel kept, bone suppression, polarity.
fn vessels_ui(ui: &mut egui::Ui, tools: &mut Tools, reading: Option<&str>) {
    let v = &mut tools.vessels;
    ui.label(match reading {
        Some(name) => format!("Vesselness of the fused scan '{name}' (as the slices show it)."),
        None => "Vesselness of the plan's scan.".to_owned(),
    });
    let radius = Vesselness::radius_of_scale_mm;
    let (mut lo, mut hi) =
        (radius(v.scales_mm.first().copied().unwrap_or(0.7)), radius(v.scales_mm.last().copied().unwrap_or(2.8)));
    ui.horizontal(|ui| {
        ui.label("Radii");
        let a = ui.add(egui::DragValue::new(&mut lo).speed(0.05).range(0.3..=20.0).fixed_decimals(1).suffix(" mm"));
        ui.label("to");
        let b = ui.add(egui::DragValue::new(&mut hi).speed(0.05).range(0.3..=30.0).fixed_decimals(1).suffix(" mm"));
        if a.changed() || b.changed() {
            let (lo, hi) = (lo.min(hi), hi.max(lo));
            v.scales_mm = (0..5).map(|i| Vesselness::scale_of_radius_mm(lo * (hi / lo).powf(i as f64 / 4.0))).collect();
        }
    });
    ui.horizontal(|ui| {
        ui.label("Contrast");
        ui.add(egui::DragValue::new(&mut v.contrast).speed(5.0).range(1.0..=5000.0)).on_hover_text(
            "How much brighter (or darker) than their surroundings the vessels are, in the scan's units",
        );
        ui.label("Thinnest radius");
        ui.add(
            egui::DragValue::new(&mut v.min_radius_mm).speed(0.05).range(0.0..=20.0).fixed_decimals(1).suffix(" mm"),
        );
    });
    ui.add(egui::Slider::new(&mut v.threshold, 0.01..=0.6).logarithmic(true).text("vesselness threshold"));
    ui.horizontal(|ui| {
        let mut bone = v.bone_above.is_some();
        if ui.checkbox(&mut bone, "Keep out bone above").changed() {
            v.bone_above = bone.then_some(700.0);
        }
        if let Some(level) = &mut v.bone_above {
            ui.add(egui::DragValue::new(level).speed(10.0).suffix(" HU"));
        }
    });
    let mut dark = v.polarity == Polarity::Dark;
    if ui.checkbox(&mut dark, "Dark vessels (flow voids, black-blood MR)").changed() {
        v.polarity = if dark { Polarity::Dark } else { Polarity::Bright };
    }
    if let Err(why) = v.check() {
        ui.label(egui::RichText::new(why).color(egui::Color32::from_rgb(245, 170, 40)));
    }
}

/// The plan's labels: the text for the next one (placed by a click), each label's text edited in
/// place, moved (its next clicks or drag) or removed, all undoable.
fn labels_ui(ui: &mut egui::Ui, doc: &Doc, tools: &mut Tools, out: &mut Vec<Intent>) {
    ui.label("Type a label, then click a surface or a slice to pin it there. Shown in 3D (hidden where clipped away) and in the slices that pass through it; exported as a Slicer point list.");
    ui.horizontal(|ui| {
        ui.label("Text");
        ui.text_edit_singleline(&mut tools.label_text);
    });
    let labels = &doc.doc.annotations;
    if tools.moving_label.is_some_and(|i| i >= labels.len()) {
        tools.moving_label = None;
    }
    for (index, a) in labels.iter().enumerate() {
        ui.horizontal(|ui| {
            let mut text = a.text.clone();
            let edit = ui.add(egui::TextEdit::singleline(&mut text).desired_width(150.0));
            if edit.changed() && !text.trim().is_empty() {
                let command = Command::SetAnnotation { index, annotation: Annotation { text, ..a.clone() } };
                // Typing is one undo step per label, not one per key.
                out.push(Intent::Edit(Edit::drag(command, "label text")));
            }
            if edit.lost_focus() {
                out.push(Intent::Edit(Edit::Seal));
            }
            let moving = tools.moving_label == Some(index);
            if ui.selectable_label(moving, "Move").on_hover_text("Click or drag to where it belongs").clicked() {
                tools.moving_label = if moving { None } else { Some(index) };
            }
            if ui.small_button("x").on_hover_text("Remove (undo brings it back)").clicked() {
                out.push(Intent::Edit(Edit::run(Command::RemoveAnnotation { index })));
                tools.moving_label = None;
            }
        });
    }
}

/// Picking landmark pairs on the shown fused scan and the plan's scan, and placing the fused scan
/// by them (least squares), with the fiducial registration error it would have.
fn landmarks_ui(
    ui: &mut egui::Ui,
    doc: &Doc,
    tools: &mut Tools,
    reading: Option<&str>,
    coordinates: Coordinates,
    out: &mut Vec<Intent>,
) {
    let Some(name) = reading else {
        ui.label("Show a fused scan in the slices first (Study panel, \"Slices show\"): blend or checkerboard shows both scans.");
        return;
    };
    ui.label("Click a feature in the plan's scan, then the same feature in the fused scan, and so on: three pairs at least, spread out.");
    let marks = &mut tools.landmarks;
    ui.horizontal(|ui| {
        ui.label("Next click:");
        ui.selectable_value(&mut marks.in_fused, false, "plan's scan");
        ui.selectable_value(&mut marks.in_fused, true, name);
    });
    let entry = doc.doc.secondary_scans.iter().enumerate().find(|(_, s)| s.name == name);
    let pairs = if entry.is_some_and(|(_, s)| marks.are_for(s)) { marks.pairs.as_slice() } else { &[] };
    let point = |p: &Option<nalgebra::Point3<f64>>| p.map_or("-".to_owned(), |p| coordinates.format(p));
    for (n, [a, b]) in pairs.iter().enumerate() {
        ui.label(egui::RichText::new(format!("{}: plan {} / fused {}", n + 1, point(a), point(b))).small());
    }
    let fit = entry.map(|(i, s)| marks.fit(i, s));
    match &fit {
        Some(Ok(Command::SetScanPlacement { placement: Placement::Landmarks { errors_mm, fre_mm }, .. })) => {
            let worst = errors_mm.iter().copied().fold(0.0, f64::max);
            ui.label(format!(
                "Placed by these {} pairs: FRE {fre_mm:.2} mm, worst pair {worst:.2} mm.",
                errors_mm.len()
            ));
        }
        Some(Err(why)) if pairs.iter().any(|[a, b]| a.is_some() && b.is_some()) => {
            ui.label(egui::RichText::new(why).color(egui::Color32::from_rgb(245, 170, 40)));
        }
        _ => {}
    }
    ui.horizontal(|ui| {
        if ui.add_enabled(matches!(fit, Some(Ok(_))), egui::Button::new("Place by the landmarks")).clicked()
            && let Some(Ok(command)) = fit
        {
            out.push(Intent::Edit(Edit::run(command)));
        }
        if ui.button("Clear").clicked() {
            *marks = Default::default();
        }
    });
}
