//! The user's settings in the workstation: read before the window opens (its size comes from
//! them), kept on disk whenever they change, and the window's size and side panel's width
//! followed as the user changes them. A corrupt file is a notice in the status bar (the
//! defaults are used).

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::notices::Notices;
use super::studies::Studies;
use crate::core::pacs::{Node, check_ae_title};
use crate::core::settings::{Network, Settings, default_path};

#[derive(Resource, Default)]
pub struct Prefs {
    pub settings: Settings,
    /// Where they are kept; `None` keeps them for this session only (screenshot mode, tests,
    /// no home directory).
    path: Option<PathBuf>,
    /// As last written, so that only a change is written.
    saved: Settings,
    /// What the user should be told about the file, once.
    notice: Option<String>,
}

impl Prefs {
    /// The settings at `TWINPLAN_SETTINGS` if set, else (unless `session_only`) at the user's
    /// config directory's `twinplan/settings.toml`.
    pub fn load(session_only: bool) -> Prefs {
        let path = std::env::var_os("TWINPLAN_SETTINGS")
            .map(PathBuf::from)
            .or_else(|| if session_only { None } else { default_path() });
        let (settings, notice) = path.as_deref().map(Settings::load).unwrap_or_default();
        Prefs { saved: settings.clone(), settings, path, notice }
    }
}

/// Writes the settings when they differ from what was last written, once no mouse button is
/// held (a dragged margin or panel edge is written when let go, not every frame); tells the
/// user once what was wrong with the file read at start.
fn keep(mut prefs: ResMut<Prefs>, mut notices: ResMut<Notices>, mouse: Option<Res<ButtonInput<MouseButton>>>) {
    if let Some(notice) = prefs.bypass_change_detection().notice.take() {
        notices.settings = Some(notice);
    }
    if prefs.settings == prefs.saved || mouse.is_some_and(|m| m.get_pressed().next().is_some()) {
        return;
    }
    let prefs = prefs.bypass_change_detection();
    if let Some(path) = &prefs.path
        && let Err(e) = prefs.settings.save(path)
    {
        notices.settings = Some(format!("The settings could not be kept in {}: {e}", path.display()));
    }
    prefs.saved = prefs.settings.clone();
}

/// The window's size as the user leaves it.
fn follow_window(windows: Query<&Window, (With<PrimaryWindow>, Changed<Window>)>, mut prefs: ResMut<Prefs>) {
    let Ok(window) = windows.single() else { return };
    // In the screen's pixels, as the window is made with them.
    let (width, height) = (window.resolution.physical_width() as f32, window.resolution.physical_height() as f32);
    let layout = &prefs.settings.layout;
    if (layout.width - width).abs() >= 1.0 || (layout.height - height).abs() >= 1.0 {
        let layout = &mut prefs.settings.layout;
        (layout.width, layout.height) = (width, height);
    }
}

/// The study browser starts with the network settings kept, and what the user sets there (a
/// valid AE title, port and PACS) is kept for the next session.
fn network(mut prefs: ResMut<Prefs>, studies: Option<ResMut<Studies>>, mut started: Local<bool>) {
    let Some(mut studies) = studies else { return };
    let kept = &prefs.settings.network;
    if !std::mem::replace(&mut *started, true) {
        (studies.ae, studies.port, studies.pacs) = (kept.ae_title.clone(), kept.port, kept.pacs.clone());
        return;
    }
    let valid = check_ae_title(&studies.ae).is_ok()
        && studies.port > 0
        && (studies.pacs.is_empty() || studies.pacs.parse::<Node>().is_ok());
    if valid && (studies.ae != kept.ae_title || studies.port != kept.port || studies.pacs != kept.pacs) {
        prefs.settings.network =
            Network { ae_title: studies.ae.clone(), port: studies.port, pacs: studies.pacs.clone() };
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Prefs>().add_systems(Last, (network, follow_window, keep).chain());
}
