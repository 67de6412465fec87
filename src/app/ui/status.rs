//! The status bar: progress of background work with Cancel, and where the scan came from.

use bevy_egui::egui;

use crate::app::intent::Intent;
use crate::app::notices::Notices;
use crate::app::study::Study;
use crate::app::tasks::Jobs;

/// The notices' autosave trouble stays visible: work that is not kept for crash recovery is
/// something the user must know.
pub fn status_ui(
    ui: &mut egui::Ui,
    jobs: &Jobs,
    notices: &Notices,
    study: &Study,
    meshing: usize,
    requests: &mut Vec<Intent>,
) {
    ui.horizontal(|ui| {
        let load = jobs.load.as_ref().map(|j| (&j.title, &j.progress));
        let running = load
            .or_else(|| jobs.edit.as_ref().map(|j| (&j.title, &j.progress)))
            .or_else(|| jobs.save.as_ref().map(|j| (&j.title, &j.progress)))
            .or_else(|| jobs.writing.as_ref().map(|j| (&j.title, &j.progress)))
            .or_else(|| jobs.fuse.as_ref().map(|j| (&j.title, &j.progress)))
            .or_else(|| jobs.vesselness.as_ref().map(|j| (&j.job.title, &j.job.progress)));
        if let Some((title, progress)) = running {
            let (done, total) = progress.counts();
            ui.label(title);
            ui.add(
                egui::ProgressBar::new(progress.fraction())
                    .desired_width(240.0)
                    .text(format!("{} {done}/{total}", progress.stage())),
            );
            if ui.button("Cancel").clicked() {
                requests.push(Intent::CancelJobs);
            }
            ui.ctx().request_repaint();
        } else if let Some(notice) = &notices.done {
            ui.label(notice);
        } else if let Some(src) = &study.source {
            ui.label(format!("Scan: {}", src.display()));
        } else {
            ui.label("No scan open: File > Open, or drop a DICOM folder on the window.");
        }
        if meshing > 0 {
            ui.spinner();
            ui.label(format!("building {meshing} surface(s)"));
            ui.ctx().request_repaint();
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(egui::RichText::new("Research software, not a medical device").weak());
            for e in [&notices.autosave, &notices.settings].into_iter().flatten() {
                ui.label(egui::RichText::new(e).color(egui::Color32::from_rgb(245, 170, 40)));
            }
        });
    });
}
