//! The status bar: progress of background work with Cancel, and where the scan came from.

use bevy_egui::egui;

use super::Request;
use crate::app::study::Study;
use crate::app::tasks::Jobs;

pub fn status_ui(ui: &mut egui::Ui, jobs: &Jobs, study: &Study, requests: &mut Vec<Request>) {
    ui.horizontal(|ui| {
        if let Some(job) = &jobs.load {
            let (done, total) = job.progress.counts();
            ui.label(&job.title);
            ui.add(
                egui::ProgressBar::new(job.progress.fraction())
                    .desired_width(240.0)
                    .text(format!("{} {done}/{total}", job.progress.stage())),
            );
            if ui.button("Cancel").clicked() {
                requests.push(Request::CancelJobs);
            }
            ui.ctx().request_repaint();
        } else if let Some(src) = &study.source {
            ui.label(format!("Scan: {}", src.display()));
        } else {
            ui.label("No scan open: File > Open, or drop a DICOM folder on the window.");
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(egui::RichText::new("Research software, not a medical device").weak());
        });
    });
}
