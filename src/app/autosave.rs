//! Autosave and crash recovery in the workstation (see `core::document::recovery`): after every
//! change the plan is written to this session's recovery folder in the background (once the
//! change has rested for a moment, and at least every few minutes while changes keep coming); a
//! clean exit removes it. At start, a recovery that a crashed session left is offered.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bevy::prelude::*;

use super::document::Doc;
use super::job::{Job, JobError};
use super::notices::Notices;
use super::sets::Stage;
use super::tasks::Jobs;
use crate::core::document::recovery::{self, Found, Session};

/// A change is written once no other has followed for this long...
const REST: Duration = Duration::from_secs(2);
/// ... or when changes have kept coming for this long.
const AT_MOST: Duration = Duration::from_secs(120);

#[derive(Resource, Default)]
pub struct Autosave {
    /// `None` when there is no folder to keep recoveries in (no home directory).
    session: Option<Arc<Mutex<Session>>>,
    job: Option<Job<()>>,
    /// The document state last written: (generation, revision), and its label revision.
    written: (u64, u64),
    labels_written: u64,
    first_unwritten: Option<Instant>,
    last_change: Option<(u64, u64, Instant)>,
    /// Recoveries crashed sessions left, offered at start (newest first).
    pub left_behind: Vec<Found>,
    /// The recovery being opened: once it is loaded, the plan belongs to its original file.
    recovering: Option<Found>,
}

impl Autosave {
    /// How long until unwritten changes are due to be written (the frame that writes them must
    /// run even when nothing else asks for one), or `None` when nothing waits.
    pub fn due_in(&self, now: Instant) -> Option<Duration> {
        let first = self.first_unwritten?;
        let rested = self.last_change.map_or(now, |(_, _, at)| at + REST);
        Some(rested.min(first + AT_MOST).saturating_duration_since(now))
    }

    /// A write is in flight.
    pub fn writing(&self) -> bool {
        self.job.is_some()
    }

    /// Opens a recovery the user chose to recover.
    pub fn recover(&mut self, index: usize, jobs: &mut Jobs) {
        if index < self.left_behind.len() {
            let found = self.left_behind.remove(index);
            jobs.open(found.plan.clone(), None);
            self.recovering = Some(found);
        }
    }

    /// Deletes a recovery the user declined.
    pub fn discard(&mut self, index: usize) {
        if index < self.left_behind.len() {
            self.left_behind.remove(index).discard();
        }
    }

    /// Keeps the offered recoveries for another time.
    pub fn later(&mut self) {
        self.left_behind.clear();
    }
}

/// Where recoveries are kept, when not the user's default folder (tests keep their own).
#[derive(Resource, Clone)]
pub struct RecoveryRoot(pub PathBuf);

fn start(mut autosave: ResMut<Autosave>, mut notices: ResMut<Notices>, root: Option<Res<RecoveryRoot>>) {
    let Some(root) = root.map(|r| r.0.clone()).or_else(recovery::default_root) else {
        notices.autosave = Some("No home folder: work cannot be autosaved for crash recovery.".into());
        return;
    };
    autosave.left_behind = recovery::left_behind(&root);
    autosave.session = Some(Arc::new(Mutex::new(Session::new(&root))));
}

/// How long ago a recovery was written, for the offer.
pub fn age(found: &Found) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let minutes = now.saturating_sub(found.about.written_unix_s) / 60;
    match minutes {
        0 => "less than a minute ago".into(),
        1..=119 => format!("{minutes} minutes ago"),
        _ => format!("{} hours ago", minutes / 60),
    }
}

fn autosave(mut autosave: ResMut<Autosave>, mut notices: ResMut<Notices>, mut doc: ResMut<Doc>, jobs: Res<Jobs>) {
    let now = Instant::now();
    if let Some(result) = autosave.job.as_mut().and_then(Job::poll) {
        autosave.job = None;
        notices.autosave = match result {
            Err(JobError::Cancelled) | Ok(()) => None,
            Err(e) => Some(format!("Autosave failed: {e}")),
        };
    }
    let key = (doc.generation, doc.doc.revision);
    if jobs.load.is_some() {
        return;
    }
    // A plan just opened has nothing to recover yet; a recovered one belongs to its own file.
    if autosave.written.0 != doc.generation {
        autosave.written = key;
        autosave.labels_written = doc.labels_rev;
        autosave.first_unwritten = None;
        if let Some(found) = autosave.recovering.take() {
            doc.path = found.about.original.clone();
            // Written again at once as this session's, then the old one can go.
            autosave.written = (doc.generation, u64::MAX);
            found.discard();
        }
    }
    if autosave.written == key {
        return;
    }
    if autosave.last_change.is_none_or(|(g, r, _)| (g, r) != key) {
        autosave.last_change = Some((key.0, key.1, now));
    }
    let first = *autosave.first_unwritten.get_or_insert(now);
    let rested = autosave.last_change.is_some_and(|(_, _, at)| now - at >= REST);
    if autosave.job.is_some() || !(rested || now - first >= AT_MOST) {
        return;
    }
    let Some(session) = autosave.session.clone() else { return };
    let snapshot = doc.doc.clone();
    let original: Option<PathBuf> = doc.path.clone();
    let labels_changed = autosave.labels_written != doc.labels_rev;
    autosave.job = Some(Job::spawn("Autosaving".into(), move |_| {
        let mut s = session.lock().map_err(|_| JobError::Failed("the recovery folder is in use".into()))?;
        s.write(&snapshot, original.as_deref(), labels_changed).map_err(|e| JobError::Failed(e.to_string()))
    }));
    autosave.written = key;
    autosave.labels_written = doc.labels_rev;
    autosave.first_unwritten = None;
}

/// A clean exit: the recovery is not needed (once any write in flight has ended).
fn on_exit(mut exits: MessageReader<AppExit>, mut autosave: ResMut<Autosave>) {
    if exits.read().next().is_none() {
        return;
    }
    if let Some(job) = autosave.job.as_mut() {
        let until = Instant::now() + Duration::from_secs(10);
        while !job.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if let Some(session) = &autosave.session
        && let Ok(mut s) = session.lock()
    {
        s.clear();
    }
}

/// Autosave and the recovery offer: only where a user works (tests add it with their own
/// [`RecoveryRoot`]).
pub fn plugin(app: &mut App) {
    app.init_resource::<Autosave>()
        .add_systems(Startup, start)
        .add_systems(Update, autosave.in_set(Stage::Rebuild))
        .add_systems(Last, on_exit);
}
