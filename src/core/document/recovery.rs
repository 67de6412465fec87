//! Crash recovery. While the workstation runs, the plan's latest state is written to a folder of
//! its own (one per running session) shortly after every change and at least every few minutes;
//! a clean exit removes it. A folder whose session is no longer running was left by a crash, and
//! the next start offers to recover it.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::PlanDocument;
use super::io::{self, PlanIoError};

const PLAN_FILE: &str = "recovery.twinplan.json";
const ABOUT_FILE: &str = "about.json";

/// What a recovery is of: the plan file it belongs to, when it was written, by which session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct About {
    /// The plan file the user was working on; `None` for a plan never saved.
    pub original: Option<PathBuf>,
    pub written_unix_s: u64,
    pub pid: u32,
    pub trajectories: usize,
    pub segments: usize,
}

/// A recovery left by a session that ended without closing.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The recovered plan file, to open.
    pub plan: PathBuf,
    pub about: About,
    folder: PathBuf,
}

impl Found {
    /// Deletes it (recovered and saved elsewhere, or declined).
    pub fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The recovery folders of one user: `$TWINPLAN_RECOVERY_DIR`, else
/// `$XDG_STATE_HOME/twinplan/recovery`, else `~/.local/state/twinplan/recovery`.
pub fn default_root() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("TWINPLAN_RECOVERY_DIR") {
        return Some(PathBuf::from(d));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))?;
    Some(state.join("twinplan/recovery"))
}

/// This session's recovery folder under `root`.
pub struct Session {
    folder: PathBuf,
    /// Whether the label map side file there holds the labels of the last write.
    labels_written: bool,
}

impl Session {
    pub fn new(root: &Path) -> Session {
        Session { folder: root.join(format!("session-{}", std::process::id())), labels_written: false }
    }

    /// Writes the document as this session's recovery (the plan file and its label map, each
    /// written beside and renamed, as [`io::save`] does). `labels_changed`: whether the label
    /// map changed since the last write; when it has not, only the small plan file is written.
    pub fn write(
        &mut self,
        doc: &PlanDocument,
        original: Option<&Path>,
        labels_changed: bool,
    ) -> Result<(), PlanIoError> {
        std::fs::create_dir_all(&self.folder)
            .map_err(|error| PlanIoError::Write { path: self.folder.clone(), error })?;
        let plan = self.folder.join(PLAN_FILE);
        let write_labels = labels_changed || !self.labels_written;
        io::save_with(doc, &plan, write_labels)?;
        self.labels_written = true;
        let about = About {
            original: original.map(Path::to_owned),
            written_unix_s: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            pid: std::process::id(),
            trajectories: doc.trajectories.len(),
            segments: doc.segmentation.segments.len(),
        };
        let text = serde_json::to_string_pretty(&about).unwrap_or_default();
        io::write_atomically(&self.folder.join(ABOUT_FILE), text.as_bytes())
    }

    /// Removes this session's recovery: the plan was saved, or the session is closing cleanly.
    pub fn clear(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
        self.labels_written = false;
    }
}

/// Recoveries under `root` left by sessions that are no longer running, newest first.
pub fn left_behind(root: &Path) -> Vec<Found> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut found: Vec<Found> = entries
        .flatten()
        .filter_map(|e| {
            let folder = e.path();
            let about: About = serde_json::from_str(&std::fs::read_to_string(folder.join(ABOUT_FILE)).ok()?).ok()?;
            let plan = folder.join(PLAN_FILE);
            (about.pid != std::process::id() && !running(about.pid) && plan.is_file()).then_some(Found {
                plan,
                about,
                folder,
            })
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.about.written_unix_s));
    found
}

/// Whether a process is still running (Linux's /proc; elsewhere a session found is taken as
/// ended).
fn running(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}
